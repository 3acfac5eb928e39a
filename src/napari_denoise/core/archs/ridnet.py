"""RIDNet (Anwar & Barnes 2019, "Real image denoising with feature attention"):
a 3x3 feature-extraction conv, a chain of enhancement attention modules (EAM)
and a 3x3 reconstruction conv whose output is added to the input.

Each EAM: a merge-and-run unit (two branches of two dilated 3x3 convs, dilations
1-2 and 3-4, concatenated, merged by a 3x3 conv, plus the input), a residual
block (conv-ReLU-conv, plus its input), an enhanced residual block (two 3x3 and
a 1x1 conv, plus its input) and feature attention (global average pool, 1x1
down by ``reduction``, ReLU, 1x1 up, sigmoid, rescale), with a skip over the
whole module (residual on the residual).

Defaults (modest): ``features=32``, ``modules=2`` (about 0.2 M parameters; the
paper: 64 features, 4 modules, 1.5 M). Any input size. No ``bias_free`` option:
feature attention is not homogeneous.
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import register_arch


def _c(cin, cout, k=3, d=1):
    return nn.Conv2d(cin, cout, k, padding=d * (k // 2), dilation=d)


class EAM(nn.Module):
    def __init__(self, c: int, reduction: int = 16):
        super().__init__()
        relu = nn.ReLU
        self.branch1 = nn.Sequential(_c(c, c, d=1), relu(True), _c(c, c, d=2), relu(True))
        self.branch2 = nn.Sequential(_c(c, c, d=3), relu(True), _c(c, c, d=4), relu(True))
        self.merge = nn.Sequential(_c(2 * c, c), relu(True))
        self.res = nn.Sequential(_c(c, c), relu(True), _c(c, c))
        self.erb = nn.Sequential(_c(c, c), relu(True), _c(c, c), relu(True), _c(c, c, k=1))
        hid = max(c // reduction, 2)
        self.att = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, hid, 1), relu(True),
                                 nn.Conv2d(hid, c, 1), nn.Sigmoid())
        self.relu = nn.ReLU()

    def forward(self, x):
        h = self.merge(torch.cat([self.branch1(x), self.branch2(x)], 1)) + x
        h = self.relu(self.res(h) + h)
        h = self.relu(self.erb(h) + h)
        return h * self.att(h) + x


@register_arch("ridnet", "RIDNet (Anwar & Barnes 2019): enhancement attention modules (dilated "
               "merge-and-run, residual blocks, feature attention); blind", builtin=True)
class RIDNet(nn.Module):
    takes_noise_map = False
    dims = 2
    size_multiple = 1

    def __init__(self, in_channels: int = 1, features: int = 32, modules: int = 2,
                 reduction: int = 16):
        super().__init__()
        self.in_channels = in_channels
        # per module: dilated branch 3+4, merge 1, residual 2, enhanced residual 2
        self.rf_radius = 2 + 12 * int(modules)
        self.head = nn.Sequential(_c(in_channels, features), nn.ReLU(inplace=True))
        self.body = nn.Sequential(*[EAM(features, reduction) for _ in range(int(modules))])
        self.tail = _c(features, in_channels)
        with torch.no_grad():
            self.tail.weight.mul_(0.1)

    def forward(self, x: torch.Tensor, sigma_map=None) -> torch.Tensor:
        return x + self.tail(self.body(self.head(x)))
