"""Variance stabilisation for Poisson-Gaussian data: the Generalized Anscombe Transform.

Data with ``variance = a * x + b`` become, after :meth:`GAT.forward`, data
with noise of (approximately) unit standard deviation, which any Gaussian
denoiser (DnCNN, BM3D, NLM ...) can handle.  The denoised result is mapped
back with the *exact unbiased inverse* of Makitalo & Foi (IEEE TIP 2013): the
inverse of ``p -> E[f(z) | p]``, the expectation of the transformed noisy
value given the noise-free Poisson mean ``p``.  An ideal denoiser returns that
expectation, so this inverse is the one without bias, unlike the algebraic
inverse, which is badly biased at low counts.

The expectation is computed numerically (a sum over Poisson counts and a
Gauss-Hermite quadrature over the Gaussian part) on a grid of ``p`` and
cached per normalised read noise; beyond the grid the asymptotic closed form
of Makitalo & Foi is used.

Pure numpy/scipy; no GUI or torch imports here.
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["GAT", "anscombe_expectation", "exact_unbiased_inverse"]

#: Poisson means tabulated for the exact inverse; beyond, the asymptotic form is exact to ~1e-6.
_P_MAX = 1000.0


def _f(u: np.ndarray, s2: float) -> np.ndarray:
    """The normalised GAT: 2 * sqrt(max(u + 3/8 + s2, 0))."""
    return 2.0 * np.sqrt(np.maximum(u + 0.375 + s2, 0.0))


def anscombe_expectation(p: np.ndarray, sigma: float = 0.0) -> np.ndarray:
    """E[f(z)] for z = Poisson(p) + N(0, sigma^2), f the normalised GAT with read noise ``sigma``."""
    from scipy.stats import poisson

    p = np.atleast_1d(np.asarray(p, np.float64))
    s2 = float(sigma) ** 2
    if sigma > 0:
        nodes, weights = np.polynomial.hermite_e.hermegauss(48)
        weights = weights / weights.sum()
    out = np.empty_like(p)
    for i, pi in enumerate(p):
        if pi <= 0:
            k = np.zeros(1)
            pmf = np.ones(1)
        else:
            lo = max(0, int(math.floor(pi - 12 * math.sqrt(pi) - 12)))
            hi = int(math.ceil(pi + 12 * math.sqrt(pi) + 12))
            k = np.arange(lo, hi + 1, dtype=np.float64)
            pmf = poisson.pmf(k, pi)
        if sigma > 0:
            vals = _f(k[:, None] + sigma * nodes[None, :], s2) @ weights
        else:
            vals = _f(k, 0.0)
        out[i] = float(pmf @ vals / pmf.sum())
    return out


@functools.lru_cache(maxsize=32)
def _table(sigma_key: float) -> tuple[np.ndarray, np.ndarray]:
    p = np.concatenate([np.linspace(0.0, 1.0, 41)[:-1], np.geomspace(1.0, _P_MAX, 500)])
    return p, anscombe_expectation(p, sigma_key)


def _asymptotic_inverse(d: np.ndarray, s2: float) -> np.ndarray:
    """Makitalo & Foi's closed-form approximation of the exact unbiased inverse."""
    d = np.maximum(d, 1e-6)
    c = math.sqrt(1.5)
    return 0.25 * d**2 + 0.25 * c / d - 1.375 / d**2 + 0.625 * c / d**3 - 0.125 - s2


def exact_unbiased_inverse(d: np.ndarray, sigma: float = 0.0) -> np.ndarray:
    """The Poisson mean ``p`` with ``E[f(z) | p] == d`` (0 below the value at p = 0)."""
    d = np.asarray(d, np.float64)
    key = round(float(sigma), 4)
    p_tab, d_tab = _table(key)
    out = np.interp(d, d_tab, p_tab, left=0.0, right=np.nan)
    high = ~np.isfinite(out)
    if np.any(high):
        out[high] = _asymptotic_inverse(d[high], key**2)
    return out


class GAT:
    """The Generalized Anscombe Transform for ``variance = a * x + b`` (data units).

    ``forward`` maps data to a domain where the noise std is about 1;
    ``inverse`` maps a denoised result back with the exact unbiased inverse;
    ``inverse_algebraic`` is the naive inverse (biased at low counts; for comparison).
    A negative ``b`` (a pedestal) is a shift of the Poisson part.
    """

    def __init__(self, a: float, b: float):
        a, b = float(a), float(b)
        if not (a > 0 and math.isfinite(a) and math.isfinite(b)):
            raise ValueError(f"the GAT needs a positive gain a and a finite b, got a={a}, b={b}")
        self.a, self.b = a, b
        self.shift = min(b, 0.0) / (a * a)       # added to z / a
        self.s2 = max(b, 0.0) / (a * a)          # normalised read-noise variance
        self.sigma = math.sqrt(self.s2)

    def forward(self, z) -> np.ndarray:
        u = np.asarray(z, np.float64) / self.a + self.shift
        return _f(u, self.s2)

    def inverse(self, d) -> np.ndarray:
        p = exact_unbiased_inverse(d, self.sigma)
        return self.a * (p - self.shift)

    def inverse_algebraic(self, d) -> np.ndarray:
        d = np.asarray(d, np.float64)
        p = np.maximum(d / 2.0, 0.0) ** 2 - 0.375 - self.s2
        return self.a * (p - self.shift)

    def __repr__(self) -> str:
        return f"GAT(a={self.a:.4g}, b={self.b:.4g})"
