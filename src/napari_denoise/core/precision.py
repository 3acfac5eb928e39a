"""The mixed-precision (autocast) policy, one place for training and inference.

``autocast_dtype(device, training=...)`` says which reduced precision a device runs
in, or None for float32:

* CUDA: bfloat16 where the GPU supports it, else float16 (``fp16_fallback=False``:
  float32 instead, for training without a gradient scaler);
* CPU: bfloat16 for training only, and only on CPUs with native bf16 (AMX /
  AVX512-BF16): elsewhere it is slower than float32; inference stays float32;
* MPS: float16 for inference; float32 for training.

``enabled`` (True / False) overrides the automatic choice for training (the
``amp=`` option of the self-supervised trainer): True forces bfloat16 on CUDA and
CPU. :func:`autocast` turns the choice into a context manager.
"""

from __future__ import annotations

import functools
from pathlib import Path


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True on CPUs with native bfloat16 arithmetic (AMX or AVX512-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def autocast_dtype(device, *, training: bool = False, fp16_fallback: bool = True,
                   enabled: bool | None = None):
    """The autocast dtype for ``device`` (a ``torch.device``), or None: float32."""
    import torch

    if device.type == "cuda":
        if enabled is not None:
            return torch.bfloat16 if enabled else None
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16 if fp16_fallback else None
    if device.type == "cpu":
        if not training:
            return None
        if enabled is not None:
            return torch.bfloat16 if enabled else None
        native = torch.backends.mkldnn.is_available() and cpu_has_bf16()
        return torch.bfloat16 if native else None
    if device.type == "mps" and not training:
        return torch.float16
    return None  # MPS training and other devices: float32


def autocast(device, dtype):
    """``torch.autocast`` for ``device`` in ``dtype``; a disabled one when dtype is None."""
    import torch

    if dtype is None:
        return torch.autocast("cpu", enabled=False)
    return torch.autocast(device.type, dtype=dtype)
