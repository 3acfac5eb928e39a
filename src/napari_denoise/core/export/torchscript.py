"""Export a denoising network to TorchScript (``torch.jit.trace``).

Same calling convention as the ONNX export (:mod:`.onnx`):

* ``input``: (N, C, H, W) float32, the image in the network's [0, 1] units;
* ``noise_level`` (networks that take a noise map): (N, 1, H, W) float32, the per-pixel
  noise standard deviation in the same units;
* returns the denoised (N, C, H, W) float32 image.

H and W must be multiples of the network's ``size_multiple``: the padding the networks
do for other sizes depends on the size and is not traced. The traced module is checked
against the network on an example input before it is written (within 1e-4).
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

#: largest difference allowed between the traced module and the network
TOLERANCE = 1e-4


def _wrapper(net, takes_map: bool):
    from torch import nn

    class WithMap(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, input, noise_level):  # noqa: A002 - the tensor's name
            return self.net(input, noise_level)

    class Blind(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, input):  # noqa: A002
            return self.net(input, None)

    return (WithMap if takes_map else Blind)(net)


def example_inputs(in_channels: int, takes_map: bool, side: int, seed: int = 0):
    """A random (1, C, side, side) image in [0, 1] and, for map models, a noise map."""
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, int(in_channels), side, side, generator=g)
    return (x, torch.full((1, 1, side, side), 0.1)) if takes_map else (x,)


def trace(module, *, in_channels: int, takes_map: bool, side: int | None = None):
    """A traced (``torch.jit``) float32 CPU copy of ``module``; the module is not changed.
    Raises ValueError if the traced module does not reproduce the network."""
    import torch

    net = copy.deepcopy(module).float().eval().to("cpu")
    net = net.to(memory_format=torch.contiguous_format)
    mult = int(getattr(net, "size_multiple", 1) or 1)
    side = int(side) if side else max(64, mult * -(-64 // mult))
    args = example_inputs(in_channels, takes_map, side)
    wrapped = _wrapper(net, takes_map).eval()
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer notes the size checks it freezes (see the module's docstring)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(wrapped, args, check_trace=False)
        ref = wrapped(*args)
        # a second size: the traced graph must not have frozen the first one
        args2 = example_inputs(in_channels, takes_map, side + mult * max(1, 8 // mult), 1)
        ref2 = wrapped(*args2)
        diff = max(float((traced(*args) - ref).abs().max()),
                   float((traced(*args2) - ref2).abs().max()))
    if not diff <= TOLERANCE:
        raise ValueError(f"the traced network differs from the original by {diff:.3g} "
                         f"(more than {TOLERANCE:g}): it cannot be exported to TorchScript")
    return traced


def to_torchscript(module, path, *, in_channels: int, takes_map: bool) -> Path:
    """Write ``module`` as a TorchScript archive to ``path``, atomically; returns the path."""
    import torch

    path = Path(path)
    if getattr(module, "dims", 2) != 2:
        raise ValueError("only 2-D networks can be exported to TorchScript here (this one "
                         f"is {getattr(module, 'dims', '?')}-D)")
    traced = trace(module, in_channels=in_channels, takes_map=takes_map)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        torch.jit.save(traced, str(tmp))
        os.chmod(tmp, 0o644)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
