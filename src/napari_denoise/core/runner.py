"""The denoiser over tiles: every unit of work cut into overlapping tiles, each tile
normalised, denoised and blended back; out-of-memory errors retried with smaller
tiles; each finished unit brought back to the data's units, bounds and dtype.

:func:`run_units` is a generator yielding a :class:`Progress` per tile; closing it
(cancel) stops at the next tile and frees GPU memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .errors import DenoiseError
from .guard import ResidualGuard
from .normalise import check_finite, to_dtype
from .progress import Progress
from .tiling import TilePlan, auto_tile, default_overlap, is_oom, release


@dataclass
class RunStats:
    tile: int | None = None
    tiles: int = 0
    oom_retries: int = 0
    guard: ResidualGuard = field(default_factory=ResidualGuard)


class _Tiles:
    """The tile plan for a unit, which shrinks on out-of-memory errors."""

    def __init__(self, den, spatial, tile, overlap):
        nd = len(spatial)
        side = int(tile) if tile else auto_tile(den, nd)
        if side < 16:
            raise DenoiseError(f"tile must be at least 16 pixels, not {side}")
        self.den, self.spatial, self.nd = den, spatial, nd
        self.ov = int(overlap) if overlap is not None else default_overlap(den)
        self.margin = min(den.rf_radius, self.ov // 2)
        self.plan = self._make(side)

    def _make(self, side):
        # below twice the overlap a tile mostly recomputes its neighbours' pixels
        t = max(side, 2 * self.ov + 2 * self.den.size_multiple)
        return TilePlan(self.spatial, t, self.ov, self.margin, self.den.size_multiple)

    def shrink(self) -> None:
        new_side = max(self.plan.tile) // 2
        if new_side < (64 if self.nd == 2 else 32):
            raise DenoiseError("out of memory even with small tiles; try device='cpu' "
                               "or free memory") from None
        self.plan = self._make(new_side)


def _denoise_unit(src, smap_u, tiles: _Tiles, plan, c: int):
    """Generator over the tiles of one unit (normalised for the denoiser): yields after
    each tile, returns the blended result in the denoiser's [0, 1] units."""
    den, p = tiles.den, plan
    acc = np.zeros((c,) + tiles.spatial, np.float32)
    for tl in tiles.plan:
        sl = (slice(None),) + tl.slices
        x = (src[sl].astype(np.float32) - np.float32(p.net_lo)) / np.float32(p.net_scale)
        y = den.run(x, None if smap_u is None else smap_u[sl], p.sigma_norm)
        acc[sl] += y * tl.weight
        yield
    return acc


def _prepare(layout, t, z, g, plan, scale, lazy_float, destripe):
    """Read one unit, check it, remove stripes; (raw data units, map, denoiser input)."""
    src = np.asarray(layout.read(layout.view, t, z, g))
    if lazy_float:  # numpy input was checked whole before; lazy input as it is read
        check_finite(src)
    if destripe:
        from .stripes import remove_stripes

        src = remove_stripes(src.astype(np.float32), axes=layout.unit_axes)
    smap_u = plan.unit_map(src, t, z, g, layout.nd, scale, layout.unit_axes)
    x = plan.vst.forward(src).astype(np.float32) if plan.vst is not None else src
    return src, smap_u, x


class ArraySink:
    """Where finished units go in an in-memory run: the output's canonical view.

    A sink has ``skip`` (indices of units already written, not recomputed) and
    ``write(index, t, z, g, result)``, called as soon as a unit is finished; an
    out-of-core run gives one that writes to a store (core/chunked.py)."""

    skip: frozenset = frozenset()

    def __init__(self, layout, out_c):
        self.layout, self.out_c = layout, out_c

    def write(self, index, t, z, g, res) -> None:
        self.layout.write(self.out_c, t, z, g, res)


def _skipped(sink, ui, t, z) -> bool:
    """A unit already written, or (a sink with ``planes``: one worker's share of a
    distributed run) a unit of a plane that is not this sink's."""
    planes = getattr(sink, "planes", None)
    return ui in sink.skip or (planes is not None and (t, z) not in planes)


def run_units(layout, plan, sink, *, scale, bounds, dtype, tile=None, overlap=None,
              lazy_float=False, destripe=False, stats: RunStats | None = None):
    """Generator: denoise every unit of ``layout`` not in ``sink.skip`` into ``sink``
    (see :class:`ArraySink`), yielding a Progress per tile; fills and returns ``stats``."""
    den = plan.den
    stats = stats if stats is not None else RunStats()
    units = layout.units()
    tiles = _Tiles(den, layout.spatial, tile, overlap)
    count = _Counter(len(units) * len(tiles.plan),
                     f"{den.name} on {len(units)} {'volume' if layout.nd == 3 else 'plane'}(s)")
    yield count.progress()
    try:
        for ui, (t, z, g) in enumerate(units):
            if _skipped(sink, ui, t, z):
                count.done += len(tiles.plan)
                continue
            done_before = count.done
            while True:
                try:
                    raw, smap_u, x = _prepare(layout, t, z, g, plan, scale, lazy_float, destripe)
                    acc = yield from count.steps(
                        _denoise_unit(x, smap_u, tiles, plan, g.stop - g.start))
                    break
                except Exception as exc:  # noqa: BLE001 - only out-of-memory is retried
                    if not is_oom(exc):
                        raise
                    release(den.device)
                    tiles.shrink()
                    stats.oom_retries += 1
                    count.done = done_before
                    count.total = done_before + (len(units) - ui) * len(tiles.plan)
            res = _back_to_data(acc, plan, bounds, dtype)
            if not stats.guard.full:
                stats.guard.add(raw, res, plan.noise_std(raw, smap_u, scale, layout.unit_axes))
            sink.write(ui, t, z, g, res)
    finally:
        # also on cancel (GeneratorExit) or failure: free GPU memory for the next run
        release(den.device)
    stats.tile = max(tiles.plan.tile) if not tiles.plan.single else None
    stats.tiles = count.done
    return stats


class _Counter:
    """Tiles done out of the total, as Progress reports; the ETA counts from the first
    tile (setup time says nothing of the rest)."""

    def __init__(self, total: int, message: str):
        self.total, self.done, self.message = total, 0, message
        self.t0 = time.perf_counter()

    def progress(self) -> Progress:
        return Progress(self.done, self.total, self.message, time.perf_counter() - self.t0)

    def steps(self, gen):
        """Re-yield each step of a tile generator as a Progress; return its value."""
        while True:
            try:
                next(gen)
            except StopIteration as stop:
                return stop.value
            self.done += 1
            yield self.progress()


def _back_to_data(acc, plan, bounds, dtype):
    """The denoiser's [0, 1] -> data units (in place), the inverse transform, bounds, dtype."""
    res = acc
    res *= np.float32(plan.net_scale)
    res += np.float32(plan.net_lo)
    res = plan.post(res)
    if not np.all(np.isfinite(res)):  # never cast NaN into the user's integers
        raise DenoiseError(f"{plan.den.name} produced invalid values (NaN or infinity) on this "
                           f"image; try another method or give the noise level")
    return to_dtype(bounds.apply(res), dtype)
