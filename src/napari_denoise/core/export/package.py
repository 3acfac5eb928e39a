"""Read a BioImage Model Zoo package (a .zip, or a folder with rdf.yaml / bioimageio.yaml)
and run it through this engine: :func:`load_package` gives a :class:`Denoiser`.

Nothing is downloaded: the package must hold its weights. Weight formats, in order of
preference: ``torchscript``, ``onnx`` (ONNX Runtime), ``pytorch_state_dict``. A state
dict is read only with ``torch.load(weights_only=True)`` (never unpickled), and only for
an architecture this engine knows without running code from the package: one of this
package's own (packages exported here carry their model card) or a class importable
from an installed library. Anything else is refused with a one-line reason.

Only 2-D models: (y, x) with optional batch and channel axes, one image input (plus the
``noise_level`` input of packages exported here) and one image output of the same size
and channels. The package's own pre- and postprocessing is applied by
:mod:`.package_run`.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DenoiseError, ModelNotFoundError, WeightsError

RDF_NAMES = ("rdf.yaml", "bioimageio.yaml")
#: weight formats this engine runs, in order of preference
FORMATS = ("torchscript", "onnx", "pytorch_state_dict")


class PackageError(WeightsError):
    """A BioImage Model Zoo package this engine cannot run (the message says why)."""


def is_package(model) -> bool:
    """True for what names a package: a .zip, a bioimageio/rdf .yaml, or a folder with one."""
    if not isinstance(model, (str, Path)):
        return False
    p = Path(model).expanduser()
    if p.suffix.lower() == ".zip" or p.name.lower().endswith(("rdf.yaml", "bioimageio.yaml")):
        return True
    return p.is_dir() and any((p / n).is_file() for n in RDF_NAMES)


@dataclass
class Package:
    """A parsed package: its description, where its files are, the weights chosen."""

    path: Path
    descr: Any
    fmt: str
    weights: bytes = field(repr=False)
    own: dict | None = None        # config.napari_denoise of packages exported here

    @property
    def name(self) -> str:
        card = (self.own or {}).get("card") or {}
        return str(card.get("name") or self.descr.name)


def _reader(path: Path):
    """(read(name) -> bytes or None, rdf source for bioimageio.spec)."""
    if path.is_dir() or path.suffix.lower() in (".yaml", ".yml"):
        root = path if path.is_dir() else path.parent
        rdf = path if path.is_file() else next(root / n for n in RDF_NAMES
                                               if (root / n).is_file())

        def read(name):
            f = root / name
            return f.read_bytes() if f.is_file() else None
        return read, rdf
    if not zipfile.is_zipfile(path):
        raise PackageError(f"{path.name}: not a zip file (corrupt or truncated)")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise PackageError(f"{path.name}: corrupt zip file ({exc})") from None
    if bad is not None:
        raise PackageError(f"{path.name}: corrupt zip file (bad checksum for {bad})")
    if not any(n in names for n in RDF_NAMES):
        raise PackageError(f"{path.name}: no rdf.yaml or bioimageio.yaml inside: not a "
                           f"BioImage Model Zoo package")

    def read(name):
        if name not in names:
            return None
        with zipfile.ZipFile(path) as zf:
            return zf.read(name)
    return read, path


def _describe(path: Path, rdf):
    try:
        from bioimageio.spec import InvalidDescr, load_description
    except ImportError:
        raise DenoiseError('running BioImage Model Zoo packages needs bioimageio.core: pip '
                           'install "napari-denoise[export]"') from None
    try:
        descr = load_description(rdf, perform_io_checks=False, format_version="latest")
    except Exception as exc:  # noqa: BLE001 - a broken YAML file, say which
        raise PackageError(f"{path.name}: unreadable description ({_line(exc)})") from None
    if isinstance(descr, InvalidDescr) or getattr(descr, "type", None) != "model":
        what = getattr(descr, "type", "?")
        errs = getattr(getattr(descr, "validation_summary", None), "errors", None) or []
        why = f"{errs[0].loc}: {errs[0].msg}" if errs else f"a {what!r} resource"
        raise PackageError(f"{path.name}: not a valid BioImage Model Zoo model ({_line(why)})")
    return descr


def _line(x) -> str:
    return " ".join(str(x).split())[:240]


def read_package(path) -> Package:
    """Parse and check ``path``; read the preferred weights (no code from it is run)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelNotFoundError(f"model package not found: {path}")
    read, rdf = _reader(path)
    descr = _describe(path, rdf)
    own = (descr.config.model_extra or {}).get("napari_denoise") if descr.config else None
    present = [f for f in FORMATS if getattr(descr.weights, f, None) is not None]
    if not present:
        given = [k for k, v in descr.weights if v is not None]
        raise PackageError(f"{path.name}: weights only as {', '.join(given)}; this engine "
                           f"runs torchscript, onnx or pytorch_state_dict weights")
    for fmt in present:
        w = getattr(descr.weights, fmt)
        if fmt == "pytorch_state_dict" and not _known_arch(w, own):
            if fmt == present[-1]:
                raise PackageError(
                    f"{path.name}: its pytorch_state_dict weights need the package's own "
                    f"Python code ({_arch_file(w)}) to build the network, which is not run "
                    f"here; use a package with torchscript or onnx weights")
            continue
        if fmt == "onnx" and not _has("onnxruntime") and fmt != present[-1]:
            continue
        src = str(w.source)
        if src.startswith(("http://", "https://")):
            raise PackageError(f"{path.name}: its {fmt} weights are at {src}; nothing is "
                               f"downloaded: use a package that holds its weights")
        data = read(src)
        if data is None:
            raise PackageError(f"{path.name}: weights file {src!r} ({fmt}) is missing")
        if w.sha256 is not None:
            import hashlib

            if hashlib.sha256(data).hexdigest() != str(w.sha256):
                raise PackageError(f"{path.name}: weights file {src!r} does not match its "
                                   f"sha256 (corrupt or replaced)")
        return Package(path, descr, fmt, data, own if isinstance(own, dict) else None)
    raise PackageError(f"{path.name}: no weight format this engine can run")  # pragma: no cover


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _arch_file(w) -> str:
    return str(getattr(w.architecture, "source", "architecture"))


