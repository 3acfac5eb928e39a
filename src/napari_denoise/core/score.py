"""How good is a denoiser on *this* image? Scores that need no clean image.

**The self-supervised (J-invariant) error** of Noise2Self (Batson and Royer 2019). A
grid of pixels (one in ``grid x grid``) is hidden: each is replaced by the mean of
its 8 neighbours, the denoiser runs on that image, and its output at the hidden
pixels is compared with the noisy values there. The output at a hidden pixel cannot
have seen that pixel's noise, so for noise independent from pixel to pixel the
expected error is the true mean squared error plus the noise variance: ranking
methods and strengths by it ranks them by their true error, with no clean image.
A few grid phases are scored on a central crop (``crop``), so a score costs a few
runs of the denoiser on a small image.

**The residual** (input minus result) of the unmasked run: a good denoiser removes
noise and only noise, so the residual's variance at each brightness follows the
fitted noise model, it is spatially uncorrelated, and it does not follow the image's
edges. :class:`ResidualStats` says how far it is from that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .axes import guess_axes, normalize_axes
from .guard import MAX_EDGE_CORRELATION, MAX_EDGE_ENERGY, _crop, _edge_correlation
from .normalise import estimate_range

#: residual variance more than this many times the noise model's: more than noise removed
MAX_RESIDUAL_RATIO = 2.5
#: a residual whose neighbouring pixels correlate more than this is not white noise
MAX_AUTOCORRELATION = 0.25


@dataclass
class ResidualStats:
    """What the denoiser removed (input minus result), against the noise model."""

    variance_ratio: float            # mean of residual^2 / noise variance: about 1 is right
    autocorrelation: tuple[float, float]  # neighbour correlation along Y and X: about 0
    edge_correlation: float          # correlation with the result's edges (band-pass)
    structure: bool                  # the residual carries image structure, not only noise
    by_signal: np.ndarray = field(repr=False, default=None)  # rows: brightness, residual var, model var

    def words(self) -> str:
        if self.structure:
            return (f"what was removed follows the image's structure (edge correlation "
                    f"{self.edge_correlation:.2f}, neighbour correlation "
                    f"{max(self.autocorrelation):.2f}): detail was smoothed away")
        if self.variance_ratio > MAX_RESIDUAL_RATIO:
            return (f"what was removed is {np.sqrt(self.variance_ratio):.1f}x the noise level: "
                    f"more than noise")
        return "what was removed looks like the noise"


@dataclass
class Score:
    """The ground-truth-free score of one method and strength on one image."""

    model: str
    strength: float
    loss: float               # self-supervised squared error, data units squared (lower is better)
    noise_variance: float     # mean noise variance of the fitted noise model on the crop
    data_range: tuple[float, float]
    residual: ResidualStats
    seconds: float
    pixels: int               # hidden pixels scored
    output: np.ndarray | None = field(default=None, repr=False)  # the unmasked result (crop)

    @property
    def estimated_mse(self) -> float:
        """A rough error against the (unknown) clean image: the loss minus the noise
        variance. A difference of two close numbers: a noise estimate 5% off moves it by
        far more than the gaps between methods, so rank by ``loss``, not by this."""
        return self.loss - self.noise_variance


def representative_plane(image, axes: str | None = None, crop: int | None = 256):
    """The plane a score is computed on: the middle of every axis but Y, X (and C of RGB),
    its central ``crop`` x ``crop`` part. Returns (plane as float32, its axes "YX" or "YXC")."""
    arr = np.asarray(image) if not hasattr(image, "compute") else image
    axes = normalize_axes(guess_axes(arr.shape) if axes is None else axes, arr.ndim)
    keep = "YXC" if axes.endswith("C") else "YX"
    idx = tuple(slice(None) if a in keep else arr.shape[i] // 2 for i, a in enumerate(axes))
    plane = arr[idx]
    order = [a for a in axes if a in keep]
    plane = np.moveaxis(np.asarray(plane), [order.index(a) for a in keep], range(len(keep)))
    if crop:
        plane = plane[_crop(plane, crop)]  # the guard's central crop (C is never cut)
    return np.ascontiguousarray(plane, dtype=np.float32), keep


def plane_noise(plane: np.ndarray, sigma, noise: str):
    """``sigma`` as given, or (None, ``"auto"``) the noise model of ``plane`` (Y, X[, C])
    fitted with ``noise``, on its luminance for colour."""
    if sigma is None or (isinstance(sigma, str) and sigma == "auto"):
        from .noise import estimate_noise

        return estimate_noise(_luminance(plane), model=noise)
    return sigma


def _luminance(plane: np.ndarray) -> np.ndarray:
    return plane.mean(axis=2) if plane.ndim == 3 else plane


def grid_phases(grid: int, count: int) -> list[tuple[int, int]]:
    """``count`` of the ``grid * grid`` phases, spread over rows and columns (a Latin
    pattern: phase i is (i, 2 i + 1) mod grid, then the rest in order)."""
    first = [(i % grid, (2 * i + 1) % grid) for i in range(grid)]
    rest = [(y, x) for y in range(grid) for x in range(grid) if (y, x) not in first]
    return (first + rest)[:max(1, min(count, grid * grid))]


def mask_phase(plane: np.ndarray, phase: tuple[int, int], grid: int):
    """``plane`` (Y, X[, C]) with the pixels of one grid phase replaced by the mean of
    their 8 neighbours (mirrored at the borders); and the boolean mask (Y, X)."""
    mask = np.zeros(plane.shape[:2], bool)
    mask[phase[0]::grid, phase[1]::grid] = True
    pad = [(1, 1), (1, 1)] + [(0, 0)] * (plane.ndim - 2)
    p = np.pad(plane, pad, mode="reflect")
    h, w = plane.shape[:2]
    ring = sum(p[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)
               if (dy, dx) != (1, 1)) / 8.0
    out = plane.copy()
    out[mask] = ring[mask]
    return out, mask


def _residual_stats(noisy, result, variance, bins: int = 8) -> ResidualStats:
    """``noisy``, ``result``: (Y, X[, C]); ``variance``: the noise variance per pixel."""
    r = (noisy - result).astype(np.float64)
    var = np.maximum(np.broadcast_to(variance, r.shape), 1e-30)
    ratio = float(np.mean(r * r / var))
    r0, y0 = (r[..., 0], result[..., 0]) if r.ndim == 3 else (r, result)
    rc = r0 - r0.mean()
    den = float(np.sum(rc * rc))
    ac = tuple(float(np.sum(a * b) / den) if den > 0 else 0.0
               for a, b in ((rc[1:], rc[:-1]), (rc[:, 1:], rc[:, :-1])))
    edge = _edge_correlation(r0.astype(np.float32), np.asarray(y0, np.float32))
    structure = (edge > MAX_EDGE_CORRELATION and edge * edge * ratio > MAX_EDGE_ENERGY) or \
        max(ac) > MAX_AUTOCORRELATION
    # residual variance against the noise model, by brightness of the result
    qs = np.quantile(result, np.linspace(0, 1, bins + 1))
    rows = []
    for lo, hi in zip(qs[:-1], qs[1:]):
        sel = (result >= lo) & (result <= hi)
        if np.count_nonzero(sel) > 16:
            rows.append((float(result[sel].mean()), float(r[sel].var()), float(var[sel].mean())))
    return ResidualStats(ratio, ac, float(edge), bool(structure), np.array(rows))


def score(image, model="auto", *, strength: float = 1.0, sigma=None, noise: str = "auto",
          axes: str | None = None, crop: int | None = 256, grid: int = 4, phases: int = 4,
          data_range=None, **denoise_kwargs) -> Score:
    """The ground-truth-free score of ``model`` at ``strength`` on ``image`` (see the
    module's docstring); lower ``loss`` is better. ``sigma``: the noise level (a number
    or a :class:`NoiseEstimate`; estimated once from the scored plane when omitted, with
    ``noise``), used for every run so all runs see the same settings. Other keywords go
    to :func:`napari_denoise.denoise`."""
    from .inference import denoise_iter, run_to_end
    from .noise import NoiseEstimate, smooth_signal

    t0 = time.perf_counter()
    plane, keep = representative_plane(image, axes, crop)
    if min(plane.shape[:2]) < 2 * grid:
        raise ValueError(f"the image is too small to score ({plane.shape[:2]}); "
                         f"it needs at least {2 * grid} pixels a side")
    lo, hi = estimate_range(np.asarray(image) if not hasattr(image, "compute") else plane) \
        if data_range is None else (float(data_range[0]), float(data_range[1]))
    sigma = plane_noise(plane, sigma, noise)
    if isinstance(sigma, NoiseEstimate):  # at the local mean, as the engine's noise map
        variance = sigma.variance(smooth_signal(_luminance(plane), axes="YX"))
        variance = variance[..., None] if plane.ndim == 3 else variance
    else:
        variance = np.full(plane.shape[:2] + plane.shape[2:], float(sigma) ** 2)
    kw = dict(sigma=sigma, strength=strength, axes=keep, data_range=(lo, hi), **denoise_kwargs)

    used = []

    def run(x):
        res = run_to_end(denoise_iter(x, model, **kw))
        used.append(res.info.model)
        return res.image.astype(np.float64)

    sq, n = 0.0, 0
    for ph in grid_phases(grid, phases):
        masked, mask = mask_phase(plane, ph, grid)
        out = run(masked)
        d = out[mask] - plane[mask]
        sq += float(np.sum(d * d))
        n += int(d.size)
    full = run(plane)
    stats = _residual_stats(plane, full, variance)
    return Score(model=used[-1], strength=float(strength), loss=sq / n,
                 noise_variance=float(np.mean(variance)), data_range=(lo, hi),
                 residual=stats, seconds=time.perf_counter() - t0, pixels=n,
                 output=full.astype(np.float32))
