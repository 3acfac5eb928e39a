"""DnCNN (Zhang et al. 2017): residual learning of the noise with BatchNorm.

``bias_free=True`` gives the BF-CNN variant of Mohan et al. 2020: no additive
constant anywhere, so the network is scale-equivariant and generalises to noise
levels outside its training range.
"""

from __future__ import annotations

from torch import nn

from ..registry import register_arch
from ._layers import batchnorm, conv, dncnn_init


@register_arch("dncnn", "DnCNN (Zhang et al. 2017): 17 3x3 conv+BN+ReLU layers learning the "
               "noise residual; 2-D or 3-D, optional bias-free (BF-CNN)", builtin=True)
class DnCNN(nn.Module):
    takes_noise_map = False
    size_multiple = 1

    def __init__(self, in_channels: int = 1, depth: int = 17, features: int = 64,
                 dims: int = 2, bias_free: bool = False, batchnorm_layers: bool = True):
        super().__init__()
        self.dims = dims
        self.in_channels = in_channels
        self.bias_free = bias_free
        self.rf_radius = depth  # 3x3 convolutions: one pixel per layer
        bias = not bias_free
        layers = [conv(dims, in_channels, features, bias=bias), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers.append(conv(dims, features, features, bias=bias and not batchnorm_layers))
            if batchnorm_layers:
                layers.append(batchnorm(dims, features, bias_free=bias_free))
            layers.append(nn.ReLU(inplace=True))
        layers.append(conv(dims, features, in_channels, bias=bias))
        self.body = nn.Sequential(*layers)
        dncnn_init(self)

    def forward(self, x, sigma_map=None):
        return x - self.body(x)
