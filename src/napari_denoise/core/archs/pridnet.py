"""PRIDNet (Zhao et al. 2019, "Pyramid real image denoising network"), in three
stages:

1. noise estimation: two 3x3 conv + ReLU and channel attention (squeeze and
   excitation: global average pool, 1x1 down, ReLU, 1x1 up, sigmoid, rescale);
2. multi-scale denoising: a 5-level pyramid, the features average-pooled by 1,
   2, 4, 8 and 16, each level through its own small U-Net (two poolings) and
   bilinearly upsampled back, all concatenated with the stage-1 features;
3. feature fusion by kernel selection (SKNet, Li et al. 2019): 3x3, 5x5 and 7x7
   conv branches, their sum globally pooled and squeezed, a softmax over the
   three branches per channel weighting them, and a 3x3 conv to the output,
   added to the input (``residual=True``) or taken as the image.

Defaults (modest): ``features=16``, U-Net ``unet_width=16`` (about 0.43 M
parameters). Inputs are padded to a multiple of 64 (pool 16 times the U-Net's
two levels); 64x64 training patches go through unpadded.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import register_arch
from ._layers import pad_to_multiple

POOLS = (1, 2, 4, 8, 16)


def _cr(cin, cout, k=3):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2), nn.ReLU(inplace=True))


class ChannelAttention(nn.Module):
    def __init__(self, c: int, reduction: int = 4):
        super().__init__()
        hid = max(c // reduction, 2)
        self.fc = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, hid, 1),
                                nn.ReLU(inplace=True), nn.Conv2d(hid, c, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.fc(x)


class SmallUNet(nn.Module):
    """Two max-poolings, transposed-conv upsampling, concatenated skips."""

    def __init__(self, cin: int, w: int):
        super().__init__()
        self.e0, self.e1, self.e2 = _cr(cin, w), _cr(w, 2 * w), _cr(2 * w, 4 * w)
        self.u1 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)
        self.d1 = _cr(4 * w, 2 * w)
        self.u0 = nn.ConvTranspose2d(2 * w, w, 2, stride=2)
        self.d0 = _cr(2 * w, w)
        self.out = nn.Conv2d(w, cin, 1)

    def forward(self, x):
        h0 = self.e0(x)
        h1 = self.e1(F.max_pool2d(h0, 2))
        h2 = self.e2(F.max_pool2d(h1, 2))
        h = self.d1(torch.cat([self.u1(h2), h1], 1))
        h = self.d0(torch.cat([self.u0(h), h0], 1))
        return self.out(h)


class KernelSelect(nn.Module):
    def __init__(self, cin: int, cout: int, reduction: int = 4):
        super().__init__()
        self.branches = nn.ModuleList(_cr(cin, cout, k) for k in (3, 5, 7))
        hid = max(cout // reduction, 4)
        self.squeeze = nn.Sequential(nn.Conv2d(cout, hid, 1), nn.ReLU(inplace=True))
        self.select = nn.Conv2d(hid, 3 * cout, 1)

    def forward(self, x):
        u = torch.stack([b(x) for b in self.branches], 1)               # N, 3, C, H, W
        z = self.squeeze(u.sum(1).mean((2, 3), keepdim=True))           # N, hid, 1, 1
        a = torch.softmax(self.select(z).view(x.shape[0], 3, -1, 1, 1), dim=1)
        return (u * a).sum(1)


@register_arch("pridnet", "PRIDNet (Zhao et al. 2019): channel attention, 5-level pyramid of "
               "small U-Nets, kernel-selecting (3/5/7) fusion; blind", builtin=True)
class PRIDNet(nn.Module):
    takes_noise_map = False
    dims = 2

    def __init__(self, in_channels: int = 1, features: int = 16, unet_width: int = 16,
                 residual: bool = True):
        super().__init__()
        self.in_channels, self.residual = in_channels, bool(residual)
        self.size_multiple = POOLS[-1] * 4
        self.rf_radius = 32
        f = int(features)
        self.stage1 = nn.Sequential(_cr(in_channels, f), _cr(f, f), ChannelAttention(f))
        self.pyramid = nn.ModuleList(SmallUNet(f, int(unet_width)) for _ in POOLS)
        self.fuse = KernelSelect(f * (len(POOLS) + 1), f)
        self.out = nn.Conv2d(f, in_channels, 3, padding=1)
        with torch.no_grad():
            self.out.weight.mul_(0.1)

    def forward(self, x: torch.Tensor, sigma_map=None) -> torch.Tensor:
        x, crop = pad_to_multiple(x, self.size_multiple, 2)
        h = self.stage1(x)
        feats = [h]
        for p, unet in zip(POOLS, self.pyramid):
            y = unet(F.avg_pool2d(h, p) if p > 1 else h)
            if p > 1:
                y = F.interpolate(y, size=h.shape[-2:], mode="bilinear", align_corners=False)
            feats.append(y)
        out = self.out(self.fuse(torch.cat(feats, 1)))
        out = x + out if self.residual else out
        return out if crop is None else out[crop]
