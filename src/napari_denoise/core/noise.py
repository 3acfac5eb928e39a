"""Noise-level estimation.

The Gaussian estimator is the patch-covariance (PCA) method of
Chen, Zhu & Heng, "An Efficient Statistical Method for Image Noise Level
Estimation", ICCV 2015: the eigenvalues of the covariance of overlapping
image patches split into a few large ones (image structure) and many small
ones that, for additive white Gaussian noise, all equal sigma^2.  The noise
eigenvalues are found as the largest tail of the smallest eigenvalues whose
mean is also their median.  The estimate is then refined on weakly textured
patches (gradient-energy selection of Liu, Tanaka & Okutomi 2013), which
removes most of the upward bias textured images give at low noise levels.

Pure numpy; no GUI or torch imports here.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from .axes import frame_runs, resolve_axes, spread_planes

__all__ = ["NoiseEstimate", "estimate_noise", "estimate_sigma_2d"]

#: Patch side used by the PCA estimator.
PATCH_SIZE = 8
#: Smallest spatial side :func:`estimate_noise` accepts.
MIN_SIDE = 8
#: At most this many (randomly chosen, overlapping) patches enter the covariance of one plane.
MAX_PATCHES = 50_000
#: At most this many 2D planes are examined for stacks and channel images.
MAX_PLANES = 8



# --------------------------------------------------------------------------
# result type
# --------------------------------------------------------------------------


@dataclass
class NoiseEstimate:
    """Result of :func:`estimate_noise`: a fitted noise model in the data's own units.

    The model is ``variance(x) = a * x + b`` where ``x`` is the noise-free signal,
    stored as ``variance = gain * max(x - black_level, 0) + sigma**2`` (so a
    negative ``b``, a pedestal, is a black level).  The Gaussian model has
    ``gain == 0`` and the noise std is ``sigma`` everywhere; the Poisson-Gaussian
    model (``model == "poisson-gaussian"``) makes :meth:`sigma_map` signal dependent.

    ``points`` holds the binned (mean, variance, count) rows the fit used (for a
    mean-variance plot); ``message`` says why a fallback was taken, if one was.
    """

    model: str = "gaussian"
    sigma: float = 0.0
    per_plane: list[float] = field(default_factory=list)
    gain: float = 0.0
    black_level: float = 0.0
    points: np.ndarray | None = field(default=None, repr=False)
    message: str = ""
    source: str = ""

    @classmethod
    def poisson_gaussian(cls, a: float, b: float, **kwargs) -> "NoiseEstimate":
        """The model ``variance = a * x + b`` (``b`` may be negative: a pedestal)."""
        a, b = float(a), float(b)
        if not (math.isfinite(a) and math.isfinite(b)) or a < 0:
            raise ValueError(f"need a finite gain a >= 0 and offset b, got a={a}, b={b}")
        if a == 0:
            return cls(model="gaussian", sigma=math.sqrt(max(b, 0.0)), **kwargs)
        if b >= 0:
            return cls(model="poisson-gaussian", sigma=math.sqrt(b), gain=a, **kwargs)
        return cls(model="poisson-gaussian", sigma=0.0, gain=a, black_level=-b / a, **kwargs)

    @property
    def a(self) -> float:
        """Gain: variance added per unit of signal."""
        return float(self.gain)

    @property
    def b(self) -> float:
        """Offset variance: the variance at zero signal (negative with a pedestal)."""
        return float(self.sigma**2 - self.gain * self.black_level)

    def variance(self, signal) -> np.ndarray:
        """Noise variance at the given noise-free signal level(s)."""
        signal = np.maximum(np.asarray(signal, np.float64) - self.black_level, 0.0)
        return self.gain * signal + self.sigma**2

    def sigma_map(self, image: np.ndarray, *, axes: str | None = None, smooth: int = 5,
                  strength: float = 1.0) -> np.ndarray:
        """Per-pixel noise std (float32) with the shape of ``image``, times ``strength``.

        For the Poisson-Gaussian model the signal is the image averaged over a
        ``smooth`` x ``smooth`` window in Y and X (the noisy value itself would
        put the noise into the map): ``sqrt(a * signal + b)``.
        """
        image = np.asarray(image)
        if self.gain == 0.0:
            return np.full(image.shape, self.sigma * strength, dtype=np.float32)
        signal = smooth_signal(image, axes=axes, size=smooth)
        out = np.sqrt(self.variance(signal))
        if strength != 1.0:
            out *= strength
        return out.astype(np.float32)

    def __float__(self) -> float:
        return float(self.sigma)

    def __str__(self) -> str:
        if self.model == "poisson-gaussian":
            text = f"Poisson-Gaussian noise, variance = {self.a:.4g} * signal {self.b:+.4g}"
        else:
            text = f"{self.model} noise, sigma = {self.sigma:.4g}"
        n = len(self.per_plane)
        if n > 1 and self.model == "gaussian":
            vals = ", ".join(f"{v:.4g}" for v in self.per_plane)
            text += f" (median of {n} planes: {vals})"
        if self.message:
            text += f" [{self.message}]"
        return text


def smooth_signal(image: np.ndarray, *, axes: str | None = None, size: int = 5) -> np.ndarray:
    """A local-mean estimate of the noise-free signal: a box average over Y and X only."""
    from scipy.ndimage import uniform_filter

    image = np.asarray(image, dtype=np.float64)
    if image.ndim < 2 or size <= 1:
        return image
    ax = resolve_axes(image.shape, axes)
    sizes = [1] * image.ndim
    sizes[ax.index("Y")] = sizes[ax.index("X")] = size
    return uniform_filter(image, size=sizes, mode="reflect")


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
    a = a - a.mean()
    if not np.any(a):
        return 0.0

    # small images: shrink the patch until there are enough patches (>= 2*d)
    p = patch_size
    while p > 2 and (h - p + 1) * (w - p + 1) < 2 * p * p:
        p -= 1
    d = p * p
    min_patches = 4 * d

    view = np.lib.stride_tricks.sliding_window_view(a, (p, p))  # (ny, nx, p, p)
    ny, nx = view.shape[:2]
    n_total = ny * nx
    if n_total > max_patches:
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(n_total, size=max_patches, replace=False))
        iy, ix = idx // nx, idx % nx
        patches = view[iy, ix].reshape(-1, d)
    else:
        iy = ix = None
        patches = view.reshape(-1, d)  # copies: (n_total, d)

    var = _noise_variance_from_eigs(_cov_eigs(patches))
    if not weak_texture or var <= 0.0 or patches.shape[0] < min_patches:
        return float(math.sqrt(max(var, 0.0)))

    # gradient energy of every patch, from box sums of squared differences
    energy = _box_sum(np.diff(a, axis=1) ** 2, p, p - 1) + _box_sum(np.diff(a, axis=0) ** 2, p - 1, p)
    energy = energy[iy, ix] if iy is not None else energy.ravel()
    factor = _texture_threshold_factor(p)
    prev = None
    for _ in range(10):
        sel = energy < factor * var
        n_sel = int(np.count_nonzero(sel))
        if n_sel < min_patches or (prev is not None and np.array_equal(sel, prev)):
            break
        prev = sel
        var = _noise_variance_from_eigs(_cov_eigs(patches[sel]))
        if var <= 0.0:
            break
    return float(math.sqrt(max(var, 0.0)))


# --------------------------------------------------------------------------
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
# public entry point
# --------------------------------------------------------------------------


def _planes(arr: np.ndarray, axes: str) -> list[np.ndarray]:
    """Up to MAX_PLANES evenly spaced 2D YX planes, each channel represented."""
    return spread_planes(arr, axes, MAX_PLANES)


def _signal_dependent(a: float, se_a: float, b: float, pts: np.ndarray) -> bool:
    """Is the variance clearly signal dependent over the data's signal range?"""
    if a <= 0 or not math.isfinite(se_a) or a < 4.0 * se_a:
        return False
    lo, hi = np.percentile(pts[:, 0], [10, 90])
    v_lo = max(a * lo + b, 1e-12)
    return a * (hi - lo) > 0.5 * v_lo  # the noise std changes by more than ~22%


