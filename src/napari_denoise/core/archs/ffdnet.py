"""FFDNet (Zhang et al. 2018): a CNN on a pixel-unshuffled image with the
noise-level map as an extra input channel, so one network covers a range of
noise levels, and spatially varying noise through a per-pixel map.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import register_arch
from ._layers import batchnorm, conv, dncnn_init, pad_to_multiple


@register_arch("ffdnet", "FFDNet (Zhang et al. 2018): "
               "CNN on a 2x pixel-unshuffled image with a noise-level map input",
               builtin=True)
class FFDNet(nn.Module):
    takes_noise_map = True
    size_multiple = 2
    dims = 2

    def __init__(self, in_channels: int = 1, depth: int = 15, features: int = 64,
                 bias_free: bool = False, residual: bool = True):
        super().__init__()
        self.in_channels = in_channels
        # residual=True predicts the noise (as DnCNN does) instead of the clean
        # image of the paper: same capacity, markedly faster convergence
        self.residual = residual
        # each 3x3 conv at half resolution widens the field by two full-res pixels
        self.rf_radius = 2 * depth + 2
        c4 = 4 * in_channels
        bias = not bias_free
        layers = [conv(2, c4 + in_channels, features, bias=bias), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [conv(2, features, features, bias=False),
                       batchnorm(2, features, bias_free=bias_free), nn.ReLU(inplace=True)]
        layers.append(conv(2, features, c4, bias=bias))
        self.body = nn.Sequential(*layers)
        dncnn_init(self)

    def forward(self, x: torch.Tensor, sigma_map: torch.Tensor | None = None) -> torch.Tensor:
        """x: (N, C, H, W) in [0, 1]; sigma_map: (N, 1 or C, H, W) or (N,) in the same units
        (None: a zero map)."""
        if sigma_map is None:
            sigma_map = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        if sigma_map.ndim == 1:
            sigma_map = sigma_map.view(-1, 1, 1, 1).expand(-1, 1, *x.shape[-2:])
        sigma_map = sigma_map.to(x.dtype)
        if sigma_map.shape[1] != self.in_channels:
            sigma_map = sigma_map.expand(-1, self.in_channels, -1, -1)
        x, crop = pad_to_multiple(x, 2, 2)
        if crop is not None:
            sigma_map, _ = pad_to_multiple(sigma_map, 2, 2)
        down = F.pixel_unshuffle(x, 2)
        smap = F.avg_pool2d(sigma_map, 2)
        out = F.pixel_shuffle(self.body(torch.cat([down, smap], 1)), 2)
        if self.residual:
            out = x - out
        return out if crop is None else out[crop]
