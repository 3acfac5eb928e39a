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
import secrets
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .formats import (IMAGEIO_SUFFIXES, NUMPY_SUFFIXES, TIFF_SUFFIXES, check_writable, read_imageio,
                      read_npy, write_imageio, writer_kind)
from .meta import ImageMeta
from .tiff import SOFTWARE, is_tiff, read_tiff, write_tiff, written_by_napari_denoise

__all__ = ["ImageMeta", "read_image", "write_image", "check_writable", "written_by_napari_denoise",
           "TIFF_SUFFIXES", "IMAGEIO_SUFFIXES", "NUMPY_SUFFIXES", "SOFTWARE"]


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
    if suffix in TIFF_SUFFIXES or is_tiff(path):
        return read_tiff(path)
    if suffix in NUMPY_SUFFIXES:
        return read_npy(path)
    return read_imageio(path)

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
    kind = writer_kind(path)
    if array.ndim < 2:
        raise ValueError(f"cannot write {array.ndim}-D data (shape {array.shape}) as an image")
    with _atomic(path) as tmp:
        if kind == "tiff":
            write_tiff(tmp, array, meta)
        elif kind == "npy":
            with open(tmp, "wb") as f:
                np.save(f, array, allow_pickle=False)
        else:
            write_imageio(tmp, array, path.suffix.lower())
    return path
