"""Reading and writing image files, keeping what is needed to write the result back.

>>> from napari_denoise.io import read_image, write_image
>>> data, meta = read_image("stack.tif")        # meta.axes == "ZYX", meta.scale == (2.0, 0.1, 0.1)
>>> write_image("stack_denoised.tif", denoised, meta)   # same axes, dtype, pixel size and unit

TIFF files go through tifffile: the axes of the first series, ImageJ metadata
(spacing, unit, frame interval, display ranges, LUTs), the resolution tags and
OME-XML physical sizes are kept in :class:`ImageMeta` and written back the same
way (an ImageJ file stays an ImageJ file, an OME-TIFF an OME-TIFF). PNG, JPEG
and the other formats imageio knows go through imageio; ``.npy`` through numpy.

Writes are atomic: the data go to a hidden temporary file in the destination
folder (created when missing), renamed over the destination only when complete.

No Qt, napari or torch imports here.
"""

from __future__ import annotations

import os
import re
import secrets
import struct
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ImageMeta", "read_image", "write_image", "check_writable", "written_by_napari_denoise",
           "TIFF_SUFFIXES",
           "IMAGEIO_SUFFIXES"]

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2")
IMAGEIO_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".jp2", ".pgm", ".ppm",
                    ".pbm", ".pnm")
NUMPY_SUFFIXES = (".npy",)

# 8-bit only formats, and formats that also hold 16-bit greyscale
_UINT8_ONLY = (".jpg", ".jpeg", ".bmp", ".gif", ".webp")
_UINT8_OR_16 = (".png", ".pgm", ".ppm", ".pnm")

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

# tifffile's RESUNIT values -> unit names
_RESUNIT_NAMES = {2: "inch", 3: "cm", 4: "mm", 5: "µm"}

# OME Pixels attributes kept for a faithful round trip
_OME_KEYS = ("PhysicalSizeX", "PhysicalSizeXUnit", "PhysicalSizeY", "PhysicalSizeYUnit",
             "PhysicalSizeZ", "PhysicalSizeZUnit", "TimeIncrement", "TimeIncrementUnit")

# ImageJ metadata entries written back (the rest is recomputed by tifffile)
_IJ_KEEP = ("mode", "loop", "Ranges", "LUTs", "Labels", "Info", "Properties", "min", "max",
            "fps", "xorigin", "yorigin", "zorigin", "channels_mode")


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

def _display_unit(unit):
    """ImageJ writes µ as the escape ``\\u00B5``; show the character."""
    if unit is None:
        return None
    unit = str(unit).strip()
    if not unit or unit.lower() in ("pixel", "pixels", "none"):
        return None
    unit = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), unit)
    return {"micron": "µm", "microns": "µm", "um": "µm"}.get(unit, unit)


def _imagej_unit(unit):
    """ImageJ descriptions are ASCII: escape µ and friends the way ImageJ does."""
    if unit is None:
        return None
    return "".join(c if ord(c) < 128 else f"\\u{ord(c):04X}" for c in str(unit))


def _map_tiff_axes(tiff_axes: str, path, shape=None, rgb: bool = True) -> str:
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
        from .core.axes import guess_axes

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


def _to_tiff_axes(axes: str, shape, dtype) -> str:
    """Our axes -> tifffile letters for a new file: a trailing colour axis is S."""
    if axes.endswith("C") and shape[-1] in (3, 4) and np.dtype(dtype) in (np.uint8, np.uint16):
        return axes[:-1] + "S"
    return axes


def _guess_axes(shape) -> str:
    from .core.axes import guess_axes

    try:
        return guess_axes(tuple(shape))
    except ValueError:
        raise ValueError(f"cannot tell the axes of {len(shape)}-D data of shape {tuple(shape)}") \
            from None


def _float_or_none(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) and f > 0 else None


# -- reading ---------------------------------------------------------------------

def _sniff_tiff(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) in _TIFF_MAGIC
    except OSError:
        return False


