"""Training pairs drawn from the user's own noisy data (no clean images needed).

Every sampler draws random patches and returns a :class:`PairBatch`, whose
``input`` and ``target`` are float32 arrays ``(N, 1, *patch)`` scaled to about
[0, 1] by the data range (the rule of :func:`..normalise.estimate_range`, the
one the inference engine applies at denoise time, computed once on the data):

=========================  ===========================================================
:class:`NeighborFramesSampler`  Noise2Noise (Lehtinen et al. 2018) with neighbouring
                           frames or slices of a stack as the two noisy views
:class:`OtherFramesSampler`  Noise2Noise on a still stack: frame i against the mean of
                           the other frames (same expectation, 1/(N-1) of the noise)
:class:`TwoCapturesSampler`  Noise2Noise with two captures of the same scene
:class:`SubsampleSampler`  Neighbor2Neighbor (Huang et al. 2021): two sub-images from
                           the 2x2 cells of one noisy image
:class:`BlindSpotSampler`  Noise2Void (Krull et al. 2019): a few pixels replaced by a
                           neighbour's value; the loss counts only those pixels
=========================  ===========================================================

Layout: the spatial axes are the last ``dims`` (2: Y, X; 3: Z, Y, X); any axes
before them index separate images ("frames"). Patches are square in the plane
(in 3-D as deep in microns as they are wide, ``patch / anisotropy`` slices, clamped
to the data), with one of the 8 in-plane flips and rotations when ``augment`` is on.

Validation: a part of the data is held apart and never enters a training patch:
the last ``val_fraction`` of the frames when there are enough of them, otherwise
a strip of rows at the bottom of every frame (see :attr:`PairSampler.split`).
``val_batch()`` is a fixed set of patches from that part (the same on every call
and after a resume). ``seed`` makes the whole sequence of batches reproducible;
``get_state`` / ``set_state`` carry it across checkpoints.
"""

from __future__ import annotations

import numpy as np

from .data import augment
from .pairs_base import (  # noqa: F401 - public names of this module
    MIN_SIDE,
    PAIR_KINDS,
    Location,
    PairBatch,
    PairSampler,
    Region,
    subsample,
)


def _augmented(a: np.ndarray, k: int) -> np.ndarray:
    return np.ascontiguousarray(augment(a, k)) if k else a


class TwoCapturesSampler(PairSampler):
    """Noise2Noise with two captures ``a`` and ``b`` of the same scene (same shape):
    input from one, target from the other at the same place, randomly swapped.

    ``swap=False`` keeps ``a`` as the input and ``b`` as the target: supervised
    training when ``b`` is clean (the reference the benchmarks compare against)."""

    kind = "two"

    def __init__(self, a, b, swap: bool = True, **kwargs):
        self.swap = bool(swap)
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            raise ValueError(f"the two captures differ in shape: {a.shape} and {b.shape}")
        super().__init__([a, b], **kwargs)

    def _sample(self, rng, region, pshape, aug):
        f, g = self._draw_frame(rng, region)
        box = self._draw_box(rng, region, pshape)
        swap = bool(rng.integers(2)) if (aug and self.swap) else False
        ka, kb = (1, 0) if swap else (0, 1)
        k = self._aug(rng, aug)
        x = _augmented(self._crop(ka, f, g, box), k)
        y = _augmented(self._crop(kb, f, g, box), k)
        return {"input": x, "target": y, "noisy": x, "loc": Location(f, f, g, box)}


