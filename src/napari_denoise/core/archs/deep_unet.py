"""The classic deep U-Net (Ronneberger et al. 2015) used as a denoiser: four
levels of two 3x3 conv + ReLU with 2x2 max-pooling between them (64, 128, 256,
512 channels), a 1024-channel bottleneck, 2x2 transposed-conv upsampling with
skip concatenation and two 3x3 conv + ReLU per level on the way up, a 1x1
output conv and an optional sigmoid. Convolutions are padded (same-size output).

``width`` is the first level's channels (the paper: 64, 31 M parameters). The
default ``width=16`` (16-32-64-128, 256 bottleneck, about 1.9 M parameters)
keeps CPU training to minutes. ``residual=True`` predicts the noise and
subtracts it from the input; ``bias_free=True`` (without sigmoid) removes every
additive term, making the network homogeneous, ``f(a x) = a f(x)``. ``dims=3``
builds the volumetric version. Inputs are padded to a multiple of 16.
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import register_arch
from ._layers import check_dims, conv, conv_transpose, max_pool, pad_to_multiple


def _double(dims, cin, cout, bias):
    return nn.Sequential(conv(dims, cin, cout, bias=bias), nn.ReLU(inplace=True),
                         conv(dims, cout, cout, bias=bias), nn.ReLU(inplace=True))


@register_arch("deep_unet", "U-Net (Ronneberger et al. 2015): 4 levels of double 3x3 conv, "
               "max-pooling, 8x-width bottleneck, up-conv + skip concatenation; width-scalable",
               builtin=True)
class DeepUNet(nn.Module):
    takes_noise_map = False
    levels = 4

    def __init__(self, in_channels: int = 1, width: int = 16, dims: int = 2,
                 sigmoid: bool = False, residual: bool = False, bias_free: bool = False):
        super().__init__()
        if bias_free and sigmoid:
            raise ValueError("bias_free=True needs sigmoid=False (a sigmoid is not homogeneous)")
        self.dims = check_dims(dims)
        self.in_channels = in_channels
        self.sigmoid, self.residual = bool(sigmoid), bool(residual)
        self.size_multiple = 2 ** self.levels
        self.rf_radius = 6 * 2 ** self.levels  # effective; the theoretical field is ~180 px
        bias = not bias_free
        ws = [int(width) * 2 ** i for i in range(self.levels + 1)]
        self.pool = max_pool(dims)
        self.enc = nn.ModuleList()
        cin = in_channels
        for w in ws[:-1]:
            self.enc.append(_double(dims, cin, w, bias))
            cin = w
        self.bottleneck = _double(dims, ws[-2], ws[-1], bias)
        self.ups, self.dec = nn.ModuleList(), nn.ModuleList()
        for i in reversed(range(self.levels)):
            self.ups.append(conv_transpose(dims, ws[i + 1], ws[i], bias=bias))
            self.dec.append(_double(dims, 2 * ws[i], ws[i], bias))
        self.out = conv(dims, ws[0], in_channels, k=1, bias=bias)

    def forward(self, x: torch.Tensor, sigma_map=None) -> torch.Tensor:
        x, crop = pad_to_multiple(x, self.size_multiple, self.dims)
        h, skips = x, []
        for enc in self.enc:
            h = enc(h)
            skips.append(h)
            h = self.pool(h)
        h = self.bottleneck(h)
        for up, dec in zip(self.ups, self.dec):
            h = dec(torch.cat([up(h), skips.pop()], 1))
        out = self.out(h)
        if self.residual:
            out = x - out
        if self.sigmoid:
            out = torch.sigmoid(out)
        return out if crop is None else out[crop]
