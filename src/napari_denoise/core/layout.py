"""The units of work: how an array in its axes is cut into planes or volumes and channel
groups that one denoiser call handles.

Every array is viewed as (T, Z, C, Y, X) (:func:`axes.to_canonical`, no copy). A 2-D
denoiser runs on each (t, z) plane, a 3-D one on each t volume; channels go
together when the model takes them all (colour), else one by one; an alpha channel
(RGBA) is passed through untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .axes import to_canonical
from .errors import DenoiseError

MIN_SIDE = 4


@dataclass
class Layout:
    axes: str
    view: Any                  # the (T, Z, C, Y, X) view of the input
    mode: str                  # "2d" or "3d"
    groups: list[slice]        # channel groups, contiguous
    alpha: bool                # a 4th (alpha) channel passed through

    @property
    def nd(self) -> int:
        return 3 if self.mode == "3d" else 2

    @property
    def spatial(self) -> tuple[int, ...]:
        _, Z, _, H, W = self.view.shape
        return (Z, H, W) if self.nd == 3 else (H, W)

    @property
    def unit_axes(self) -> str:
        """The layout of one unit of work: (channels, *spatial)."""
        return "CZYX" if self.nd == 3 else "CYX"

    def units(self) -> list[tuple[int, int | None, slice]]:
        """(t, z or None, channel group) of every unit of work."""
        T, Z = self.view.shape[:2]
        zs = range(Z) if self.nd == 2 else [None]
        return [(t, z, g) for t in range(T) for z in zs for g in self.groups]

    def read(self, view, t, z, g):
        """One unit of ``view`` (input or output) as (c, *spatial)."""
        if self.nd == 3:  # (Z, c, H, W) -> (c, Z, H, W)
            return view[t][:, g].transpose(1, 0, 2, 3)
        return view[t, z, g]

    def write(self, view, t, z, g, res) -> None:
        if self.nd == 3:
            view[t][:, g] = res.transpose(1, 0, 2, 3)
        else:
            view[t, z, g] = res


def check_size(shape, axes: str) -> None:
    sp2 = [shape[axes.index(a)] for a in "YX"]
    if min(sp2) < MIN_SIDE:
        raise DenoiseError(f"image too small to denoise: {sp2[0]}x{sp2[1]} pixels "
                           f"(at least {MIN_SIDE}x{MIN_SIDE}); check the axes ({axes})")


def choose_mode(mode, den, Z: int, axes: str, shape) -> str:
    mode = (mode or "auto").lower()
    if mode not in ("auto", "2d", "3d"):
        raise DenoiseError(f"mode must be 'auto', '2d' or '3d', not {mode!r}")
    if mode == "auto":
        mode = "3d" if (3 in den.dims and 2 not in den.dims and Z > 1) else "2d"
    if mode == "3d":
        if 3 not in den.dims:
            raise DenoiseError(f"model {den.name!r} is 2-D: use mode='2d' (slice by slice)")
        if Z < MIN_SIDE:
            raise DenoiseError(f"3-D mode needs a Z axis of at least {MIN_SIDE} slices "
                               f"(axes {axes}, shape {shape})")
    elif 2 not in den.dims:
        raise DenoiseError(f"model {den.name!r} is 3-D: use mode='3d' on a Z stack")
    return mode


def plan_layout(image, axes: str, den, mode) -> Layout:
    shape = tuple(image.shape)
    check_size(shape, axes)
    view = to_canonical(image, axes)
    _, Z, C, _, _ = view.shape
    mode = choose_mode(mode, den, Z, axes, shape)
    alpha = axes.endswith("C") and C == 4
    colour = 3 if alpha else C
    if den.in_channels > 1 and den.in_channels == colour:
        groups = [slice(0, colour)]
    elif den.in_channels == 1:
        groups = [slice(c, c + 1) for c in range(colour)]
    else:
        raise DenoiseError(f"model {den.name!r} takes {den.in_channels} channels; the data has "
                           f"{C} (axes {axes})")
    return Layout(axes, view, mode, groups, alpha)
