"""A check against silent damage: is what the denoiser removed only noise?

The residual (input minus result) of a good denoiser is the noise: its variance
is about the noise variance, and it carries no image structure. When a denoiser
is run outside what it knows (wrong range, wrong noise level, an image unlike
its training data), the residual grows and starts to follow the image's edges.

:class:`ResidualGuard` looks at a few units of work (the first planes or
volumes, a central crop of each, first channel) as the engine goes, and says in
one line per problem what it saw. It never changes the result: it warns.
"""

from __future__ import annotations

import numpy as np

#: mean of (residual / noise std)^2 above this: far more removed than the noise
MAX_VARIANCE_RATIO = 2.5
#: the residual follows the result's edges (band-pass) when its correlation with them is
#: above this and the part it explains is a real share of the noise variance
MAX_EDGE_CORRELATION = 0.4
MAX_EDGE_ENERGY = 0.15
CROP = 256
#: patches of the guard's own noise estimate (when only a number the user gave is known):
#: the check needs the level within a few percent (its threshold is 1.6x in std), not the
#: estimator's full 50 000; 10 000 take a quarter of the time (13 against 55 ms a crop)
GUARD_PATCHES = 10_000


def _crop(a: np.ndarray, side: int) -> tuple[slice, ...]:
    return tuple(slice(max(0, (n - side) // 2), max(0, (n - side) // 2) + side) for n in a.shape)


def _plane(a: np.ndarray) -> np.ndarray:
    """First channel; the middle slice of a volume. (c, [z,] y, x) -> (y, x)."""
    a = a[0]
    return a[a.shape[0] // 2] if a.ndim == 3 else a


class ResidualGuard:
    """Accumulates residual statistics over up to ``max_units`` units of work."""

    def __init__(self, max_units: int = 4, crop: int = CROP):
        self.max_units = max_units
        self.crop = crop
        self.units = 0
        self._sq = 0.0     # sum of (r / sigma)^2
        self._n = 0
        self._corr: list[float] = []

    @property
    def full(self) -> bool:
        return self.units >= self.max_units

    def add(self, noisy: np.ndarray, result: np.ndarray, sigma=None) -> None:
        """``noisy``, ``result``: (c, [z,] y, x) in data units; ``sigma``: the noise std the
        denoiser was told, a number or an array shaped like ``noisy`` (None: estimated)."""
        if self.full:
            return
        x, y = _plane(np.asarray(noisy, np.float32)), _plane(np.asarray(result, np.float32))
        sl = _crop(x, self.crop)
        x, y = x[sl], y[sl]
        if min(x.shape) < 16:
            return
        if sigma is None:
            s = self._estimate(x)
        elif np.ndim(sigma) == 0:
            s = float(sigma)
        else:
            s = _plane(np.broadcast_to(np.asarray(sigma, np.float32), np.shape(noisy)))[sl]
        r = x - y
        if np.ndim(s) == 0:
            if not s > 0:
                return
            z2 = (r / np.float32(s)) ** 2
        else:
            ok = s > 0
            if not np.any(ok):
                return
            z2 = (r[ok] / s[ok]) ** 2
        self._sq += float(np.sum(z2, dtype=np.float64))
        self._n += int(z2.size)
        self._corr.append(_edge_correlation(r, y))
        self.units += 1

    @staticmethod
    def _estimate(x: np.ndarray) -> float:
        from .noise_gaussian import estimate_sigma_2d

        try:
            return float(estimate_sigma_2d(x, max_patches=GUARD_PATCHES))
        except ValueError:
            return 0.0

    @property
    def variance_ratio(self) -> float | None:
        return self._sq / self._n if self._n else None

    @property
    def edge_correlation(self) -> float | None:
        return float(np.mean(self._corr)) if self._corr else None

    def warnings(self) -> list[str]:
        out = []
        v, c = self.variance_ratio, self.edge_correlation
        if v is not None and v > MAX_VARIANCE_RATIO:
            out.append(f"the result differs from the input by {np.sqrt(v):.1f}x the estimated "
                       f"noise level: more than noise was removed; check it, or give the noise "
                       f"level (sigma) or a lower strength")
        if c is not None and v is not None and c > MAX_EDGE_CORRELATION and \
                c * c * v > MAX_EDGE_ENERGY:
            out.append(f"what was removed follows the image's edges (correlation {c:.2f}): "
                       f"detail was smoothed away; check the result, or lower the strength")
        return out


def _edge_correlation(r: np.ndarray, y: np.ndarray) -> float:
    """Correlation of the residual with a band-pass (difference of Gaussians) of the
    result: blurring removes exactly that band, so a blurred result's residual tracks it."""
    from scipy.ndimage import gaussian_filter

    band = gaussian_filter(y, 0.7) - gaussian_filter(y, 2.0)
    r = r - r.mean()
    band = band - band.mean()
    den = float(np.sqrt(np.sum(r.astype(np.float64) ** 2) * np.sum(band.astype(np.float64) ** 2)))
    return float(np.sum(r.astype(np.float64) * band) / den) if den > 0 else 0.0
