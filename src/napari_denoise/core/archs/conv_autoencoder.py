"""A plain convolutional autoencoder: three 3x3 conv + ReLU + 2x2 max-pool
stages, three 2x2 stride-2 transposed convs (ReLU) back to full size, and a 3x3
output conv (sigmoid by default). No skips: a baseline that smooths.

Defaults: ``features=(32, 64, 64)`` (about 0.1 M parameters), ``sigmoid=True``.
Inputs are padded to a multiple of 8. ``bias_free=True`` (with
``sigmoid=False``) removes every additive term: ``f(a x) = a f(x)``. ``dims=3``
builds the volumetric version.
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import register_arch
from ._layers import check_dims, conv, conv_transpose, max_pool, pad_to_multiple


@register_arch("conv_autoencoder", "Convolutional autoencoder: 3 conv + max-pool stages, "
               "3 transposed convs, 3x3 output conv; no skips", builtin=True)
class ConvAutoencoder(nn.Module):
    takes_noise_map = False
    size_multiple = 8

    def __init__(self, in_channels: int = 1, features=(32, 64, 64), dims: int = 2,
                 sigmoid: bool = True, bias_free: bool = False):
        super().__init__()
        if bias_free and sigmoid:
            raise ValueError("bias_free=True needs sigmoid=False (a sigmoid is not homogeneous)")
        f = [int(v) for v in features]
        if len(f) != 3:
            raise ValueError(f"features needs 3 widths, not {features!r}")
        self.dims = check_dims(dims)
        self.in_channels, self.sigmoid = in_channels, bool(sigmoid)
        self.rf_radius = 16
        b = not bias_free
        enc, cin = [], in_channels
        for w in f:
            enc += [conv(dims, cin, w, bias=b), nn.ReLU(inplace=True), max_pool(dims)]
            cin = w
        dec = []
        for w in (f[1], f[0], f[0]):
            dec += [conv_transpose(dims, cin, w, bias=b), nn.ReLU(inplace=True)]
            cin = w
        self.body = nn.Sequential(*enc, *dec, conv(dims, cin, in_channels, bias=b))

    def forward(self, x: torch.Tensor, sigma_map=None) -> torch.Tensor:
        x, crop = pad_to_multiple(x, self.size_multiple, self.dims)
        out = self.body(x)
        if self.sigmoid:
            out = torch.sigmoid(out)
        return out if crop is None else out[crop]
