"""Reading and writing napari layers for the widgets (no Qt, no rules of denoising).

- what a layer's data, axes and value range are (:func:`layer_data`, :func:`layer_axes`,
  :func:`value_range`), and a layer found by name (:func:`find_layer`);
- the slice the viewer shows (:func:`current_slice`, :func:`take_plane`,
  :func:`plane_props`);
- an output layer that copies its input's placement and look (:func:`layer_props`)
  and is updated in place on the next run (:func:`place_layer`).

Only the main thread calls these (layers are not thread-safe). The Denoise widget
uses all of them; the Noise map widget places its map with :func:`place_layer`
(``reset_contrast=True``); the Train widget copies the slice shown for its
training previews with :func:`current_slice` / :func:`take_plane` /
:func:`plane_props`; both widgets' previews are shown through
:mod:`.slice_preview`, which removes them when another slice is shown.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from napari.layers import Image

from ..core.axes import AxesError, guess_axes, normalize_axes
from ..core.errors import DenoiseError
from ..core.layout import MIN_SIDE
from ..core.normalise import estimate_range

#: axis_labels words understood when reading the axes of a layer
AXIS_WORDS = {
    "T": "T", "TIME": "T", "FRAME": "T", "FRAMES": "T", "Q": "T",
    "Z": "Z", "DEPTH": "Z", "PLANE": "Z", "SLICE": "Z",
    "C": "C", "CH": "C", "CHANNEL": "C", "CHANNELS": "C", "S": "C",
    "Y": "Y", "ROW": "Y", "ROWS": "Y",
    "X": "X", "COL": "X", "COLUMN": "X", "COLUMNS": "X",
}
#: what an updated output layer takes from ``props`` besides its data
PLACEMENT = ("scale", "translate", "rotate", "shear", "affine", "units", "axis_labels")
#: the suffix of the Noise map widget's map layer, and where it records its input
NOISE_MAP_SUFFIX = " noise map"


# -- reading ------------------------------------------------------------------------------

def layer_data(layer: Image, *, multiscale: bool = False):
    """The array of ``layer``; of a multiscale layer its full-resolution level when
    ``multiscale`` is True, else a :class:`DenoiseError` (a pyramid is not denoised)."""
    if not layer.multiscale:
        return layer.data
    if multiscale:
        return layer.data[0]
    raise DenoiseError(f"'{layer.name}' is a multiscale (pyramid) layer; denoise its "
                       "full-resolution array from Python with napari_denoise.denoise")


def layer_axes(layer: Image) -> str:
    """Axes of a layer's data: from its axis labels when they name axes, else guessed
    ("" when neither works)."""
    data = layer_data(layer, multiscale=True)
    letters = [AXIS_WORDS.get(str(a).strip().upper()) for a in layer.axis_labels]
    if layer.rgb:
        letters.append("C")
    if len(letters) == data.ndim and all(letters):
        try:
            return normalize_axes("".join(letters), data.ndim)
        except AxesError:
            pass
    try:
        return guess_axes(tuple(data.shape), rgb=bool(layer.rgb))
    except AxesError:
        return ""


def value_range(layer: Image) -> tuple[float, float]:
    """(lo, hi) of the layer's values as the engine normalises them (robust percentiles
    of the data, :func:`~napari_denoise.core.normalise.estimate_range`); napari's
    contrast-limits range when the engine refuses the data (NaN or infinite values)."""
    try:
        lo, hi = estimate_range(layer_data(layer, multiscale=True))
    except DenoiseError:
        lo, hi = (float(v) for v in layer.contrast_limits_range)
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return 0.0, 1.0
    return lo, hi


def noise_map_for(layer) -> str | None:
    """Name of the layer whose noise map ``layer`` is, from its metadata
    (``["napari_denoise"]["noise_map_for"]``, set by the Noise map widget), or None."""
    meta = getattr(layer, "metadata", None)
    info = meta.get("napari_denoise") if isinstance(meta, dict) else None
    name = info.get("noise_map_for") if isinstance(info, dict) else None
    return name if isinstance(name, str) else None


def find_layer(viewer, name: str):
    """The layer called ``name`` in ``viewer``, or None. Found by iterating: the viewer
    handed to plugin widgets may be a proxy whose ``layers[name]`` is a proxy too (not
    ``is`` the layer a combo box holds)."""
    for layer in viewer.layers:
        if layer.name == name:
            return layer
    return None


def layer_props(layer: Image) -> dict:
    """Everything an output layer copies from its input: placement, units, axis labels,
    metadata and look (keyword arguments of ``viewer.add_image``)."""
    props = dict(
        scale=tuple(layer.scale), translate=tuple(layer.translate),
        rotate=np.array(layer.rotate), shear=np.array(layer.shear),
        affine=layer.affine.affine_matrix.copy(),
        units=tuple(layer.units), axis_labels=tuple(layer.axis_labels),
        metadata=dict(layer.metadata), contrast_limits=tuple(layer.contrast_limits),
        rgb=bool(layer.rgb), blending=layer.blending, gamma=layer.gamma,
    )
    if not layer.rgb:
        props["colormap"] = layer.colormap
    return props


# -- the slice shown ----------------------------------------------------------------------

def current_slice(viewer, layer: Image, max_pixels: int = 1024 * 1024, *, margin: int = 32,
                  min_side: int = MIN_SIDE) -> tuple[tuple, list[int]]:
    """(index into ``layer.data``, the two displayed layer dims) of the slice the viewer
    shows. A slice of more than ``max_pixels`` pixels is cropped to the visible region
    (``layer.corner_pixels``) plus ``margin``, on dims where that region is at least
    ``min_side`` long."""
    lnd = layer.ndim  # without the RGB axis
    disp = [d - (viewer.dims.ndim - lnd) for d in viewer.dims.displayed[-2:]]
    if len(disp) < 2 or min(disp) < 0:
        disp = [lnd - 2, lnd - 1]
    shape = layer.data.shape
    pos = layer.world_to_data(viewer.dims.point)
    index: list[Any] = [slice(None) if k in disp else
                        int(np.clip(np.round(pos[k]), 0, shape[k] - 1)) for k in range(lnd)]
    if shape[disp[0]] * shape[disp[1]] > max_pixels:
        corners = np.asarray(layer.corner_pixels)
        for k in disp:
            lo, hi = int(corners[0, k]), int(corners[1, k]) + 1
            if hi - lo >= min_side and (lo > 0 or hi < shape[k]):
                index[k] = slice(max(0, lo - margin), min(shape[k], hi + margin))
    return tuple(index), disp


def take_plane(array, index: tuple, disp: list[int], dtype=None, *, copy: bool = False):
    """``array[index]`` as numpy, its axes in the order shown (rows first)."""
    plane = np.array(array[index], dtype=dtype, copy=True) if copy else \
        np.asarray(array[index], dtype=dtype)
    return np.swapaxes(plane, 0, 1) if disp[0] > disp[1] else plane


def plane_props(props: dict, index: tuple, disp: list[int]) -> dict:
    """:func:`layer_props` of a layer, for the plane ``take_plane(data, index, disp)``:
    the displayed dims' scale and units, and the translation of the crop's corner."""
    start = [index[k].start or 0 for k in disp]
    scale = [props["scale"][k] for k in disp]
    out = dict(
        scale=tuple(scale),
        translate=tuple(props["translate"][k] + s * sc for k, s, sc in zip(disp, start, scale)),
        units=tuple(props["units"][k] for k in disp),
        axis_labels=tuple(props["axis_labels"][k] for k in disp),
    )
    out.update({k: v for k, v in props.items() if k not in PLACEMENT})
    return out


# -- writing ------------------------------------------------------------------------------

def place_layer(viewer, name: str, data, props: dict, *, reset_contrast: bool = False) -> Image:
    """Put ``data`` into the image layer ``name``: updated in place when it exists and
    fits (same RGB-ness and dimensions), else added (in the place of a layer of that
    name that does not fit). ``props`` are ``add_image`` keyword arguments; an update
    takes their :data:`PLACEMENT` and ``metadata``, and their contrast limits when the
    dtype changed (all new contrast limits with ``reset_contrast``)."""
    layers = viewer.layers
    out = layers[name] if name in layers else None
    if isinstance(out, Image) and out.rgb == bool(props.get("rgb", False)) \
            and out.data.ndim == data.ndim:
        dtype_changed = out.data.dtype != data.dtype
        out.data = data
        for k in PLACEMENT:
            if k in props:
                setattr(out, k, props[k])
        out.metadata.clear()
        out.metadata.update(props.get("metadata") or {})
        if reset_contrast:
            out.reset_contrast_limits()
        elif dtype_changed and "contrast_limits" in props:
            out.contrast_limits = props["contrast_limits"]
        return out
    index = None
    if out is not None:  # same name but not reusable: replaced at the same place
        index = layers.index(out)
        layers.remove(out)
    new = viewer.add_image(data, name=name, **props)
    if index is not None:
        layers.move(layers.index(new), index)
    return new