class NeighborFramesSampler(PairSampler):
    """Noise2Noise with neighbouring frames (or slices) along ``axis`` of a stack.

    A pair is frame i as input and frame j as target, ``1 <= |i - j| <= distance``,
    both random. ``distance=1`` (default) pairs adjacent frames only: right for Z
    stacks and moving samples, where farther frames differ in content. For a time
    series of a still sample every two frames show the same scene: ``distance="any"``
    uses all pairs. The signal must be (nearly) the same in both frames; what differs
    is learnt as noise and blurred away.

    With ``dims=3`` the stack axis must lie outside the volume (T of TZYX). Axes between
    ``axis`` and the spatial ones (e.g. Z in TZYX with dims=2) index separate images;
    pairs are always taken at the same such index.
    """

    kind = "neighbors"
    min_part_frames = 2

    def __init__(self, stack, axis: int = 0, distance=1, **kwargs):
        stack = np.asarray(stack)
        dims = int(kwargs.get("dims", 2))
        lead = stack.ndim - dims
        ax = int(axis)
        if lead > 0 and ax < 0:
            ax += stack.ndim
        if lead > 0 and not 0 <= ax < lead:
            raise ValueError(f"axis {axis} is not a stack axis: with dims={dims} the last "
                             f"{dims} axes of shape {stack.shape} are spatial")
        if lead <= 0 or stack.shape[ax] < 2:
            raise ValueError(
                f"pairs='neighbors' needs a stack of at least two frames along axis {axis} "
                f"(data shape {stack.shape}, dims={dims}); for a single image use "
                f"pairs='subsample' (Neighbor2Neighbor) or pairs='blindspot' (Noise2Void), "
                f"or give a second capture of the same scene as target=")
        if isinstance(distance, str):
            if distance.lower() != "any":
                raise ValueError(f"distance must be a positive integer or 'any', not {distance!r}")
            distance = None
        elif int(distance) < 1:
            raise ValueError(f"distance must be a positive integer or 'any', not {distance!r}")
        self.axis = ax
        self.distance = None if distance is None else int(distance)
        super().__init__([stack], **kwargs)

    def _layout(self, a):
        a = np.asarray(a)
        moved = np.moveaxis(a, self.axis, 0)
        return moved.reshape((moved.shape[0], -1) + moved.shape[moved.ndim - self.dims:])

    def _sample(self, rng, region, pshape, aug):
        f0, f1 = region.frames
        f, g = self._draw_frame(rng, region)
        d = (f1 - f0) if self.distance is None else self.distance
        lo_, hi_ = max(f0, f - d), min(f1 - 1, f + d)
        j = int(rng.integers(lo_, hi_))  # [lo_, hi_) without f: shift past it
        if j >= f:
            j += 1
        box = self._draw_box(rng, region, pshape)
        k = self._aug(rng, aug)
        x = _augmented(self._crop(0, f, g, box), k)
        y = _augmented(self._crop(0, j, g, box), k)
        return {"input": x, "target": y, "noisy": x, "loc": Location(f, j, g, box)}

    def describe(self):
        return dict(super().describe(), axis=self.axis,
                    distance="any" if self.distance is None else self.distance)


