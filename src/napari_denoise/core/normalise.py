"""Normalisation: the value range the networks see, and the bounds a result must keep.

The networks work on [0, 1]. ``estimate_range`` says which data values map to 0
and 1: robust percentiles of the data themselves, whatever the dtype, so that a
CT slice with values 0-0.05 or a 12-bit camera image in uint16 fill the range
the networks were trained on (8-bit images that use a good part of 0-255 keep
0-255, the normalisation the natural-image models were trained with).

``output_bounds`` says what a result may contain: nothing below the input's
minimum (0 for non-negative data), nothing above its maximum, so a
non-negative CT slice never comes back negative and 12-bit data never exceed
4095. Lazy (dask, zarr) input is only sampled: its bounds come from the sample
(non-negative data stay non-negative, integers keep their bit depth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import DenoiseError

#: 8-bit data spanning at least this many grey levels keep the 0-255 normalisation
UINT8_FULL_SPAN = 64
#: Camera bit depths: integer data never exceed the smallest one that holds the sample
_BIT_DEPTHS = (8, 10, 12, 14, 16, 24, 32)


SAMPLE_VALUES = 4_000_000


def sample_values(image, max_values: int = SAMPLE_VALUES) -> np.ndarray:
    """Up to ``max_values`` values of ``image``; lazy arrays are read as whole, evenly
    spaced planes so they stay lazy."""
    n = int(np.prod(image.shape))
    if isinstance(image, np.ndarray):
        if n <= max_values:
            return image.ravel()
        step = int(math.ceil(n / max_values))
        return image.ravel()[::step]
    lead = image.shape[:-2]
    nplanes = int(np.prod(lead)) if lead else 1
    per = int(np.prod(image.shape[-2:]))
    take = max(1, min(nplanes, max_values // max(per, 1)))
    idx = np.unique(np.linspace(0, nplanes - 1, take).astype(int))
    planes = [np.asarray(image[np.unravel_index(i, lead)] if lead else image) for i in idx]
    return np.concatenate([p.ravel() for p in planes])


def check_finite(values: np.ndarray) -> None:
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        raise DenoiseError("the image contains NaN or infinite values; replace them first "
                           "(for example with the median of their neighbours)")


def estimate_range(image) -> tuple[float, float]:
    """(lo, hi) mapped to (0, 1) for the networks: robust percentiles (0.01 and 99.99)
    of the data; 0-255 for 8-bit images that span at least a quarter of it."""
    sample = sample_values(image)
    check_finite(sample)
    lo, hi = (float(v) for v in np.percentile(sample, [0.01, 99.99]))
    if not hi > lo:
        lo, hi = float(sample.min()), float(sample.max())
    if np.dtype(image.dtype) == np.uint8 and hi - lo >= UINT8_FULL_SPAN:
        return 0.0, 255.0
    return lo, hi


@dataclass(frozen=True)
class OutputBounds:
    """Values a result is clipped to (None: unbounded on that side)."""

    low: float | None
    high: float | None
    why: str = ""

    def apply(self, res: np.ndarray) -> np.ndarray:
        """Clip in place (float32 working array) and return it."""
        if self.low is not None or self.high is not None:
            np.clip(res, self.low, self.high, out=res)
        return res


def bit_depth_max(value: float) -> int:
    """Largest value of the smallest usual bit depth that holds ``value`` (4095 for 12-bit)."""
    for bits in _BIT_DEPTHS:
        top = 2 ** bits - 1
        if value <= top:
            return top
    return 2 ** 64 - 1


def output_bounds(image, dtype) -> OutputBounds:
    """What a result of ``image`` may contain: within the input's minimum (0 for
    non-negative data) and maximum; for a lazy array, from a sample."""
    dt = np.dtype(dtype)
    if isinstance(image, np.ndarray):
        mn, mx = float(image.min()), float(image.max())
        exact = True
        if not (np.isfinite(mn) and np.isfinite(mx)):  # NaN and inf reach the min or max:
            check_finite(np.array([mn, mx]))             # the finite check, in the same pass
    else:
        s = sample_values(image, SAMPLE_VALUES)
        mn, mx = float(s.min()), float(s.max())
        exact = int(np.prod(image.shape)) <= SAMPLE_VALUES  # the sample is all of it
    low = 0.0 if mn >= 0 else (mn if exact else None)
    if exact:
        high = mx
    elif dt.kind in "ui":
        high = float(min(bit_depth_max(mx), np.iinfo(dt).max))
    else:
        high = None
    if dt.kind in "ui":
        info = np.iinfo(dt)
        low = max(info.min, low) if low is not None else float(info.min)
        high = min(info.max, high) if high is not None else float(info.max)
    why = "non-negative input" if mn >= 0 else "the input's minimum"
    return OutputBounds(low, high, why)


def to_dtype(res: np.ndarray, dtype) -> np.ndarray:
    """Round integers in place; the caller has clipped to the bounds already.

    Integer types wider than float32's 24-bit mantissa (int32, uint32, 64-bit) come back
    as float64 clipped to the type's range: float32 rounds 2**31 - 1 up to 2**31, which
    would wrap round to the most negative int32 when cast (found by the property suite)."""
    dt = np.dtype(dtype)
    if dt.kind not in "ui":
        return res
    np.rint(res, out=res)
    info = np.iinfo(dt)
    if info.max > 2**24:
        return np.clip(res.astype(np.float64), info.min, info.max)
    return res


def cast_like(x: np.ndarray, dtype) -> np.ndarray:
    """``x`` as a new array of ``dtype``: integer dtypes are rounded to the nearest
    integer and clipped to the dtype's limits first; other dtypes are a plain cast."""
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return np.clip(np.rint(x), info.min, info.max).astype(dt)
    return np.asarray(x).astype(dt)


def sample_planes(image, axes: str, max_planes: int = 8) -> np.ndarray:
    """A few evenly spaced planes of a lazy array, as numpy, keeping the axes layout."""
    lead = [i for i, a in enumerate(axes) if a not in "YXC"]
    if not lead:
        return np.asarray(image)
    first = lead[0]
    n = image.shape[first]
    idx = np.unique(np.linspace(0, n - 1, min(n, max_planes)).astype(int))
    return np.asarray(np.take(image, idx, axis=first)) if isinstance(image, np.ndarray) else \
        np.asarray(image[(slice(None),) * first + (idx,)])
