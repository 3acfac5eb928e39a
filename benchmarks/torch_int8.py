"""torch int8 for benchmarks/backends.py: PyTorch's FX graph-mode static quantisation
(``torch.ao.quantization``, x86 backend: int8 weights per channel, uint8 activations),
calibrated on the same noisy patches as the ONNX Runtime int8 models.

The networks' own ``forward`` pads to a size multiple and checks its inputs with Python
control flow, which FX cannot trace; so every ``nn.Sequential`` inside the network (the
DnCNN / FFDNet body, each DRUNet level) is quantised on its own, and what lies between
(pixel shuffles, the U-Net's skips, the head and tail convolutions, the residual
subtraction) stays in float, as do the U-Net's transposed convolutions. Measured only:
the engine does not run torch int8 (``torch.ao.quantization`` is deprecated in favour of
torchao).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np


def quantise_fx(net, feeds):
    """A copy of ``net`` with every traceable ``nn.Sequential`` quantised (int8)."""
    import torch
    from torch import nn
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    net = copy.deepcopy(net).float().eval().to(memory_format=torch.contiguous_format)
    seqs = [(p, n, c) for p in net.modules() for n, c in p.named_children()
            if isinstance(c, nn.Sequential)]
    seen = {}
    hooks = [c.register_forward_pre_hook(lambda m, a: seen.setdefault(m, a))
             for _, _, c in seqs]

    def calibrate():
        with torch.no_grad():
            for f in feeds:
                x = torch.from_numpy(f["input"])
                m = torch.from_numpy(f["noise_level"]) if "noise_level" in f else None
                net(x, m) if m is not None else net(x)

    with torch.no_grad():  # one pass records each Sequential's example input
        f = feeds[0]
        net(torch.from_numpy(f["input"]),
            torch.from_numpy(f["noise_level"]) if "noise_level" in f else None)
    for h in hooks:
        h.remove()
    # transposed convolutions stay float: with the x86 mapping's per-channel weights the
    # quantised DRUNet lost 4.2 dB on BSD68 (45.6 dB agreement with them in float)
    qmap = get_default_qconfig_mapping("x86").set_object_type(nn.ConvTranspose2d, None)
    done = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for parent, name, child in seqs:
            if child not in seen:
                continue
            try:
                prepared = prepare_fx(child, qmap, seen[child])
            except Exception:  # noqa: BLE001 - leave what does not trace in float
                continue
            setattr(parent, name, prepared)
            done.append((parent, name))
        calibrate()
        for parent, name in done:
            setattr(parent, name, convert_fx(getattr(parent, name)))
    if not done:
        raise RuntimeError("no part of the network traces with torch.fx")
    return net


def engine_int8(name: str, sigma: float):
    """``f(noisy) -> denoised`` running ``name`` quantised by :func:`quantise_fx` through
    the engine (tiles, normalisation) in float32 otherwise; or a reason string."""
    import napari_denoise as nd
    from napari_denoise.core.export.ort_runner import calibration_feeds
    from napari_denoise.core.models import resolve_denoiser

    den = resolve_denoiser(name, "cpu")
    feeds = calibration_feeds(den.card, in_channels=den.in_channels, takes_map=den.takes_map)
    try:
        q = quantise_fx(den.impl, feeds)
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return f"torch int8 not available: {type(exc).__name__}: {str(exc)[:80]}"
    card = dict(den.card, name=f"{name}-torch-int8")
    model = type("Quantised", (), {"module": q, "card": card})()

    def f(noisy):
        return nd.denoise(np.asarray(noisy, np.float32), model, sigma=sigma,
                          data_range=(0.0, 1.0), device="cpu", noise="gaussian",
                          backend="torch", precision="fp32")
    import io

    import torch

    buf = io.BytesIO()
    torch.save(q.state_dict(), buf)
    f.nbytes = buf.tell()  # the quantised weights as torch.save writes them
    return f
