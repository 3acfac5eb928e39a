"""Zarr and OME-Zarr stores in and out, for data larger than memory.

Reading: a plain zarr array (v2 or v3), a group holding one, or an OME-Zarr image
(NGFF 0.4 or 0.5, read with the ``ome-zarr`` package): the full-resolution level,
lazily (a dask array), with its axes, pixel sizes and units as an :class:`ImageMeta`.

Writing: a zarr group with the result at full resolution in array ``"0"``, chunked
one plane (or one volume) per chunk along the axes the engine steps over, so each
finished unit of work is written at once. The group's ``napari_denoise`` attribute
records the settings, which units are finished and whether the store is complete;
a rerun with the same settings finishes an interrupted store. When the axes are in
the order OME-Zarr allows (t, c, z, y, x), the OME multiscales metadata (axes,
units, scale) and a pyramid of 2x-downsampled levels are written at the end by
``ome-zarr``.

No Qt, napari or torch imports here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from .meta import ImageMeta

ATTR = "napari_denoise"
#: NGFF unit names <-> the short names ImageMeta uses
UNITS = {"micrometer": "µm", "nanometer": "nm", "millimeter": "mm", "centimeter": "cm",
         "meter": "m", "angstrom": "Å", "picometer": "pm", "inch": "inch"}
TIME_UNITS = {"second": "s", "millisecond": "ms", "minute": "min", "hour": "h",
              "microsecond": "µs"}
AXIS_TYPES = {"T": "time", "C": "channel", "Z": "space", "Y": "space", "X": "space"}


class StoreError(ValueError):
    """A store that cannot be read or written as asked (message meant for the user)."""


def is_zarr_path(path) -> bool:
    """A ``.zarr`` path, or a folder holding zarr metadata."""
    p = Path(path)
    if p.suffix.lower() == ".zarr":
        return True
    return p.is_dir() and any((p / n).exists() for n in ("zarr.json", ".zarray", ".zgroup"))


def _ome_multiscales(group) -> list | None:
    attrs = dict(group.attrs)
    if "ome" in attrs and isinstance(attrs["ome"], dict):
        attrs = attrs["ome"]
    ms = attrs.get("multiscales")
    return ms if isinstance(ms, list) and ms else None


def read_zarr(path) -> tuple[object, ImageMeta]:
    """(lazy dask array of the full-resolution image, ImageMeta) of a zarr store."""
    import dask.array as da
    import zarr

    p = Path(path)
    if not p.exists():
        raise StoreError(f"no such zarr store: {p}")
    try:
        node = zarr.open(str(p), mode="r")
    except Exception:  # noqa: BLE001 - zarr raises many kinds
        raise StoreError(f"{p} is not a zarr store (no zarr array or group metadata in "
                         f"it)") from None
    meta = ImageMeta(axes="", format="zarr", path=str(p))
    if isinstance(node, zarr.Array):
        arr = node
    elif _ome_multiscales(node):
        arr, meta = _read_ome(p, node, meta)
    else:
        arrays = [a for _, a in node.arrays()]
        if len(arrays) != 1:
            raise StoreError(f"{p} is a zarr group with {len(arrays)} arrays and no OME "
                             f"multiscales metadata: open the array inside it "
                             f"({', '.join(n for n, _ in node.arrays()) or 'none'})")
        arr = arrays[0]
    if arr.ndim < 2 or arr.size == 0:
        raise StoreError(f"{p} holds an array of shape {tuple(arr.shape)}: need an image "
                         f"(at least 2-D, not empty)")
    meta.shape, meta.dtype = tuple(arr.shape), str(arr.dtype)
    return da.from_zarr(arr), meta


def _read_ome(p: Path, group, meta: ImageMeta):
    """The full-resolution level of an OME-Zarr image through ome-zarr's reader."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    loc = parse_url(str(p), mode="r")
    nodes = list(Reader(loc)()) if loc is not None else []
    if not nodes:
        raise StoreError(f"{p}: ome-zarr cannot read this image")
    ms = _ome_multiscales(group)[0]
    axes = ms.get("axes") or nodes[0].metadata.get("axes") or []
    names = [(a["name"] if isinstance(a, dict) else str(a)).upper() for a in axes]
    if names and set(names) <= set("TCZYX"):
        meta.axes = "".join(names)
    path0 = ms["datasets"][0]["path"]
    scale = None
    for tr in ms["datasets"][0].get("coordinateTransformations") or []:
        if tr.get("type") == "scale":
            scale = tr.get("scale")
    for a, ax in zip(meta.axes, axes):
        unit = ax.get("unit") if isinstance(ax, dict) else None
        if a in "ZYX" and unit:
            meta.unit = UNITS.get(unit, unit)
        if a == "T" and unit:
            meta.time_unit = TIME_UNITS.get(unit, unit)
    if scale is not None:
        for a, s in zip(meta.axes, scale):
            if a in "ZYX":
                meta.pixel_size[a] = float(s)
            elif a == "T":
                meta.time_interval = float(s)
    return group[path0], meta


# -- output -------------------------------------------------------------------

def ngff_order(axes: str) -> bool:
    """OME-Zarr wants the axes as a subsequence of t, c, z, y, x."""
    order = "TCZYX"
    idx = [order.index(a) for a in axes if a in order]
    return len(idx) == len(axes) and idx == sorted(idx) and axes.endswith("YX")


