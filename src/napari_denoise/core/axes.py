"""Axes strings (YX, ZYX, TYX, CYX, YXC, ZCYX, TZCYX ...) and the canonical layout.

Every supported array is viewed as ``(T, Z, C, Y, X)`` (absent axes get size 1)
without copying. ``C`` is a channel axis, leading (CYX) or trailing (YXC, RGB).
"""

from __future__ import annotations

CANONICAL = "TZCYX"
_ALIASES = {"S": "C", "Q": "T"}  # S = RGB samples (ImageJ), Q = generic stack


class AxesError(ValueError):
    pass


def normalize_axes(axes: str, ndim: int) -> str:
    """Upper-case, alias-resolved axes string, checked against ``ndim``."""
    if not isinstance(axes, str):
        raise AxesError(f"axes must be a string such as 'ZYX', got {axes!r}")
    ax = "".join(_ALIASES.get(a, a) for a in axes.upper().strip())
    bad = sorted(set(ax) - set(CANONICAL))
    if bad:
        raise AxesError(f"axes {axes!r}: unknown letter(s) {''.join(bad)}; use T, Z, C, Y, X")
    if len(set(ax)) != len(ax):
        raise AxesError(f"axes {axes!r}: a letter appears twice")
    if len(ax) != ndim:
        raise AxesError(f"axes {axes!r} has {len(ax)} letters but the data has {ndim} "
                        f"dimensions")
    if "Y" not in ax or "X" not in ax:
        raise AxesError(f"axes {axes!r} must contain Y and X")
    return ax


def yx_ordered(axes: str) -> tuple[str, tuple[int, ...] | None]:
    """Axes with Y before X, and the permutation that gets there (None: already so).

    Data stored X-first (``"XY"``, ``"ZXY"``) are processed as a transposed view and
    transposed back: ``arr.transpose(perm)`` has the returned axes, and the same
    ``perm`` applied again restores the original order (it swaps two axes).
    """
    iy, ix = axes.index("Y"), axes.index("X")
    if iy < ix:
        return axes, None
    perm = list(range(len(axes)))
    perm[iy], perm[ix] = ix, iy
    return "".join(axes[i] for i in perm), tuple(perm)


def guess_axes(shape: tuple[int, ...], rgb: bool | None = None) -> str:
    """Best guess of the axes of an array from its shape.

    2D: YX. 3D: YXC if the last axis has 3 or 4 entries (RGB/RGBA, or ``rgb=True``),
    else ZYX. 4D: ZYXC for RGB stacks, CZYX/ZCYX when an axis is short, else TZYX.
    5D: TZCYX. Pass ``axes=`` to override.
    """
    nd = len(shape)
    last_rgb = shape[-1] in (3, 4) if rgb is None else bool(rgb)
    if nd == 2:
        return "YX"
    if nd == 3:
        return "YXC" if last_rgb and min(shape[:2]) > 4 else "ZYX"
    if nd == 4:
        if last_rgb and min(shape[1:3]) > 4:
            return "ZYXC"
        if shape[1] <= 4 < shape[0]:
            return "ZCYX"
        if shape[0] <= 4:
            return "CZYX"
        return "TZYX"
    if nd == 5:
        if last_rgb and min(shape[2:4]) > 4:
            return "TZYXC"
        return "TZCYX"
    raise AxesError(f"cannot guess axes for {nd}-D data of shape {shape}; pass axes=")


def to_canonical(arr, axes: str):
    """View ``arr`` as (T, Z, C, Y, X); works for numpy and dask arrays."""
    missing = [a for a in CANONICAL if a not in axes]
    full = axes + "".join(missing)
    view = arr.reshape(tuple(arr.shape) + (1,) * len(missing))
    order = [full.index(a) for a in CANONICAL]
    return view.transpose(order)


def resolve_axes(shape, axes: str | None = None) -> str:
    """The axes of an array: checked when given, guessed from the shape otherwise. The
    one rule set of the engine, noise estimation, stripes, Rician and file reading."""
    return guess_axes(tuple(shape)) if axes is None else normalize_axes(axes, len(shape))


def spread_planes(arr, axes: str, max_planes: int) -> list:
    """Up to ``max_planes`` evenly spaced 2-D (Y, X) planes of ``arr``, every channel
    represented (views where possible); any axes order."""
    v = to_canonical(arr, axes)
    T, Z, C = v.shape[:3]
    chans = sorted({int(round(c)) for c in _spread(C, max_planes)})
    per_chan = max(1, max_planes // len(chans))
    picks = sorted({int(round(i)) for i in _spread(T * Z, per_chan)})
    return [v[i // Z, i % Z, c] for c in chans for i in picks]


def frame_runs(arr, axes: str, max_frames: int) -> list[list]:
    """Consecutive 2-D planes along T (or Z when there is no T), one run per channel:
    the frames a difference-based noise fit compares. Along T, at the middle Z plane (a
    volume's first plane is often above the sample: little signal to fit over)."""
    v = to_canonical(arr, axes)
    along_t = "T" in axes
    n = min(v.shape[0] if along_t else v.shape[1], max_frames)
    z = v.shape[1] // 2
    return [[v[i, z, c] if along_t else v[0, i, c] for i in range(n)]
            for c in range(v.shape[2])]


def _spread(n: int, k: int):
    import numpy as np

    return np.linspace(0, n - 1, min(n, k))
