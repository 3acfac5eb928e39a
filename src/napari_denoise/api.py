"""The public Python interface (names kept stable for users and scripts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .core import inference
from .core.inference import DenoiseResult, Progress, run_to_end
# numpy-only at import time: torch loads when training starts
from .core.training.n2n import TrainedModel, train_noise2noise, train_noise2noise_iter


def denoise(image, model="auto", *, sigma=None, noise="auto", strength=1.0, destripe=False,
            axes=None, mode="auto", device="auto", tile=None, progress=None,
            data_range=None, quality="fast", precision="auto",
            colour_space="opponent", tune=False, backend="auto",
            combine_frames=False, auto=None) -> np.ndarray:
    """Denoise ``image`` and return an array of the same shape and dtype (without the
    frame axis with ``combine_frames``).

    A dask array gives a dask array: nothing is computed until it is asked for
    (``.compute()``, ``.to_zarr()``, a ``dask.distributed`` client), block by block
    (whole planes; whole volumes in 3-D mode), with one value range and one noise
    estimate for all blocks. For stores larger than memory see :func:`denoise_to_zarr`.

    Parameters
    ----------
    image : array-like (numpy or dask)
        2-D, RGB, stacks, channels, time series; uint8, uint16, int16, float32, float64.
    model : str, path or network
        ``"auto"`` (the residual U-Net ``"drunet_gray"``, or ``"drunet_microscopy"`` for
        single-channel data whose noise grows with the signal), a name from
        :func:`list_models` (``"ffdnet_gray"``, ``"dncnn_blind"``, ``"bm3d"``, ``"nlm"``,
        ``"tv"``, ``"wavelet"``, a saved model's name), a path to a ``.safetensors``
        model, or a trained model.
    sigma : None, "auto", float, array or NoiseEstimate
        Noise standard deviation in the units of the data (25 on uint8 data is
        25/255 of the range); ``"auto"`` estimates it (also the default for models
        that need it) with the model ``noise`` says; an array of the image's shape is
        a per-pixel noise map (for instance one painted in napari); a
        :class:`NoiseEstimate` from :func:`estimate_noise` is used as it is.
    noise : "auto", "gaussian", "poisson-gaussian" or "rician"
        The noise model when sigma is estimated. ``"auto"`` fits ``variance = a *
        signal + b`` and takes it when the noise clearly grows with the signal,
        Gaussian otherwise. Poisson-Gaussian noise goes to FFDNet-style models as
        a per-pixel map ``sqrt(a * signal + b)``, and to every other denoiser
        through the Generalized Anscombe Transform and its exact unbiased inverse.
        ``"rician"`` (magnitude MRI) estimates sigma from the background and
        corrects the Rician bias of the result.
    strength : float
        Multiplies the noise level or map: above 1 smooths more, below 1 keeps
        more detail.
    destripe : bool
        Remove row/column fixed-pattern noise (thermal cameras) before denoising.
    axes : str, optional
        Axes of ``image`` such as ``"YX"``, ``"ZYX"``, ``"TYX"``, ``"YXC"``,
        ``"CYX"``, ``"TZCYX"``; guessed from the shape when omitted.
    mode : "auto", "2d" or "3d"
        Slice by slice with a 2-D model, or volumes with a 3-D model.
    device : "auto", "cpu", "cuda", "cuda:N" or "mps"
    tile : int, optional
        Tile side in pixels; ``None`` picks one from the memory available.
    progress : callable, optional
        Called with a :class:`Progress` after every tile; returning ``False`` cancels
        (raises :class:`Cancelled`).
    data_range : (low, high), optional
        Values mapped to 0 and 1 for the networks. Default: the dtype's range for
        uint8 and [0, 1] floats, robust percentiles of the data otherwise. Give it
        for, say, 12-bit data in uint16 (``(0, 4095)``).
    quality : "fast" or "best"
        ``"best"`` runs a network on the 8 flips and rotations of the image and averages
        them (self-ensemble): about 8x the time, 0.07-0.13 dB better. Classical
        methods ignore it.
    precision : "auto", "fp32", "bf16" or "int8"
        Arithmetic of the networks. ``"auto"``: bfloat16 on CPUs with native bf16
        (AMX, AVX512-BF16) for models whose measured PSNR cost is at most 0.02 dB, and
        on GPUs; float32 otherwise; or what ``backend="auto"`` picks. ``"fp32"`` forces
        full precision; ``"int8"`` runs a quantised copy in ONNX Runtime (CPU).
    backend : "auto", "torch" or "onnxruntime"
        What runs the networks. ``"auto"``: on a CPU, the fastest variant (torch fp32 or
        bf16, ONNX Runtime fp32 or int8) measured for the model on a CPU with this one's
        features at a PSNR cost of at most 0.05 dB (recorded in its card by
        ``benchmarks/backends.py``); torch otherwise. ``"torch"`` / ``"onnxruntime"``
        force one (ONNX Runtime: CPU, 2-D networks; ``pip install
        "napari-denoise[export]"``).
    colour_space : "opponent" or "rgb"
        RGB photos (axes ending in C) with a single-channel denoiser are denoised as a
        luminance and two colour differences (an orthonormal opponent transform, as in
        CBM3D): typically 1-2 dB better than red, green and blue one by one (``"rgb"``).
        Channels before Y and X (microscopy stains) are always kept apart.
    tune : bool or list of floats
        Choose the strength on this image first, with no clean image: each strength
        (``True``: 0.6, 0.8, 1, 1.25, 1.6; or the list given) is scored by the
        self-supervised error of Noise2Self on a central 256x256 crop (see :func:`tune`),
        and the best is used. Costs about 5 runs per strength on the crop.
    auto : None or "tuned"
        With ``model="auto"``: ``"tuned"`` chooses the method too, not only the
        strength: the automatic network and BM3D, each at the strengths of ``tune``
        (default 0.6-1.6), ranked by the same self-supervised error (see :func:`tune`);
        the best pair runs. About 50 runs on the 256x256 crop first.
    combine_frames : bool
        For a stack of independent captures of a still scene (a T axis, else Z): denoise
        every frame, then return their mean, one image without that axis. What each
        frame keeps of its own noise differs from frame to frame, so the mean is better
        than any one denoised frame.
    """
    from .core.lazy import denoise_lazy, is_lazy

    if combine_frames:
        from .core.errors import DenoiseError
        from .core.frames import combine_frames as _combine, frame_axis

        if is_lazy(image):
            raise DenoiseError("combine_frames needs the stack in memory (a numpy array)")
        frame_axis(np.shape(image), axes)  # refused before any work when there is none
        out = denoise(image, model, sigma=sigma, noise=noise, strength=strength,
                      destripe=destripe, axes=axes, mode=mode, device=device, tile=tile,
                      progress=progress, data_range=data_range, quality=quality,
                      precision=precision, colour_space=colour_space, tune=tune,
                      backend=backend, auto=auto)
        return _combine(out, axes)
    if is_lazy(image) and auto is not None:
        from .core.errors import DenoiseError

        raise DenoiseError("auto='tuned' scores methods on the image in memory; run "
                           "napari_denoise.tune on a plane, then denoise with its choice")
    if is_lazy(image):  # a dask array in, a dask array out: nothing computed yet
        return denoise_lazy(image, model, sigma=sigma, axes=axes, mode=mode, device=device,
                            tile=tile, data_range=data_range, noise=noise, strength=strength,
                            destripe=destripe, quality=quality, precision=precision,
                            colour_space=colour_space, tune=tune, backend=backend)
    gen = inference.denoise_iter(image, model, sigma=sigma, axes=axes, mode=mode,
                                 device=device, tile=tile, data_range=data_range, noise=noise,
                                 strength=strength, destripe=destripe, quality=quality,
                                 precision=precision, colour_space=colour_space, tune=tune,
                                 backend=backend, auto=auto)
    return run_to_end(gen, progress).image


def denoise_iter(image, model="auto", **kwargs):
    """Generator form of :func:`denoise`: yields :class:`Progress`, returns :class:`DenoiseResult`.

    Close it (``gen.close()``) to cancel between tiles; a napari worker drives it.
    """
    return inference.denoise_iter(image, model, **kwargs)


def score(image, model="auto", *, strength=1.0, sigma=None, noise="auto", axes=None,
          crop=256, **kwargs):
    """How well ``model`` at ``strength`` denoises ``image``, with no clean image.

    Returns a :class:`Score`: ``loss`` is the self-supervised (J-invariant) error of
    Noise2Self (Batson and Royer 2019) on a grid of hidden pixels of a central
    ``crop`` x ``crop`` part (lower is better; it ranks methods and strengths as the
    true error does when the noise is independent from pixel to pixel), and
    ``residual`` says whether what was removed looks like the noise (its variance
    against the noise model, its neighbour correlation, whether it follows edges).
    Other keywords go to :func:`denoise`. See :mod:`napari_denoise.core.score`.
    """
    from .core.score import score as _score

    return _score(image, model, strength=strength, sigma=sigma, noise=noise, axes=axes,
                  crop=crop, **kwargs)


def tune(image, models=("auto",), strengths=(0.6, 0.8, 1.0, 1.25, 1.6), *, progress=None,
         **kwargs):
    """Rank methods and strengths on ``image`` by :func:`score`, best first.

    Returns a :class:`Tuned`: ``.best.model`` and ``.best.strength`` to use, ``.scores``
    for all, ``.table()`` to print. Every pair is scored on the same crop with one
    noise estimate. ``progress(p)`` returning False cancels.
    """
    from .core.tune import tune as _tune

    return _tune(image, models, strengths, progress=progress, **kwargs)


def estimate_noise(image, *, model="gaussian", axes=None, frames=None):
    """Fitted noise model of ``image``: a :class:`NoiseEstimate`.

    ``model``: ``"gaussian"`` (one sigma), ``"poisson-gaussian"`` (``variance = a *
    signal + b``, from smooth blocks of one image or, for a time series, from
    differences of consecutive frames), ``"rician"`` (sigma of magnitude MRI from
    the background; returns a :class:`RicianEstimate`) or ``"auto"``.
    ``est.sigma_map(image)`` renders the per-pixel noise std. See
    :func:`napari_denoise.core.noise.estimate_noise`.
    """
    if isinstance(model, str) and model.lower() == "rician":
        from .core.rician import estimate_rician_sigma

        return estimate_rician_sigma(image, axes=axes)
    from .core.noise import estimate_noise as _est

    return _est(image, model=model, axes=axes, frames=frames)


def remove_stripes(image, *, direction="both", axes=None):
    """Remove row/column fixed-pattern (stripe) noise; the input is not modified."""
    from .core.stripes import remove_stripes as _rs

    return _rs(image, direction=direction, axes=axes)


def list_models() -> list[dict]:
    """Every available denoiser: pretrained networks, classical methods, the user's models.

    Each entry: ``name``, ``kind`` ("pretrained", "classical" or "user"),
    ``description``, ``card`` (the model card; empty for classical methods), ``path``,
    ``dims`` (spatial dimensions it runs on) and ``needs_sigma`` (False for blind models).
    """
    from .core.classical import CLASSICAL
    from .core.models import user_model_paths
    from .core.registry import arch_takes_map, pretrained_entries
    from .core.errors import DenoiseError
    from .core.weights import WeightsError, read_card, validate_card

    out = []
    def net_entry(name, kind, card, path):
        return {"name": name, "kind": kind, "description": card.get("description", ""),
                "card": card, "path": str(path), "dims": [int(card.get("dims", 2))],
                "needs_sigma": arch_takes_map(card.get("arch"))}

    for name, e in sorted(pretrained_entries().items()):
        out.append(net_entry(name, "pretrained", e.card, e.path))
    for name, c in CLASSICAL.items():
        out.append({"name": name, "kind": "classical", "description": c.description,
                    "card": {}, "path": None, "dims": list(c.dims), "needs_sigma": True})
    for name, p in user_model_paths().items():
        try:
            if p.suffix == ".zip":  # an imported BioImage Model Zoo package
                from .core.export.package import package_card

                card = package_card(p)
            else:
                card = read_card(p)
                validate_card(card)
        except (WeightsError, DenoiseError) as exc:
            card = {"error": str(exc)}
        entry = net_entry(name, "user", card, p)
        if p.suffix == ".zip":
            entry["needs_sigma"] = bool(card.get("takes_map", False))
        out.append(entry)
    return out


def list_architectures() -> list[dict]:
    """Every registered network architecture (built in or registered by the user).

    Each entry: ``name``, ``description`` (one line), ``parameters`` and
    ``macs_per_pixel`` of the network at its default size (multiply-accumulates
    counted by ``torch.utils.flop_counter.FlopCounterMode`` on a 1x1x64x64 input,
    flops / 2 / 4096), ``takes_noise_map`` and ``dims`` (the spatial
    dimensionalities it can be built for). Builds each network once (cached).
    """
    from .core.registry import _ARCHS, arch_description, arch_names

    out = []
    for name in arch_names():
        factory = _ARCHS[name]
        key = (name, id(factory))
        if key not in _ARCH_STATS:
            _ARCH_STATS[key] = _measure_arch(name, factory)
        out.append({"name": name, "description": arch_description(name), **_ARCH_STATS[key]})
    return out


_ARCH_STATS: dict = {}


def _measure_arch(name, factory) -> dict:
    import inspect

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    net = create_network(name).eval()
    size = 64
    x = torch.rand(1, int(getattr(net, "in_channels", 1)), size, size)
    takes_map = bool(getattr(net, "takes_noise_map", False))
    if int(getattr(net, "dims", 2)) == 3:
        x = x.unsqueeze(2).expand(-1, -1, size, -1, -1).contiguous()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(x, torch.full((1,), 0.1) if takes_map else None)
    pixels = x[0, 0].numel()
    try:
        dims = [2, 3] if "dims" in inspect.signature(factory).parameters else [int(net.dims)]
    except (TypeError, ValueError):
        dims = [int(getattr(net, "dims", 2))]
    return {"parameters": int(sum(p.numel() for p in net.parameters())),
            "macs_per_pixel": counter.get_total_flops() / 2 / pixels,
            "takes_noise_map": takes_map, "dims": dims}


def create_network(name: str, **arch_args):
    """A freshly initialised ``torch.nn.Module`` of the registered architecture ``name``
    (see :func:`list_architectures`), built with ``arch_args`` (for instance
    ``create_network("nafnet", width=32)``). Raises a one-line ``ValueError`` for an
    unknown name or arguments the architecture does not take."""
    from .core.registry import create_arch

    if not isinstance(name, str):
        raise ValueError(f"architecture name must be a string, not {type(name).__name__}")
    try:
        return create_arch(name, **arch_args)
    except TypeError as exc:
        raise ValueError(f"bad arguments for architecture {name!r}: {exc}") from None
    except ValueError as exc:
        msg = " ".join(str(exc).split())
        if msg.startswith("unknown architecture"):
            raise ValueError(msg) from None
        raise ValueError(f"bad arguments for architecture {name!r}: {msg}") from None


def save_model(model, path, card: dict | None = None) -> Path:
    """Save a network (``nn.Module`` or trained model) with its card as safetensors."""
    from .core.weights import save_model as _save

    module = getattr(model, "module", model)
    card = dict(card or getattr(model, "card", {}) or {})
    return _save(module, path, card)


def export_model(model, path, format="bioimageio", *, licence=None, test=True) -> Path:  # noqa: A002
    """Write a network for other software; returns the path written.

    ``model``: a shipped or user model name, a ``.safetensors`` path, a trained model or an
    ``nn.Module``. ``format``: ``"bioimageio"`` (a BioImage Model Zoo package, .zip:
    weights as pytorch_state_dict with the architecture's source, TorchScript and ONNX,
    test tensors, a cover, the model card as documentation; ``test=True`` runs
    bioimageio's model test before the file is written), ``"onnx"`` or
    ``"torchscript"``; None picks it from the file's extension. ``licence``: an SPDX id
    for a package (default the card's). ``nd.denoise(img, model="model.zip")`` runs a
    package. Needs ``pip install "napari-denoise[export]"``."""
    from .core.export.exporter import export_model as _export

    return _export(model, path, format, licence=licence, test=test)


def load_model(path):
    """(network, card) from a ``.safetensors`` file; never unpickles."""
    from .core.weights import load_model as _load

    return _load(path)


__all__ = ["denoise", "denoise_iter", "estimate_noise", "remove_stripes", "list_models",
           "list_architectures", "create_network", "save_model", "export_model",
           "load_model", "DenoiseResult", "Progress", "train_noise2noise",
           "train_noise2noise_iter", "TrainedModel"]
