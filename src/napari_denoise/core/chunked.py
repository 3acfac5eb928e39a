"""Denoise into a zarr store, one unit of work at a time: for data larger than memory.

:func:`denoise_to_zarr` runs the same engine as :func:`napari_denoise.denoise` (same
noise estimate from sample planes, same value range, same tiles), but each finished
plane (or volume, in 3-D mode) is written to the output store at once and recorded
as done. Memory holds one unit and its tiles, whatever the size of the data. A run
that is interrupted (Ctrl-C, a crash, a cancelled progress callback) leaves a store
marked incomplete; running it again with the same settings skips the finished
units and completes it. At the end the store gets its OME-Zarr metadata and a
pyramid (see :mod:`napari_denoise.io.zarr_store`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .axes import guess_axes, normalize_axes, yx_ordered
from .errors import DenoiseError
from .progress import run_to_end

#: engine settings that decide the result: a store is finished only with the same ones
SETTINGS = ("sigma", "noise", "strength", "mode", "data_range", "quality", "precision",
            "colour_space", "destripe")


class ZarrSink:
    """Writes each finished unit (canonical (c, [Z,] Y, X)) into the store's array in
    the data's own axes order, and records it as done."""

    def __init__(self, group, arr, axes: str, done: set):
        from ..io.zarr_store import mark_done

        self.group, self.arr, self.axes = group, arr, axes
        self.skip = set(done)
        self.done = set(done)
        self._mark = mark_done

    def write(self, index: int, t, z, g, res: np.ndarray) -> None:
        volume = z is None  # 3-D mode: the unit is a whole (c, Z, Y, X) volume
        idx = [{"T": t, "Z": slice(None) if volume else z, "C": g}.get(a, slice(None))
               for a in self.axes]
        canon = "C" + ("Z" if volume else "") + "YX"
        if "C" not in self.axes:
            res, canon = res[0], canon[1:]
        kept = [a for a in self.axes if a in canon]
        self.arr[tuple(idx)] = np.transpose(res, [canon.index(a) for a in kept])
        self.done.add(index)
        self._mark(self.group, self.done)


def _settings(model, source_text, shape, dtype, axes, kwargs) -> dict:
    sigma = kwargs.get("sigma")
    if sigma is not None and not isinstance(sigma, (int, float, str)):
        raise DenoiseError("out-of-core runs take a noise level as a number or 'auto' "
                           "(a per-pixel map or a fitted model cannot be recorded with the "
                           "store for a resumed run)")
    out = {"model": str(model), "source": source_text, "shape": list(shape),
           "dtype": str(np.dtype(dtype)), "axes": axes}
    for k in SETTINGS:
        v = kwargs.get(k)
        out[k] = list(v) if isinstance(v, tuple) else v
    return out


def open_source(source, axes: str | None = None):
    """(array, ImageMeta, text naming it) for a path (zarr store or image file) or array."""
    from ..io import read_image
    from ..io.meta import ImageMeta
    from ..io.zarr_store import StoreError, is_zarr_path, read_zarr

    if isinstance(source, (str, Path)):
        p = Path(source)
        try:
            if is_zarr_path(p):
                data, meta = read_zarr(p)
            else:
                data, meta = read_image(p)
        except StoreError as exc:
            raise DenoiseError(str(exc)) from None
        text = str(p.resolve())
    else:
        data = source
        meta = ImageMeta(axes="", shape=tuple(source.shape), dtype=str(source.dtype))
        text = f"array {tuple(source.shape)} {np.dtype(source.dtype)}"
    try:
        ax = axes or meta.axes or guess_axes(tuple(data.shape))
        ax = normalize_axes(ax, data.ndim)
    except ValueError as exc:
        raise DenoiseError(f"{exc} (shape {tuple(data.shape)})") from None
    meta.axes = ax
    return data, meta, text


