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


def from_canonical(arr5, axes: str):
    """Inverse of :func:`to_canonical` (a view for numpy arrays)."""
    present = [CANONICAL.index(a) for a in axes]
    keep = sorted(present)
    squeeze = tuple(i for i in range(5) if i not in keep)
    sub = arr5.reshape(tuple(arr5.shape[i] for i in keep)) if squeeze else arr5
    # axes of ``sub`` are in canonical order; permute to the requested order
    canon = [a for a in CANONICAL if a in axes]
    return sub.transpose([canon.index(a) for a in axes])


def spatial_shape(shape, axes: str, mode_dims: int = 2) -> tuple[int, ...]:
    letters = "ZYX" if mode_dims == 3 else "YX"
    return tuple(shape[axes.index(a)] for a in letters if a in axes)
