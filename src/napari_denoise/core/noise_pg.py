"""The Poisson-Gaussian fit ``variance = a * signal + b``: binned local means and variances
of smooth, unclipped blocks of single planes, or of differences of consecutive frames (a
weighted line fit in the spirit of Foi et al. 2008).

Pure numpy; no GUI or torch imports here.
"""

from __future__ import annotations

import functools
import math

import numpy as np

# Poisson-Gaussian estimator
# --------------------------------------------------------------------------

#: Block side of the mean-variance statistics.
PG_BLOCK = 8
#: Fewest usable (smooth, unclipped) blocks for a Poisson-Gaussian fit.
PG_MIN_BLOCKS = 120
#: Number of signal-level bins of the fit (equal block counts).
PG_BINS = 16


def _residual(z: np.ndarray) -> np.ndarray:
    """Immerkaer's 3x3 Laplacian-difference residual, scaled so white noise keeps its variance.

    The kernel [[1,-2,1],[-2,4,-2],[1,-2,1]] / 6 has unit energy and removes
    constant and linear signal; the result covers the image minus a 1-pixel border.
    """
    c = z[1:-1, 1:-1]
    r = (z[:-2, :-2] + z[:-2, 2:] + z[2:, :-2] + z[2:, 2:]
         - 2.0 * (z[:-2, 1:-1] + z[2:, 1:-1] + z[1:-1, :-2] + z[1:-1, 2:]) + 4.0 * c)
    return r / 6.0


#: Quantile of the block variances taken per bin: low enough to ignore blocks with texture.
PG_QUANTILE = 0.3


@functools.lru_cache(maxsize=8)
def _quantile_correction(block: int, frames: bool, q: float = PG_QUANTILE) -> float:
    """q-quantile / mean of a block's mean squared residual for white noise.

    The residuals of neighbouring pixels are correlated (the 3x3 kernel overlaps),
    so the block mean behaves like a chi-square with ``k_eff`` < block**2 degrees of
    freedom (frame differences are uncorrelated: ``k_eff`` = block**2); the ratio is
    the q-quantile of chi-square(k)/k.
    """
    from scipy.stats import gamma

    if frames:
        k_eff = float(block * block)
    else:
        k_eff = _k_eff(block)
    return float(gamma.ppf(q, k_eff / 2.0, scale=2.0 / k_eff))


def _k_eff(block: int) -> float:
    k = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], float) / 6.0
    from scipy.signal import correlate2d

    rho = correlate2d(k, k)  # autocorrelation of the residual, offsets -2..2
    idx = np.arange(block)
    dy = idx[:, None, None, None] - idx[None, None, :, None]
    dx = idx[None, :, None, None] - idx[None, None, None, :]
    ok = (np.abs(dy) <= 2) & (np.abs(dx) <= 2)
    vals = np.where(ok, rho[np.clip(dy + 2, 0, 4), np.clip(dx + 2, 0, 4)], 0.0)
    return block**4 / float(np.sum(vals**2))


def _block_stats(mean_img: np.ndarray, sq_img: np.ndarray, grad_img: np.ndarray,
                 bad: np.ndarray, block: int):
    """Per-block mean signal, mean squared residual, mean gradient energy; bad blocks dropped."""
    h, w = mean_img.shape
    nb_y, nb_x = h // block, w // block
    if nb_y == 0 or nb_x == 0:
        return np.empty(0), np.empty(0), np.empty(0)

    def blocks(a):
        a = a[: nb_y * block, : nb_x * block]
        return a.reshape(nb_y, block, nb_x, block).swapaxes(1, 2).reshape(nb_y * nb_x, -1)

    m = blocks(mean_img).mean(1)
    v = blocks(sq_img).mean(1)
    g = blocks(grad_img).mean(1)
    keep = ~blocks(bad).any(1)
    return m[keep], v[keep], g[keep]


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


def _wls_line(x, y, w):
    """Weighted least squares y = a x + b; returns (a, b, se_a)."""
    wx = np.sum(w * x) / np.sum(w)
    wy = np.sum(w * y) / np.sum(w)
    sxx = np.sum(w * (x - wx) ** 2)
    if sxx <= 0:
        return 0.0, float(wy), float("inf")
    a = np.sum(w * (x - wx) * (y - wy)) / sxx
    b = wy - a * wx
    res = y - (a * x + b)
    dof = max(len(x) - 2, 1)
    s2 = np.sum(w * res**2) / dof
    return float(a), float(b), float(math.sqrt(s2 / sxx))


