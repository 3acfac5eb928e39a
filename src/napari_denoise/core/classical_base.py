"""The interface of the classical (non-learned) denoisers: a float32 single-channel image
normalised to about [0, 1] and the Gaussian noise std in the same units in, a float32
array of the same shape out."""

from __future__ import annotations

import numpy as np


class ClassicalDenoiser:
    """Base class: validates input, calls :meth:`_denoise`, returns float32."""

    name: str = ""
    description: str = ""
    #: overlap (pixels) the tiling engine should use when it tiles this method
    rf_radius: int = 16
    #: spatial dimensionalities supported
    dims: tuple = (2,)
    #: sides below this are mirror-padded up to it first (block-matching methods need
    #: room for their blocks: bm3d raises below 8 pixels and crashes at exactly 8)
    min_side: int = 1

    def __call__(self, x: np.ndarray, sigma: float) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim not in self.dims:
            supported = " or ".join(f"{d}D" for d in self.dims)
            raise ValueError(
                f"{self.name} denoises {supported} single-channel images only; "
                f"got an array of shape {x.shape} ({x.ndim}D)"
            )
        if x.size == 0:
            raise ValueError(f"{self.name}: cannot denoise an empty array (shape {x.shape})")
        x = x.astype(np.float32, copy=False)
        sigma = float(sigma)
        if not np.isfinite(sigma) or sigma < 0:
            raise ValueError(f"{self.name}: sigma must be a finite number >= 0, got {sigma}")
        if sigma == 0.0:
            return x.copy()
        small = [max(0, self.min_side - n) for n in x.shape]
        if any(small):  # mirror-pad what is below the method's smallest side, crop after
            padded = np.pad(x, [(0, p) for p in small], mode="symmetric")
            out = np.asarray(self._denoise(padded, sigma))[tuple(slice(0, n) for n in x.shape)]
        else:
            out = self._denoise(x, sigma)
        return np.asarray(out, dtype=np.float32).reshape(x.shape)

    def _denoise(self, x: np.ndarray, sigma: float) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dims={self.dims}, rf_radius={self.rf_radius})"