def unit_chunks(shape, axes: str, volume: bool) -> tuple[int, ...]:
    """One chunk per unit of work along T, Z (2-D) and C; Y and X in blocks of up to 1024."""
    out = []
    for n, a in zip(shape, axes):
        if a in "YX":
            out.append(min(n, 1024))
        elif a == "Z" and volume:
            out.append(n)
        else:
            out.append(1)
    return tuple(out)


def prepare_output(path, shape, dtype, axes: str, settings: dict, *, overwrite: bool,
                   volume: bool = False):
    """The output group and array ``"0"``, new or to be finished; and the set of units
    already written. Refuses a store that is not ours, or ours with other settings,
    unless ``overwrite``."""
    import zarr

    p = Path(path)
    if p.exists():
        state = _state(p)
        if overwrite and p.is_dir():
            shutil.rmtree(p)
        elif overwrite:
            p.unlink()
        elif state is None:
            raise StoreError(f"{p} exists and was not written by napari-denoise; choose "
                             f"another output or use --overwrite")
        elif state.get("settings") != json.loads(json.dumps(settings)):
            diff = _differences(state.get("settings", {}), settings)
            raise StoreError(f"{p} was started with other settings ({diff}); rerun with the "
                             f"same settings to finish it, or use --overwrite to start over")
        else:
            group = zarr.open_group(str(p), mode="r+")
            return group, group["0"], units_done(state)
    group = zarr.open_group(str(p), mode="w")
    arr = group.create_array("0", shape=tuple(shape), dtype=np.dtype(dtype),
                             chunks=unit_chunks(shape, axes, volume), fill_value=0)
    group.attrs[ATTR] = {"complete": False, "settings": settings, "units_done": [],
                         "axes": axes}
    return group, arr, set()


def _state(p: Path) -> dict | None:
    import zarr

    try:
        g = zarr.open_group(str(p), mode="r")
    except Exception:  # noqa: BLE001 - not a group: not ours
        return None
    st = dict(g.attrs).get(ATTR)
    return st if isinstance(st, dict) else None


def _differences(old: dict, new: dict) -> str:
    new = json.loads(json.dumps(new))
    keys = sorted(set(old) | set(new))
    parts = [f"{k}: {old.get(k)!r} then, {new.get(k)!r} now" for k in keys
             if old.get(k) != new.get(k)]
    return "; ".join(parts[:3]) or "different"


def mark_done(group, done: set) -> None:
    """Record the finished units as runs ``[first, last]``: a few numbers however many
    planes are done (rewritten after every unit, so a list of every index would grow
    the work with the square of the number of planes)."""
    st = dict(group.attrs[ATTR])
    runs: list[list[int]] = []
    for u in sorted(int(u) for u in done):
        if runs and u == runs[-1][1] + 1:
            runs[-1][1] = u
        else:
            runs.append([u, u])
    st["units_done"] = runs
    group.attrs[ATTR] = st


def units_done(state: dict) -> set[int]:
    """The finished units of a store's state (runs ``[first, last]``)."""
    return {u for first, last in state.get("units_done", []) for u in range(first, last + 1)}


def finish(group, meta: ImageMeta, axes: str, info: dict, *, pyramid: bool = True) -> None:
    """Pyramid and OME metadata (when the axes allow), then mark the store complete."""
    if ngff_order(axes):
        _write_ome(group, meta, axes, pyramid)
    st = dict(group.attrs[ATTR])
    st.update(complete=True, info=info)
    group.attrs[ATTR] = st


def _write_ome(group, meta: ImageMeta, axes: str, pyramid: bool) -> None:
    import dask.array as da
    from ome_zarr.writer import write_multiscales_metadata

    base = da.from_zarr(group["0"])
    scale0 = [_axis_scale(meta, a) for a in axes]
    datasets = [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale0}]}]
    level, factor = base, 1
    while pyramid and min(level.shape[-2:]) >= 128 and len(datasets) < 5:
        factor *= 2
        dims = {i: 2 for i, a in enumerate(axes) if a in "YX"}
        level = da.coarsen(np.mean, level.astype(np.float32), dims, trim_excess=True)
        level = _cast(level, group["0"].dtype)
        name = str(len(datasets))
        level.to_zarr(group.store, component=f"{group.path}/{name}".strip("/"),
                      overwrite=True)
        level = da.from_zarr(group[name])
        sc = [s * factor if a in "YX" else s for s, a in zip(scale0, axes)]
        datasets.append({"path": name,
                         "coordinateTransformations": [{"type": "scale", "scale": sc}]})
    ax = [{"name": a.lower(), "type": AXIS_TYPES[a]} for a in axes]
    units = {a.lower(): u for a in axes if (u := _ngff_unit(meta, a))}
    write_multiscales_metadata(group, datasets, axes=ax, axes_units=units or None,
                               name="denoised")


def _cast(x, dtype):
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        info = np.iinfo(dt)
        return x.round().clip(info.min, info.max).astype(dt)
    return x.astype(dt)


def _axis_scale(meta: ImageMeta, a: str) -> float:
    if a == "T":
        return float(meta.time_interval or 1.0)
    return float(meta.pixel_size.get(a, 1.0)) if a in "ZYX" else 1.0


def _ngff_unit(meta: ImageMeta, a: str) -> str | None:
    back = {v: k for k, v in UNITS.items()}
    if a in "ZYX" and meta.unit and a in meta.pixel_size:
        return back.get(meta.unit)
    if a == "T" and meta.time_unit:
        return {v: k for k, v in TIME_UNITS.items()}.get(meta.time_unit)
    return None
