"""The U-Net of the Noise2Noise paper (Lehtinen et al. 2018, appendix A.1),
for 2D or 3D data, with configurable width and depth.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import register_arch
from ._layers import conv, pad_to_multiple


def _block(dims, cin, cout, n=2):
    layers = []
    for i in range(n):
        layers += [conv(dims, cin if i == 0 else cout, cout), nn.LeakyReLU(0.1, inplace=True)]
    return nn.Sequential(*layers)


@register_arch("unet", "Noise2Noise U-Net (Lehtinen et al. 2018): "
               "48-wide, 4 levels, nearest upsampling with skips; 2-D or 3-D", builtin=True)
class UNet(nn.Module):
    takes_noise_map = False

    def __init__(self, in_channels: int = 1, dims: int = 2, features: int = 48,
                 levels: int = 4, residual: bool = True):
        super().__init__()
        self.dims = dims
        self.in_channels = in_channels
        self.levels = levels
        self.residual = residual
        self.size_multiple = 2 ** levels
        self.rf_radius = 4 * 2 ** levels  # effective, not the full theoretical field
        f = features
        self.inc = _block(dims, in_channels, f)
        self.down = nn.ModuleList(_block(dims, f, f, 1) for _ in range(levels))
        self.up = nn.ModuleList(
            _block(dims, (f if i == 0 else 2 * f) + f, 2 * f) for i in range(levels)
        )
        self.out = nn.Sequential(_block(dims, 2 * f + in_channels, f, 1), conv(dims, f, in_channels))
        self._pool = F.max_pool2d if dims == 2 else F.max_pool3d

    def forward(self, x: torch.Tensor, sigma_map=None) -> torch.Tensor:
        x, crop = pad_to_multiple(x, self.size_multiple, self.dims)
        skips = [x]
        h = self.inc(x)
        for d in self.down:
            skips.append(h)
            h = d(self._pool(h, 2))
        for u in self.up:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = u(torch.cat([h, skips.pop()], 1))
        out = self.out(torch.cat([h, skips.pop()], 1))
        if self.residual:
            out = x - out
        return out if crop is None else out[crop]