class SubsampleSampler(PairSampler):
    """Neighbor2Neighbor (Huang et al. 2021) on single noisy images.

    From a full-resolution patch y (``patch`` pixels a side) every 2x2 cell gives two
    different random pixels: the half-resolution sub-images g1(y) (``input``) and
    g2(y) (``target``), whose noise is independent for pixel-independent noise. The
    batch also carries ``full`` (y) and the cell choices ``idx1``/``idx2`` for the
    regulariser (see :func:`subsample`): ``|f(g1 y) - g2 y|^2 + gamma |f(g1 y) - g2 y
    - (g1 f(y) - g2 f(y))|^2`` with f(y) computed without gradient. In 3-D the cells
    are in-plane (2x2 per slice).
    """

    kind = "subsample"
    inplane_factor = 2

    def __init__(self, images, **kwargs):
        super().__init__([np.asarray(images)], **kwargs)

    def _sample(self, rng, region, pshape, aug):
        f, g = self._draw_frame(rng, region)
        box = self._draw_box(rng, region, pshape)
        y = _augmented(self._crop(0, f, g, box), self._aug(rng, aug))
        half = y.shape[:-2] + (y.shape[-2] // 2, y.shape[-1] // 2)
        idx1 = rng.integers(4, size=half)
        idx2 = (idx1 + rng.integers(1, 4, size=half)) % 4  # a different pixel of the cell
        return {"input": subsample(y, idx1), "target": subsample(y, idx2), "noisy": y,
                "full": y, "idx1": idx1, "idx2": idx2, "loc": Location(f, f, g, box)}


class BlindSpotSampler(PairSampler):
    """Noise2Void (Krull et al. 2019) on single noisy images.

    In each patch a random ``mask_fraction`` of the pixels (default 1/64, as in the
    paper) is replaced by the value of a random other pixel within ``radius`` (the
    ``input``); ``target`` is the unmodified patch and ``mask`` is 1 at the replaced
    pixels: the loss counts only those, so the network learns to predict a pixel from
    its surroundings alone, which cannot predict pixel-independent noise.
    """

    kind = "blindspot"

    def __init__(self, images, mask_fraction: float = 1 / 64, radius: int = 2, **kwargs):
        if not 0 < float(mask_fraction) <= 0.2:
            raise ValueError(f"mask_fraction must be in (0, 0.2], not {mask_fraction}")
        self.mask_fraction = float(mask_fraction)
        self.radius = max(1, int(radius))
        super().__init__([np.asarray(images)], **kwargs)

    def _sample(self, rng, region, pshape, aug):
        f, g = self._draw_frame(rng, region)
        box = self._draw_box(rng, region, pshape)
        y = _augmented(self._crop(0, f, g, box), self._aug(rng, aug))
        n = max(1, int(round(self.mask_fraction * y.size)))
        flat = rng.choice(y.size, size=n, replace=False)
        pos = np.stack(np.unravel_index(flat, y.shape), 1)  # (n, ndim)
        r = self.radius
        off = rng.integers(-r, r + 1, size=pos.shape)
        zero = ~off.any(1)
        if zero.any():  # never the pixel itself
            axis_ = rng.integers(pos.shape[1], size=int(zero.sum()))
            off[np.flatnonzero(zero), axis_] = rng.choice([-1, 1], size=int(zero.sum()))
        src = pos + off
        shape = np.array(y.shape)
        out = (src < 0) | (src >= shape)
        src = np.where(out, pos - off, src)  # mirror at the patch border
        src = np.clip(src, 0, shape - 1)
        x = y.copy()
        x[tuple(pos.T)] = y[tuple(src.T)]
        mask = np.zeros_like(y)
        mask[tuple(pos.T)] = 1.0
        return {"input": x, "target": y, "noisy": y, "mask": mask, "loc": Location(f, f, g, box)}

    def describe(self):
        return dict(super().describe(), mask_fraction=self.mask_fraction)


class OtherFramesSampler(NeighborFramesSampler):
    """Noise2Noise on a stack of independent captures of a still scene: the input is
    frame i, the target the mean of the other frames at the same place.

    Every frame has the same expectation (the clean image), so the mean of the others
    has it too, with noise independent of frame i's and ``N - 1`` times smaller in
    variance: a less noisy target than one other frame, which every frame takes its turn
    to be the input against. Only frames of the same part (training or validation) are
    averaged; at most ``max_others`` of them (a random subset) per patch.
    """

    kind = "others"
    max_others = 16

    def __init__(self, stack, axis: int = 0, **kwargs):
        kwargs.pop("distance", None)
        super().__init__(stack, axis=axis, distance="any", **kwargs)

    def _others(self, rng, region, f: int) -> list[int]:
        others = [j for j in range(*region.frames) if j != f]
        if len(others) > self.max_others:
            others = sorted(int(j) for j in rng.choice(others, self.max_others, replace=False))
        return others

    def mean_of_others(self, frame: int, group: int, box, others) -> np.ndarray:
        """The target of ``frame``: the mean of the ``others`` over ``box``, training scale."""
        acc = np.zeros(tuple(b - a for a, b in box), np.float32)
        for j in others:
            acc += self._crop(0, j, group, box)
        return acc / np.float32(len(others))

    def _sample(self, rng, region, pshape, aug):
        f, g = self._draw_frame(rng, region)
        others = self._others(rng, region, f)
        box = self._draw_box(rng, region, pshape)
        k = self._aug(rng, aug)
        x = _augmented(self._crop(0, f, g, box), k)
        y = _augmented(self.mean_of_others(f, g, box, others), k)
        return {"input": x, "target": y, "noisy": x, "loc": Location(f, -1, g, box)}

    def describe(self):
        d = dict(super().describe(), target="mean of the other frames")
        d.pop("distance", None)
        return d