def estimate_noise(image, *, axes: str | None = None, model: str = "gaussian",
                   frames: bool | None = None) -> NoiseEstimate:
    """Estimate the noise of ``image`` in the data's own units.

    ``image`` may be 2D (YX), a stack (ZYX, TYX, ...), RGB (YXC) or have
    channels; ``axes`` names its axes with letters from ``TZCYX`` (Y and X the
    last two spatial axes, C optionally last).  Without ``axes``: 2D is YX, a
    trailing dimension of 3 or 4 is colour (YXC), and all other leading axes
    are stacked planes.

    ``model``:

    - ``"gaussian"``: one std for the whole image.  Up to 8 evenly spaced 2D
      planes (each channel represented) are estimated and the median returned.
    - ``"poisson-gaussian"``: ``variance = a * signal + b`` (photon shot noise
      plus read noise), fitted to binned local means and variances of smooth,
      unclipped 8x8 blocks (a weighted line fit in the spirit of Foi et al.
      2008).  With ``frames`` (default: when the axes have T) the fit uses
      differences of consecutive frames, which holds no image structure for a
      static scene.  If no fit is possible (constant image, too little smooth
      area) a Gaussian estimate is returned with the reason in ``message``.
    - ``"auto"``: the Poisson-Gaussian fit when the variance clearly grows with
      the signal, the Gaussian estimate otherwise.
    """
    model = (model or "gaussian").lower().replace("_", "-")
    if model not in ("gaussian", "poisson-gaussian", "auto"):
        raise ValueError(f"unknown noise model {model!r}; use 'gaussian', 'poisson-gaussian' or 'auto'")
    arr = np.asarray(image)
    if arr.size == 0:
        raise ValueError(f"cannot estimate noise of an empty array (shape {arr.shape})")
    if arr.dtype.kind == "c":
        raise ValueError("cannot estimate noise of a complex-valued image")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"cannot estimate noise of an image of dtype {arr.dtype}")
    if arr.ndim < 2:
        raise ValueError(f"need an image with at least 2 dimensions, got shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError("image contains NaN or Inf values; cannot estimate noise")

    ax = resolve_axes(arr.shape, axes)
    h, w = arr.shape[ax.index("Y")], arr.shape[ax.index("X")]
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ValueError(
            f"image is too small to estimate noise: spatial size {h}x{w} (axes {ax}), "
            f"each side must be at least {MIN_SIDE} pixels"
        )
    if arr.dtype.kind == "b":
        arr = arr.astype(np.uint8)

    planes = _planes(arr, ax)
    per_plane = [estimate_sigma_2d(p) for p in planes]
    sigma = float(np.median(per_plane))
    gauss = NoiseEstimate(model="gaussian", sigma=sigma, per_plane=per_plane, source="patch PCA")
    if model == "gaussian":
        return gauss
    if sigma == 0.0 and all(float(np.ptp(p)) == 0.0 for p in planes):
        gauss.message = "constant image: there is no noise to fit"
        return gauss

    # frame differences by default only for a time axis the caller named
    use_frames = (axes is not None and "T" in ax and arr.shape[ax.index("T")] >= 2) \
        if frames is None else bool(frames)
    if use_frames and not any(c in ax for c in "TZ"):
        raise ValueError(f"frames=True needs a T or Z axis (axes {ax})")
    try:
        if use_frames:
            runs = frame_runs(arr, ax, 2 * MAX_PLANES)
            fits = [fit_poisson_gaussian(r, frames=True) for r in runs if len(r) >= 2]
            source = "differences of consecutive frames"
        else:
            fits = [fit_poisson_gaussian(planes)]
            source = "smooth blocks of single planes"
    except ValueError as exc:
        gauss.message = f"{exc}; using a Gaussian estimate instead"
        if model == "poisson-gaussian":
            import warnings

            warnings.warn(gauss.message, UserWarning, stacklevel=2)
        return gauss
    # channels: the median gain and offset (one model for the sensor)
    a = float(np.median([f[0] for f in fits]))
    b = float(np.median([f[1] for f in fits]))
    se = float(np.median([f[2] for f in fits]))
    pts = np.concatenate([f[3] for f in fits])
    if model == "auto" and not _signal_dependent(a, se, b, pts):
        gauss.message = "no clear signal dependence: Gaussian model"
        gauss.points = pts
        return gauss
    if a <= 0:
        gauss.message = "the fitted gain is not positive; using a Gaussian estimate"
        gauss.points = pts
        return gauss
    return NoiseEstimate.poisson_gaussian(a, b, per_plane=per_plane, points=pts, source=source)
