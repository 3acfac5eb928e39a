"""The Poisson-Gaussian fit ``variance = a * signal + b``: local means and variances of
smooth, unclipped blocks of single planes, or of differences of two captures of one
scene, binned over the whole signal range and fitted by a robust weighted line (in the
spirit of Foi et al. 2008), with a bootstrap confidence.

Pure numpy; no GUI or torch imports here.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from .noise_pg_fit import fit_bins

#: Block side of the mean-variance statistics.
PG_BLOCK = 8
#: Fewest usable (smooth, unclipped) blocks for a Poisson-Gaussian fit.
PG_MIN_BLOCKS = 120
#: Quantile of a bin's block variances (the median: lower quantiles are biased by the
#: spread of the variances within a bin, measured in benchmarks/pg_fit.py).
PG_QUANTILE = 0.5
#: Fraction of pure-noise blocks the smoothness test keeps.
PG_KEEP = 0.98
#: Bootstrap resamples of the blocks for the confidence of a and b.
PG_BOOTSTRAP = 30
#: Systematic errors added to the bootstrap's: a relative error of a, and a floor on
#: b's error as a fraction of the smallest variance fitted (benchmarks/pg_fit.py: the
#: median error of a on natural images is 2-4%; b cannot be resolved much below a few
#: percent of the variance at the darkest smooth signal).
PG_SYSTEMATIC_A = 0.03
PG_SYSTEMATIC_B = 0.05


class PGFit(NamedTuple):
    """A Poisson-Gaussian fit.  ``points``: the binned (mean, variance, count) rows;
    ``rel_a`` / ``rel_b``: standard deviations of a and b (bootstrap over the blocks,
    plus a systematic term) relative to their size; ``coverage``: the fraction of the data's signal range (1st-99th percentile of
    the block means) that the bins span."""

    a: float
    b: float
    se_a: float
    points: np.ndarray
    n_blocks: int
    se_b: float = float("nan")
    rel_a: float = float("nan")
    rel_b: float = float("nan")
    coverage: float = float("nan")
    signal_range: tuple = (float("nan"), float("nan"))


def _residual(z: np.ndarray) -> np.ndarray:
    """Immerkaer's 3x3 Laplacian-difference residual, scaled so white noise keeps its variance.

    The kernel [[1,-2,1],[-2,4,-2],[1,-2,1]] / 6 has unit energy and removes
    constant and linear signal (any f(y) + g(x)); the result covers the image minus a
    1-pixel border.
    """
    c = z[1:-1, 1:-1]
    r = (z[:-2, :-2] + z[:-2, 2:] + z[2:, :-2] + z[2:, 2:]
         - 2.0 * (z[:-2, 1:-1] + z[2:, 1:-1] + z[1:-1, :-2] + z[1:-1, 2:]) + 4.0 * c)
    return r / 6.0


def _grad_energy(z: np.ndarray) -> np.ndarray:
    """dy^2 + dx^2 (forward differences, 0 at the last row / column)."""
    gy = np.zeros_like(z)
    gx = np.zeros_like(z)
    gy[:-1] = np.diff(z, axis=0) ** 2
    gx[:, :-1] = np.diff(z, axis=1) ** 2
    return gx + gy


def _blocks(a: np.ndarray, block: int) -> np.ndarray:
    nb_y, nb_x = a.shape[0] // block, a.shape[1] // block
    a = a[: nb_y * block, : nb_x * block]
    return a.reshape(nb_y, block, nb_x, block).swapaxes(1, 2).reshape(nb_y * nb_x, -1)


def _block_stats(mean_img, sq_img, grad_img, bad, block: int):
    """Per-block (mean signal, mean squared residual, mean gradient energy, clipped)."""
    if mean_img.shape[0] < block or mean_img.shape[1] < block:
        e = np.empty(0)
        return e, e, e, np.empty(0, bool)
    return (_blocks(mean_img, block).mean(1), _blocks(sq_img, block).mean(1),
            _blocks(grad_img, block).mean(1), _blocks(bad, block).any(1))


def _clip_mask(z: np.ndarray) -> np.ndarray:
    """Pixels at a saturation or zero floor: the plane's extreme values when they repeat."""
    lo, hi = z.min(), z.max()
    bad = np.zeros(z.shape, bool)
    n = z.size
    for v in (lo, hi):
        at = z == v
        if np.count_nonzero(at) > max(3, 2e-4 * n):
            bad |= at
    if bad.any():  # a residual touching a clipped pixel is clipped too
        from scipy.ndimage import binary_dilation

        bad = binary_dilation(bad, np.ones((3, 3), bool))
    return bad


