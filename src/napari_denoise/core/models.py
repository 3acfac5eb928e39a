"""Denoisers behind one interface: networks (torch) and classical methods (numpy).

``resolve_denoiser(model, device)`` turns what a user passes as ``model`` (a
registered name, a path to a saved model, a classical method name, an
``nn.Module``, or a trained-model object) into a :class:`Denoiser`.
"""

from __future__ import annotations

import copy
import functools
import os
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelNotFoundError
from .precision import check_precision

ALIASES = {"ffdnet": "ffdnet_gray", "dncnn": "dncnn_blind", "non-local-means": "nlm",
           "nl-means": "nlm", "bm3d": "bm3d", "total-variation": "tv"}
DEFAULT_MODEL = "drunet_gray"


def retired_models(entries=None) -> dict[str, str]:
    """Retired shipped model -> the shipped model whose card says it ``replaces`` it.

    ``entries``: :func:`.registry.pretrained_entries` when the caller has them already
    (each call reads every card)."""
    if entries is None:
        from .registry import pretrained_entries

        entries = pretrained_entries()
    return {old.lower(): name for name, e in entries.items()
            for old in (e.card.get("replaces") or []) if old.lower() not in entries}


def aliases(entries=None) -> dict[str, str]:
    """Every alias -> the model it runs: the fixed short names and the retired models
    (followed to their successor: ``ffdnet`` runs whatever replaced ``ffdnet_gray``)."""
    out = {**ALIASES, **retired_models(entries)}
    return {k: out.get(v, v) for k, v in out.items()}  # retired names are shipped ones'


@dataclass
class Denoiser:
    """What the inference engine needs to know about a denoiser."""

    name: str
    kind: str                 # "network" or "classical"
    dims: tuple[int, ...]     # spatial dims it runs on: (2,), (3,) or (2, 3)
    in_channels: int          # channels processed jointly
    needs_sigma: bool         # needs a noise level (FFDNet, classical)
    takes_map: bool           # accepts a per-pixel noise map
    rf_radius: int
    size_multiple: int
    bytes_per_pixel: float    # working memory per pixel of a tile
    card: dict = field(default_factory=dict)
    impl: Any = None
    device: Any = None
    precision: str = "auto"   # "auto", "fp32", "bf16" or "int8" (networks; see .precision)
    ensemble: bool = False    # x8 flips-and-rotations self-ensemble (networks)
    backend: str = "auto"     # "auto", "torch" or "onnxruntime" (networks; see .backends)

    def run(self, x: np.ndarray, sigma_map: np.ndarray | None, sigma: float | None) -> np.ndarray:
        """x: (C, *spatial) float32 normalised; sigma_map: (1, *spatial) or None."""
        if self.kind == "classical":
            s = float(np.mean(sigma_map)) if sigma_map is not None else float(sigma or 0.0)
            return np.stack([self.impl(np.ascontiguousarray(c), s) for c in x]).astype(np.float32)
        return _run_network(self, x, sigma_map, sigma)

    @property
    def runtime(self) -> tuple[str | None, str | None]:
        """(backend, precision) this denoiser runs in: ("torch", "bf16"), ("onnxruntime",
        "int8") ...; (None, None) for classical methods. See :mod:`.backends`."""
        from .backends import runtime

        return runtime(self)

    @property
    def autocast(self):
        """The torch autocast dtype this denoiser runs in, or None (float32, or not torch)."""
        if self.kind != "network":
            return None
        backend, prec = self.runtime
        if backend != "torch":
            return None
        from .backends import torch_dtype

        return torch_dtype(prec)

    @property
    def precision_name(self) -> str | None:
        """"fp32", "bf16", "fp16" or "int8" for networks; None for classical methods."""
        return self.runtime[1] if self.kind == "network" else None

    @property
    def backend_name(self) -> str | None:
        """"torch" or "onnxruntime" for networks; None for classical methods."""
        return self.runtime[0] if self.kind == "network" else None


def configure(den: Denoiser, *, precision: str = "auto", quality: str = "fast",
              backend: str = "auto") -> Denoiser:
    """A copy of ``den`` (which may be cached and shared) set up for one run; ValueError
    for settings that cannot run (int8 in torch, ONNX Runtime on a GPU ...)."""
    import dataclasses

    from .backends import check_backend
    from .ensemble import check_quality

    best = check_quality(quality) == "best" and den.kind == "network"
    out = dataclasses.replace(den, precision=check_precision(precision), ensemble=best,
                              backend=check_backend(backend))
    if out.kind == "network":
        out.runtime  # noqa: B018 - refuses what cannot run now, not at the first tile
    return out


