"""Export a denoising network to ONNX, for ONNX Runtime and other runtimes.

The exported graph has the engine's calling convention:

* ``input``: (N, C, H, W) float32, the image in the network's [0, 1] units;
* ``noise_level`` (only for networks that take a noise map, FFDNet and DRUNet):
  (N, 1, H, W) float32, the per-pixel noise standard deviation in the same units;
* ``output``: (N, C, H, W) float32, the denoised image.

N, H and W are dynamic. H and W must be multiples of the network's ``size_multiple``
(2 for FFDNet, 2 ** levels for the U-Nets, 1 for DnCNN): inside torch the networks pad
other sizes themselves, but that padding depends on the size and is not part of the
exported graph. The engine's tiles always are multiples (:mod:`..tiling`); other callers
pad first (reflect) and crop after. :func:`padded_multiple` says the multiple.
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

#: the opset the exporter writes by default (ONNX Runtime 1.14 and newer read it)
DEFAULT_OPSET = 17


def padded_multiple(module) -> int:
    """The multiple that H and W of the exported graph's inputs must be."""
    return int(getattr(module, "size_multiple", 1) or 1)


def _wrapper(module, takes_map: bool):
    from torch import nn

    class WithMap(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x, noise_level):
            return self.net(x, noise_level)

    class Blind(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)

    return (WithMap if takes_map else Blind)(module)


def to_onnx(module, path, *, in_channels: int, takes_map: bool, opset: int = DEFAULT_OPSET,
            example_size: int | None = None) -> Path:
    """Write ``module`` (a torch network with ``forward(x, sigma_map=None)``) to ``path``
    as ONNX, atomically (a temporary file renamed into place); returns the path.

    The module is not changed: a float32 copy in eval mode is exported. ``example_size``:
    the side of the example input traced (default: a multiple of ``size_multiple`` of
    at least 64)."""
    import torch

    path = Path(path)
    if getattr(module, "dims", 2) != 2:
        raise ValueError("only 2-D networks can be exported to ONNX here (this one is "
                         f"{getattr(module, 'dims', '?')}-D)")
    net = copy.deepcopy(module).float().eval().to("cpu")
    net = net.to(memory_format=torch.contiguous_format)
    mult = padded_multiple(net)
    side = int(example_size) if example_size else max(64, mult * -(-64 // mult))
    if side % mult:
        raise ValueError(f"example_size {side} is not a multiple of {mult}")
    x = torch.rand(1, int(in_channels), side, side)
    args = (x, torch.full((1, 1, side, side), 0.1)) if takes_map else (x,)
    names = ["input", "noise_level"] if takes_map else ["input"]
    dyn = {n: {0: "N", 2: "H", 3: "W"} for n in names + ["output"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # the tracer notes the size checks it freezes (see the module's docstring)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            torch.onnx.export(_wrapper(net, takes_map), args, str(tmp), input_names=names,
                              output_names=["output"], dynamic_axes=dyn,
                              opset_version=int(opset), dynamo=False,
                              do_constant_folding=True)
        os.chmod(tmp, 0o644)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
