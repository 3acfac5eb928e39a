"""CBDNet (Guo et al. 2019, "Toward convolutional blind denoising of real
photographs"): a noise-estimation subnetwork (5 plain 3x3 conv + ReLU layers,
the last giving a non-negative noise-level map with one channel per image
channel) and a U-Net denoiser (two average-pooling levels, transposed-conv
upsampling, additive skips) that takes the image and the estimated map and
predicts a residual added to the image.

It is blind (``takes_noise_map=False``: the engine gives it no map; a map passed
to ``forward`` is ignored). The map it estimated in the last ``forward`` is kept,
detached, in ``last_map``; ``estimate_map(x)`` computes one alone, and
``forward_with_map(x)`` returns ``(denoised, map)`` with gradients. To train the
estimator as the paper does, add ``0.5 * get_loss("cbdnet_asymmetric")(map,
true_map)`` to the reconstruction loss.

Defaults (modest): ``est_features=16``, U-Net ``widths=(16, 32, 64)`` with one
conv pair per level (about 0.11 M parameters; the paper: 32 / (64, 128, 256)).
Inputs are padded to a multiple of 4. ``bias_free=True`` removes every additive
term: the map and the output are then homogeneous, ``f(a x) = a f(x)``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import register_arch
from ._layers import pad_to_multiple


def _convs(cin, cout, n, bias):
    layers = []
    for i in range(n):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=bias),
                   nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


@register_arch("cbdnet", "CBDNet (Guo et al. 2019): 5-layer noise-map estimator + U-Net "
               "denoiser on image and map; blind", builtin=True)
class CBDNet(nn.Module):
    takes_noise_map = False
    dims = 2

    def __init__(self, in_channels: int = 1, est_features: int = 16, widths=(16, 32, 64),
                 convs_per_level: int = 2, bias_free: bool = False):
        super().__init__()
        ws = [int(w) for w in widths]
        if len(ws) < 2:
            raise ValueError("widths needs at least two levels")
        self.in_channels = in_channels
        levels = len(ws) - 1
        self.size_multiple = 2 ** levels
        self.rf_radius = 5 + 4 * 2 ** levels
        b = not bias_free
        f = int(est_features)
        self.estimator = nn.Sequential(_convs(in_channels, f, 4, b),
                                       nn.Conv2d(f, in_channels, 3, padding=1, bias=b),
                                       nn.ReLU())
        n = int(convs_per_level)
        self.enc = nn.ModuleList([_convs(2 * in_channels, ws[0], n, b)])
        self.enc.extend(_convs(ws[i], ws[i + 1], n, b) for i in range(levels))
        self.ups = nn.ModuleList(nn.ConvTranspose2d(ws[i + 1], ws[i], 2, stride=2, bias=b)
                                 for i in reversed(range(levels)))
        self.dec = nn.ModuleList(_convs(ws[i], ws[i], n, b) for i in reversed(range(levels)))
        self.out = nn.Conv2d(ws[0], in_channels, 3, padding=1, bias=b)
        with torch.no_grad():
            self.out.weight.mul_(0.1)
        self.last_map: torch.Tensor | None = None

    def estimate_map(self, x: torch.Tensor) -> torch.Tensor:
        """The estimated noise-level map, (N, C, H, W), in the units of ``x``."""
        xp, crop = pad_to_multiple(x, self.size_multiple, 2)
        m = self.estimator(xp)
        return m if crop is None else m[crop]

    def forward(self, x: torch.Tensor, sigma_map=None) -> torch.Tensor:
        out, m = self.forward_with_map(x)
        self.last_map = m.detach()
        return out

    def forward_with_map(self, x: torch.Tensor):
        """(denoised, estimated map), both cropped to the input's size."""
        x, crop = pad_to_multiple(x, self.size_multiple, 2)
        m = self.estimator(x)
        h = self.enc[0](torch.cat([x, m], 1))
        skips = []
        for enc in self.enc[1:]:
            skips.append(h)
            h = enc(F.avg_pool2d(h, 2))
        for up, dec in zip(self.ups, self.dec):
            h = dec(up(h) + skips.pop())
        out = x + self.out(h)
        return (out, m) if crop is None else (out[crop], m[crop])