def denoise_to_zarr_iter(source, out, model="auto", *, axes=None, overwrite=False,
                         pyramid=True, client=None, threads=None, block=None, **kwargs):
    """Generator form of :func:`denoise_to_zarr`: yields :class:`Progress` per tile,
    returns the :class:`DenoiseResult` (its ``image`` a dask array over the store)."""
    import dask.array as da

    from ..io.zarr_store import StoreError, finish, prepare_output
    from .inference import _denoise_iter, check_image

    data, meta, text = open_source(source, axes)
    axes = meta.axes
    data = check_image(data)
    if yx_ordered(axes)[1] is not None:
        raise DenoiseError(f"out-of-core runs need Y before X in the axes, not {axes}")
    if axes.endswith("C") and data.shape[-1] == 4:
        raise DenoiseError("RGBA images are not supported in out-of-core runs; save as RGB")
    if isinstance(source, (str, Path)) and Path(out).resolve() == Path(source).resolve():
        raise DenoiseError("the output store must not be the input")
    settings = _settings(model, text, data.shape, data.dtype, axes, kwargs)
    volume = kwargs.get("mode") == "3d"
    block = _block_size(block, data.shape, axes, volume, client)
    if block:
        settings["block"] = block
    try:
        group, arr, done = prepare_output(out, data.shape, data.dtype, axes, settings,
                                          overwrite=overwrite, volume=volume)
    except StoreError as exc:
        raise DenoiseError(str(exc)) from None
    state = dict(group.attrs["napari_denoise"])
    if state.get("complete"):
        from .info import DenoiseInfo

        info = DenoiseInfo(model=str(model), axes=axes,
                           notes=[f"{out} is already complete; nothing to do"])
        from .inference import DenoiseResult

        return DenoiseResult(da.from_zarr(arr), info)
    resumed = len(done)
    if client is not None:
        from .distributed import run_on_cluster
        from .inference import DenoiseResult

        info = yield from run_on_cluster(client, source, out, group, data, axes, done, model,
                                         kwargs, threads=threads)
        res = DenoiseResult(None, info)
    elif block:
        from .inference import DenoiseResult
        from .plane_blocks import run_blocks

        info = yield from run_blocks(data, arr, group, axes, done, model, kwargs, block)
        res = DenoiseResult(None, info)
    else:
        sink = ZarrSink(group, arr, axes, done)
        res = yield from _denoise_iter(data, model, axes=axes, sink=sink, **kwargs)
    if resumed:
        res.info.notes.append(f"resumed: {resumed} unit(s) were already written")
    summary = {k: res.info[k] for k in ("model", "kind", "mode", "sigma", "noise", "strength",
                                        "precision", "quality")}
    summary["range"] = list(res.info.range)
    finish(group, meta, axes, summary, pyramid=pyramid)
    res.image = da.from_zarr(arr)
    return res


def _block_size(block, shape, axes: str, volume: bool, client) -> int | None:
    """The Y-X block side for planes too large for memory (see :mod:`.plane_blocks`),
    or None: whole planes."""
    from .plane_blocks import DEFAULT_BLOCK, needs_blocks

    if block is None:
        block = DEFAULT_BLOCK if not volume and needs_blocks(shape, axes) else None
    if not block:
        return None
    block = int(block)
    if block < 64:
        raise DenoiseError(f"the block side must be at least 64 pixels, not {block}")
    if volume:
        raise DenoiseError("planes in blocks are 2-D: choose 2-D processing")
    if client is not None:
        raise DenoiseError("planes too large for memory are denoised in blocks in one "
                           "process; run without a cluster")
    return block


def denoise_to_zarr(source, out, model="auto", *, axes=None, overwrite=False, pyramid=True,
                    progress=None, client=None, **kwargs):
    """Denoise ``source`` (a zarr / OME-Zarr store, an image file, a zarr, dask or numpy
    array) into the zarr store ``out``, unit by unit; returns a :class:`DenoiseResult`
    whose ``image`` is a dask array over the written store.

    Memory is bounded by one plane (one volume in 3-D mode) and its tiles. Rerunning an
    interrupted run with the same settings finishes it; a store with other settings, or
    one napari-denoise did not write, is refused unless ``overwrite``. Other keywords
    are those of :func:`napari_denoise.denoise` (``sigma`` a number or ``"auto"``).

    ``client``: a ``dask.distributed.Client``; the planes are then denoised by its
    workers, one task per plane, with the same result (see :mod:`.distributed`);
    ``source`` must then be a path the workers can read. ``block``: cut each plane into
    Y-X blocks of this side (with a halo; see :mod:`.plane_blocks`); by default only
    planes too large for memory are."""
    return run_to_end(denoise_to_zarr_iter(source, out, model, axes=axes, overwrite=overwrite,
                                           pyramid=pyramid, client=client, **kwargs), progress)
