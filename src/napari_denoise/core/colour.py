"""Colour photos with single-channel denoisers: an opponent colour space.

Red, green and blue of a photo are strongly correlated; denoising them one by one
ignores that. Like CBM3D (Dabov et al. 2007), the channels are turned into a luminance
and two colour differences by an orthonormal transform, which keeps independent noise
of equal variance independent and of the same variance, while most of the signal goes
into the luminance and the colour differences are smooth. Each opponent channel is
scaled to the [0, 1] the denoiser knows (its noise level scaled with it), denoised, and
the result turned back to red, green and blue.

Only for RGB(A) data (axes ending in C, 3 colour channels) and single-channel
denoisers; microscopy channels (C before Y and X) are separate stains and stay apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .models import Denoiser

COLOUR_SPACES = ("opponent", "rgb")

_S3, _S2, _S6 = np.sqrt(3.0), np.sqrt(2.0), np.sqrt(6.0)
#: rows: luminance (R+G+B)/sqrt3, (R-B)/sqrt2, (R-2G+B)/sqrt6; orthonormal
OPPONENT = np.array([[1 / _S3, 1 / _S3, 1 / _S3],
                     [1 / _S2, 0.0, -1 / _S2],
                     [1 / _S6, -2 / _S6, 1 / _S6]])
#: each opponent channel's range for RGB in [0, 1]: (low, span)
_LOW = np.array([0.0, -1 / _S2, -2 / _S6])
_SPAN = np.array([_S3, _S2, 4 / _S6])


@dataclass
class OpponentDenoiser(Denoiser):
    """A single-channel denoiser run on the opponent channels of an RGB unit."""

    inner: Any = None

    def run(self, x: np.ndarray, sigma_map, sigma) -> np.ndarray:
        """x: (3, *spatial) in the denoiser's [0, 1] units; sigma / map in the same units."""
        y = np.tensordot(OPPONENT, x.astype(np.float64), axes=1)
        out = np.empty_like(y)
        for k in range(3):
            lo, span = _LOW[k], _SPAN[k]
            ch = ((y[k] - lo) / span).astype(np.float32)[None]
            m = None if sigma_map is None else (sigma_map / np.float32(span)).astype(np.float32)
            s = None if sigma is None else float(sigma) / span
            out[k] = self.inner.run(ch, m, s)[0].astype(np.float64) * span + lo
        return np.tensordot(OPPONENT.T, out, axes=1).astype(np.float32)


def check_colour_space(value: str) -> str:
    v = str(value).lower()
    if v not in COLOUR_SPACES:
        raise ValueError(f"colour_space must be 'opponent' or 'rgb', not {value!r}")
    return v


def wants_opponent(colour_space: str, axes: str, channels: int, den: Denoiser) -> bool:
    """True for RGB(A) data (axes ending in C) and a single-channel denoiser;
    ``colour_space`` as :func:`check_colour_space` returns it."""
    return (colour_space == "opponent" and axes.endswith("C") and channels in (3, 4)
            and den.in_channels == 1)


def opponent(den: Denoiser) -> OpponentDenoiser:
    """``den`` wrapped to run on the opponent channels of 3-channel units."""
    import dataclasses

    fields = {f.name: getattr(den, f.name) for f in dataclasses.fields(Denoiser)}
    fields.update(in_channels=3, bytes_per_pixel=den.bytes_per_pixel + 48.0)
    return OpponentDenoiser(**fields, inner=den)
