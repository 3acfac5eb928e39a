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

__all__ = ["NoiseEstimate", "estimate_noise", "estimate_sigma_2d"]

#: Patch side used by the PCA estimator.
PATCH_SIZE = 8
#: Smallest spatial side :func:`estimate_noise` accepts.
MIN_SIDE = 8
#: At most this many (randomly chosen, overlapping) patches enter the covariance of one plane.
MAX_PATCHES = 50_000
#: At most this many 2D planes are examined for stacks and channel images.
MAX_PLANES = 8

_AXIS_LETTERS = "TZCYX"


# --------------------------------------------------------------------------
# result type
# --------------------------------------------------------------------------


@dataclass
class NoiseEstimate:
    """Result of :func:`estimate_noise`.

    The noise model is ``variance(x) = gain * max(x - black_level, 0) + sigma**2``
    in the data's own units.  The Gaussian model (the only one implemented so
    far) has ``gain == 0``, so the noise std is ``sigma`` everywhere; a later
    Poisson-Gaussian model fills ``gain`` (and ``black_level``) in and
    :meth:`sigma_map` then becomes signal dependent without changing callers.
    """

    model: str = "gaussian"
    sigma: float = 0.0
    per_plane: list[float] = field(default_factory=list)
    gain: float = 0.0
    black_level: float = 0.0

    def sigma_map(self, image: np.ndarray) -> np.ndarray:
        """Per-pixel noise std (float32) with the shape of ``image``."""
        image = np.asarray(image)
        if self.gain == 0.0:
            return np.full(image.shape, self.sigma, dtype=np.float32)
        signal = np.maximum(image.astype(np.float64) - self.black_level, 0.0)
        return np.sqrt(self.gain * signal + self.sigma**2).astype(np.float32)

    def __float__(self) -> float:
        return float(self.sigma)

    def __str__(self) -> str:
        n = len(self.per_plane)
        text = f"{self.model} noise, sigma = {self.sigma:.4g}"
        if self.gain:
            text += f", gain = {self.gain:.4g}"
        if n > 1:
            vals = ", ".join(f"{v:.4g}" for v in self.per_plane)
            text += f" (median of {n} planes: {vals})"
        return text


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
# public entry point
# --------------------------------------------------------------------------


def _default_axes(shape: tuple[int, ...]) -> str:
    """Axes for ``axes=None``; leading stack axes are named ``?``."""
    nd = len(shape)
    if nd >= 3 and shape[-1] in (3, 4):
        return "?" * (nd - 3) + "YXC"
    return "?" * (nd - 2) + "YX"


def _check_axes(axes: str, ndim: int) -> str:
    if not isinstance(axes, str):
        raise ValueError(f"axes must be a string such as 'ZYX', got {axes!r}")
    ax = axes.upper()
    if len(ax) != ndim:
        raise ValueError(f"axes {axes!r} has {len(ax)} letters but the image has {ndim} dimensions")
    bad = sorted(set(ax) - set(_AXIS_LETTERS))
    if bad:
        raise ValueError(f"axes {axes!r} has unknown letter(s) {bad}; use letters from {_AXIS_LETTERS}")
    if len(set(ax)) != len(ax):
        raise ValueError(f"axes {axes!r} repeats a letter")
    if "Y" not in ax or "X" not in ax:
        raise ValueError(f"axes {axes!r} must contain both Y and X")
    iy, ix = ax.index("Y"), ax.index("X")
    if ix != iy + 1 or ax[ix + 1 :] not in ("", "C"):
        raise ValueError(
            f"axes {axes!r}: Y and X must be the last two spatial axes (...YX or ...YXC)"
        )
    return ax


def _planes(arr: np.ndarray, axes: str) -> list[np.ndarray]:
    """Up to MAX_PLANES evenly spaced 2D YX planes, each channel represented."""
    iy, ix = axes.index("Y"), axes.index("X")
    ic = axes.index("C") if "C" in axes else None
    other = [i for i in range(arr.ndim) if i not in (iy, ix, ic)]
    order = ([ic] if ic is not None else []) + other + [iy, ix]
    a = np.transpose(arr, order)
    n_c = arr.shape[ic] if ic is not None else 1
    a = a.reshape((n_c, -1) + a.shape[-2:])  # (C, N, Y, X); a view where possible
    n_planes = a.shape[1]

    chans = np.unique(np.linspace(0, n_c - 1, min(n_c, MAX_PLANES)).round().astype(int))
    per_chan = max(1, MAX_PLANES // len(chans))
    picks = np.unique(np.linspace(0, n_planes - 1, min(n_planes, per_chan)).round().astype(int))
    return [a[c, i] for c in chans for i in picks]


def estimate_noise(image, *, axes: str | None = None, model: str = "gaussian") -> NoiseEstimate:
    """Estimate the noise level of ``image`` in the data's own units.

    ``image`` may be 2D (YX), a stack (ZYX, TYX, ...), RGB (YXC) or have
    channels; ``axes`` names its axes with letters from ``TZCYX`` (Y and X the
    last two spatial axes, C optionally last).  Without ``axes``: 2D is YX, a
    trailing dimension of 3 or 4 is colour (YXC), and all other leading axes
    are stacked planes.  Up to 8 evenly spaced 2D planes (each channel
    represented) are estimated and the median is returned.
    """
    if model != "gaussian":
        raise NotImplementedError(
            f"noise model {model!r} is not available yet; only 'gaussian' is implemented "
            "(poisson-gaussian comes with the noise-model feature)"
        )
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

    ax = _default_axes(arr.shape) if axes is None else _check_axes(axes, arr.ndim)
    h, w = arr.shape[ax.index("Y")], arr.shape[ax.index("X")]
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ValueError(
            f"image is too small to estimate noise: spatial size {h}x{w} (axes {ax}), "
            f"each side must be at least {MIN_SIDE} pixels"
        )
    if arr.dtype.kind == "b":
        arr = arr.astype(np.uint8)

    per_plane = [estimate_sigma_2d(p) for p in _planes(arr, ax)]
    sigma = float(np.median(per_plane))
    return NoiseEstimate(model="gaussian", sigma=sigma, per_plane=per_plane)
