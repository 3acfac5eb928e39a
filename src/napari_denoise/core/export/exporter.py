"""``export_model``: one network out as a BioImage Model Zoo package, ONNX or TorchScript."""

from __future__ import annotations

from pathlib import Path

from ..errors import DenoiseError

FORMATS = ("bioimageio", "onnx", "torchscript")
_SUFFIX = {"bioimageio": ".zip", "onnx": ".onnx", "torchscript": ".pt"}


def format_for(path, fmt: str | None) -> str:
    """``fmt`` checked, or (None) the format the file name says: .onnx, .pt/.ts (TorchScript),
    anything else a BioImage Model Zoo package."""
    if fmt is None:
        suffix = Path(path).suffix.lower()
        return {".onnx": "onnx", ".pt": "torchscript", ".ts": "torchscript",
                ".torchscript": "torchscript"}.get(suffix, "bioimageio")
    f = str(fmt).lower().replace("-", "").replace("_", "")
    f = {"bioimage": "bioimageio", "bmz": "bioimageio", "zip": "bioimageio",
         "jit": "torchscript"}.get(f, f)
    if f not in FORMATS:
        raise DenoiseError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return f


def _needs(module: str, what: str):
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        raise DenoiseError(f'{what} needs {module}: pip install "napari-denoise[export]"') \
            from None


def export_model(model, path, format: str | None = "bioimageio", *,  # noqa: A002
                 licence: str | None = None, test: bool = True) -> Path:
    """Write ``model`` to ``path`` as ``format``; returns the path written.

    ``model``: a shipped or user model name, a .safetensors path, a trained model or an
    ``nn.Module``. ``format``: ``"bioimageio"`` (a BioImage Model Zoo .zip, see
    :mod:`.bioimageio`), ``"onnx"`` or ``"torchscript"``; None: from the file name.
    ``licence`` (packages): an SPDX identifier, default the card's (CC-BY-4.0 when the
    card names none). ``test`` (packages): run bioimageio's model test before writing.
    The file appears only when complete."""
    from .source import exportable

    fmt = format_for(path, format)
    path = Path(path).expanduser()
    if path.is_dir():
        raise DenoiseError(f"{path} is a folder: give a file name (for example "
                           f"{path / ('model' + _SUFFIX[fmt])})")
    if fmt == "bioimageio":
        _needs("bioimageio.core", "BioImage Model Zoo export")
    if fmt in ("bioimageio", "onnx"):
        _needs("onnx", "ONNX export")
    ex = exportable(model)
    try:
        if fmt != "bioimageio":  # BatchNorm folded into the convolutions: faster to run
            import copy

            from ..models import fold_batchnorm

            folded = fold_batchnorm(copy.deepcopy(ex.module))
        if fmt == "bioimageio":
            from .bioimageio import to_bioimageio

            return to_bioimageio(ex, path, licence=licence, test=test)
        if fmt == "onnx":
            from .onnx import to_onnx

            return to_onnx(folded, path, in_channels=ex.in_channels,
                           takes_map=ex.takes_map)
        from .torchscript import to_torchscript

        return to_torchscript(folded, path, in_channels=ex.in_channels,
                              takes_map=ex.takes_map)
    except DenoiseError:
        raise
    except (ValueError, RuntimeError) as exc:
        raise DenoiseError(f"cannot export {ex.name} as {fmt}: "
                           f"{' '.join(str(exc).split())[:300]}") from None
