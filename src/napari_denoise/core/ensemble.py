"""Geometric self-ensemble (``quality="best"``): a network run on the 8 flips and
rotations of its input (the dihedral group of the square, in the Y-X plane), each
output brought back and averaged. About 8x the time of one pass; +0.07 to +0.13 dB on
the shipped networks (docs/BENCHMARKS.md).

Volumes turn in their Y-X plane only: Z is often sampled differently from Y and X.
"""

from __future__ import annotations

QUALITIES = ("fast", "best")

#: (quarter turns, flip X) for the 8 elements of the dihedral group
DIHEDRAL = tuple((k, f) for f in (False, True) for k in range(4))


def _forward(t, k: int, flip: bool):
    import torch

    if flip:
        t = torch.flip(t, dims=(-1,))
    return torch.rot90(t, k, dims=(-2, -1)) if k else t


def _inverse(t, k: int, flip: bool):
    import torch

    if k:
        t = torch.rot90(t, -k, dims=(-2, -1))
    return torch.flip(t, dims=(-1,)) if flip else t


def self_ensemble(net, t, smap=None, *, transforms=DIHEDRAL):
    """Mean of ``inverse(net(forward(t), forward(smap)))`` over ``transforms``.

    ``t``: a (N, C, [Z,] Y, X) tensor; ``smap``: a noise map of the same layout (turned
    with it), a per-image level (left as it is) or None.
    """
    import torch

    acc = None
    for k, flip in transforms:
        x = _forward(t, k, flip)
        if x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        m = _forward(smap, k, flip) if smap is not None and smap.ndim == t.ndim else smap
        y = _inverse(net(x, m).float(), k, flip)
        acc = y if acc is None else acc.add_(y)
    return acc.div_(len(transforms))


def check_quality(quality: str) -> str:
    q = str(quality).lower()
    if q not in QUALITIES:
        raise ValueError(f"quality must be 'fast' or 'best', not {quality!r}")
    return q