def _known_arch(w, own) -> bool:
    """A state dict whose network is built without the package's code: ours (the card
    names one of this package's architectures) or a class from an installed library."""
    if isinstance(own, dict) and (own.get("card") or {}).get("arch"):
        from .arch_source import arch_factory

        return arch_factory(own["card"]) is not None
    return hasattr(w.architecture, "import_from")


# -- the network ----------------------------------------------------------------------------

def network(pkg: Package, device):
    """A callable ``f(*arrays) -> array`` (float32 numpy in and out) for the package's
    weights, on ``device`` (torch weights; ONNX Runtime runs on the CPU or CUDA)."""
    if pkg.fmt == "onnx":
        return _onnx(pkg, device)
    import torch

    if pkg.fmt == "torchscript":
        try:
            module = torch.jit.load(io.BytesIO(pkg.weights), map_location=device)
        except Exception as exc:  # noqa: BLE001 - torch raises several types
            raise PackageError(f"{pkg.path.name}: the torchscript weights cannot be read "
                               f"({_line(exc)})") from None
    else:
        module = _state_dict_module(pkg)
        if pkg.own is not None:
            from ..models import fold_batchnorm

            module = fold_batchnorm(module)
        module = module.to(device)
    module.eval()

    def run(*arrays):
        with torch.inference_mode():
            ts = [torch.from_numpy(a).to(device) for a in arrays]
            out = module(*ts)
            if isinstance(out, (tuple, list)):
                out = out[0]
            return out.float().cpu().numpy()
    return run


def _state_dict_module(pkg: Package):
    import importlib

    import torch

    w = pkg.descr.weights.pytorch_state_dict
    try:
        state = torch.load(io.BytesIO(pkg.weights), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the unpickler's refusal, in one line
        raise PackageError(f"{pkg.path.name}: its pytorch_state_dict weights cannot be "
                           f"loaded safely (torch.load with weights_only=True refused "
                           f"them: {_line(str(exc).splitlines()[0] if str(exc) else exc)})"
                           ) from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if pkg.own is not None:
        from ..weights import build_model

        return build_model(pkg.own["card"], state)
    arch = w.architecture
    try:
        factory = getattr(importlib.import_module(arch.import_from), str(arch.callable))
    except (ImportError, AttributeError) as exc:
        raise PackageError(f"{pkg.path.name}: its network {arch.import_from}."
                           f"{arch.callable} is not installed ({_line(exc)})") from None
    module = factory(**dict(arch.kwargs))
    try:
        module.load_state_dict(state, strict=bool(getattr(w, "strict", True)))
    except RuntimeError as exc:
        raise PackageError(f"{pkg.path.name}: weights do not fit its network "
                           f"({_line(str(exc).splitlines()[0])})") from None
    return module


def _onnx(pkg: Package, device):
    try:
        import onnxruntime as ort
    except ImportError:
        raise DenoiseError('running ONNX weights needs onnxruntime: pip install '
                           '"napari-denoise[export]"') from None
    providers = ["CPUExecutionProvider"]
    if getattr(device, "type", "cpu") == "cuda" and \
            "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        sess = ort.InferenceSession(pkg.weights, providers=providers)
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own error types
        raise PackageError(f"{pkg.path.name}: the onnx weights cannot be read "
                           f"({_line(exc)})") from None
    names = [i.name for i in sess.get_inputs()]

    def run(*arrays):
        return sess.run(None, dict(zip(names, arrays)))[0].astype("float32", copy=False)
    return run


def package_card(path) -> dict:
    """What ``list_models`` shows of a package: its model card (packages exported here)
    or its name, description and licence; reads the description only."""
    path = Path(path)
    _read, rdf = _reader(path)
    descr = _describe(path, rdf)
    own = (descr.config.model_extra or {}).get("napari_denoise") if descr.config else None
    if isinstance(own, dict) and isinstance(own.get("card"), dict):
        card = dict(own["card"])
        card["takes_map"] = bool(own.get("takes_map"))
    else:
        card = {"name": str(descr.name), "description": str(descr.description),
                "licence": str(descr.license or ""), "dims": 2}
    card["package"] = str(path)
    return card
