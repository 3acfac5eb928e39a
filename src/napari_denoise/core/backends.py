"""Which backend and arithmetic a network runs in: torch (fp32, bf16, fp16) or ONNX Runtime
(fp32, int8 quantised), chosen from measurements, never from a guess.

``backend`` ("auto", "torch", "onnxruntime") sits beside ``precision`` ("auto", "fp32",
"bf16", "int8"; :mod:`.precision`):

* ``backend="torch"``: the network in PyTorch, ``precision`` as :mod:`.precision` says
  (int8 is refused: it runs in ONNX Runtime);
* ``backend="onnxruntime"`` (CPU, 2-D networks): the network exported to ONNX
  (:mod:`.export.onnx`) in ONNX Runtime, in fp32 or int8 (static quantisation with
  calibration, :mod:`.export.ort_runner`); ``precision="auto"`` there is int8 only where
  the model's card records int8 as the faster ONNX Runtime variant within
  :data:`INT8_TOLERANCE_DB`, fp32 otherwise; bf16 is refused;
* ``backend="auto"``: on a CPU, the variant ``benchmarks/backends.py --write-cards``
  measured fastest for this model at a PSNR cost of at most :data:`INT8_TOLERANCE_DB`
  (bf16 at most :data:`.precision.BF16_TOLERANCE_DB`), recorded in the card's
  ``inference.cpu_backend`` for a CPU with the same instruction-set features as this one
  (:func:`cpu_features`). Elsewhere (other CPUs, GPUs, models without the measurement,
  no onnxruntime installed) the torch path of :mod:`.precision`, as before.
  ``precision="int8"`` with ``backend="auto"`` runs ONNX Runtime int8.

The card's record, written by the benchmark::

    "cpu_backend": {"cpu_features": "avx2 avx512_bf16 avx512_vnni avx512f",
                    "choice": {"auto": "onnxruntime-int8", "fp32": "torch-fp32",
                               "onnxruntime": "onnxruntime-int8"},
                    "int8_psnr_cost_db": 0.03, "s_per_mp": {...}, "measured": "..."}

``choice`` keys: the requested precision with ``backend="auto"`` ("auto", "fp32") and the
requested backend with ``precision="auto"`` ("onnxruntime").
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from .errors import DenoiseError

BACKENDS = ("auto", "torch", "onnxruntime")
#: the largest PSNR cost (dB, against torch fp32) at which int8 or ONNX Runtime runs by default
INT8_TOLERANCE_DB = 0.05
#: what runs: "backend-precision"
VARIANTS = ("torch-fp32", "torch-bf16", "onnxruntime-fp32", "onnxruntime-int8")
INSTALL_HINT = 'pip install "napari-denoise[export]"'
#: the CPU instruction-set features a measurement holds for (speed of fp32, bf16, int8)
FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16",
            "amx_int8", "asimd", "sve", "i8mm", "bf16")


def check_backend(backend: str) -> str:
    """``backend`` in lower case, or ValueError naming the choices."""
    b = str(backend).lower()
    if b not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    return b


@functools.lru_cache(maxsize=1)
def cpu_features() -> str:
    """This CPU's features among :data:`FEATURES`, sorted, space-separated."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        import platform

        return platform.machine()
    flags = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[1].split())
    return " ".join(sorted(flags & set(FEATURES)))


@functools.lru_cache(maxsize=1)
def ort_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def require_ort() -> None:
    """DenoiseError with the install command when onnxruntime is missing."""
    if not ort_available():
        raise DenoiseError(f"the ONNX Runtime backend needs onnxruntime, which is not "
                           f"installed: {INSTALL_HINT}")


def measured_choice(card: dict | None, key: str) -> str | None:
    """The variant the card's measurement chose for ``key`` on a CPU like this one, or None."""
    rec = ((card or {}).get("inference") or {}).get("cpu_backend")
    if not isinstance(rec, dict) or rec.get("cpu_features") != cpu_features():
        return None
    v = (rec.get("choice") or {}).get(key)
    return v if v in VARIANTS else None


def _torch(den, precision: str) -> tuple[str, str]:
    from .precision import dtype_name, inference_dtype

    return "torch", dtype_name(inference_dtype(den.device, precision, den.card))


def runtime(den) -> tuple[str | None, str | None]:
    """(backend, precision) a configured :class:`.models.Denoiser` runs in, e.g.
    ("torch", "bf16") or ("onnxruntime", "int8"); (None, None) for classical methods.
    ValueError / DenoiseError for combinations that cannot run."""
    if den.kind != "network":
        return None, None
    b, p = check_backend(den.backend), den.precision
    if b == "torch":
        if p == "int8":
            raise ValueError("precision 'int8' runs in ONNX Runtime: use backend "
                             "'onnxruntime' or 'auto'")
        return _torch(den, p)
    cpu = den.device.type == "cpu"
    two_d = tuple(den.dims) == (2,) and isinstance(den.impl, _module_type())
    if b == "onnxruntime" or p == "int8":
        if b == "onnxruntime":
            what, instead = "backend 'onnxruntime'", "backend 'torch'"
        else:
            what, instead = "precision 'int8'", "precision 'auto'"
        if not cpu:
            raise ValueError(f"{what} runs on the CPU: use device 'cpu' (not "
                             f"'{den.device}'), or {instead}")
        if not two_d:
            why = (f"{den.name} is {den.dims[0]}-D" if tuple(den.dims) != (2,)
                   else f"{den.name} is not a PyTorch network")
            raise ValueError(f"{what} runs 2-D PyTorch networks only and {why}: use "
                             f"{instead}")
        require_ort()
        if p == "bf16":
            raise ValueError("ONNX Runtime runs fp32 or int8 here, not bf16: use backend "
                             "'torch' for bf16")
        if p in ("fp32", "int8"):
            return "onnxruntime", p
        chosen = measured_choice(den.card, "onnxruntime")
        return "onnxruntime", chosen.split("-")[1] if chosen else "fp32"
    if cpu and two_d and p in ("auto", "fp32") and ort_available():
        chosen = measured_choice(den.card, p)
        if chosen:
            backend, prec = chosen.split("-")
            return backend, prec
    return _torch(den, p)


def _module_type():
    from torch import nn

    return nn.Module


def torch_dtype(precision: str | None):
    """The autocast dtype of a torch precision name (None: float32)."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