def _fit_binned(m: np.ndarray, v: np.ndarray, corr: float, n_bins: int = PG_BINS,
                model: tuple[float, float] | None = None):
    """Bin blocks by signal, robust variance per bin, weighted line fit. Returns (a, b, se_a, points).

    With a current ``model`` (a, b), each block's variance is taken relative to the
    model at its own signal before the per-bin quantile: a bin spanning a range of
    signal levels would otherwise favour its darkest blocks.
    """
    order = np.argsort(m)
    m, v = m[order], v[order]
    n_bins = int(max(3, min(n_bins, m.size // 40)))
    edges = np.linspace(0, m.size, n_bins + 1).round().astype(int)
    if model is not None:
        ref = np.maximum(model[0] * m + model[1], 1e-6 * max(float(np.max(v)), 1e-300))
    pts = []
    for i in range(n_bins):
        sl = slice(edges[i], edges[i + 1])
        if edges[i + 1] - edges[i] < 8:
            continue
        x = float(np.mean(m[sl]))
        if model is None:
            y = float(np.quantile(v[sl], PG_QUANTILE) / corr)
        else:
            at_x = max(model[0] * x + model[1], float(np.min(ref[sl])))
            y = float(np.quantile(v[sl] / ref[sl], PG_QUANTILE) / corr * at_x)
        pts.append((x, y, edges[i + 1] - edges[i]))
    pts = np.array(pts, float)
    x, y, n = pts[:, 0], pts[:, 1], pts[:, 2]
    w = n / np.maximum(y, 1e-12 * max(y.max(), 1e-300)) ** 2
    a, b, se = _wls_line(x, y, w)
    for _ in range(3):  # re-weight with the fitted variance, not the noisy bin value
        yf = np.maximum(a * x + b, 1e-3 * max(y.max(), 1e-300))
        a, b, se = _wls_line(x, y, n / yf**2)
    return a, b, se, pts


def _pg_stats_plane(z: np.ndarray, block: int = PG_BLOCK):
    """Block statistics of one noisy plane: signal mean, residual energy, gradient energy."""
    z = z.astype(np.float64, copy=False)
    r = _residual(z)
    c = z[1:-1, 1:-1]
    gy = np.zeros_like(c)
    gx = np.zeros_like(c)
    gy[:-1] = np.diff(c, axis=0) ** 2
    gx[:, :-1] = np.diff(c, axis=1) ** 2
    bad = _clip_mask(z)[1:-1, 1:-1]
    return _block_stats(c, r * r, gx + gy, bad, block)


def _pg_stats_frames(z0: np.ndarray, z1: np.ndarray, block: int = PG_BLOCK):
    """Block statistics from two captures of one scene: the difference is pure noise."""
    z0 = z0.astype(np.float64, copy=False)
    z1 = z1.astype(np.float64, copy=False)
    d = (z1 - z0) ** 2 / 2.0
    mean = (z0 + z1) / 2.0
    # motion or a changed focal plane shows up as structure in the difference
    dd = z1 - z0
    g = np.zeros_like(dd)
    g[:-1] += np.diff(dd, axis=0) ** 2 / 2.0
    g[:, :-1] += np.diff(dd, axis=1) ** 2 / 2.0
    bad = _clip_mask(z0) | _clip_mask(z1)
    return _block_stats(mean, d, g, bad, block)


def _select_smooth(m, g, a, b):
    """Blocks whose gradient energy matches pure noise of the fitted model.

    For pure noise E[dx^2 + dy^2] = 4 var, both for an image and for the halved
    squared differences of two frames (see ``_pg_stats_frames``).
    """
    return g / (4.0 * np.maximum(a * m + b, 1e-12)) < 1.4


def fit_poisson_gaussian(planes, *, frames: bool = False, block: int = PG_BLOCK):
    """Fit variance = a * signal + b to 2D planes (or consecutive frame pairs if ``frames``).

    Returns ``(a, b, se_a, points, n_blocks)``; raises ValueError when there are
    too few smooth, unclipped blocks for a fit.
    """
    ms, vs, gs = [], [], []
    if frames:
        for z0, z1 in zip(planes[:-1], planes[1:]):
            m, v, g = _pg_stats_frames(z0, z1, block)
            ms.append(m), vs.append(v), gs.append(g)
    else:
        for z in planes:
            if min(z.shape) < block + 2:
                continue
            m, v, g = _pg_stats_plane(z, block)
            ms.append(m), vs.append(v), gs.append(g)
    m = np.concatenate(ms) if ms else np.empty(0)
    v = np.concatenate(vs) if vs else np.empty(0)
    g = np.concatenate(gs) if gs else np.empty(0)
    if m.size < PG_MIN_BLOCKS:
        raise ValueError(f"too few unclipped {block}x{block} blocks for a Poisson-Gaussian fit "
                         f"({m.size}, need {PG_MIN_BLOCKS})")
    corr = _quantile_correction(block, bool(frames))
    a, b, se, pts = _fit_binned(m, v, corr)
    for _ in range(4):  # drop textured blocks, judged against the current fit
        sel = _select_smooth(m, g, max(a, 0.0), b)
        if np.count_nonzero(sel) < PG_MIN_BLOCKS:
            raise ValueError(f"too few smooth {block}x{block} blocks for a Poisson-Gaussian fit "
                             f"({int(np.count_nonzero(sel))}, need {PG_MIN_BLOCKS}); the image is "
                             "mostly texture or edges")
        a_new, b_new, se, pts = _fit_binned(m[sel], v[sel], corr, model=(max(a, 0.0), b))
        done = abs(a_new - a) <= 1e-3 * abs(a) + 1e-12 and abs(b_new - b) <= 1e-3 * abs(b) + 1e-12
        a, b = a_new, b_new
        if done:
            break
    return a, b, se, pts, int(m.size)


# --------------------------------------------------------------------------