def _pg_stats_plane(z: np.ndarray, block: int = PG_BLOCK):
    """Block statistics of one noisy plane: signal mean, residual energy, gradient
    energy, clipped flag.  For white noise E[residual^2] = var, E[gradient] = 4 var."""
    z = z.astype(np.float64, copy=False)
    r = _residual(z)
    c = z[1:-1, 1:-1]
    return _block_stats(c, r * r, _grad_energy(c), _clip_mask(z)[1:-1, 1:-1], block)


def _pg_stats_frames(z0: np.ndarray, z1: np.ndarray, block: int = PG_BLOCK):
    """Block statistics from two captures of one scene: the difference is pure noise.
    ``d^2 / 2`` has the single frame's variance, and the difference's gradient energy
    over 2 is 4 var for pure noise, as in :func:`_pg_stats_plane`."""
    z0 = z0.astype(np.float64, copy=False)
    z1 = z1.astype(np.float64, copy=False)
    dd = z1 - z0
    bad = _clip_mask(z0) | _clip_mask(z1)
    return _block_stats((z0 + z1) / 2.0, dd * dd / 2.0, _grad_energy(dd) / 2.0, bad, block)


@functools.lru_cache(maxsize=8)
def _calibration(block: int, frames: bool, q: float | None = None) -> tuple[float, ...]:
    """Thresholds and corrections for white noise of unit variance, by simulation (seeded).

    ``ratio_thr``: the gradient / residual energy ratio ``g / (4 v)`` that PG_KEEP of
    pure-noise blocks stay under (structure, an edge or a ramp, raises the gradient
    far more than the Laplacian residual); needs no noise model.  ``grad_thr``: the
    gradient energy ``g / (4 var)`` that PG_KEEP of the blocks kept by the ratio test
    stay under (texture raises it; needs the fitted model).  ``corr_ratio`` /
    ``corr_both``: the q-quantile of the kept blocks' ``v`` after the first / both
    tests, which a bin's variance is divided by (the residuals of neighbouring pixels
    are correlated and the selection favours some values of ``v``).
    """
    q = PG_QUANTILE if q is None else q
    rng = np.random.default_rng(12345)
    vs, gs = [], []
    for _ in range(4):
        if frames:
            _, v, g, _ = _pg_stats_frames(rng.standard_normal((512, 512)),
                                          rng.standard_normal((512, 512)), block)
        else:
            _, v, g, _ = _pg_stats_plane(rng.standard_normal((514, 514)), block)
        vs.append(v), gs.append(g)
    v, g = np.concatenate(vs), np.concatenate(gs)
    ratio = g / (4.0 * v)
    ratio_thr = float(np.quantile(ratio, PG_KEEP))
    keep = ratio < ratio_thr
    grad_thr = float(np.quantile(g[keep] / 4.0, PG_KEEP))
    both = keep & (g / 4.0 < grad_thr)
    half = both & (g / 4.0 < np.median(g[both] / 4.0))
    return (ratio_thr, grad_thr, float(np.quantile(v[keep], q)), float(np.quantile(v[both], q)),
            float(np.quantile(v[half], q)))