def _run_network(d: Denoiser, x, sigma_map, sigma):
    import torch

    dev = d.device
    t = torch.from_numpy(np.ascontiguousarray(x))[None].to(dev)
    if t.ndim == 4:
        t = t.contiguous(memory_format=torch.channels_last)
    smap = None
    if d.takes_map:
        if sigma_map is not None:
            smap = torch.from_numpy(np.ascontiguousarray(sigma_map, dtype=np.float32))[None].to(dev)
        else:
            smap = torch.full((1,), float(sigma or 0.0), device=dev)
    backend, prec = d.runtime
    if backend == "onnxruntime":
        from .export.ort_runner import onnx_network

        dtype = None
        net = onnx_network(d.impl, d.card, prec, in_channels=d.in_channels,
                           takes_map=d.takes_map)
    else:
        dtype = d.autocast
        net = d.impl if dtype is None else _reduced_copy(d.impl, dtype)
    if d.ensemble:
        from .ensemble import self_ensemble

        one = net

        def net(a, m):  # noqa: E306 - the 8 flips and rotations, averaged
            return self_ensemble(one, a, m)
    with torch.inference_mode():
        if dtype is not None:
            with torch.autocast(dev.type, dtype=dtype):
                y = net(t, smap)
        else:
            y = net(t, smap)
        return y[0].float().cpu().numpy()


_REDUCED = weakref.WeakKeyDictionary()


def _reduced_copy(module, dtype):
    """A copy of ``module`` with its weights in ``dtype``, kept while the module lives.

    Run under autocast: the convolutions then find their weights already converted
    instead of converting every weight on every tile (about 10% of a bf16 pass), and
    what autocast keeps in float32 (the image in, the final residual) stays there."""
    per = _REDUCED.setdefault(module, {})
    if dtype not in per:
        per[dtype] = copy.deepcopy(module).to(dtype)
    return per[dtype]


def fold_batchnorm(model):
    """Fold every BatchNorm that directly follows a convolution into it (inference only).

    Removes the normalisation's memory traffic: about 4x faster on CPU.
    """
    import torch
    from torch import nn

    from .archs._layers import BiasFreeBatchNorm

    def fold(seq: nn.Sequential):
        mods = list(seq)
        for i in range(1, len(mods)):
            conv, bn = mods[i - 1], mods[i]
            if not isinstance(conv, (nn.Conv2d, nn.Conv3d)):
                continue
            if isinstance(bn, (nn.BatchNorm2d, nn.BatchNorm3d)):
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                bias = bn.bias - bn.running_mean * scale
                if conv.bias is not None:
                    bias = bias + conv.bias * scale
            elif isinstance(bn, BiasFreeBatchNorm):
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                bias = None if conv.bias is None else conv.bias * scale
            else:
                continue
            shape = (-1,) + (1,) * (conv.weight.ndim - 1)
            with torch.no_grad():
                conv.weight.mul_(scale.view(shape))
                if bias is not None:
                    if conv.bias is None:
                        conv.bias = nn.Parameter(bias.detach().clone())
                    else:
                        conv.bias.copy_(bias)
            seq[i] = nn.Identity()

    for m in list(model.modules()):
        if isinstance(m, nn.Sequential):
            fold(m)
    return model


def _network_denoiser(name: str, module, card: dict, device) -> Denoiser:
    module = fold_batchnorm(module.eval()).to(device)
    if getattr(module, "dims", 2) == 2 and device.type == "cpu":
        module = module.to(memory_format=__import__("torch").channels_last)
    dims = int(getattr(module, "dims", card.get("dims", 2)))
    feats = int(card.get("arch_args", {}).get("features", 64))
    # activations alive at once, fp32; FFDNet runs at quarter resolution
    bpp = 4.0 * feats * 3 / (4 if module.takes_noise_map else 1) + 64
    return Denoiser(
        name=name, kind="network", dims=(dims,), in_channels=int(module.in_channels),
        needs_sigma=bool(module.takes_noise_map), takes_map=bool(module.takes_noise_map),
        rf_radius=int(module.rf_radius), size_multiple=int(module.size_multiple),
        bytes_per_pixel=bpp, card=card, impl=module, device=device,
    )


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float, device_str: str, verify_sha: str | None):
    import torch

    from .weights import load_model

    module, card = load_model(path, verify_sha=verify_sha)
    return _network_denoiser(card.get("name", Path(path).stem), module, card,
                             torch.device(device_str))


