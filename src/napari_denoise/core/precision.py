"""The mixed-precision (autocast) policy, one place for training and inference.

``autocast_dtype(device, training=...)`` says which reduced precision a device runs
in, or None for float32:

* CUDA: bfloat16 where the GPU supports it, else float16 (``fp16_fallback=False``:
  float32 instead, for training without a gradient scaler);
* CPU: bfloat16 only on CPUs with native bf16 (AMX / AVX512-BF16): elsewhere it is
  slower than float32. Training: always there. Inference: only for models whose card
  says bf16 costs them at most :data:`BF16_TOLERANCE_DB` of PSNR (measured by
  ``benchmarks/precision.py``); other models, and models without that measurement,
  stay float32;
* MPS: float16 for inference; float32 for training.

:func:`inference_dtype` applies the user's ``precision`` ("auto", "fp32", "bf16") on
top of that choice: "fp32" always wins, "bf16" forces bfloat16 where the device can.
"int8" is not an autocast precision: it runs in ONNX Runtime, and which backend runs a
network at all is :mod:`.backends`' choice.

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


#: the largest PSNR cost (dB) at which a model runs in bfloat16 on CPU by default
BF16_TOLERANCE_DB = 0.02
#: "int8" runs in ONNX Runtime (:mod:`.backends`), not under autocast
PRECISIONS = ("auto", "fp32", "bf16", "int8")


def card_allows_bf16(card: dict | None) -> bool:
    """True when ``card`` records a measured bf16 cost within the tolerance."""
    cost = ((card or {}).get("inference") or {}).get("bf16_psnr_cost_db")
    return isinstance(cost, (int, float)) and cost <= BF16_TOLERANCE_DB


def check_precision(precision: str) -> str:
    """``precision`` in lower case, or ValueError naming the choices."""
    p = str(precision).lower()
    if p not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    return p


def inference_dtype(device, precision: str = "auto", card: dict | None = None):
    """The autocast dtype for running a network on ``device``, or None: float32.

    ``precision``: "fp32" (never reduced), "bf16" (bfloat16 on CPU and CUDA, float16 on
    MPS) or "auto" (the device's policy above, with the card's measured cost on CPU).
    """
    import torch

    p = check_precision(precision)
    if p in ("fp32", "int8"):  # int8 is not an autocast dtype: see .backends
        return None
    if p == "bf16":
        return torch.float16 if device.type == "mps" else torch.bfloat16
    if device.type == "cpu":
        native = torch.backends.mkldnn.is_available() and cpu_has_bf16()
        return torch.bfloat16 if native and card_allows_bf16(card) else None
    return autocast_dtype(device)


def dtype_name(dtype) -> str:
    """"fp32", "bf16" or "fp16" for an autocast dtype (None: float32)."""
    return {None: "fp32"}.get(dtype) or {"torch.bfloat16": "bf16",
                                         "torch.float16": "fp16"}.get(str(dtype), str(dtype))


def autocast(device, dtype):
    """``torch.autocast`` for ``device`` in ``dtype``; a disabled one when dtype is None."""
    import torch

    if dtype is None:
        return torch.autocast("cpu", enabled=False)
    return torch.autocast(device.type, dtype=dtype)
