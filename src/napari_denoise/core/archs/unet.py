"""The U-Net of the Noise2Noise paper (Lehtinen et al. 2018, appendix A.1),
for 2D or 3D data, with configurable width and depth.

In 3-D, ``anisotropy`` (the Z step over the in-plane pixel size, e.g. 3 for 0.3 um
slices of 0.1 um pixels) shapes the pooling as nnU-Net does (Isensee et al. 2021): an
axis is halved at a level only while its voxel side is less than twice the finest one,
so thick slices are pooled in-plane first until the voxels are about cubic, and a
level's receptive field stays about as deep in microns as it is wide.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import register_arch
from ._layers import conv, pad_to_multiple


def pool_plan(levels: int, anisotropy: float = 1.0) -> list[tuple[int, int, int]]:
    """Per level, the 3-D pooling factors (Z, Y, X) for voxels ``anisotropy`` times as
    deep as they are wide: an axis is pooled while its voxel side is below twice the
    finest side (nnU-Net's rule)."""
    side = [float(anisotropy), 1.0, 1.0]
    plan = []
    for _ in range(int(levels)):
        finest = min(side)
        f = tuple(2 if s < 2 * finest else 1 for s in side)
        side = [s * k for s, k in zip(side, f)]
        plan.append(f)
    return plan


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
                 levels: int = 4, residual: bool = True, anisotropy: float = 1.0):
        super().__init__()
        if not float(anisotropy) > 0:
            raise ValueError(f"anisotropy must be positive, not {anisotropy!r}")
        if dims != 3 and float(anisotropy) != 1.0:
            raise ValueError("anisotropy is for 3-D networks (dims=3)")
        self.dims = dims
        self.anisotropy = float(anisotropy)
        self.in_channels = in_channels
        self.levels = levels
        self.residual = residual
        self.size_multiple = 2 ** levels
        if dims == 3:
            self.pools = pool_plan(levels, anisotropy)
            self.size_multiples = tuple(math.prod(p[a] for p in self.pools)
                                        for a in range(3))
        else:
            self.pools = [2] * levels
            self.size_multiples = (self.size_multiple,) * 2
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
        x, crop = pad_to_multiple(x, self.size_multiples, self.dims)
        skips = [x]
        h = self.inc(x)
        for d, k in zip(self.down, self.pools):
            skips.append(h)
            h = d(self._pool(h, k))
        for u, k in zip(self.up, reversed(self.pools)):
            h = F.interpolate(h, scale_factor=k, mode="nearest")
            h = u(torch.cat([h, skips.pop()], 1))
        out = self.out(torch.cat([h, skips.pop()], 1))
        if self.residual:
            out = x - out
        return out if crop is None else out[crop]