def read_image(path) -> tuple[np.ndarray, ImageMeta]:
    """Read an image file into ``(array, ImageMeta)``.

    Raises FileNotFoundError for a missing file and ValueError (with the reason) for a
    folder, an empty file, or a file that is not in a readable image format.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not an image file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes)")
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES or _sniff_tiff(path):
        return _read_tiff(path)
    if suffix in NUMPY_SUFFIXES:
        return _read_npy(path)
    return _read_imageio(path)


def _read_npy(path: Path):
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError/OSError/EOFError/UnpicklingError
        raise ValueError(f"{path}: not a readable .npy array ({_short(exc)})") from None
    if not isinstance(data, np.ndarray) or data.ndim < 2:
        raise ValueError(f"{path}: not an image (shape {getattr(data, 'shape', '?')})")
    meta = ImageMeta(axes=_guess_axes(data.shape), shape=tuple(data.shape), dtype=str(data.dtype),
                     format="npy", path=str(path))
    return data, meta


def _short(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return msg[:200]


def _read_tiff(path: Path):
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            if not tf.series:
                raise ValueError(f"{path}: the TIFF file holds no image")
            series = tf.series[0]
            data = series.asarray()
            tiff_axes = series.axes
            page = series.pages[0] if series.pages else tf.pages[0]
            page = getattr(page, "keyframe", page) or page
            ij = dict(tf.imagej_metadata or {}) if tf.is_imagej else {}
            ome_xml = tf.ome_metadata if tf.is_ome else None
            kind = "imagej" if tf.is_imagej else "ome" if tf.is_ome else "shaped"
            photometric = int(page.photometric)
            planarconfig = int(page.planarconfig)
            compression = int(page.compression)
            extrasamples = tuple(int(e) for e in (page.extrasamples or ()))
            resolution = tuple(float(r) for r in page.resolution)
            resolutionunit = int(page.resolutionunit)
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable TIFF file ({_short(exc)})") from None
    except (tifffile.TiffFileError, OSError, KeyError, IndexError, TypeError,
            struct.error) as exc:
        raise ValueError(f"{path}: not a readable TIFF file ({_short(exc)})") from None

    if data.ndim < 2:
        raise ValueError(f"{path}: not an image (shape {data.shape})")
    if len(tiff_axes) != data.ndim:  # should not happen; fall back to a guess
        axes = _guess_axes(data.shape)
        tiff_axes = _to_tiff_axes(axes, data.shape, data.dtype)
    else:
        # colour only when the file says so: RGB samples stored per pixel (...YXS), or
        # in an ImageJ/OME file; a bare (3 or 4, Y, X) array written by tifffile becomes
        # "planar RGB" by default, but it is a stack of planes far more often than colour
        rgb = photometric == 2 and (tiff_axes.endswith("S") or kind != "shaped")
        axes = _map_tiff_axes(tiff_axes, path, data.shape, rgb=rgb)

    meta = ImageMeta(axes=axes, shape=tuple(data.shape), dtype=str(data.dtype), format="tiff",
                     path=str(path))
    meta.tiff = {"kind": kind, "axes": tiff_axes, "photometric": photometric,
                 "planarconfig": planarconfig, "compression": compression,
                 "extrasamples": extrasamples, "resolution": resolution,
                 "resolutionunit": resolutionunit}

    if resolution[:2] == (1.0, 1.0) and resolutionunit != 1:
        # 1 pixel per inch (or cm): a writer's placeholder, not a pixel size
        resolution, resolutionunit = (1.0, 1.0), 1
        meta.tiff.update(resolution=resolution, resolutionunit=resolutionunit)
    # X/Y pixel size from the resolution tags (pixels per unit)
    xres, yres = (resolution + (1.0, 1.0))[:2]
    res_known = False
    if kind == "imagej":
        unit = _display_unit(ij.get("unit"))
        res_known = unit is not None or (xres, yres) != (1.0, 1.0)
        meta.unit = unit
        meta.tiff["imagej"] = {k: ij[k] for k in _IJ_KEEP if k in ij}
        meta.tiff["imagej_unit"] = ij.get("unit")
        z = _float_or_none(ij.get("spacing"))
        if z is not None and "Z" in axes:
            meta.pixel_size["Z"] = z
        fi = _float_or_none(ij.get("finterval"))
        if fi is not None:
            meta.time_interval, meta.time_unit = fi, "s"
            meta.tiff["finterval"] = ij.get("finterval")
        if "spacing" in ij:
            meta.tiff["spacing"] = ij["spacing"]
    elif resolutionunit in _RESUNIT_NAMES:
        meta.unit = _RESUNIT_NAMES[resolutionunit]
        res_known = True
    elif (xres, yres) != (1.0, 1.0):
        res_known = True  # unitless ratio
    if res_known:
        if _float_or_none(xres):
            meta.pixel_size["X"] = 1.0 / xres
        if _float_or_none(yres):
            meta.pixel_size["Y"] = 1.0 / yres

    if kind == "ome" and ome_xml:
        _apply_ome(meta, ome_xml)
    return data, meta


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
        v = _float_or_none(attrs.get(f"PhysicalSize{a}"))
        if v is None or a not in meta.axes:
            continue
        u = attrs.get(f"PhysicalSize{a}Unit", "µm")
        if unit is None:
            unit = u
        meta.pixel_size[a] = v * _length_factor(u, unit)
    if unit is not None:
        meta.unit = _display_unit(unit)
    ti = _float_or_none(attrs.get("TimeIncrement"))
    if ti is not None:
        meta.time_interval, meta.time_unit = ti, attrs.get("TimeIncrementUnit", "s")


_LENGTHS = {"pm": 1e-12, "Å": 1e-10, "nm": 1e-9, "µm": 1e-6, "um": 1e-6, "mm": 1e-3,
            "cm": 1e-2, "m": 1.0, "inch": 0.0254, "in": 0.0254}


def _length_factor(src: str, dst: str) -> float:
    """Factor converting a length in ``src`` units to ``dst`` units (1.0 if unknown)."""
    a, b = _LENGTHS.get(src), _LENGTHS.get(dst)
    return a / b if a and b else 1.0


def _read_imageio(path: Path):
    import imageio.v3 as iio

    try:
        data = np.asarray(iio.imread(path))
    except Exception as exc:  # imageio raises many types for unknown/corrupt files
        if "backend" in str(exc):  # imageio: no plugin recognised the file
            raise ValueError(f"{path}: not an image in a readable format (TIFF, PNG, JPEG, "
                             f"... or .npy); unknown or corrupt file") from None
        raise ValueError(f"{path}: unreadable image file: {_short(exc)}") from None
    if data.ndim < 2 or data.dtype.kind not in "uifb":
        raise ValueError(f"{path}: not an image (shape {data.shape}, dtype {data.dtype})")
    if data.dtype == bool:
        data = data.astype(np.uint8) * 255
    if data.ndim > 4:
        raise ValueError(f"{path}: {data.ndim}-D image (shape {data.shape}) is not supported")
    from .core.axes import guess_axes

    # the one set of axes rules; these formats store grey + alpha (2) or colour last
    axes = guess_axes(data.shape, rgb=data.ndim > 2 and data.shape[-1] in (2, 3, 4))
    fmt = path.suffix.lower().lstrip(".") or "image"
    fmt = {"jpg": "jpeg", "tif": "tiff"}.get(fmt, fmt)
    return data, ImageMeta(axes=axes, shape=tuple(data.shape), dtype=str(data.dtype), format=fmt,
                           path=str(path))


# -- writing ---------------------------------------------------------------------

def _writer_kind(path: Path) -> str:
    s = path.suffix.lower()
    if s in TIFF_SUFFIXES:
        return "tiff"
    if s in NUMPY_SUFFIXES:
        return "npy"
    if s in IMAGEIO_SUFFIXES:
        return "imageio"
    known = ", ".join(TIFF_SUFFIXES[:2] + IMAGEIO_SUFFIXES[:3] + NUMPY_SUFFIXES)
    raise ValueError(f"cannot write {path.name}: unknown file type {s or '(no extension)'!r}; "
                     f"use one of {known}")


def check_writable(path, dtype=None, shape=None) -> None:
    """Raise ValueError when ``path`` cannot hold an array of ``dtype``/``shape``
    (unknown extension, 16-bit or float data in an 8-bit format, a folder ...).

    Cheap: lets a command fail before a long computation rather than after.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"cannot write {path}: it is a folder")
    kind = _writer_kind(path)
    if kind != "imageio" or dtype is None:
        return
    dt = np.dtype(dtype)
    s = path.suffix.lower()
    if s in _UINT8_ONLY and dt != np.uint8:
        raise ValueError(f"cannot write {dt} data to {s} (8-bit only); use .tif to keep "
                         f"the data type")
    if s in _UINT8_OR_16 and dt not in (np.uint8, np.uint16):
        raise ValueError(f"cannot write {dt} data to {s} (8 or 16-bit integers only); use .tif")
    if shape is not None:
        nd = len(shape)
        if s != ".gif" and not (nd == 2 or (nd == 3 and shape[-1] in (1, 2, 3, 4))):
            raise ValueError(f"cannot write an array of shape {tuple(shape)} to {s} (a single "
                             f"grey or colour image); use .tif for stacks")
        if s in (".jpg", ".jpeg") and nd == 3 and shape[-1] not in (1, 3):
            raise ValueError(f"cannot write {shape[-1]} channels to JPEG; use .png or .tif")
        if s in _UINT8_OR_16 and dt == np.uint16 and nd == 3 and shape[-1] != 1:
            raise ValueError(f"cannot write 16-bit colour to {s}; use .tif")


