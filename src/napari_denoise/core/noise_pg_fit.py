"""Binning and the robust line fit of the Poisson-Gaussian estimator (see noise_pg.py).

Bins are the union of equal-count and equal-width bins of the block means, so that a
signal range with few smooth blocks (a bright object on a large dark background) still
has its own bins; bins with too few blocks are merged with their neighbour.  The line
is fitted by iteratively re-weighted least squares: weights count / variance^2 (the
variance of a bin's estimate grows with its square) times Huber weights that lower
the say of a bin whose blocks carry texture.

Pure numpy.
"""

from __future__ import annotations

import numpy as np

#: Target number of equal-count (and of equal-width) bins.
N_BINS = 16
#: Fewest blocks in a bin.
MIN_PER_BIN = 16
#: Huber's tuning constant, in robust standard deviations.
HUBER = 1.5


def bin_bounds(ms_sorted: np.ndarray, n_bins: int = N_BINS, min_per_bin: int = MIN_PER_BIN):
    """Index bounds [0, ..., n] of bins over sorted block means (equal-count and
    equal-width edges, small bins merged)."""
    n = ms_sorted.size
    k = int(max(3, min(n_bins, n // min_per_bin)))
    q_edges = ms_sorted[np.linspace(0, n - 1, k + 1).round().astype(int)]
    w_edges = np.linspace(ms_sorted[0], ms_sorted[-1], k + 1)
    edges = np.unique(np.concatenate([q_edges[1:-1], w_edges[1:-1]]))
    cuts = np.unique(np.searchsorted(ms_sorted, edges, side="left"))
    out = [0]
    for c in cuts:
        if c - out[-1] >= min_per_bin and n - c >= min_per_bin:
            out.append(int(c))
    out.append(n)
    return out


def _wls(x, y, w):
    """Weighted least squares y = a x + b: (a, b, covariance of (a, b) up to scale)."""
    X = np.stack([x, np.ones_like(x)], 1)
    A = X.T @ (X * w[:, None])
    try:
        inv = np.linalg.inv(A)
    except np.linalg.LinAlgError:
        return 0.0, float(np.average(y, weights=w)), np.full((2, 2), np.inf)
    a, b = inv @ (X.T @ (w * y))
    return float(a), float(b), inv


def robust_line(x, y, n):
    """Huber-IRLS line through bin points (x, y) with counts n: (a, b, se_a, se_b)."""
    w0 = n / np.maximum(y, 1e-12 * max(float(y.max()), 1e-300)) ** 2
    h = np.ones_like(x)
    a, b, inv = _wls(x, y, w0)
    floor = 1e-3 * max(float(np.max(y)), 1e-300)
    for _ in range(8):
        yf = np.maximum(a * x + b, floor)
        w0 = n / yf**2  # re-weight with the fitted variance, not the noisy bin value
        r = (y - yf) * np.sqrt(w0)
        s = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        if s > 0 and len(x) > 4:
            u = np.abs(r) / s
            h = np.where(u <= HUBER, 1.0, HUBER / np.maximum(u, 1e-12))
        a_new, b_new, inv = _wls(x, y, w0 * h)
        done = abs(a_new - a) <= 1e-4 * abs(a) + 1e-15 and abs(b_new - b) <= 1e-4 * abs(b) + 1e-15
        a, b = a_new, b_new
        if done:
            break
    w = w0 * h
    res = y - (a * x + b)
    s2 = float(np.sum(w * res**2)) / max(len(x) - 2, 1)
    cov = inv * s2
    return a, b, float(np.sqrt(max(cov[0, 0], 0.0))), float(np.sqrt(max(cov[1, 1], 0.0)))


def bin_points(m, v, corr: float, q: float, model=None) -> np.ndarray:
    """(mean, variance, count) per bin.  With a current ``model`` (a, b), each block's
    variance is taken relative to the model at its own signal before the quantile: a
    bin spanning a range of signal levels would otherwise favour its darkest blocks."""
    order = np.argsort(m, kind="stable")
    m, v = m[order], v[order]
    bounds = np.asarray(bin_bounds(m))
    starts, counts = bounds[:-1], np.diff(bounds)
    x = np.add.reduceat(m, starts) / counts
    if model is None:
        r = v
    else:
        ref = np.maximum(model[0] * m + model[1], 1e-3 * max(float(np.median(v)), 1e-300))
        r = v / ref
    bid = np.repeat(np.arange(len(counts)), counts)
    rs = r[np.lexsort((r, bid))]  # sorted within each bin
    pos = starts + q * (counts - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, bounds[1:] - 1)
    y = (rs[i0] + (pos - i0) * (rs[i1] - rs[i0])) / corr
    if model is not None:
        y = y * np.maximum(model[0] * x + model[1], np.minimum.reduceat(ref, starts))
    return np.stack([x, y, counts.astype(float)], 1)


def fit_bins(m, v, corr: float, q: float, *, model=None, iterations: int = 4):
    """Bin, fit, and refit with the bins' variances taken relative to the current fit.
    Returns (a, b, se_a, se_b, points)."""
    pts = bin_points(m, v, corr, q, model)
    a, b, se_a, se_b = robust_line(pts[:, 0], pts[:, 1], pts[:, 2])
    for _ in range(iterations):
        pts = bin_points(m, v, corr, q, (max(a, 0.0), b))
        a_new, b_new, se_a, se_b = robust_line(pts[:, 0], pts[:, 1], pts[:, 2])
        done = abs(a_new - a) <= 1e-3 * abs(a) + 1e-15 and abs(b_new - b) <= 1e-3 * abs(b) + 1e-15
        a, b = a_new, b_new
        if done:
            break
    return a, b, se_a, se_b, pts
