"""A slim residual U-Net in the style of DRUNet (Zhang et al. 2021, "Plug-and-play
image restoration with deep denoiser prior"): the noise-level map is an extra
input channel, each level is a stack of residual blocks, strided 2x2
convolutions go down, transposed 2x2 convolutions come up, and skips are added.

``blocks``: residual blocks per level, one number for all, or one per level from the
full-resolution one down to the bottleneck (``[1, 2, 2, 2]``: a thinner full-resolution
level, where a multiply-add costs most on a CPU).

Bias-free by default (no additive terms anywhere), so with the map scaled along
with the image the network is homogeneous, ``f(a x, a s) = a f(x, s)``: its
behaviour does not depend on where in the value range the data sit.
"""

from __future__ import annotations

import torch
from torch import nn

from ._layers import pad_to_multiple


class ResBlock(nn.Module):
    def __init__(self, ch: int, bias: bool):
        super().__init__()
        self.c1 = nn.Conv2d(ch, ch, 3, padding=1, bias=bias)
        self.c2 = nn.Conv2d(ch, ch, 3, padding=1, bias=bias)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.c2(self.act(self.c1(x)))
        y += x  # in place: no new full-size tensor (about 6% of a 1024x1024 bf16 pass)
        return y


def level_blocks(blocks, n_levels: int) -> list[int]:
    """Residual blocks per level: one int for every level, or one per level."""
    if isinstance(blocks, int) and not isinstance(blocks, bool):
        per = [int(blocks)] * n_levels
    else:
        try:
            per = [int(b) for b in blocks]
        except (TypeError, ValueError):
            raise ValueError(f"blocks must be an int or a list of {n_levels} ints, "
                             f"not {blocks!r}") from None
        if len(per) != n_levels:
            raise ValueError(f"blocks lists {len(per)} levels; the widths give {n_levels}")
    if min(per) < 0:
        raise ValueError(f"blocks must be >= 0, not {blocks!r}")
    return per


def _count_blocks(state: dict, path: str, level: str) -> int:
    """Residual blocks of one level's Sequential in a state dict (keys ``path.level.j.c1``)."""
    pre = f"{path}.{level}."
    return len({k.split(".")[2] for k in state if k.startswith(pre) and ".c1." in k})


class DRUNet(nn.Module):
    takes_noise_map = True
    dims = 2

    def __init__(self, in_channels: int = 1, widths=(32, 64, 128, 256), blocks=2,
                 bias_free: bool = True, residual: bool = True):
        super().__init__()
        self.in_channels = in_channels
        self.residual = residual
        widths = [int(w) for w in widths]
        levels = len(widths) - 1
        per = level_blocks(blocks, len(widths))
        self.size_multiple = 2 ** levels
        # the effective field (the theoretical one is ~100 px): the tile overlap's base
        self.rf_radius = 12 * 2 ** levels // 2
        bias = not bias_free
        self.head = nn.Conv2d(in_channels + 1, widths[0], 3, padding=1, bias=bias)
        self.down = nn.ModuleList()
        for i in range(levels):
            self.down.append(nn.Sequential(
                *[ResBlock(widths[i], bias) for _ in range(per[i])],
                nn.Conv2d(widths[i], widths[i + 1], 2, stride=2, bias=bias)))
        self.body = nn.Sequential(*[ResBlock(widths[-1], bias) for _ in range(per[-1])])
        self.up = nn.ModuleList()
        for i in reversed(range(levels)):
            self.up.append(nn.Sequential(
                nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2, bias=bias),
                *[ResBlock(widths[i], bias) for _ in range(per[i])]))
        self.tail = nn.Conv2d(widths[0], in_channels, 3, padding=1, bias=bias)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        for m in self.modules():  # residual branches start small: stable early training
            if isinstance(m, ResBlock):
                with torch.no_grad():
                    m.c2.weight.mul_(0.1)
        with torch.no_grad():  # start near the identity (residual) or a copy of the input
            self.tail.weight.mul_(0.01)

    def adapt_state(self, state: dict) -> dict:
        """A state dict of a DRUNet with the same widths and *more* blocks per level,
        fitted to this one: each level keeps its first blocks (a residual stack still
        works with blocks dropped: a start for a thinner network, fine-tuned after)."""
        out = {}
        for key, value in self.state_dict().items():
            parts = key.split(".")
            src = key
            if parts[0] in ("down", "up") and key not in state:
                seq = getattr(self, parts[0])[int(parts[1])]
                j = int(parts[2])
                if not isinstance(seq[j], ResBlock):  # the level's strided or transposed conv
                    n_src = _count_blocks(state, parts[0], parts[1])
                    n_own = sum(isinstance(m, ResBlock) for m in seq)
                    src = ".".join(parts[:2] + [str(j + n_src - n_own if parts[0] == "down"
                                                    else j)] + parts[3:])
            if src not in state or tuple(state[src].shape) != tuple(value.shape):
                raise ValueError(f"the weights do not fit this network at {key!r}")
            out[key] = state[src]
        return out

    def forward(self, x: torch.Tensor, sigma_map: torch.Tensor | None = None) -> torch.Tensor:
        """x: (N, C, H, W) in [0, 1]; sigma_map: (N, 1, H, W) or (N,) in the same units."""
        if sigma_map is None:
            sigma_map = torch.zeros(x.shape[0], device=x.device)
        if sigma_map.ndim == 1:
            sigma_map = sigma_map.view(-1, 1, 1, 1).expand(-1, 1, *x.shape[-2:])
        sigma_map = sigma_map[:, :1].to(x.dtype)
        x, crop = pad_to_multiple(x, self.size_multiple, 2)
        if crop is not None:
            sigma_map, _ = pad_to_multiple(sigma_map, self.size_multiple, 2)
        h = self.head(torch.cat([x, sigma_map], 1))
        skips = []
        for d in self.down:
            skips.append(h)
            h = d(h)
        h = self.body(h)
        for u in self.up:
            h = u(h)
            h += skips.pop()
        out = self.tail(h)
        if self.residual:
            out = x - out
        return out if crop is None else out[crop]