@contextmanager
def _atomic(path: Path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success,
    remove it on any failure (including Ctrl-C)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # keep the real extension last: writers pick the format from it
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def write_image(path, array, meta: ImageMeta | None = None) -> Path:
    """Write ``array`` to ``path`` (format from the extension), atomically.

    With the ``meta`` of :func:`read_image`, a TIFF is written the way it was read:
    same axes, ImageJ/OME flavour, pixel size, unit, frame interval and photometric
    interpretation. The folder is created when missing; an existing file is replaced.
    Returns the path written.
    """
    path = Path(path).expanduser()
    array = np.asarray(array)
    check_writable(path, array.dtype, array.shape)
    kind = _writer_kind(path)
    if array.ndim < 2:
        raise ValueError(f"cannot write {array.ndim}-D data (shape {array.shape}) as an image")
    with _atomic(path) as tmp:
        if kind == "tiff":
            _write_tiff(tmp, array, meta)
        elif kind == "npy":
            with open(tmp, "wb") as f:
                np.save(f, array, allow_pickle=False)
        else:
            _write_imageio(tmp, array, path.suffix.lower())
    return path


SOFTWARE = "napari-denoise"


def written_by_napari_denoise(path) -> bool:
    """Whether ``path`` is a TIFF this package wrote (its Software tag says so)."""
    path = Path(path)
    if not _sniff_tiff(path):
        return False
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            return str(tf.pages[0].software or "").startswith(SOFTWARE)
    except Exception:  # noqa: BLE001 - unreadable: not ours
        return False


def _write_imageio(tmp: Path, array: np.ndarray, suffix: str) -> None:
    import imageio.v3 as iio

    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    kwargs = {}
    if suffix in (".jpg", ".jpeg"):
        kwargs["quality"] = 95
    try:
        iio.imwrite(tmp, array, extension=suffix, **kwargs)
    except (ValueError, TypeError, OSError, KeyError) as exc:
        raise ValueError(f"cannot write {array.dtype} data of shape {array.shape} as {suffix}: "
                         f"{_short(exc)}") from None


def _imagej_ok(tiff_axes: str, dtype) -> bool:
    if np.dtype(dtype).char not in "BHhf":
        return False
    if "S" in tiff_axes and np.dtype(dtype) != np.uint8:
        return False
    order = [c for c in "TZCYXS" if c in tiff_axes]
    return set(tiff_axes) <= set("TZCYXS") and list(tiff_axes) == order


def _write_tiff(tmp: Path, array: np.ndarray, meta: ImageMeta | None) -> None:
    import tifffile

    t = dict(meta.tiff) if meta is not None and meta.tiff else {}
    axes = meta.axes if meta is not None and len(meta.axes) == array.ndim else None
    if axes is None:
        axes = _guess_axes(array.shape)
        t = {}
    tiff_axes = t.get("axes") if t and len(t.get("axes", "")) == array.ndim else None
    if tiff_axes is None:
        tiff_axes = _to_tiff_axes(axes, array.shape, array.dtype)
    kind = t.get("kind")
    if kind is None:  # a new file: ImageJ when it carries physical sizes and fits, else plain
        has_phys = bool(meta and (meta.pixel_size or meta.time_interval))
        kind = "imagej" if has_phys and _imagej_ok(tiff_axes, array.dtype) else \
            "ome" if has_phys else "shaped"
    if kind == "imagej" and not _imagej_ok(tiff_axes, array.dtype):
        kind = "ome"  # ImageJ cannot hold this dtype/layout; OME keeps the physical sizes

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

    # resolution: from the file read, else from the pixel size
    res = t.get("resolution")
    resunit = t.get("resolutionunit")
    px = meta.pixel_size if meta is not None else {}
    if res is None and ("X" in px or "Y" in px):
        res = (1.0 / px.get("X", px.get("Y")), 1.0 / px.get("Y", px.get("X")))
        unit = meta.unit if meta is not None else None
        resunit = {v: k for k, v in _RESUNIT_NAMES.items()}.get(unit, 1) \
            if kind != "imagej" else 1
    if res is not None:
        kw["resolution"] = tuple(float(r) for r in res[:2])
        # never tifffile's default of inches for a size we could not name
        kw["resolutionunit"] = int(resunit) if resunit is not None else 1

    if kind == "imagej":
        md: dict[str, Any] = {"axes": tiff_axes}
        md.update(t.get("imagej", {}))
        unit = t.get("imagej_unit") or (meta.unit if meta is not None else None)
        if unit:
            md["unit"] = _imagej_unit(unit)
        spacing = t.get("spacing", px.get("Z"))
        if spacing is not None:
            md["spacing"] = spacing
        fi = t.get("finterval", meta.time_interval if meta is not None else None)
        if fi:
            md["finterval"] = fi
        kw.pop("planarconfig", None)
        kw.pop("extrasamples", None)
        tifffile.imwrite(tmp, array, imagej=True, metadata=md, software=SOFTWARE, **kw)
    elif kind == "ome":
        md = {"axes": tiff_axes}
        ome = dict(t.get("ome", {}))
        if not ome and meta is not None:
            u = meta.unit if meta.unit in _LENGTHS else None
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
        tifffile.imwrite(tmp, array, ome=True, metadata=md, software=SOFTWARE, **kw)
    else:
        tifffile.imwrite(tmp, array, metadata={"axes": tiff_axes}, software=SOFTWARE, **kw)
