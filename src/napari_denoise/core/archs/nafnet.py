"""NAFNet (Chen et al. 2022, "Simple baselines for image restoration"): a U-shaped
network of NAF blocks with no nonlinear activation at all. Each block is a
channel LayerNorm, a 1x1 conv widening to 2c, a 3x3 depthwise conv, a
SimpleGate (split the channels in two halves and multiply them), simplified
channel attention (global average pool, 1x1 conv, multiply), a 1x1 conv, and a
feed-forward half (LayerNorm, 1x1 to 2c, SimpleGate, 1x1), each half added back
with a learnt per-channel scale that starts at zero (every block starts as the
identity). Strided 2x2 convs go down, 1x1 conv + pixel shuffle come up, skips
are added, and the network predicts a residual added to its input.

Defaults (modest, for CPU training in minutes): ``width=16``, three levels with
``enc_blocks=(1, 1, 1)``, ``middle_blocks=1``, ``dec_blocks=(1, 1, 1)`` (about
0.29 M parameters; the paper's SIDD model is width 32, (2, 2, 4, 8) / 12 /
(2, 2, 2, 2)). Input sizes are padded to a multiple of ``2 ** levels``. No
``bias_free`` option: LayerNorm and the multiplicative gates are not homogeneous.
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import register_arch
from ._layers import pad_to_multiple


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of every pixel of an (N, C, H, W) tensor."""

    def __init__(self, ch: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ch))
        self.bias = nn.Parameter(torch.zeros(ch))
        self.eps = eps

    def forward(self, x):
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        y = (x - mu) / torch.sqrt(var + self.eps)
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class SimpleGate(nn.Module):
    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        return a * b


class NAFBlock(nn.Module):
    def __init__(self, c: int, expand: int = 2):
        super().__init__()
        dw = c * expand
        self.norm1 = LayerNorm2d(c)
        self.conv1 = nn.Conv2d(c, dw, 1)
        self.conv2 = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.gate = SimpleGate()
        self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dw // 2, dw // 2, 1))
        self.conv3 = nn.Conv2d(dw // 2, c, 1)
        self.norm2 = LayerNorm2d(c)
        self.conv4 = nn.Conv2d(c, 2 * c, 1)
        self.conv5 = nn.Conv2d(c, c, 1)
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x):
        y = self.gate(self.conv2(self.conv1(self.norm1(x))))
        y = self.conv3(y * self.sca(y))
        x = x + y * self.beta
        y = self.conv5(self.gate(self.conv4(self.norm2(x))))
        return x + y * self.gamma


@register_arch("nafnet", "NAFNet (Chen et al. 2022): U-shaped net of activation-free blocks "
               "(LayerNorm, SimpleGate, simplified channel attention)", builtin=True)
class NAFNet(nn.Module):
    takes_noise_map = False
    dims = 2

    def __init__(self, in_channels: int = 1, width: int = 16, enc_blocks=(1, 1, 1),
                 middle_blocks: int = 1, dec_blocks=None):
        super().__init__()
        enc_blocks = [int(b) for b in enc_blocks]
        dec_blocks = enc_blocks if dec_blocks is None else [int(b) for b in dec_blocks]
        if len(dec_blocks) != len(enc_blocks):
            raise ValueError("enc_blocks and dec_blocks need the same number of levels")
        self.in_channels = in_channels
        levels = len(enc_blocks)
        self.size_multiple = 2 ** levels
        self.rf_radius = 8 * 2 ** levels  # effective field; the channel attention is global
        self.intro = nn.Conv2d(in_channels, width, 3, padding=1)
        self.ending = nn.Conv2d(width, in_channels, 3, padding=1)
        self.encoders, self.downs = nn.ModuleList(), nn.ModuleList()
        c = width
        for n in enc_blocks:
            self.encoders.append(nn.Sequential(*[NAFBlock(c) for _ in range(n)]))
            self.downs.append(nn.Conv2d(c, 2 * c, 2, stride=2))
            c *= 2
        self.middle = nn.Sequential(*[NAFBlock(c) for _ in range(int(middle_blocks))])
        self.ups, self.decoders = nn.ModuleList(), nn.ModuleList()
        for n in reversed(dec_blocks):
            self.ups.append(nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.PixelShuffle(2)))
            c //= 2
            self.decoders.append(nn.Sequential(*[NAFBlock(c) for _ in range(n)]))

    def forward(self, x: torch.Tensor, sigma_map=None) -> torch.Tensor:
        x, crop = pad_to_multiple(x, self.size_multiple, 2)
        h = self.intro(x)
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            h = enc(h)
            skips.append(h)
            h = down(h)
        h = self.middle(h)
        for up, dec in zip(self.ups, self.decoders):
            h = dec(up(h) + skips.pop())
        out = x + self.ending(h)
        return out if crop is None else out[crop]
