"""NN3D (Cruz, Foi, Katkovnik & Egiazarian 2018, "Nonlocality-reinforced convolutional
neural networks for image denoising"): a CNN's estimate is the pilot of BM3D's
collaborative Wiener stage, which puts back the non-local self-similarity a CNN with a
limited receptive field misses. Iterated ``iterations`` times, each Wiener output the
next pilot.

A method the engine runs like the classical ones (``model="nn3d"``): single-channel 2-D,
the noise level in the normalised units, the CNN chosen inside (``cnn=``; default: the
default natural-image network, which takes a noise level). About the cost of a BM3D Wiener stage on
top of the CNN.
"""

from __future__ import annotations

import numpy as np

from .classical_base import ClassicalDenoiser


class NN3DDenoiser(ClassicalDenoiser):
    name = "nn3d"
    description = ("NN3D: a network's estimate refined by BM3D's collaborative Wiener filter "
                   "(non-local self-similarity); slower than the network alone, often sharper "
                   "on repeated structure, 2D only")
    rf_radius = 40
    dims = (2,)
    min_side = 16

    def __init__(self, cnn: str | None = None, iterations: int = 1):
        if int(iterations) < 1:
            raise ValueError(f"nn3d: iterations must be at least 1, not {iterations}")
        if cnn is None:  # the default network
            from .models import DEFAULT_MODEL

            cnn = DEFAULT_MODEL
        self.cnn, self.iterations = cnn, int(iterations)
        self._den = None

    def _network(self):
        if self._den is None:
            from .models import resolve_denoiser

            self._den = resolve_denoiser(self.cnn, "cpu")
            if self._den.kind != "network" or self._den.in_channels != 1:
                raise ValueError(f"nn3d needs a single-channel network, not {self.cnn!r}")
        return self._den

    def _denoise(self, x: np.ndarray, sigma: float) -> np.ndarray:
        import bm3d

        den = self._network()
        pilot = den.run(x[None], None, sigma)[0]
        for _ in range(self.iterations):
            pilot = np.asarray(bm3d.bm3d(x, sigma_psd=sigma, stage_arg=pilot.astype(np.float64)),
                               np.float32)
        return pilot
