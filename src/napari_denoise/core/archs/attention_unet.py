"""A U-Net with attention: residual double-conv blocks (two 3x3 conv + ReLU with
a 1x1 shortcut), 2x2 max-pooling down, bilinear upsampling with skip
concatenation up; every skip and the bottleneck pass through spatial-and-channel
attention (CBAM, Woo et al. 2018: a shared MLP on average- and max-pooled
channels, then a 7x7 conv on the channel-wise mean and max), and the bottleneck
has an embedded-Gaussian non-local block (Wang et al. 2018: softmax of
theta(x)^T phi(x) weighting g(x), added back through a zero-initialised 1x1 conv).
The network predicts the noise, subtracted from the input.

Defaults: ``widths=(16, 32, 64, 128)`` (three poolings, bottleneck 128; about
0.5 M parameters). The non-local block is quadratic in the bottleneck's pixel
count (a 512x512 tile: 4096 positions). Inputs are padded to a multiple of 8.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import register_arch
from ._layers import pad_to_multiple


class ResDoubleConv(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        return F.relu(self.body(x) + self.skip(x))


class SpatialChannelAttention(nn.Module):
    """CBAM: channel attention then spatial attention, both multiplicative."""

    def __init__(self, ch: int, reduction: int = 8):
        super().__init__()
        hid = max(ch // reduction, 4)
        self.mlp = nn.Sequential(nn.Conv2d(ch, hid, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(hid, ch, 1))
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x):
        avg = F.adaptive_avg_pool2d(x, 1)
        mx = F.adaptive_max_pool2d(x, 1)
        x = x * torch.sigmoid(self.mlp(avg) + self.mlp(mx))
        s = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.spatial(s))


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block: y = x + W softmax(theta^T phi) g."""

    def __init__(self, ch: int):
        super().__init__()
        inter = max(ch // 2, 1)
        self.theta = nn.Conv2d(ch, inter, 1)
        self.phi = nn.Conv2d(ch, inter, 1)
        self.g = nn.Conv2d(ch, inter, 1)
        self.w = nn.Conv2d(inter, ch, 1)
        nn.init.zeros_(self.w.weight)
        nn.init.zeros_(self.w.bias)

    def forward(self, x):
        n, _, h, w = x.shape
        t = self.theta(x).flatten(2).transpose(1, 2)        # N, HW, C'
        p = self.phi(x).flatten(2)                           # N, C', HW
        g = self.g(x).flatten(2).transpose(1, 2)             # N, HW, C'
        att = torch.softmax(t @ p, dim=-1)                   # N, HW, HW
        y = (att @ g).transpose(1, 2).reshape(n, -1, h, w)
        return x + self.w(y)


@register_arch("attention_unet", "Attention U-Net: residual double-conv blocks, spatial+channel "
               "attention on skips and bottleneck, non-local bottleneck", builtin=True)
class AttentionUNet(nn.Module):
    takes_noise_map = False
    dims = 2

    def __init__(self, in_channels: int = 1, widths=(16, 32, 64, 128), residual: bool = True):
        super().__init__()
        ws = [int(w) for w in widths]
        if len(ws) < 2:
            raise ValueError("widths needs at least two levels")
        levels = len(ws) - 1
        self.in_channels, self.residual = in_channels, bool(residual)
        self.size_multiple = 2 ** levels
        self.rf_radius = 6 * 2 ** levels  # effective; attention makes the field global
        self.enc = nn.ModuleList()
        cin = in_channels
        for w in ws[:-1]:
            self.enc.append(ResDoubleConv(cin, w))
            cin = w
        self.skip_att = nn.ModuleList(SpatialChannelAttention(w) for w in ws[:-1])
        self.bottleneck = nn.Sequential(ResDoubleConv(ws[-2], ws[-1]), NonLocalBlock(ws[-1]),
                                        SpatialChannelAttention(ws[-1]))
        self.dec = nn.ModuleList(ResDoubleConv(ws[i + 1] + ws[i], ws[i])
                                 for i in reversed(range(levels)))
        self.out = nn.Conv2d(ws[0], in_channels, 1)
        with torch.no_grad():
            self.out.weight.mul_(0.1)

    def forward(self, x: torch.Tensor, sigma_map=None) -> torch.Tensor:
        x, crop = pad_to_multiple(x, self.size_multiple, 2)
        h, skips = x, []
        for enc, att in zip(self.enc, self.skip_att):
            h = enc(h)
            skips.append(att(h))
            h = F.max_pool2d(h, 2)
        h = self.bottleneck(h)
        for dec in self.dec:
            h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
            h = dec(torch.cat([h, skips.pop()], 1))
        out = self.out(h)
        out = x - out if self.residual else out
        return out if crop is None else out[crop]
