"""Planes too large for memory (whole-slide images, stitched mosaics): Y-X blocks.

An out-of-core run (:mod:`.chunked`) normally holds one plane and its tiles. When a
plane is larger than ``block`` x ``block`` pixels and a block size is asked for (or
the plane would not fit, :func:`needs_blocks`), each plane is cut into blocks of
``block`` x ``block`` pixels; each block is read with a halo of the method's overlap
(twice its receptive field plus a blend ramp, :func:`.tiling.default_overlap`),
denoised by the engine with the run's fixed value range, noise level and bounds
(:func:`.lazy.fixed_settings`, as the lazy and cluster routes do), and only its inner
part is written. Where the halo covers the method's receptive field the result equals
the whole-plane run up to rounding (the tiler's own argument). Memory then holds one
block and its halo, whatever the size of the plane.

Finished blocks are recorded like planes, numbered plane by plane then block by block
in rows, so an interrupted run resumes at the next block.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from .progress import Progress

#: planes whose float32 working copy would exceed this go in blocks by default
PLANE_LIMIT_BYTES = 1 << 30
DEFAULT_BLOCK = 4096


def needs_blocks(shape, axes: str, *, limit: int = PLANE_LIMIT_BYTES) -> bool:
    """True when one plane (Y, X and colour) in float32, three times over (input, noise
    map, result), would exceed ``limit`` bytes."""
    px = int(np.prod([n for n, a in zip(shape, axes) if a in "YXC"]))
    return 12 * px > limit


def windows(length: int, block: int, halo: int, multiple: int = 1
            ) -> list[tuple[int, int, int, int]]:
    """(read start, read stop, write start, write stop) along one axis; reads start on
    a multiple of ``multiple`` (a U-Net's downsampling grid then matches the plane's)."""
    out = []
    for start in range(0, length, block):
        stop = min(start + block, length)
        r0 = max(0, start - halo) // multiple * multiple
        out.append((r0, min(length, stop + halo), start, stop))
    return out


def block_units(shape, axes: str, block: int, halo: int, multiple: int = 1) -> list[tuple]:
    """Every (plane index, y window, x window) of the run, in the order they are numbered."""
    stack = [range(n) for n, a in zip(shape, axes) if a not in "YXC"]
    ys = windows(shape[axes.index("Y")], block, halo, multiple)
    xs = windows(shape[axes.index("X")], block, halo, multiple)
    return [(p, y, x) for p in itertools.product(*stack) for y in ys for x in xs]


def _key(axes: str, plane, ys: slice, xs: slice) -> tuple:
    it = iter(plane)
    return tuple(ys if a == "Y" else xs if a == "X" else slice(None) if a == "C" else next(it)
                 for a in axes)


def run_blocks(data, arr, group, axes: str, done: set, model, kwargs: dict, block: int):
    """Generator: denoise ``data`` block by block into ``arr`` (the output store's
    array), recording each finished block in ``group``; yields a Progress per block
    and returns the :class:`DenoiseInfo` of the first block (warnings of all)."""
    from ..io.zarr_store import mark_done
    from .inference import _resolve
    from .lazy import fix_settings, run_fixed
    from .tiling import default_overlap

    t0 = time.perf_counter()
    settings, kw = fix_settings(data, axes, kwargs)
    kw["mode"] = "2d"
    den = _resolve(model, kw.get("device", "auto"))
    halo = default_overlap(den)
    plane_axes = "".join(a for a in axes if a in "YXC")
    units = block_units(data.shape, axes, block, halo, den.size_multiple)
    info, warnings = None, []
    msg = f"{len(units)} block(s) of up to {block}x{block} px"
    yield Progress(len(done), len(units), msg, 0.0)
    for i, (plane, (r0, r1, w0, w1), (c0, c1, v0, v1)) in enumerate(units):
        if i in done:
            continue
        res = run_fixed(data[_key(axes, plane, slice(r0, r1), slice(c0, c1))], model,
                        plane_axes, settings, kw)
        inner = tuple(slice(w0 - r0, w1 - r0) if a == "Y" else
                      slice(v0 - c0, v1 - c0) if a == "X" else slice(None)
                      for a in plane_axes)
        arr[_key(axes, plane, slice(w0, w1), slice(v0, v1))] = res.image[inner]
        done.add(i)
        mark_done(group, done)
        if info is None:
            info = res.info
        warnings += [w for w in res.info.warnings if w not in warnings]
        yield Progress(len(done), len(units), msg, time.perf_counter() - t0)
    if info is None:  # every block was done already
        from .info import DenoiseInfo

        info = DenoiseInfo(model=str(model), axes=axes)
    info.warnings = warnings
    info.axes = axes
    info.seconds = time.perf_counter() - t0
    return info
