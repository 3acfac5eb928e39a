"""Overlapping tiles with blended seams, in 2D and 3D.

Windows along each axis overlap by ``overlap`` pixels. Each window's blending
weight is zero for ``margin`` pixels at an inner edge (where a convolutional
network sees zero padding instead of the true neighbours), then ramps up to 1.
Per-axis weights are normalised to sum to one over the windows, so the N-D
weight (their outer product) is a partition of unity: no weight buffer, and
when ``margin`` covers the network's receptive field the tiled result equals
the untiled one up to floating-point rounding.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass

import numpy as np


def axis_windows(length: int, tile: int, overlap: int, multiple: int = 1) -> list[tuple[int, int]]:
    """(start, end) windows covering ``range(length)``; starts are multiples of ``multiple``."""
    if tile >= length:
        return [(0, length)]
    step = tile - overlap - (multiple - 1)
    if step <= 0:
        raise ValueError(f"tile {tile} too small for overlap {overlap}")
    n = math.ceil((length - tile) / step) + 1
    # spread the windows evenly, then shrink them to what is needed
    size = math.ceil((length + (n - 1) * (overlap + multiple - 1)) / n)
    size = min(tile, size + (-size) % multiple)
    starts = [int(round(i * (length - size) / (n - 1))) // multiple * multiple for i in range(n)]
    wins = [(s, min(s + size, length)) for s in starts]
    wins[-1] = (starts[-1], length)
    return wins


def axis_weights(wins: list[tuple[int, int]], length: int, margin: int,
                 ramp: int = 8) -> list[np.ndarray]:
    """Per-window 1-D weights along an axis, normalised to sum to one at every position.

    Zero within ``margin`` of an inner window edge, then a linear ramp over
    ``ramp`` pixels up to one.
    """
    raw = []
    total = np.zeros(length, np.float64)
    ramp = max(1, ramp)
    for s, e in wins:
        p = np.arange(s, e, dtype=np.float64)
        w = np.ones(e - s)
        if s > 0:
            w = np.minimum(w, np.clip((p - s - margin + 1) / ramp, 0, 1))
        if e < length:
            w = np.minimum(w, np.clip((e - 1 - p - margin + 1) / ramp, 0, 1))
        raw.append(w)
        total[s:e] += w
    if np.any(total <= 0):
        raise ValueError("overlap too small for the margin: some pixels have no valid tile")
    return [(w / total[s:e]).astype(np.float32) for w, (s, e) in zip(raw, wins)]


@dataclass
class Tile:
    slices: tuple[slice, ...]
    weight: np.ndarray  # broadcastable to the tile's spatial shape


class TilePlan:
    """The tiles of one N-D spatial shape; iterate to get :class:`Tile` objects."""

    def __init__(self, shape: tuple[int, ...], tile: int | tuple[int, ...], overlap: int,
                 margin: int, multiple: int = 1):
        self.shape = tuple(shape)
        tiles = (tile,) * len(shape) if np.isscalar(tile) else tuple(tile)
        self.tile = tiles
        self.overlap = overlap
        self.margin = margin
        self.axes_wins = [axis_windows(L, t, overlap, multiple) for L, t in zip(shape, tiles)]
        ramp = max(1, overlap - 2 * margin)
        self.axes_w = [axis_weights(w, L, margin, ramp) for w, L in zip(self.axes_wins, shape)]

    def __len__(self) -> int:
        return int(np.prod([len(w) for w in self.axes_wins]))

    @property
    def single(self) -> bool:
        return len(self) == 1

    def __iter__(self):
        nd = len(self.shape)
        for idx in itertools.product(*[range(len(w)) for w in self.axes_wins]):
            slices = tuple(slice(*self.axes_wins[a][i]) for a, i in enumerate(idx))
            weight = None
            for a, i in enumerate(idx):
                w = self.axes_w[a][i].reshape([-1 if b == a else 1 for b in range(nd)])
                weight = w if weight is None else weight * w
            yield Tile(slices, weight)


# -- tile size from the memory available, out-of-memory handling ---------------

def _memory_budget(device) -> float:
    """Bytes a tile's activations may use."""
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return 0.5 * free
    try:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        avail = 4e9
    return min(0.25 * avail, 1.0e9)


def auto_tile(denoiser, ndim: int) -> int:
    """Largest tile side within the memory budget, capped where bigger stops paying."""
    budget = _memory_budget(denoiser.device)
    side = (budget / denoiser.bytes_per_pixel) ** (1.0 / ndim)
    if denoiser.kind == "classical":
        cap = 512 if denoiser.name == "bm3d" else 1024
    elif ndim == 3:
        cap = 256 if denoiser.device.type == "cuda" else 96
    else:
        cap = 2048 if denoiser.device.type == "cuda" else 1024
    side = int(min(side, cap))
    m = max(denoiser.size_multiple, 16)
    return max(64 if ndim == 2 else 32, side // m * m)


def default_overlap(denoiser) -> int:
    # exact zone on each side plus a short blend ramp
    return 2 * denoiser.rf_radius + max(4, denoiser.rf_radius // 4)


def is_oom(exc: BaseException) -> bool:
    name = type(exc).__name__
    return isinstance(exc, MemoryError) or name == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError) and ("out of memory" in str(exc).lower()
                                          or "can't allocate memory" in str(exc).lower()))


def release(device) -> None:
    if getattr(device, "type", "cpu") == "cuda":
        import torch

        torch.cuda.empty_cache()
