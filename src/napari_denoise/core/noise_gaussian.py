"""The Gaussian noise estimator: the patch-covariance (PCA) method of Chen, Zhu & Heng,
"An Efficient Statistical Method for Image Noise Level Estimation", ICCV 2015, refined on
weakly textured patches (gradient-energy selection of Liu, Tanaka & Okutomi 2013).

Pure numpy; no GUI or torch imports here.
"""

from __future__ import annotations

import functools
import math

import numpy as np

#: Patch side used by the PCA estimator.
PATCH_SIZE = 8
#: At most this many (randomly chosen, overlapping) patches enter the covariance of one plane.
MAX_PATCHES = 50_000

# --------------------------------------------------------------------------
# 2D estimator
# --------------------------------------------------------------------------


def _noise_variance_from_eigs(eigs: np.ndarray) -> float:
    """Chen et al. 2015: largest tail of smallest eigenvalues with mean == median."""
    lam = np.sort(np.clip(eigs, 0.0, None))  # ascending
    for k in range(lam.size, 0, -1):
        tail = lam[:k]
        tau = tail.mean()
        # tau "is the median" when as many eigenvalues lie above it as below
        if np.count_nonzero(tail > tau) == np.count_nonzero(tail < tau):
            return float(tau)
    return float(lam[0])  # not reached: k == 1 always satisfies the rule


def _cov_eigs(x: np.ndarray) -> np.ndarray:
    """Eigenvalues of the covariance of the rows of ``x`` (n, d)."""
    mu = x.mean(axis=0)
    xc = x - mu
    return np.linalg.eigvalsh(xc.T @ xc / x.shape[0])


def _box_sum(a: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """Sums of ``a`` over every ph x pw window (valid positions), via an integral image."""
    c = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    c[1:, 1:] = a.cumsum(0).cumsum(1)
    return c[ph:, pw:] - c[:-ph, pw:] - c[ph:, :-pw] + c[:-ph, :-pw]


@functools.lru_cache(maxsize=16)
def _texture_threshold_factor(p: int, confidence: float = 0.99) -> float:
    """``t`` such that a pure-noise patch has gradient energy < t * sigma^2 with ``confidence``.

    The gradient energy of a patch x is x^T A x with A = Dh^T Dh + Dv^T Dv; for
    white Gaussian x it is approximated by a Gamma distribution with matched
    mean and variance (Liu, Tanaka & Okutomi 2013).
    """
    eye = np.eye(p)
    dmat = np.diff(eye, axis=0)  # (p-1, p) forward differences
    dh = np.kron(eye, dmat)  # differences along x inside a row-major patch
    dv = np.kron(dmat, eye)  # differences along y
    a = dh.T @ dh + dv.T @ dv
    tr1, tr2 = float(np.trace(a)), float(np.sum(a * a))
    shape, scale = tr1 * tr1 / (2.0 * tr2), 2.0 * tr2 / tr1
    from scipy.stats import gamma  # scipy is a dependency of scikit-image

    return float(gamma.ppf(confidence, shape, scale=scale))


def estimate_sigma_2d(
    img: np.ndarray,
    *,
    patch_size: int = PATCH_SIZE,
    max_patches: int = MAX_PATCHES,
    seed: int = 0,
    weak_texture: bool = True,
) -> float:
    """Gaussian noise std of a 2D image, in the image's own units.

    Patch-covariance (PCA) method of Chen, Zhu & Heng (ICCV 2015): the noise
    variance is the mean of the largest tail of the smallest covariance
    eigenvalues of overlapping ``patch_size`` x ``patch_size`` patches whose
    mean equals its median.  Large images use a random subset of
    ``max_patches`` patches (``seed`` makes it reproducible); images with too
    few patches for a stable covariance use a smaller patch.

    With ``weak_texture`` (default) the estimate is refined on weakly textured
    patches only, selected iteratively by their gradient energy as in Liu,
    Tanaka & Okutomi (IEEE TIP 2013); this removes most of the upward bias
    textured images otherwise give at low noise levels.  A constant image gives 0.0.
    """
    a = _centred_plane(img, patch_size)
    if not np.any(a):
        return 0.0
    h, w = a.shape

    # small images: shrink the patch until there are enough patches (>= 2*d)
    p = patch_size
    while p > 2 and (h - p + 1) * (w - p + 1) < 2 * p * p:
        p -= 1
    min_patches = 4 * p * p

    patches, iy, ix = _sample_patches(a, p, max_patches, seed)
    var = _noise_variance_from_eigs(_cov_eigs(patches))
    if not weak_texture or var <= 0.0 or patches.shape[0] < min_patches:
        return float(math.sqrt(max(var, 0.0)))
    var = _weak_texture_variance(a, patches, iy, ix, p, var, min_patches)
    return float(math.sqrt(max(var, 0.0)))


def _centred_plane(img: np.ndarray, patch_size: int) -> np.ndarray:
    """``img`` checked (2D, at least one patch, finite) as float64 minus its mean."""
    a = np.asarray(img)
    if a.ndim != 2:
        raise ValueError(f"estimate_sigma_2d expects a 2D image, got shape {a.shape}")
    h, w = a.shape
    if h < patch_size or w < patch_size:
        raise ValueError(
            f"image of shape {a.shape} is smaller than the {patch_size}x{patch_size} "
            "patch the noise estimator needs"
        )
    a = a.astype(np.float64, copy=False)
    if not np.all(np.isfinite(a)):
        raise ValueError("image contains NaN or Inf values; cannot estimate noise")
    return a - a.mean()


def _sample_patches(a: np.ndarray, p: int, max_patches: int, seed: int):
    """The (n, p*p) overlapping p x p patches of ``a`` and their row/column indices.

    All patches (indices None) or, above ``max_patches``, a random subset drawn with ``seed``.
    """
    d = p * p
    view = np.lib.stride_tricks.sliding_window_view(a, (p, p))  # (ny, nx, p, p)
    ny, nx = view.shape[:2]
    n_total = ny * nx
    if n_total > max_patches:
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(n_total, size=max_patches, replace=False))
        iy, ix = idx // nx, idx % nx
        return view[iy, ix].reshape(-1, d), iy, ix
    return view.reshape(-1, d), None, None  # copies: (n_total, d)


