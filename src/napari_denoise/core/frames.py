"""One estimate from a denoised stack of captures of a still scene.

After every frame of a stack of independent captures has been denoised, what is left
of each frame's noise differs from frame to frame: their mean is a better estimate of
the scene than any one of them (``denoise(..., combine_frames=True)``).

Pure numpy; no GUI or torch imports here.
"""

from __future__ import annotations

import numpy as np

from .axes import resolve_axes
from .errors import DenoiseError


def frame_axis(shape, axes: str | None) -> int:
    """The index of the frame axis: T, else Z (a stack whose planes are captures)."""
    ax = resolve_axes(tuple(shape), axes)
    for letter in "TZ":
        if letter in ax:
            return ax.index(letter)
    raise DenoiseError(f"combine_frames needs a stack of frames (a T or Z axis); the "
                       f"axes are {ax} (shape {tuple(shape)})")


def combine_frames(denoised: np.ndarray, axes: str | None = None) -> np.ndarray:
    """The mean of ``denoised`` over its frame axis, in its dtype (rounded and clipped to
    the dtype's range for integers)."""
    denoised = np.asarray(denoised)
    i = frame_axis(denoised.shape, axes)
    mean = denoised.mean(axis=i, dtype=np.float64)
    dt = denoised.dtype
    if dt.kind in "ui":
        info = np.iinfo(dt)
        return np.clip(np.rint(mean), info.min, info.max).astype(dt)
    return mean.astype(dt)
