"""A network that takes a noise-level map, given its map by a noise model fitted once.

Fine-tuning a pretrained map-taking network (``drunet_microscopy``, ``drunet_gray``)
on the user's own data by self-supervision keeps its noise-map input: the map is
computed inside this wrapper from the (normalised) input image with the
Poisson-Gaussian model fitted on the training data, the same rule as the engine's
per-pixel map (:meth:`..noise.NoiseEstimate.sigma_map`: the signal is a 5x5 box
mean of the image, ``sqrt(gain * max(signal - offset, 0) + read)``).

To the engine the result is a network that takes a map like its parent: at denoise
time the engine estimates the noise and passes its map, in the units of that run
(so a run with another data range, or a ``strength``, gets a map that fits), and the
model uses the map it is given. Without a map (training, an exported network) it
computes its own from the fitted model, whose ``gain``, ``offset`` and ``read`` are in
the training's units: the data scaled to [0, 1] by the range measured on them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import create_arch, register_arch
from ._layers import pad_symmetric

#: The smallest noise variance the map carries (std 1e-5 of the range).
MIN_VARIANCE = 1e-10


@register_arch("mapped", "a map-taking network with its noise-level map computed from the "
               "image by a fitted Poisson-Gaussian model (self-supervised fine-tuning)",
               builtin=True)
class NoiseMapped(nn.Module):
    takes_noise_map = True
    dims = 2

    def __init__(self, inner: str = "drunet", inner_args: dict | None = None,
                 gain: float = 0.0, offset: float = 0.0, read: float = 1e-4, smooth: int = 5):
        super().__init__()
        for name, v in (("gain", gain), ("offset", offset), ("read", read)):
            if not math.isfinite(float(v)):
                raise ValueError(f"{name} must be a finite number, not {v!r}")
        if float(gain) < 0 or float(read) < 0:
            raise ValueError(f"gain and read must be >= 0, not {gain!r}, {read!r}")
        if int(smooth) < 1 or int(smooth) % 2 == 0:
            raise ValueError(f"smooth must be an odd positive integer, not {smooth!r}")
        self.net = create_arch(inner, **dict(inner_args or {}))
        if not getattr(self.net, "takes_noise_map", False):
            raise ValueError(f"{inner!r} takes no noise map: train it as it is")
        if int(getattr(self.net, "dims", 2)) != 2:
            raise ValueError(f"{inner!r} is not a 2-D network")
        self.gain, self.offset, self.read = float(gain), float(offset), float(read)
        self.smooth = int(smooth)
        self.in_channels = int(getattr(self.net, "in_channels", 1))
        self.size_multiple = int(getattr(self.net, "size_multiple", 1))
        self.rf_radius = int(getattr(self.net, "rf_radius", 16)) + self.smooth // 2

    def noise_map(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) noise std of ``x`` (N, C, H, W) under the fitted model."""
        signal = x.float().mean(1, keepdim=True)
        if self.gain > 0:
            k = self.smooth
            signal = F.avg_pool2d(pad_symmetric(signal, k // 2), k, stride=1)
            var = self.gain * torch.relu(signal - self.offset) + self.read
        else:
            var = torch.full_like(signal, self.read)
        return var.clamp_min(MIN_VARIANCE).sqrt().to(x.dtype)

    def set_noise(self, gain: float, offset: float, read: float) -> None:
        """Fit the model's own map to other data (fine-tuning again)."""
        self.gain, self.offset, self.read = float(gain), float(offset), float(read)

    def forward(self, x: torch.Tensor, sigma_map: torch.Tensor | None = None) -> torch.Tensor:
        """``sigma_map`` (the engine's) when given, else the fitted model's own map."""
        return self.net(x, self.noise_map(x) if sigma_map is None else sigma_map)

    def extra_repr(self) -> str:
        return f"gain={self.gain:.4g}, offset={self.offset:.4g}, read={self.read:.4g}"
