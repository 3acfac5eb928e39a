"""TIFF in and out through tifffile: axes of the first series, ImageJ metadata, resolution
tags and OME-XML physical sizes, written back the way they were read."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from .meta import (LENGTHS, RESUNIT_NAMES, ImageMeta, display_unit, guess_file_axes, imagej_unit,
                   length_factor, positive_or_none, short_error)

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

# tifffile's RESUNIT values -> unit names

_OME_KEYS = ("PhysicalSizeX", "PhysicalSizeXUnit", "PhysicalSizeY", "PhysicalSizeYUnit",
             "PhysicalSizeZ", "PhysicalSizeZUnit", "TimeIncrement", "TimeIncrementUnit")

# ImageJ metadata entries written back (the rest is recomputed by tifffile)

_IJ_KEEP = ("mode", "loop", "Ranges", "LUTs", "Labels", "Info", "Properties", "min", "max",
            "fps", "xorigin", "yorigin", "zorigin", "channels_mode")



SOFTWARE = "napari-denoise"



def is_tiff(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) in _TIFF_MAGIC
    except OSError:
        return False

def written_by_napari_denoise(path) -> bool:
    """Whether ``path`` is a TIFF this package wrote (its Software tag says so)."""
    path = Path(path)
    if not is_tiff(path):
        return False
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            return str(tf.pages[0].software or "").startswith(SOFTWARE)
    except Exception:  # noqa: BLE001 - unreadable: not ours
        return False

def map_tiff_axes(tiff_axes: str, path, shape=None, rgb: bool = True) -> str:
    """tifffile's axes letters -> ours (T, Z, C, Y, X).

    S (samples) is C when the file says it is colour (``rgb``: photometric RGB); a
    plain file's S (tifffile writes a short leading axis of a bare array as S) is a
    generic axis like I (a plain sequence of pages) and Q (unknown). When every axis
    but Y and X is generic, the shape decides as for arrays (:func:`core.axes.guess_axes`:
    a 3-D stack is Z, 5-D is TZCYX); otherwise each generic axis takes the first free
    one of Z, T, C, and any other letter (E, L, P, R, H, A, V, M ...) of T, C, Z.
    """
    generic = [a in "IQ" or (a == "S" and not rgb) for a in tiff_axes]
    rest = [a for a, g in zip(tiff_axes, generic) if not g]
    if shape is not None and any(generic) and set(rest) == {"Y", "X"} and \
            tiff_axes.endswith(("YX", "XY")):
        from ..core.axes import guess_axes

        guess = guess_axes(tuple(shape[:-2]) + (max(shape[-2:]),) * 2, rgb=False)
        return guess[:-2] + tiff_axes[-2:]
    out = []
    pending = []
    for i, a in enumerate(tiff_axes):
        if a in "TZCYX":
            out.append(a)
        elif a == "S" and not rgb:
            out.append(None)
            pending.append((i, "ZTC"))
        elif a == "S":
            out.append("C" if "C" not in tiff_axes else None)
            if out[-1] is None:
                pending.append((i, "TZ"))
        elif a in "IQ":
            out.append(None)
            pending.append((i, "ZTC"))
        else:
            out.append(None)
            pending.append((i, "TCZ"))
    for i, prefs in pending:
        free = [p for p in prefs if p not in out]
        if not free:
            raise ValueError(f"{path}: {len(tiff_axes)}-D TIFF (axes {tiff_axes}) does not fit "
                             f"the supported axes T, Z, C, Y, X")
        out[i] = free[0]
    ax = "".join(out)
    if len(set(ax)) != len(ax) or "Y" not in ax or "X" not in ax:
        raise ValueError(f"{path}: TIFF axes {tiff_axes} are not supported (need Y and X, "
                         f"each of T, Z, C at most once)")
    return ax

def to_tiff_axes(axes: str, shape, dtype) -> str:
    """Our axes -> tifffile letters for a new file: a trailing colour axis is S."""
    if axes.endswith("C") and shape[-1] in (3, 4) and np.dtype(dtype) in (np.uint8, np.uint16):
        return axes[:-1] + "S"
    return axes

def read_tiff(path: Path):
    data, raw, ij, ome_xml = _open_tiff(path)
    if data.ndim < 2:
        raise ValueError(f"{path}: not an image (shape {data.shape})")
    tiff_axes, kind = raw["axes"], raw["kind"]
    if len(tiff_axes) != data.ndim:  # should not happen; fall back to a guess
        axes = guess_file_axes(data.shape)
        raw["axes"] = to_tiff_axes(axes, data.shape, data.dtype)
    else:
        # colour only when the file says so: RGB samples stored per pixel (...YXS), or
        # in an ImageJ/OME file; a bare (3 or 4, Y, X) array written by tifffile becomes
        # "planar RGB" by default, but it is a stack of planes far more often than colour
        rgb = raw["photometric"] == 2 and (tiff_axes.endswith("S") or kind != "shaped")
        axes = map_tiff_axes(tiff_axes, path, data.shape, rgb=rgb)
    meta = ImageMeta(axes=axes, shape=tuple(data.shape), dtype=str(data.dtype), format="tiff",
                     path=str(path))
    meta.tiff = raw
    if raw["resolution"][:2] == (1.0, 1.0) and raw["resolutionunit"] != 1:
        # 1 pixel per inch (or cm): a writer's placeholder, not a pixel size
        raw.update(resolution=(1.0, 1.0), resolutionunit=1)
    _apply_resolution(meta, ij)
    if kind == "ome" and ome_xml:
        _apply_ome(meta, ome_xml)
    return data, meta


def _open_tiff(path: Path):
    """(data, layout of the first series' first page, ImageJ metadata, OME-XML)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            if not tf.series:
                raise ValueError(f"{path}: the TIFF file holds no image")
            series = tf.series[0]
            data = series.asarray()
            page = series.pages[0] if series.pages else tf.pages[0]
            page = getattr(page, "keyframe", page) or page
            raw = {"kind": "imagej" if tf.is_imagej else "ome" if tf.is_ome else "shaped",
                   "axes": series.axes, "photometric": int(page.photometric),
                   "planarconfig": int(page.planarconfig),
                   "compression": int(page.compression),
                   "extrasamples": tuple(int(e) for e in (page.extrasamples or ())),
                   "resolution": tuple(float(r) for r in page.resolution),
                   "resolutionunit": int(page.resolutionunit)}
            ij = dict(tf.imagej_metadata or {}) if tf.is_imagej else {}
            return data, raw, ij, tf.ome_metadata if tf.is_ome else None
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable TIFF file ({short_error(exc)})") from None
    except (tifffile.TiffFileError, OSError, KeyError, IndexError, TypeError,
            struct.error) as exc:
        raise ValueError(f"{path}: not a readable TIFF file ({short_error(exc)})") from None


def _apply_resolution(meta: ImageMeta, ij: dict) -> None:
    """X/Y pixel size from the resolution tags (pixels per unit); Z spacing, unit and
    frame interval from ImageJ metadata."""
    t = meta.tiff
    xres, yres = (tuple(t["resolution"]) + (1.0, 1.0))[:2]
    res_known = False
    if t["kind"] == "imagej":
        unit = display_unit(ij.get("unit"))
        res_known = unit is not None or (xres, yres) != (1.0, 1.0)
        meta.unit = unit
        t["imagej"] = {k: ij[k] for k in _IJ_KEEP if k in ij}
        t["imagej_unit"] = ij.get("unit")
        z = positive_or_none(ij.get("spacing"))
        if z is not None and "Z" in meta.axes:
            meta.pixel_size["Z"] = z
        fi = positive_or_none(ij.get("finterval"))
        if fi is not None:
            meta.time_interval, meta.time_unit = fi, "s"
            t["finterval"] = ij.get("finterval")
        if "spacing" in ij:
            t["spacing"] = ij["spacing"]
    elif t["resolutionunit"] in RESUNIT_NAMES:
        meta.unit = RESUNIT_NAMES[t["resolutionunit"]]
        res_known = True
    elif (xres, yres) != (1.0, 1.0):
        res_known = True  # unitless ratio
    if res_known:
        if positive_or_none(xres):
            meta.pixel_size["X"] = 1.0 / xres
        if positive_or_none(yres):
            meta.pixel_size["Y"] = 1.0 / yres


def _apply_ome(meta: ImageMeta, xml: str) -> None:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return
    pixels = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None:
        return
    attrs = {k: pixels.get(k) for k in _OME_KEYS if pixels.get(k) is not None}
    meta.tiff["ome"] = attrs
    unit = None
    for a in "XYZ":
        v = positive_or_none(attrs.get(f"PhysicalSize{a}"))
        if v is None or a not in meta.axes:
            continue
        u = attrs.get(f"PhysicalSize{a}Unit", "µm")
        if unit is None:
            unit = u
        meta.pixel_size[a] = v * length_factor(u, unit)
    if unit is not None:
        meta.unit = display_unit(unit)
    ti = positive_or_none(attrs.get("TimeIncrement"))
    if ti is not None:
        meta.time_interval, meta.time_unit = ti, attrs.get("TimeIncrementUnit", "s")

def _imagej_ok(tiff_axes: str, dtype) -> bool:
    if np.dtype(dtype).char not in "BHhf":
        return False
    if "S" in tiff_axes and np.dtype(dtype) != np.uint8:
        return False
    order = [c for c in "TZCYXS" if c in tiff_axes]
    return set(tiff_axes) <= set("TZCYXS") and list(tiff_axes) == order

def write_tiff(tmp: Path, array: np.ndarray, meta: ImageMeta | None) -> None:
    import tifffile

    t = dict(meta.tiff) if meta is not None and meta.tiff else {}
    axes = meta.axes if meta is not None and len(meta.axes) == array.ndim else None
    if axes is None:
        axes = guess_file_axes(array.shape)
        t = {}
    tiff_axes = t.get("axes") if t and len(t.get("axes", "")) == array.ndim else None
    if tiff_axes is None:
        tiff_axes = to_tiff_axes(axes, array.shape, array.dtype)
    kind = t.get("kind")
    if kind is None:  # a new file: ImageJ when it carries physical sizes and fits, else plain
        has_phys = bool(meta and (meta.pixel_size or meta.time_interval))
        kind = "imagej" if has_phys and _imagej_ok(tiff_axes, array.dtype) else \
            "ome" if has_phys else "shaped"
    if kind == "imagej" and not _imagej_ok(tiff_axes, array.dtype):
        kind = "ome"  # ImageJ cannot hold this dtype/layout; OME keeps the physical sizes
    kw = _layout_kwargs(array, tiff_axes, t)
    kw.update(_resolution_kwargs(meta, t, kind))
    if kind == "imagej":
        kw.pop("planarconfig", None)
        kw.pop("extrasamples", None)
        md = _imagej_metadata(meta, t, tiff_axes)
        if t.get("description"):  # the run's settings: ImageJ shows them as the image's Info
            md["Info"] = t["description"]
        tifffile.imwrite(tmp, array, imagej=True, metadata=md, software=SOFTWARE, **kw)
    elif kind == "ome":
        md = _ome_metadata(meta, t, tiff_axes, axes)
        if t.get("description"):  # the OME Image's Description
            md["Description"] = t["description"]
        tifffile.imwrite(tmp, array, ome=True, metadata=md, software=SOFTWARE, **kw)
    else:
        md = {"axes": tiff_axes}
        if t.get("description"):  # kept in the shaped JSON description
            md["napari_denoise"] = t["description"]
        tifffile.imwrite(tmp, array, metadata=md, software=SOFTWARE, **kw)


def _layout_kwargs(array, tiff_axes: str, t: dict) -> dict[str, Any]:
    """Photometric interpretation, planar configuration, extra samples, compression."""
    kw: dict[str, Any] = {}
    rgb_layout = "S" in tiff_axes and array.shape[tiff_axes.index("S")] in (3, 4) and \
        t.get("photometric", 2 if tiff_axes.endswith("S") else 1) == 2
    kw["photometric"] = "rgb" if rgb_layout else "minisblack"
    if "S" in tiff_axes and not tiff_axes.endswith("S"):
        kw["planarconfig"] = "separate"
    elif tiff_axes.endswith("S"):
        kw["planarconfig"] = "contig"
    if t.get("extrasamples") and rgb_layout:
        kw["extrasamples"] = list(t["extrasamples"])
    elif rgb_layout and array.shape[tiff_axes.index("S")] == 4:
        kw["extrasamples"] = ["unassalpha"]
    if t.get("compression") in (8, 32946):  # deflate: stdlib zlib, no extra codec needed
        kw["compression"] = "zlib"
    return kw


def _resolution_kwargs(meta, t: dict, kind: str) -> dict[str, Any]:
    """The resolution of the file read, else from the pixel size; never made up."""
    res = t.get("resolution")
    resunit = t.get("resolutionunit")
    px = meta.pixel_size if meta is not None else {}
    if res is None and ("X" in px or "Y" in px):
        res = (1.0 / px.get("X", px.get("Y")), 1.0 / px.get("Y", px.get("X")))
        unit = meta.unit if meta is not None else None
        resunit = {v: k for k, v in RESUNIT_NAMES.items()}.get(unit, 1) \
            if kind != "imagej" else 1
    if res is None:
        return {}
    # never tifffile's default of inches for a size we could not name
    return {"resolution": tuple(float(r) for r in res[:2]),
            "resolutionunit": int(resunit) if resunit is not None else 1}


def _imagej_metadata(meta, t: dict, tiff_axes: str) -> dict[str, Any]:
    px = meta.pixel_size if meta is not None else {}
    md: dict[str, Any] = {"axes": tiff_axes}
    md.update(t.get("imagej", {}))
    unit = t.get("imagej_unit") or (meta.unit if meta is not None else None)
    if unit:
        md["unit"] = imagej_unit(unit)
    spacing = t.get("spacing", px.get("Z"))
    if spacing is not None:
        md["spacing"] = spacing
    fi = t.get("finterval", meta.time_interval if meta is not None else None)
    if fi:
        md["finterval"] = fi
    return md


def _ome_metadata(meta, t: dict, tiff_axes: str, axes: str) -> dict[str, Any]:
    px = meta.pixel_size if meta is not None else {}
    md: dict[str, Any] = {"axes": tiff_axes}
    ome = dict(t.get("ome", {}))
    if not ome and meta is not None:
        u = meta.unit if meta.unit in LENGTHS else None
        for a in "XYZ":
            if a in px and a in axes:
                ome[f"PhysicalSize{a}"] = px[a]
                if u:
                    ome[f"PhysicalSize{a}Unit"] = "µm" if u == "um" else u
        if meta.time_interval:
            ome["TimeIncrement"] = meta.time_interval
            if meta.time_unit:
                ome["TimeIncrementUnit"] = meta.time_unit
    for k, v in ome.items():
        md[k] = float(v) if not k.endswith("Unit") else v
    if not set(tiff_axes) <= set("TZCYXSQ"):
        md["axes"] = "".join(a if a in "TZCYXS" else "Q" for a in tiff_axes)
    return md