def block_stats(planes, *, frames: bool = False, block: int = PG_BLOCK):
    """All blocks' (mean, variance, gradient energy, smooth) over ``planes`` (or
    consecutive frame pairs), clipped blocks left out; ``smooth``: passes the
    model-free structure test."""
    ms, vs, gs = [], [], []
    if frames:
        pairs = zip(planes[:-1], planes[1:])
        stats = [_pg_stats_frames(z0, z1, block) for z0, z1 in pairs]
    else:
        stats = [_pg_stats_plane(z, block) for z in planes if min(z.shape) >= block + 2]
    for m, v, g, bad in stats:
        ms.append(m[~bad]), vs.append(v[~bad]), gs.append(g[~bad])
    m = np.concatenate(ms) if ms else np.empty(0)
    v = np.concatenate(vs) if vs else np.empty(0)
    g = np.concatenate(gs) if gs else np.empty(0)
    thr = _calibration(block, bool(frames))[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        smooth = (g < thr * 4.0 * v) & (v > 0)
    return m, v, g, smooth


def _texture_check(m, v, g, sel, ab, corr_half) -> tuple[float, float]:
    """(|a_half - a|, |b_half - b|): the fit again on the smoother half of the blocks.
    Texture left in the blocks raises their variance; the smoother half carries less of
    it, so a difference is a bias the bootstrap cannot see."""
    a, b = ab
    r = g / (4.0 * np.maximum(max(a, 0.0) * m + b, 1e-12))
    half = sel & (r < np.median(r[sel]))
    if np.count_nonzero(half) < PG_MIN_BLOCKS:
        return 0.0, 0.0
    a2, b2 = fit_bins(m[half], v[half], corr_half, PG_QUANTILE, model=(max(a, 0.0), b),
                      iterations=1)[:2]
    return abs(a2 - a), abs(b2 - b)


def fit_poisson_gaussian(planes, *, frames: bool = False, block: int = PG_BLOCK,
                         bootstrap: int = PG_BOOTSTRAP) -> PGFit:
    """Fit variance = a * signal + b to 2D planes (or consecutive frame pairs if ``frames``).

    Blocks with clipped pixels are left out, and so are blocks whose gradient energy
    shows structure; the rest are binned over their whole signal range (equal-count
    and equal-width bins), a low quantile of each bin's variances is taken, and a line
    is fitted by robust (Huber) weighted least squares.  ``bootstrap`` resamples of the
    blocks give the relative uncertainty of a and b.

    Raises ValueError when there are too few smooth, unclipped blocks for a fit.
    """
    m, v, g, smooth = block_stats(planes, frames=frames, block=block)
    n_all = int(m.size)
    if n_all < PG_MIN_BLOCKS:
        raise ValueError(f"too few unclipped {block}x{block} blocks for a Poisson-Gaussian fit "
                         f"({n_all}, need {PG_MIN_BLOCKS})")
    if np.count_nonzero(smooth) < PG_MIN_BLOCKS:
        raise ValueError(f"too few smooth {block}x{block} blocks for a Poisson-Gaussian fit "
                         f"({int(np.count_nonzero(smooth))}, need {PG_MIN_BLOCKS}); the image is "
                         "mostly texture or edges")
    lo, hi = (float(x) for x in np.percentile(m, [1, 99]))
    _, grad_thr, corr_ratio, corr_both, corr_half = _calibration(block, bool(frames))
    a, b, se_a, se_b, pts = fit_bins(m[smooth], v[smooth], corr_ratio, PG_QUANTILE)
    sel = smooth
    for _ in range(4):  # drop textured blocks too, judged against the current fit
        model = np.maximum(max(a, 0.0) * m + b, 1e-12)
        new = smooth & (g < grad_thr * 4.0 * model)
        if np.count_nonzero(new) < PG_MIN_BLOCKS:
            break
        sel = new
        a_new, b_new, se_a, se_b, pts = fit_bins(m[sel], v[sel], corr_both, PG_QUANTILE,
                                                 model=(max(a, 0.0), b))
        done = abs(a_new - a) <= 1e-3 * abs(a) + 1e-15 and abs(b_new - b) <= 1e-3 * abs(b) + 1e-15
        a, b = a_new, b_new
        if done:
            break
    corr = corr_both if sel is not smooth else corr_ratio
    texture = _texture_check(m, v, g, sel, (a, b), corr_half) if sel is not smooth else (0.0, 0.0)
    m, v = m[sel], v[sel]
    rel_a = rel_b = float("nan")
    if bootstrap:
        rng = np.random.default_rng(0)
        boot = []
        for _ in range(int(bootstrap)):
            i = rng.integers(0, m.size, m.size)
            ab = fit_bins(m[i], v[i], corr, PG_QUANTILE, model=(max(a, 0.0), b), iterations=1)
            boot.append(ab[:2])
        boot = np.array(boot)
        sd_a, sd_b = np.std(boot, axis=0, ddof=1)
        sd_a = float(np.hypot(sd_a, PG_SYSTEMATIC_A * abs(a)))
        sd_b = float(np.hypot(sd_b, PG_SYSTEMATIC_B * max(float(np.min(pts[:, 1])), 0.0)))
        sd_a, sd_b = float(np.hypot(sd_a, texture[0])), float(np.hypot(sd_b, texture[1]))
        rel_a = sd_a / abs(a) if a != 0 else float("inf")
        rel_b = sd_b / abs(b) if b != 0 else float("inf")
    span = pts[-1, 0] - pts[0, 0] if len(pts) else 0.0
    coverage = float(min(1.0, span / (hi - lo))) if hi > lo else 1.0
    return PGFit(a, b, se_a, pts, n_all, se_b, rel_a, rel_b, coverage, (lo, hi))
