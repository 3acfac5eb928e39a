"""Which checkpoint of a single-image training is best? Stein's unbiased risk estimate.

Single-image self-supervision (blind spot, Neighbor2Neighbor) trains on a *masked* or
*sub-sampled* prediction, and its own validation loss scores that prediction, not the
output the user gets (the network run on the whole noisy image). The two can disagree:
on strong noise a blind-spot fine-tune can lower its masked loss while its unmasked
output falls below the pretrained network it started from.

With the noise model known (fitted on the data), Stein's unbiased risk estimate scores
the unmasked output itself. For independent noise of variance ``v_i`` at pixel ``i``,

    MSE(f) ~= mean((f(y) - y)^2) - mean(v) + 2 mean(v_i * df_i/dy_i)

with the divergence estimated by one random probe (Monte-Carlo SURE, Ramani, Blu and
Unser 2008): ``b . v . (f(y + eps b) - f(y)) / eps`` with ``b`` standard normal. It
estimates the error against the clean image, so checkpoints (and the starting
network) are ranked by the quantity the user cares about. For Poisson-Gaussian noise
the variance follows the signal (``gain * (signal - offset) + read``); that is the usual
Gaussian approximation of PURE, good at the counts of camera images.

The variance map must be the *same* for every network compared (:func:`variance_map`,
from the lightly smoothed noisy patches, not from each network's output). Measured on
a W2S field with strong noise: taken from each checkpoint's output, ``mean(v)`` moved by
1.4e-4 between checkpoints, a quarter of the error being estimated, and the ranking
was lost; with one fixed map the differences between checkpoints match the true ones
within about 3e-5. A constant error in the noise model then shifts every score alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: probe step, in the [0, 1] units the trainer feeds its network (float32 forward)
EPS = 1e-3
#: probes averaged per estimate: one over a few 10^4 pixels is tight (W2S 078_1: std
#: 3e-5 against checkpoint differences of 1e-4 and more), and each costs a forward pass
PROBES = 1


@dataclass(frozen=True)
class NoiseVariance:
    """Per-pixel noise variance ``gain * max(signal - offset, 0) + read``, in the
    units the network sees (the data range scaled to [0, 1])."""

    gain: float
    offset: float
    read: float

    def __call__(self, signal: np.ndarray) -> np.ndarray:
        if self.gain <= 0:
            return np.full(signal.shape, self.read, np.float32)
        return (self.gain * np.maximum(signal - self.offset, 0.0) + self.read).astype(
            np.float32)


def sampler_noise(est, sampler) -> NoiseVariance:
    """The noise estimate ``est`` (data units) in the sampler's [0, 1] units; in the
    Anscombe domain the variance is 1 everywhere (scaled by the range)."""
    lo, hi = float(sampler.lo), float(sampler.hi)
    scale = max(hi - lo, 1e-12)
    dom = getattr(sampler, "noise_domain", None) or {}
    if dom.get("noise_domain") == "gat":
        return NoiseVariance(0.0, 0.0, 1.0 / scale**2)
    return NoiseVariance(float(est.gain) / scale, (float(est.black_level) - lo) / scale,
                         float(est.sigma) ** 2 / scale**2)


def variance_map(noisy: np.ndarray, variance: NoiseVariance) -> np.ndarray:
    """The per-pixel noise variance of ``noisy`` patches (N, C, *spatial), the signal
    taken as the patches smoothed over their spatial axes (Gaussian, 1 pixel): one map
    for every network that is compared."""
    from scipy.ndimage import gaussian_filter

    y = np.asarray(noisy, np.float32)
    sig = (0, 0) + (1.0,) * (y.ndim - 2)
    return variance(gaussian_filter(y, sigma=sig, mode="reflect"))


def mc_sure(forward, noisy: np.ndarray, v: np.ndarray, *, seed: int = 0,
            eps: float = EPS, probes: int = PROBES, out: np.ndarray | None = None) -> float:
    """Monte-Carlo SURE of ``forward`` (numpy in, numpy out, same shape) on ``noisy``
    with the noise variance ``v`` (:func:`variance_map`): an estimate of the mean
    squared error of ``forward(noisy)`` against the clean image. ``out``:
    ``forward(noisy)`` if already computed. The probes are seeded (``seed``), so the
    same network scores the same."""
    y = np.asarray(noisy, np.float32)
    fy = np.asarray(forward(y) if out is None else out, np.float32)
    v = np.asarray(v, np.float32)
    rng = np.random.default_rng([seed, 0x5E2E])
    div = 0.0
    for _ in range(max(1, probes)):
        b = rng.standard_normal(y.shape).astype(np.float32)
        fb = np.asarray(forward(y + eps * b), np.float32)
        div += float(np.mean(v * b * (fb - fy), dtype=np.float64)) / eps
    div /= max(1, probes)
    fit = float(np.mean((fy - y) ** 2, dtype=np.float64))
    return fit - float(np.mean(v, dtype=np.float64)) + 2.0 * div
