"""Runs of layers too big for memory: the result goes to a zarr store (no Qt).

A lazy layer (dask, zarr) or the full resolution of a multiscale layer whose result
would take more than :data:`MEMORY_FRACTION` of the memory available is denoised
plane by plane into an OME-Zarr store (:func:`napari_denoise.denoise_to_zarr`), which
is then shown as a lazy layer. The store goes next to the layer's source file when
it has one and that folder is writable, else into the user's data folder
(:func:`results_dir`); a cancelled or failed run removes it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..core.errors import DenoiseError

#: results bigger than this fraction of the available memory go to a store
MEMORY_FRACTION = 0.25


def available_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def goes_to_store(image, available: int | None = None) -> bool:
    """True for lazy data whose result would not fit comfortably in memory."""
    if isinstance(image, np.ndarray):
        return False
    nbytes = int(np.prod(image.shape)) * np.dtype(image.dtype).itemsize
    avail = available_memory() if available is None else available
    return nbytes > MEMORY_FRACTION * avail


def results_dir() -> Path:
    """Where results of layers without a writable source folder go."""
    from ..core.models import user_models_dir

    return user_models_dir().parent / "results"


def store_path(layer_name: str, source_path: str | None) -> Path:
    """A new store path for the result of ``layer_name``: next to its source file when
    that folder is writable, else in :func:`results_dir`; never an existing path."""
    folder, stem = results_dir(), _safe(layer_name)
    if source_path:
        src = Path(source_path)
        if src.parent.is_dir() and os.access(src.parent, os.W_OK):
            folder = src.parent
            stem = _safe(src.name.split(".")[0] or layer_name)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{stem}_denoised.ome.zarr"
    n = 2
    while out.exists():
        out = folder / f"{stem}_denoised_{n}.ome.zarr"
        n += 1
    return out


def store_kwargs(kwargs: dict) -> dict:
    """The engine's keyword arguments for a run into a store, or a DenoiseError."""
    kw = dict(kwargs)
    if kw.pop("tune", False):
        raise DenoiseError("'Choose the strength on the image' needs the data in memory; "
                           "untick it for a layer this big")
    sigma = kw.get("sigma")
    if sigma is not None and not isinstance(sigma, (int, float, str)):
        raise DenoiseError("a noise map is not available for a layer this big; give one "
                           "noise level or use the automatic estimate")
    return kw


def _safe(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_" else "_" for c in name).strip("_")
    return keep or "image"
