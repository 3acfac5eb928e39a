"""A tiny sequential encoder-decoder of the kind used in Noise2Noise tutorials:
two 2x2 stride-2 convolutions (48 and 96 channels, ReLU), then back up either by
nearest upsampling + 3x3 conv (``"nearest_*"``) or by 2x2 stride-2 transposed
convs (``"transpose_*"``), with a ReLU or a sigmoid as the last activation
(``"*_relu"``, ``"*_sigmoid"``): ``variant`` picks one of the 4 combinations.
No skips, so it is fast but blurs fine detail.

Defaults: ``variant="nearest_sigmoid"``, ``features=(48, 96)`` (about 61 k
parameters). Inputs are padded to a multiple of 4. ``bias_free=True`` (a
``*_relu`` variant only) removes every additive term: ``f(a x) = a f(x)``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import register_arch
from ._layers import pad_to_multiple

VARIANTS = ("nearest_relu", "nearest_sigmoid", "transpose_relu", "transpose_sigmoid")


@register_arch("n2n_sequential", "Sequential encoder-decoder: two 2x2 stride-2 convs (48, 96), "
               "nearest+3x3 or transposed-conv upsampling, ReLU or sigmoid output", builtin=True)
class N2NSequential(nn.Module):
    takes_noise_map = False
    dims = 2
    size_multiple = 4

    def __init__(self, in_channels: int = 1, variant: str = "nearest_sigmoid",
                 features=(48, 96), bias_free: bool = False):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
        up, last = variant.split("_")
        if bias_free and last == "sigmoid":
            raise ValueError("bias_free=True needs a '*_relu' variant (a sigmoid is not "
                             "homogeneous)")
        self.in_channels, self.variant = in_channels, variant
        f1, f2 = (int(f) for f in features)
        self.rf_radius = 8 if up == "nearest" else 4
        b = not bias_free
        layers = [nn.Conv2d(in_channels, f1, 2, stride=2, bias=b), nn.ReLU(inplace=True),
                  nn.Conv2d(f1, f2, 2, stride=2, bias=b), nn.ReLU(inplace=True)]
        if up == "nearest":
            layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                       nn.Conv2d(f2, f1, 3, padding=1, bias=b), nn.ReLU(inplace=True),
                       nn.Upsample(scale_factor=2, mode="nearest"),
                       nn.Conv2d(f1, in_channels, 3, padding=1, bias=b)]
        else:
            layers += [nn.ConvTranspose2d(f2, f1, 2, stride=2, bias=b), nn.ReLU(inplace=True),
                       nn.ConvTranspose2d(f1, in_channels, 2, stride=2, bias=b)]
        layers.append(nn.ReLU() if last == "relu" else nn.Sigmoid())
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, sigma_map=None) -> torch.Tensor:
        x, crop = pad_to_multiple(x, self.size_multiple, 2)
        out = self.body(x)
        return out if crop is None else out[crop]