def _weak_texture_variance(a: np.ndarray, patches: np.ndarray, iy, ix, p: int,
                           var: float, min_patches: int) -> float:
    """Liu et al. 2013: re-estimate ``var`` on the patches of low gradient energy, iteratively."""
    # gradient energy of every patch, from box sums of squared differences
    energy = _box_sum(np.diff(a, axis=1) ** 2, p, p - 1) + _box_sum(np.diff(a, axis=0) ** 2, p - 1, p)
    energy = energy[iy, ix] if iy is not None else energy.ravel()
    factor = _texture_threshold_factor(p)
    gram = _SelectedCovariance(patches)
    for _ in range(10):
        sel = energy < factor * var
        if int(np.count_nonzero(sel)) < min_patches or gram.same(sel):
            break
        var = _noise_variance_from_eigs(gram.eigs(sel))
        if var <= 0.0:
            break
    return var


class _SelectedCovariance:
    """Covariance eigenvalues of a changing selection of the rows of ``x``.

    The weak-texture iterations change the selection by a few patches at a time, so the
    sums are updated with the rows that entered and left rather than recomputed (same
    result up to float64 rounding; the rows are centred on the first selection's mean,
    so no large mean is subtracted from a large second moment)."""

    def __init__(self, x: np.ndarray):
        self.x = x
        self.sel = None

    def same(self, sel: np.ndarray) -> bool:
        return self.sel is not None and np.array_equal(sel, self.sel)

    def eigs(self, sel: np.ndarray) -> np.ndarray:
        if self.sel is None or 2 * np.count_nonzero(sel != self.sel) > np.count_nonzero(sel):
            rows = self.x[sel]
            self.centre = rows.mean(axis=0)
            rows = rows - self.centre
            self.m2, self.m1 = rows.T @ rows, rows.sum(axis=0)
        else:
            for rows, sign in ((self.x[sel & ~self.sel], 1.0), (self.x[self.sel & ~sel], -1.0)):
                rows = rows - self.centre
                self.m2 += sign * (rows.T @ rows)
                self.m1 += sign * rows.sum(axis=0)
        self.sel = sel
        n = int(np.count_nonzero(sel))
        mu = self.m1 / n
        return np.linalg.eigvalsh(self.m2 / n - np.outer(mu, mu))


# --------------------------------------------------------------------------
