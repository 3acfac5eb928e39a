"""Saving a result: its array with the input's axes, pixel size and units, and the
settings of the run that made it, in one file written atomically.

>>> save_result("cells_denoised.tif", data, axes="ZYX", scale=(2.0, 0.1, 0.1),
...             units=("micrometer",) * 3, settings={"method": "bm3d", ...})

- ``.tif`` / ``.tiff``: an ImageJ TIFF when the data fit one (8/16-bit integers or
  float32 in T, Z, C, Y, X order), else an OME-TIFF; the settings as JSON in the
  ImageJ ``Info`` entry, the OME ``Description`` or the plain TIFF's description.
- ``.ome.tif`` / ``.ome.tiff``: always an OME-TIFF.
- ``.zarr`` / ``.ome.zarr``: a zarr group written plane by plane (a lazy result is
  never loaded whole), with OME-Zarr metadata (axes, units, scale) when the axes are
  in OME order, and the settings in the group's ``napari_denoise`` attribute.

Every format is written to a hidden temporary file or folder beside the destination
and renamed onto it only when complete: a failed or interrupted save leaves no file
(and an existing file untouched). No Qt, napari or torch imports here.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .meta import ImageMeta, positive_or_none

#: extensions the Save result dialog offers, in its order
SAVE_FILTERS = ("TIFF (*.tif *.tiff)", "OME-TIFF (*.ome.tif *.ome.tiff)",
                "OME-Zarr (*.ome.zarr *.zarr)")
#: napari / pint unit names -> the short names ImageMeta uses
UNIT_NAMES = {"micrometer": "µm", "micron": "µm", "um": "µm", "µm": "µm", "nanometer": "nm",
              "nm": "nm", "millimeter": "mm", "mm": "mm", "centimeter": "cm", "cm": "cm",
              "meter": "m", "m": "m", "angstrom": "Å", "picometer": "pm", "inch": "inch"}
TIME_NAMES = {"second": "s", "s": "s", "millisecond": "ms", "ms": "ms", "minute": "min",
              "min": "min", "hour": "h", "h": "h", "microsecond": "µs"}


def save_kind(path) -> str:
    """``"tiff"``, ``"ome-tiff"`` or ``"zarr"`` from the file name; a ValueError for
    anything else (one line, for the panel)."""
    name = Path(path).name.lower()
    if name.endswith((".ome.tif", ".ome.tiff")):
        return "ome-tiff"
    if name.endswith((".tif", ".tiff")):
        return "tiff"
    if name.endswith(".zarr"):
        return "zarr"
    raise ValueError(f"cannot save as '{Path(path).name}': choose a .tif, .ome.tif or "
                     f".ome.zarr name")


def result_meta(axes: str, shape: Sequence[int], dtype, scale: Sequence[float] = (),
                units: Sequence[Any] = ()) -> ImageMeta:
    """The :class:`ImageMeta` of a result: ``axes`` (one letter per array dim),
    ``scale`` and ``units`` as a napari layer has them (one per layer dim: an RGB
    layer's trailing C has none; units as names such as ``"micrometer"``, ``"pixel"``
    or pint units)."""
    shape = tuple(int(n) for n in shape)
    if len(axes) != len(shape):
        raise ValueError(f"axes {axes!r} do not fit data of {len(shape)} dimensions")
    dims = axes if len(scale) == len(axes) else axes[:-1] if (
        axes.endswith("C") and len(scale) == len(axes) - 1) else ""
    meta = ImageMeta(axes=axes, shape=shape, dtype=str(np.dtype(dtype)))
    if not dims:
        return meta
    units = list(units) + [None] * (len(dims) - len(units))
    for a, s, u in zip(dims, scale, units):
        s = positive_or_none(s)
        name = str(u).strip() if u is not None else ""
        if a in "ZYX" and s is not None:
            unit = UNIT_NAMES.get(name)
            if unit is not None or s != 1.0:
                meta.pixel_size[a] = s
            if unit is not None and meta.unit is None:
                meta.unit = unit
        elif a == "T" and s is not None and (s != 1.0 or name in TIME_NAMES):
            meta.time_interval = s
            meta.time_unit = TIME_NAMES.get(name)
    return meta


def settings_text(settings: dict | None) -> str | None:
    """The run's settings as the JSON text a file keeps (None: nothing to keep)."""
    if not settings:
        return None
    return json.dumps({"napari_denoise": settings}, default=str, sort_keys=True)


def save_result(path, data, *, axes: str, scale: Sequence[float] = (),
                units: Sequence[Any] = (), settings: dict | None = None) -> Path:
    """Write ``data`` (numpy or dask) to ``path`` (format from the name, see the
    module's docstring) with the metadata of :func:`result_meta` and ``settings``;
    atomically. Returns the path written; a ValueError (one line) when it cannot be."""
    path = Path(path).expanduser()
    kind = save_kind(path)
    if path.exists() and (path.is_dir() != (kind == "zarr")):
        raise ValueError(f"cannot save as {path}: a {'folder' if path.is_dir() else 'file'} "
                         f"of that name is in the way")
    meta = result_meta(axes, data.shape, data.dtype, scale, units)
    if kind == "zarr":
        return _save_zarr(path, data, meta, settings)
    from . import write_image

    meta.tiff = {"kind": "ome"} if kind == "ome-tiff" else {}
    text = settings_text(settings)
    if text:
        meta.tiff["description"] = text
    return write_image(path, np.asarray(data), meta)


def _save_zarr(path: Path, data, meta: ImageMeta, settings: dict | None) -> Path:
    from .zarr_store import finish, prepare_output

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    old = path.with_name(f".{path.name}.{secrets.token_hex(4)}.old")
    try:
        group, arr, _ = prepare_output(tmp, data.shape, data.dtype, meta.axes,
                                       json.loads(json.dumps(settings or {}, default=str)),
                                       overwrite=True)
        lead = [n for n, a in zip(data.shape, meta.axes) if a not in "YX"]
        if meta.axes.endswith("YXC") or meta.axes[-2:] != "YX":
            lead = []  # not plane-major: one block
        for idx in np.ndindex(*lead):
            arr[idx] = np.asarray(data[idx])
        finish(group, meta, meta.axes, {"saved_from": "napari"})
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not path.exists():
            os.replace(old, path)  # put the previous store back
        raise
    shutil.rmtree(old, ignore_errors=True)
    return path


def saved_settings(path) -> dict | None:
    """The run's settings kept in a file :func:`save_result` wrote (None if none)."""
    path = Path(path)
    if save_kind(path) == "zarr":
        import zarr

        st = dict(zarr.open_group(str(path), mode="r").attrs).get("napari_denoise") or {}
        return st.get("settings") or None
    import tifffile

    with tifffile.TiffFile(path) as tf:
        texts = []
        if tf.is_imagej:
            texts.append((tf.imagej_metadata or {}).get("Info"))
        if tf.is_ome:
            import xml.etree.ElementTree as ET

            root = ET.fromstring(tf.ome_metadata)
            texts += [el.text for el in root.iter() if el.tag.endswith("}Description")]
        if tf.shaped_metadata:
            texts += [m.get("napari_denoise") for m in tf.shaped_metadata]
    for t in texts:
        try:
            return json.loads(t)["napari_denoise"]
        except (TypeError, ValueError, KeyError):
            continue
    return None


__all__ = ["SAVE_FILTERS", "result_meta", "save_kind", "save_result", "saved_settings"]
