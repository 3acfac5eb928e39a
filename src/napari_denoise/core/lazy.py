"""``denoise(dask_array)``: a lazy result, computed block by block when asked.

The settings that must be the same for every block (the value range mapped to the
networks' [0, 1], the noise level or fitted noise model) are one task of the graph,
computed once from sample planes of the input (as the in-memory engine does) the
first time any block is computed. Each block holds whole planes (Y, X and, for
colour, C; whole volumes in 3-D mode), so no overlap between blocks is needed. The
graph runs on any dask scheduler: threads, processes or a ``dask.distributed``
cluster (``client.compute(result)``).
"""

from __future__ import annotations

import numpy as np

from .axes import guess_axes, normalize_axes
from .errors import DenoiseError


class _Opaque:
    """Hides a dask array from dask.delayed, which would otherwise compute all of it
    before the settings task runs; the task reads sample planes only."""

    def __init__(self, arr):
        self.arr = arr


def is_lazy(image) -> bool:
    return hasattr(image, "dask") and hasattr(image, "map_blocks")


def block_chunks(shape, axes: str, volume: bool) -> tuple:
    """Whole Y and X (and C, Z in 3-D mode) per block; one plane along the other axes."""
    return tuple(n if a in "YXC" or (a == "Z" and volume) else 1 for n, a in zip(shape, axes))


def fixed_settings(box: _Opaque, axes: str, sigma, noise: str, data_range) -> dict:
    """The value range and noise level every block uses (from sample planes)."""
    from .inference import _value_range
    from .noise import estimate_noise
    from .normalise import output_bounds, sample_planes

    arr = box.arr
    lo, hi = _value_range(arr, data_range)  # the engine's sample of a lazy array
    bounds = output_bounds(arr, arr.dtype)  # the engine's rule for lazy data
    if sigma is None or (isinstance(sigma, str) and sigma == "auto"):
        sample = sample_planes(arr, axes)  # up to 8 planes, as the engine estimates
        if str(noise).lower() == "rician":
            from .rician import estimate_rician_sigma

            sigma = float(estimate_rician_sigma(sample, axes=axes).sigma)
        else:
            sigma = estimate_noise(sample, axes=axes, model=noise)
    return {"sigma": sigma, "data_range": (lo, hi), "bounds": bounds}


def fix_settings(data, axes: str, kwargs: dict) -> tuple[dict, dict]:
    """(the run's fixed settings from sample planes of ``data``, the engine keywords
    left for each piece): ``sigma``, ``data_range`` and ``noise`` taken out of
    ``kwargs`` into the settings (``noise`` stays, with its default)."""
    kw = {k: v for k, v in kwargs.items() if k not in ("sigma", "data_range", "noise")}
    kw["noise"] = kwargs.get("noise", "auto")
    settings = fixed_settings(_Opaque(data), axes, kwargs.get("sigma"), kw["noise"],
                              kwargs.get("data_range"))
    return settings, kw


def run_fixed(piece, model, axes: str, settings: dict, kwargs: dict, sink=None):
    """The engine on one piece of the data (a block, a plane, a Y-X block) with the
    run's fixed settings (:func:`fixed_settings`): every piece then reads as it would
    in a run of the whole. Returns the :class:`DenoiseResult`."""
    from .inference import _denoise_iter
    from .progress import run_to_end

    piece = piece if sink is not None else np.asarray(piece)
    return run_to_end(_denoise_iter(piece, model, axes=axes, sink=sink,
                                    sigma=settings["sigma"], data_range=settings["data_range"],
                                    bounds=settings["bounds"], **kwargs))


def _run_block(block, settings, model, axes, kwargs):
    return run_fixed(block, model, axes, settings, kwargs).image


def denoise_lazy(image, model="auto", *, sigma=None, axes=None, mode="auto", noise="auto",
                 data_range=None, tune=False, **kwargs):
    """A dask array: ``denoise(image, ...)`` block by block, nothing computed yet."""
    import dask

    if tune:
        raise DenoiseError("tune=True needs the data in memory: run nd.tune on a plane of "
                           "the lazy array first and pass its best strength")
    if sigma is not None and not isinstance(sigma, (int, float, str)) and \
            hasattr(sigma, "shape") and tuple(sigma.shape) == tuple(image.shape):
        raise DenoiseError("a per-pixel noise map with a lazy image: compute the image, or "
                           "give one noise level or a fitted model (nd.estimate_noise)")
    try:
        axes = normalize_axes(guess_axes(tuple(image.shape)) if axes is None else axes,
                              image.ndim)
    except ValueError as exc:
        raise DenoiseError(f"{exc} (shape {tuple(image.shape)})") from None
    if "X" in axes and "Y" in axes and axes.index("X") < axes.index("Y"):
        raise DenoiseError(f"lazy images need Y before X in the axes, not {axes}")
    from .inference import _resolve
    from .layout import choose_mode

    den = _resolve(model, kwargs.get("device", "auto"))
    z = image.shape[axes.index("Z")] if "Z" in axes else 1
    mode = choose_mode(mode, den, z, axes, tuple(image.shape))
    volume = mode == "3d"
    arr = image.rechunk(block_chunks(image.shape, axes, volume))
    settings = dask.delayed(fixed_settings, pure=True)(
        _Opaque(image), axes, sigma, noise, data_range)
    kw = dict(kwargs, mode=mode, noise=noise)
    return arr.map_blocks(_run_block, settings, model, axes, kw, dtype=image.dtype,
                          meta=np.empty((0,) * image.ndim, image.dtype))
