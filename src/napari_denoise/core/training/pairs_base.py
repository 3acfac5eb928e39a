"""The base of the training-pair samplers of :mod:`.pairs`: the sample types
(:class:`Location`, :class:`Region`, :class:`PairBatch`), the Neighbor2Neighbor
:func:`subsample` and :class:`PairSampler`, which owns the data range and layout, the
train/validation split, the patch geometry, batches and the random state. The
concrete samplers (and the full description) are in :mod:`.pairs`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

__all__ = ["MIN_SIDE", "PAIR_KINDS", "Location", "PairBatch", "PairSampler", "Region",
           "subsample"]

PAIR_KINDS = ("neighbors", "others", "two", "subsample", "blindspot")
MIN_SIDE = 8  # smallest in-plane side a patch may have


class Location(NamedTuple):
    """Where a sample came from: frame indices (input's, target's), the index of the
    image within the frame (other leading axes), and (start, stop) per spatial axis
    before augmentation."""

    frame: int
    partner: int
    group: int
    box: tuple


@dataclass
class Region:
    """Frames ``[f0, f1)`` and rows ``[r0, r1)`` (the Y axis) of the data."""

    frames: tuple[int, int]
    rows: tuple[int, int]

    def contains(self, loc: Location) -> bool:
        f0, f1 = self.frames
        r0, r1 = self.rows
        y0, y1 = loc.box[-2]
        return (f0 <= loc.frame < f1 and f0 <= loc.partner < f1 and r0 <= y0 and y1 <= r1)

    def overlaps(self, other: "Region") -> bool:
        return (max(self.frames[0], other.frames[0]) < min(self.frames[1], other.frames[1])
                and max(self.rows[0], other.rows[0]) < min(self.rows[1], other.rows[1]))


@dataclass
class PairBatch:
    """A batch of training pairs; unpacks as ``input, target = batch``.

    input, target : (N, 1, *patch) float32
    mask : blind-spot only: 1 at the pixels the loss counts, else 0 (like ``target``)
    full : subsample only: the full-resolution patches y, (N, 1, *2patch)
    idx1, idx2 : subsample only: the chosen pixel of every 2x2 cell of ``full``
        (0..3 = (0,0), (0,1), (1,0), (1,1)), int64 like ``input``; ``input`` is
        ``subsample(full, idx1)``, ``target`` is ``subsample(full, idx2)``
    noisy : the unmodified noisy patch at the input's location, full resolution:
        what a trained denoiser is applied to (validation PSNR against a reference)
    locations : one :class:`Location` per sample
    """

    input: np.ndarray
    target: np.ndarray
    noisy: np.ndarray
    mask: np.ndarray | None = None
    full: np.ndarray | None = None
    idx1: np.ndarray | None = None
    idx2: np.ndarray | None = None
    locations: list = field(default_factory=list)

    def __iter__(self):
        yield self.input
        yield self.target

    def __len__(self) -> int:
        return int(self.input.shape[0])


def subsample(x, idx):
    """Neighbor2Neighbor sub-image: one pixel of every 2x2 cell of the last two axes.

    ``x``: (..., 2h, 2w) numpy array or torch tensor; ``idx``: (..., h, w) integers in
    0..3 (the cell's pixel (0,0), (0,1), (1,0) or (1,1)), broadcastable to the cells.
    Returns (..., h, w) of the same kind as ``x``.
    """
    parts = [x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2]]
    if isinstance(x, np.ndarray):
        cells = np.stack(parts, -1)
        idx = np.broadcast_to(np.asarray(idx, np.int64), cells.shape[:-1])
        return np.take_along_axis(cells, idx[..., None], -1)[..., 0]
    import torch

    cells = torch.stack(parts, -1)
    idx = torch.as_tensor(idx, device=x.device).long().expand(cells.shape[:-1])
    return torch.gather(cells, -1, idx[..., None])[..., 0]


def _floor_to(n: int, m: int) -> int:
    return n // m * m if n >= m else n


class PairSampler:
    """Base class: range, layout, train/validation split, patch geometry, batches.

    Subclasses set ``kind`` and implement :meth:`_sample`.
    """

    kind = ""
    min_part_frames = 1  # frames each part of a frame split needs
    inplane_factor = 1   # in-plane patch sides are a multiple of this (2: subsample)

    def __init__(self, arrays, *, dims: int = 2, patch: int = 64, multiple: int = 1,
                 val_fraction: float = 0.1, seed: int = 0, augment: bool = True,
                 val_patches: int = 16, data_range=None, anisotropy: float = 1.0,
                 z_multiple: int | None = None):
        from ..normalise import estimate_range

        if dims not in (2, 3):
            raise ValueError(f"dims must be 2 or 3, not {dims!r}")
        self.dims = int(dims)
        self.patch = int(patch)
        if self.patch < MIN_SIDE:
            raise ValueError(f"patch must be at least {MIN_SIDE} pixels, not {patch}")
        self.multiple = max(1, int(multiple))
        # 3-D: Z step / in-plane pixel size; patches are about as deep in microns as wide
        if not float(anisotropy) > 0:
            raise ValueError(f"anisotropy must be positive, not {anisotropy!r}")
        self.anisotropy = float(anisotropy)
        self.z_multiple = self.multiple if z_multiple is None else max(1, int(z_multiple))
        self.augment = bool(augment)
        self.val_patches = max(1, int(val_patches))
        self.seed = int(seed)
        if not 0.0 <= float(val_fraction) < 0.5:
            raise ValueError(f"val_fraction must be in [0, 0.5), not {val_fraction}")
        self.val_fraction = float(val_fraction)

        first = arrays[0]
        self.data_shape = tuple(first.shape)
        self.data_dtype = str(first.dtype)
        # (F, G, *spatial) views of every input array, raw dtype (scaled per patch)
        self._arrays = [self._layout(a) for a in arrays]
        sp = self._arrays[0].shape[2:]
        self.spatial = tuple(int(s) for s in sp)
        if min(self.spatial[-2:]) < MIN_SIDE:
            raise ValueError(
                f"images of {self.spatial[-2]}x{self.spatial[-1]} pixels are too small to "
                f"train on (at least {MIN_SIDE}x{MIN_SIDE}); the spatial axes must be the "
                f"last {self.dims} (data shape {self.data_shape})")
        if self.dims == 3 and self.spatial[0] < 4:
            raise ValueError(f"3-D training needs at least 4 slices along Z, not "
                             f"{self.spatial[0]} (data shape {self.data_shape})")
        self.frames = int(self._arrays[0].shape[0])
        self.groups = int(self._arrays[0].shape[1])

        if data_range is not None:
            lo, hi = (float(v) for v in data_range)
        else:
            lo, hi = estimate_range(first)
        if not hi > lo:
            raise ValueError("the data are constant: nothing to learn")
        self.lo, self.hi = lo, hi
        self._scale = np.float32(1.0 / (hi - lo))

        self.train_region, self.val_region, self.split = self._split()
        self.train_patch = self._patch_shape(self.train_region, square=True)
        self.val_patch = (self._patch_shape(self.val_region, square=False)
                          if self.val_region is not None else None)
        self.rng = np.random.default_rng(self.seed)
        self._val_cache: PairBatch | None = None

    # -- layout, scaling -------------------------------------------------------
    def _layout(self, a) -> np.ndarray:
        """(F, G, *spatial): F frames (all leading axes), G = 1."""
        a = np.asarray(a)
        if a.ndim < self.dims:
            raise ValueError(f"need at least {self.dims}-D data for dims={self.dims}, got "
                             f"shape {a.shape}")
        return a.reshape((-1, 1) + a.shape[a.ndim - self.dims:])

    def normalise(self, a) -> np.ndarray:
        """Data units -> the [0, 1]-ish training scale (float32)."""
        return (np.asarray(a, np.float32) - np.float32(self.lo)) * self._scale

    def _crop(self, k: int, f: int, g: int, box) -> np.ndarray:
        sl = tuple(slice(a, b) for a, b in box)
        return self.normalise(self._arrays[k][(f, g) + sl])

    # -- split and geometry ------------------------------------------------------
    def _split(self):
        H = self.spatial[-2]
        F = self.frames
        full_rows = (0, H)
        if self.val_fraction <= 0:
            return Region((0, F), full_rows), None, "none"
        nv = int(self.val_fraction * F + 0.5)
        m = self.min_part_frames
        if nv >= m and F - nv >= m:
            which = f"frames {F - nv}-{F - 1}" if nv > 1 else f"frame {F - 1}"
            return (Region((0, F - nv), full_rows), Region((F - nv, F), full_rows),
                    f"{which} of {F}")
        hv = max(math.ceil(self.val_fraction * H), min(self.patch // 2, H // 4))
        hv += hv % 2
        if H - hv < MIN_SIDE or hv < 2:
            raise ValueError(f"images of {H} rows are too small to hold a validation strip "
                             f"apart; use val_fraction=0")
        return (Region((0, F), (0, H - hv)), Region((0, F), (H - hv, H)),
                f"rows {H - hv}-{H - 1} of every frame")

    def _patch_shape(self, region: Region, square: bool) -> tuple[int, ...]:
        h = region.rows[1] - region.rows[0]
        w = self.spatial[-1]
        m = self.multiple * self.inplane_factor
        if square:
            p = _floor_to(min(self.patch, h, w), m)
            p -= p % self.inplane_factor
            inplane = (p, p)
        else:
            inplane = tuple(_floor_to(min(self.patch, s), m) // self.inplane_factor
                            * self.inplane_factor for s in (h, w))
        if self.dims == 3:
            zm = self.z_multiple
            depth = max(zm, int(round(self.patch / self.anisotropy / zm)) * zm)
            return (_floor_to(min(depth, self.spatial[0]), zm),) + inplane
        return inplane

    # -- sampling ------------------------------------------------------------------
    def _draw_box(self, rng, region: Region, pshape):
        starts = []
        for ax, p in enumerate(pshape):
            lo_ = region.rows[0] if ax == len(pshape) - 2 else 0
            hi_ = (region.rows[1] if ax == len(pshape) - 2 else self.spatial[ax]) - p
            starts.append(int(rng.integers(lo_, hi_ + 1)))
        return tuple((s, s + p) for s, p in zip(starts, pshape))

    def _draw_frame(self, rng, region: Region) -> tuple[int, int]:
        return int(rng.integers(*region.frames)), int(rng.integers(self.groups))

    def _sample(self, rng, region: Region, pshape, aug: bool) -> dict:
        raise NotImplementedError

    def _batch(self, n: int, rng, region: Region, pshape, aug: bool) -> PairBatch:
        samples = [self._sample(rng, region, pshape, aug) for _ in range(int(n))]

        def stack(key):
            if samples[0].get(key) is None:
                return None
            return np.ascontiguousarray(np.stack([s[key] for s in samples])[:, None])

        return PairBatch(input=stack("input"), target=stack("target"), noisy=stack("noisy"),
                         mask=stack("mask"), full=stack("full"), idx1=stack("idx1"),
                         idx2=stack("idx2"), locations=[s["loc"] for s in samples])

    def batch(self, n: int) -> PairBatch:
        """``n`` random training pairs (advances the sampler's random state)."""
        return self._batch(n, self.rng, self.train_region, self.train_patch, self.augment)

    def val_batch(self) -> PairBatch | None:
        """The fixed validation pairs (None without a validation part)."""
        if self.val_region is None:
            return None
        if self._val_cache is None:
            rng = np.random.default_rng([self.seed, 0x5A1])
            self._val_cache = self._batch(self.val_patches, rng, self.val_region,
                                          self.val_patch, False)
        return self._val_cache

    def reference_patches(self, reference, pairs: PairBatch) -> np.ndarray:
        """Clean ``reference`` data (the data's shape, or broadcastable to it) at the
        locations of ``pairs``' noisy patches, on the training scale."""
        ref = np.asarray(reference)
        if ref.shape != self.data_shape:
            try:
                ref = np.broadcast_to(ref, self.data_shape)
            except ValueError:
                raise ValueError(f"reference of shape {ref.shape} does not match the data's "
                                 f"{self.data_shape}") from None
        ref = self._layout(ref)
        out = [self._crop_array(ref, loc.frame, loc.group, loc.box) for loc in pairs.locations]
        return np.stack(out)[:, None]

    def _crop_array(self, arr, f, g, box):
        sl = tuple(slice(a, b) for a, b in box)
        return self.normalise(arr[(f, g) + sl])

    # -- state ---------------------------------------------------------------------
    def get_state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def describe(self) -> dict:
        out = {"pairs": self.kind, "frames": self.frames, "range": [self.lo, self.hi],
               "patch": list(self.train_patch), "validation": self.split}
        if self.dims == 3:
            out["anisotropy"] = self.anisotropy
        return out

    def _aug(self, rng, aug: bool) -> int:
        return int(rng.integers(8)) if aug else 0
