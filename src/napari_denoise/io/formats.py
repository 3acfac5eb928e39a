"""PNG, JPEG and the other formats imageio knows, and .npy; which writer a suffix takes
and whether it can hold an array."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .meta import ImageMeta, guess_file_axes, short_error

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2")
IMAGEIO_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".jp2", ".pgm", ".ppm",
                    ".pbm", ".pnm")
NUMPY_SUFFIXES = (".npy",)

# 8-bit only formats, and formats that also hold 16-bit greyscale
_UINT8_ONLY = (".jpg", ".jpeg", ".bmp", ".gif", ".webp")
_UINT8_OR_16 = (".png", ".pgm", ".ppm", ".pnm")


def read_npy(path: Path):
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError/OSError/EOFError/UnpicklingError
        raise ValueError(f"{path}: not a readable .npy array ({short_error(exc)})") from None
    if not isinstance(data, np.ndarray) or data.ndim < 2:
        raise ValueError(f"{path}: not an image (shape {getattr(data, 'shape', '?')})")
    meta = ImageMeta(axes=guess_file_axes(data.shape), shape=tuple(data.shape), dtype=str(data.dtype),
                     format="npy", path=str(path))
    return data, meta

def read_imageio(path: Path):
    import imageio.v3 as iio

    try:
        data = np.asarray(iio.imread(path))
    except Exception as exc:  # imageio raises many types for unknown/corrupt files
        if "backend" in str(exc):  # imageio: no plugin recognised the file
            raise ValueError(f"{path}: not an image in a readable format (TIFF, PNG, JPEG, "
                             f"... or .npy); unknown or corrupt file") from None
        raise ValueError(f"{path}: unreadable image file: {short_error(exc)}") from None
    if data.ndim < 2 or data.dtype.kind not in "uifb":
        raise ValueError(f"{path}: not an image (shape {data.shape}, dtype {data.dtype})")
    if data.dtype == bool:
        data = data.astype(np.uint8) * 255
    if data.ndim > 4:
        raise ValueError(f"{path}: {data.ndim}-D image (shape {data.shape}) is not supported")
    from ..core.axes import guess_axes

    # the one set of axes rules; these formats store grey + alpha (2) or colour last
    axes = guess_axes(data.shape, rgb=data.ndim > 2 and data.shape[-1] in (2, 3, 4))
    fmt = path.suffix.lower().lstrip(".") or "image"
    fmt = {"jpg": "jpeg", "tif": "tiff"}.get(fmt, fmt)
    return data, ImageMeta(axes=axes, shape=tuple(data.shape), dtype=str(data.dtype), format=fmt,
                           path=str(path))


# -- writing ---------------------------------------------------------------------

def writer_kind(path: Path) -> str:
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
    kind = writer_kind(path)
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

def write_imageio(tmp: Path, array: np.ndarray, suffix: str) -> None:
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
                         f"{short_error(exc)}") from None
