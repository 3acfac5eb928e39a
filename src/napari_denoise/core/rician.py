"""Rician noise of magnitude images (MRI).

A magnitude image is ``M = |A + n1 + i n2|`` with ``n1, n2 ~ N(0, sigma^2)``
and true amplitude ``A >= 0``.  ``M`` is Rician distributed; where ``A = 0``
(the air around the object) it is Rayleigh distributed with mode ``sigma``,
mean ``sigma * sqrt(pi/2)`` and ``E[M^2] = 2 sigma^2``.  At low SNR the
magnitude is biased upwards: ``E[M] > A``.

This module gives

* :func:`rician_mean` -- ``E[M]`` for a true amplitude, in a numerically
  stable form with exponentially scaled Bessel functions;
* :func:`rician_bias_correct` -- its inverse (a cached interpolation table
  refined by one Newton step), to undo the bias of a denoised/averaged image;
* :func:`add_rician_noise` -- simulation;
* :func:`estimate_rician_sigma` -- ``sigma`` from the image background, with a
  Gaussian fallback when there is too little background.

Pure numpy/scipy; no GUI or torch imports here.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import special

__all__ = [
    "RicianEstimate",
    "add_rician_noise",
    "estimate_rician_sigma",
    "rician_bias_correct",
    "rician_mean",
]

SQRT_HALF_PI = math.sqrt(math.pi / 2.0)  # Rayleigh mean / sigma

#: The inverse table covers A/sigma in [0, TABLE_MAX]; beyond it
#: E[M] = sqrt(A^2 + sigma^2) to better than 1e-6.
TABLE_MAX = 50.0
TABLE_SIZE = 20001


# --------------------------------------------------------------------------
# E[M] and its inverse
# --------------------------------------------------------------------------


def _mean_unit(t: np.ndarray) -> np.ndarray:
    """E[M]/sigma for A/sigma = t (t >= 0), float64."""
    nu = 0.5 * t * t  # A^2 / (2 sigma^2)
    h = 0.5 * nu
    return SQRT_HALF_PI * ((1.0 + nu) * special.i0e(h) + nu * special.i1e(h))


def _mean_unit_deriv(t: np.ndarray) -> np.ndarray:
    """d(E[M]/sigma)/dt: sqrt(pi/2) * t/2 * (I0e(nu/2) + I1e(nu/2))."""
    h = 0.25 * t * t
    return SQRT_HALF_PI * 0.5 * t * (special.i0e(h) + special.i1e(h))


def _float_out(x: np.ndarray) -> np.dtype:
    return np.dtype(np.float32) if x.dtype == np.float32 else np.dtype(np.float64)


def _check_sigma(sigma) -> float:
    try:
        s = float(sigma)
    except (TypeError, ValueError):
        raise ValueError(f"sigma must be a number, got {sigma!r}") from None
    if not math.isfinite(s) or s < 0:
        raise ValueError(f"sigma must be finite and >= 0, got {sigma!r}")
    return s


def rician_mean(A, sigma) -> np.ndarray:
    """Expected magnitude ``E[M]`` for true amplitude ``A >= 0`` and noise ``sigma``.

    ``E[M] = sigma * sqrt(pi/2) * L_{1/2}(-A^2 / (2 sigma^2))``, evaluated as
    ``sigma sqrt(pi/2) ((1+nu) I0e(nu/2) + nu I1e(nu/2))`` with ``nu = A^2/(2 sigma^2)``
    (exponentially scaled Bessel functions, stable for any SNR).  It is
    ``sigma sqrt(pi/2)`` at ``A = 0`` and tends to ``sqrt(A^2 + sigma^2)``.
    Only ``|A|`` matters.  float32 input gives float32, everything else float64.
    """
    a = np.asarray(A)
    if a.dtype.kind == "c":
        raise ValueError("rician_mean expects a real amplitude, got complex values")
    s = _check_sigma(sigma)
    out_dtype = _float_out(a)
    a = np.abs(a.astype(np.float64))
    if s == 0.0:
        return a.astype(out_dtype)
    return (s * _mean_unit(a / s)).astype(out_dtype)


@functools.lru_cache(maxsize=1)
def _inverse_table() -> tuple[np.ndarray, np.ndarray]:
    """(E[M]/sigma, (A/sigma)^2) on a grid of A/sigma in [0, TABLE_MAX].

    The inverse is interpolated in ``u = t^2`` because near ``t = 0``
    ``E[M]/sigma ~ sqrt(pi/2) (1 + t^2/4)`` is linear in ``t^2``, not in ``t``.
    """
    t = np.linspace(0.0, TABLE_MAX, TABLE_SIZE)
    m = _mean_unit(t)
    m.setflags(write=False)
    u = t * t
    u.setflags(write=False)
    return m, u


def rician_bias_correct(D, sigma) -> np.ndarray:
    """Amplitude ``A >= 0`` whose expected magnitude ``E[M]`` equals ``D``.

    The inverse of :func:`rician_mean`: 0 where ``D <= sigma sqrt(pi/2)`` (the
    mean of pure background), interpolated from a cached table in
    ``A/sigma in [0, 50]`` and refined by one Newton step, and
    ``sqrt(D^2 - sigma^2)`` beyond the table.  Apply it to an estimate of
    ``E[M]`` (a denoised or averaged magnitude image), not to single noisy
    pixels.  ``sigma = 0`` returns ``max(D, 0)``.  float32 input gives float32,
    everything else float64.
    """
    d = np.asarray(D)
    if d.dtype.kind == "c":
        raise ValueError("rician_bias_correct expects real magnitudes, got complex values")
    if d.dtype.kind not in "biuf":
        raise ValueError(f"rician_bias_correct expects a numeric array, got dtype {d.dtype}")
    s = _check_sigma(sigma)
    out_dtype = _float_out(d)
    d = d.astype(np.float64)
    if s == 0.0:
        return np.maximum(d, 0.0).astype(out_dtype)

    x = d / s
    m_tab, u_tab = _inverse_table()
    out = np.zeros_like(x)
    with np.errstate(invalid="ignore"):
        beyond = x > m_tab[-1]
        inside = (x > m_tab[0]) & ~beyond
    out[beyond] = np.sqrt(x[beyond] ** 2 - 1.0)
    if np.any(inside):
        xi = x[inside]
        t = np.sqrt(np.interp(xi, m_tab, u_tab))
        # one Newton step where the slope is not vanishing (t well above 0)
        step_ok = t > 0.05
        ts = t[step_ok]
        ts = ts - (_mean_unit(ts) - xi[step_ok]) / _mean_unit_deriv(ts)
        t[step_ok] = np.maximum(ts, 0.0)
        out[inside] = t
    nan = np.isnan(x)
    if np.any(nan):
        out[nan] = np.nan
    return (s * out).astype(out_dtype)


def add_rician_noise(A, sigma, rng=None) -> np.ndarray:
    """``|A + n1 + i n2|`` with ``n1, n2 ~ N(0, sigma^2)`` independent per pixel.

    ``rng`` is a :class:`numpy.random.Generator` (or a seed / ``None`` for
    :func:`numpy.random.default_rng`).  float32 input gives float32, everything
    else float64.
    """
    a = np.asarray(A)
    if a.dtype.kind == "c":
        raise ValueError("add_rician_noise expects a real amplitude, got complex values")
    s = _check_sigma(sigma)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    out_dtype = _float_out(a)
    a = a.astype(np.float64)
    n1 = rng.normal(0.0, s, a.shape)
    n2 = rng.normal(0.0, s, a.shape)
    return np.hypot(a + n1, n2).astype(out_dtype)


# --------------------------------------------------------------------------


# the estimator lives in rician_estimate; its names stay importable from here
from .rician_estimate import RicianEstimate, estimate_rician_sigma  # noqa: E402,F401