def user_models_dir() -> Path:
    """Where trained models are saved and listed from (NAPARI_DENOISE_MODELS overrides)."""
    env = os.environ.get("NAPARI_DENOISE_MODELS")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("napari-denoise", appauthor=False)) / "models"


def user_model_paths() -> dict[str, Path]:
    """name -> file of the user's models: saved ``.safetensors`` and imported BioImage
    Model Zoo packages (``.zip``; a saved model of the same name comes first)."""
    d = user_models_dir()
    if not d.is_dir():
        return {}
    out = {p.stem: p for p in sorted(d.glob("*.safetensors"))}
    for p in sorted(d.glob("*.zip")):
        out.setdefault(p.stem, p)
    return out


@functools.lru_cache(maxsize=4)
def _package_cached(path: str, mtime: float, device_str: str):
    import torch

    from .export.package_run import load_package

    return load_package(path, torch.device(device_str))


def _package(p: Path, dev) -> Denoiser:
    """A BioImage Model Zoo package (.zip, or a folder or .yaml of one) as a denoiser."""
    if not p.exists():
        raise ModelNotFoundError(f"model package not found: {p}")
    return _package_cached(str(p.resolve()), p.stat().st_mtime, str(dev))


def known_names() -> list[str]:
    from .classical import CLASSICAL
    from .registry import pretrained_entries

    return sorted(set(pretrained_entries()) | set(CLASSICAL) | set(user_model_paths()))


def resolve_denoiser(model="auto", device="cpu") -> Denoiser:
    from .devices import resolve_device

    dev = resolve_device(device)
    if model is None or (isinstance(model, str) and model.lower() == "auto"):
        model = DEFAULT_MODEL
    if isinstance(model, Denoiser):
        return model
    # objects that carry a module and a card (trained models), or a bare module
    mod = getattr(model, "module", None)
    if mod is not None and hasattr(model, "card"):
        # fold a copy: the caller's network may go on training
        return _network_denoiser(model.card.get("name", "trained"), copy.deepcopy(mod),
                                 model.card, dev)
    try:
        from torch import nn

        if isinstance(model, nn.Module):
            return _network_denoiser(type(model).__name__, copy.deepcopy(model), {}, dev)
    except ImportError:  # pragma: no cover
        pass
    from .export.package import is_package

    if is_package(model):
        return _package(Path(model).expanduser(), dev)
    if isinstance(model, Path) or (isinstance(model, str) and (
            model.endswith((".safetensors", ".pt", ".pth")) or os.sep in model)):
        p = Path(model).expanduser()
        if not p.exists():
            raise ModelNotFoundError(f"model file not found: {p}")
        return _load_cached(str(p.resolve()), p.stat().st_mtime, str(dev), None)
    if not isinstance(model, str):
        raise ModelNotFoundError(f"model must be a name, a path or a network, not {type(model).__name__}")
    from .registry import pretrained_entries

    entries = pretrained_entries()
    key = aliases(entries).get(model.lower(), model.lower())
    from .classical import CLASSICAL

    if key in CLASSICAL:
        impl = CLASSICAL[key]
        return Denoiser(
            name=key, kind="classical", dims=tuple(impl.dims), in_channels=1, needs_sigma=True,
            takes_map=False, rf_radius=int(impl.rf_radius), size_multiple=1,
            bytes_per_pixel=64.0, card={"description": impl.description}, impl=impl, device=dev,
        )
    if key in entries:
        e = entries[key]
        return _load_cached(str(e.path), e.path.stat().st_mtime, str(dev), e.card.get("sha256"))
    users = user_model_paths()
    if model in users:
        p = users[model]
        if p.suffix == ".zip":
            return _package(p, dev)
        return _load_cached(str(p), p.stat().st_mtime, str(dev), None)
    raise ModelNotFoundError(f"unknown model {model!r}; available: {', '.join(known_names())}")
