"""What a file said about its image (axes, pixel size, unit, frame interval, layout), and
the unit helpers both readers and writers use."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

RESUNIT_NAMES = {2: "inch", 3: "cm", 4: "mm", 5: "µm"}

# OME Pixels attributes kept for a faithful round trip

LENGTHS = {"pm": 1e-12, "Å": 1e-10, "nm": 1e-9, "µm": 1e-6, "um": 1e-6, "mm": 1e-3,
            "cm": 1e-2, "m": 1.0, "inch": 0.0254, "in": 0.0254}



@dataclass
class ImageMeta:
    """What :func:`read_image` learnt about a file, and what :func:`write_image` needs.

    axes : our axes letters (``T``, ``Z``, ``C``, ``Y``, ``X``), one per array dimension,
        e.g. ``"YX"``, ``"ZYX"``, ``"YXC"`` (RGB), ``"TCYX"``.
    pixel_size : physical size of a pixel along the spatial axes that have one
        (``"X"``, ``"Y"``, ``"Z"``), in ``unit``; absent axes are unknown.
    unit : length unit of ``pixel_size`` (``"µm"``, ``"nm"``, ``"inch"`` ...), or None.
    time_interval, time_unit : frame interval along ``T`` when known.
    format : ``"tiff"``, ``"png"``, ``"jpeg"``, ... (what the file was).
    tiff : how the TIFF was laid out (kind, tifffile axes, photometric, resolution,
        ImageJ/OME extras); used to write an equivalent file.
    """

    axes: str
    shape: tuple[int, ...] = ()
    dtype: str = ""
    pixel_size: dict[str, float] = field(default_factory=dict)
    unit: str | None = None
    time_interval: float | None = None
    time_unit: str | None = None
    format: str = ""
    path: str | None = None
    tiff: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def scale(self) -> tuple[float, ...]:
        """One float per axis of ``axes``: the pixel size (Z, Y, X), the frame interval (T),
        1.0 where unknown and for ``C``."""
        out = []
        for a in self.axes:
            if a == "T":
                out.append(float(self.time_interval) if self.time_interval else 1.0)
            else:
                out.append(float(self.pixel_size.get(a, 1.0)))
        return tuple(out)

    @property
    def layer_scale(self) -> tuple[float, ...]:
        """``scale`` without the channel axis: what a napari layer takes (an RGB axis or
        a ``channel_axis`` has no scale in napari)."""
        return tuple(s for a, s in zip(self.axes, self.scale) if a != "C")

    @property
    def rgb(self) -> bool:
        """True when the data are RGB(A) colour with a trailing channel axis."""
        return self.axes.endswith("C") and bool(self.shape) and self.shape[-1] in (3, 4)

    def layer_kwargs(self) -> dict:
        """Keyword arguments for ``napari.Viewer.add_image`` (scale, rgb or channel_axis)."""
        kw: dict[str, Any] = {"scale": self.layer_scale}
        if "C" in self.axes:
            if self.rgb:
                kw["rgb"] = True
            else:
                kw["channel_axis"] = self.axes.index("C")
        return kw


# -- helpers ---------------------------------------------------------------------

def display_unit(unit):
    """ImageJ writes µ as the escape ``\\u00B5``; show the character."""
    if unit is None:
        return None
    unit = str(unit).strip()
    if not unit or unit.lower() in ("pixel", "pixels", "none"):
        return None
    unit = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), unit)
    return {"micron": "µm", "microns": "µm", "um": "µm"}.get(unit, unit)

def imagej_unit(unit):
    """ImageJ descriptions are ASCII: escape µ and friends the way ImageJ does."""
    if unit is None:
        return None
    return "".join(c if ord(c) < 128 else f"\\u{ord(c):04X}" for c in str(unit))

def positive_or_none(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) and f > 0 else None


# -- reading ---------------------------------------------------------------------

def length_factor(src: str, dst: str) -> float:
    """Factor converting a length in ``src`` units to ``dst`` units (1.0 if unknown)."""
    a, b = LENGTHS.get(src), LENGTHS.get(dst)
    return a / b if a and b else 1.0

def short_error(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return msg[:200]

def guess_file_axes(shape) -> str:
    from ..core.axes import guess_axes

    try:
        return guess_axes(tuple(shape))
    except ValueError:
        raise ValueError(f"cannot tell the axes of {len(shape)}-D data of shape {tuple(shape)}") \
            from None
