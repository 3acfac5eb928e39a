"""Which training pairs fit the data: the rule behind ``pairs="auto"``.

- a second capture given: the two captures (``"two"``);
- a stack whose neighbouring planes are independent captures of a still scene (their
  differences are pure noise, see :mod:`..noise_frames`): every frame against the mean
  of the other frames (``"others"``), the frame pairs with the least noisy targets;
- a single image, or a stack whose planes differ (a Z stack through an object, a moving
  sample): a single-image strategy on every plane, the one measured best,
  :data:`SINGLE_IMAGE`.

A plain TIFF stack without axes is read as frames: its first axis is the stack axis the
rule looks at, like T (or Z) when the axes are known.

Pure numpy; no GUI or torch imports here.
"""

from __future__ import annotations

import numpy as np

#: The single-image strategy measured best: blind spot (Noise2Void) 35.02 dB against
#: 34.11 dB for Neighbor2Neighbor sub-sampling on W2S field 078 channel 1, the same
#: U-Net and 2 CPU-minutes each (benchmarks/n2n.py, docs/BENCHMARKS.md).
SINGLE_IMAGE = "blindspot"
#: Planes compared by the still-scene test (from the middle of the stack).
MAX_TEST_PLANES = 6


def _stack_planes(data, axes, axis, dims: int = 2) -> tuple[list, int]:
    """Up to MAX_TEST_PLANES consecutive 2-D planes along the stack axis (other leading
    axes at their first index; in 3-D the middle plane of each volume), and the number
    of planes along it (0: no stack)."""
    from .n2n_setup import arrange_data

    arr, stack_axis = arrange_data(data, axes, axis, dims)
    lead = arr.ndim - dims
    if lead <= 0 or stack_axis is None:
        return [], 0
    stack_axis = int(stack_axis) % arr.ndim
    if stack_axis >= lead:
        return [], 0
    n = int(arr.shape[stack_axis])
    moved = np.moveaxis(arr, stack_axis, 0)
    moved = moved.reshape((n, -1) + moved.shape[-dims:])[:, 0]
    if dims == 3:
        moved = moved[:, moved.shape[1] // 2]
    start = max(0, (n - MAX_TEST_PLANES) // 2)
    return [np.asarray(moved[i]) for i in range(start, min(n, start + MAX_TEST_PLANES))], n


def choose_pairs(data, axes: str | None = None, *, target=None, axis=None,
                 dims: int = 2) -> tuple[str, str]:
    """The training pairs for ``data`` (``"two"``, ``"others"`` or :data:`SINGLE_IMAGE`)
    and the reason, in words. With ``dims=3`` the frames are whole volumes (T of TZYX)."""
    if target is not None:
        return "two", "a second capture of the same scene was given"
    from ..noise_frames import independent_captures

    one, many, frame = ("volume", "volumes", "volume") if dims == 3 else ("image", "planes",
                                                                          "frame")
    planes, n = _stack_planes(data, axes, axis, dims)
    if n < 2:
        return SINGLE_IMAGE, (f"a single {one}: blind spot (Noise2Void), the single-image "
                              f"strategy measured best")
    still, why = independent_captures(planes)
    if still:
        return "others", (f"a stack of {n} captures of a still scene ({why}): each {frame} "
                          f"against the mean of the other {frame}s")
    return SINGLE_IMAGE, (f"a stack of {n} {many} that are not captures of one still scene "
                          f"({why}): blind spot (Noise2Void) on every {many[:-1]}")
