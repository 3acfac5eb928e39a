"""Networks in ONNX Runtime on the CPU: fp32 (the exported graph) and int8.

int8 is ONNX Runtime's static quantisation (``onnxruntime.quantization.quantize_static``)
in the QDQ format: weights int8 per output channel, activations uint8 with ranges
calibrated (min-max) on a few patches of the natural images scikit-image ships
(``camera``, ``coins``) with Gaussian noise across the model's trained noise range, in
the units the engine feeds the network. The convolutions (and transposed convolutions)
are quantised except the first, which sees the raw noisy image and the noise map, and
the last, which writes the residual the output is made of; additions, concatenations and
the final subtraction stay in float. ONNX Runtime fuses the rest into integer kernels
(VNNI / AMX where the CPU has them).

Sessions are cached per network module (one per model and device, :func:`.models._load_cached`),
precision and thread count. Exported and quantised graphs of shipped models (whose card
carries the weights' sha256) are also cached on disk (:func:`cache_dir`), so a new
process does not export and calibrate again.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
import weakref
from pathlib import Path

import numpy as np

#: bump when the export or the quantisation recipe changes: cached files are then remade
RECIPE = 1
_SESSIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def cache_dir() -> Path:
    """Where exported graphs of shipped models are kept (NAPARI_DENOISE_CACHE overrides)."""
    env = os.environ.get("NAPARI_DENOISE_CACHE")
    if env:
        return Path(env) / "onnx"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("napari-denoise", appauthor=False)) / "onnx"


def _cache_path(card: dict, precision: str) -> Path | None:
    sha = (card or {}).get("sha256")
    if not isinstance(sha, str) or len(sha) < 16:
        return None
    import onnxruntime
    import torch

    tag = f"r{RECIPE}-ort{onnxruntime.__version__}-torch{torch.__version__.split('+')[0]}"
    name = re.sub(r"[^\w.-]", "_", str(card.get("name", "model")))
    return cache_dir() / f"{name}-{sha[:16]}-{precision}-{tag}.onnx"


def calibration_feeds(card: dict, *, in_channels: int, takes_map: bool, n: int = 8,
                      side: int = 128, seed: int = 0) -> list[dict]:
    """``n`` deterministic network inputs (noisy natural-image patches in [0, 1], and
    their noise map) at noise levels across the card's ``sigma_range`` (0-255 units)."""
    from skimage import data

    lo, hi = (card or {}).get("sigma_range") or (0, 50)
    sigmas = np.linspace(max(float(lo), 5.0), max(float(hi), 10.0), 4) / 255.0
    scenes = [data.camera() / 255.0, data.coins() / 255.0]
    rng = np.random.default_rng(seed)
    feeds = []
    for i in range(n):
        img = scenes[i % len(scenes)]
        y = int(rng.integers(0, img.shape[0] - side))
        x = int(rng.integers(0, img.shape[1] - side))
        s = float(sigmas[i % len(sigmas)])
        clean = np.repeat(img[None, y:y + side, x:x + side], in_channels, 0)
        noisy = (clean + rng.normal(0.0, s, clean.shape)).astype(np.float32)[None]
        f = {"input": noisy}
        if takes_map:
            f["noise_level"] = np.full((1, 1, side, side), s, np.float32)
        feeds.append(f)
    return feeds


def quantize_int8(src: Path, dst: Path, feeds: list[dict]) -> Path:
    """Static QDQ int8 of the ONNX graph ``src`` into ``dst``, calibrated on ``feeds``."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                          QuantFormat, QuantType, quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(feeds)

        def get_next(self):
            return next(self._it, None)

    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = dst.with_name(dst.stem + ".pre.onnx")
    with _quiet_root_logger():
        try:  # ONNX Runtime's recommended clean-up (shapes, fusions) before quantising
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
            src = pre
        except Exception:  # noqa: BLE001 - optional: the graph quantises without it
            pass
        kinds = ("Conv", "ConvTranspose")
        convs = [n.name for n in onnx.load(str(src)).graph.node if n.op_type in kinds]
        keep_float = [convs[0], convs[-1]] if len(convs) > 2 else []
        quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, op_types_to_quantize=list(kinds),
                        nodes_to_exclude=keep_float, calibrate_method=CalibrationMethod.MinMax)
    return dst


@contextlib.contextmanager
def _quiet_root_logger():
    """onnxruntime.quantization advises on the root logger; users need not see it."""
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)


def onnx_bytes(module, card: dict, precision: str, *, in_channels: int,
               takes_map: bool) -> bytes:
    """The ONNX graph of ``module`` in ``precision`` ("fp32" or "int8"), from the disk
    cache when there is one."""
    from .onnx import to_onnx

    cached = _cache_path(card, precision)
    if cached is not None and cached.is_file():
        return cached.read_bytes()
    with tempfile.TemporaryDirectory(prefix="napari-denoise-onnx-") as tmp:
        path = to_onnx(module, Path(tmp) / "model.onnx", in_channels=in_channels,
                       takes_map=takes_map)
        if precision == "int8":
            feeds = calibration_feeds(card, in_channels=in_channels, takes_map=takes_map)
            path = quantize_int8(path, Path(tmp) / "model.int8.onnx", feeds)
        elif precision != "fp32":
            raise ValueError(f"ONNX Runtime runs fp32 or int8 here, not {precision!r}")
        data = path.read_bytes()
    if cached is not None:
        _write_atomic(cached, data)
    return data


def _write_atomic(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError:  # a read-only cache only costs the export next time
        pass


class OrtNetwork:
    """An ONNX Runtime session called like the torch network: ``net(x, sigma_map)`` on
    torch tensors, padding H and W to the graph's multiple (as the network does)."""

    def __init__(self, session, *, takes_map: bool, multiple: int):
        self.session, self.takes_map, self.multiple = session, takes_map, int(multiple)

    def __call__(self, x, sigma_map=None):
        import torch

        from ..archs._layers import pad_to_multiple

        x = x.float().contiguous()
        xp, crop = pad_to_multiple(x, self.multiple, 2)
        feed = {"input": np.ascontiguousarray(xp.numpy())}
        if self.takes_map:
            m = sigma_map if sigma_map is not None else torch.zeros(x.shape[0])
            if m.ndim == 1:
                m = m.view(-1, 1, 1, 1).expand(-1, 1, *x.shape[-2:])
            m = m[:, :1].float().contiguous()
            if crop is not None:
                m, _ = pad_to_multiple(m, self.multiple, 2)
            feed["noise_level"] = np.ascontiguousarray(m.numpy())
        y = torch.from_numpy(self.session.run(["output"], feed)[0])
        return y if crop is None else y[crop]


def make_session(model: bytes, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, int(threads))
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # errors only
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def onnx_network(module, card: dict, precision: str, *, in_channels: int,
                 takes_map: bool) -> OrtNetwork:
    """The cached :class:`OrtNetwork` of ``module`` in ``precision``."""
    import torch

    from .onnx import padded_multiple

    key = (precision, torch.get_num_threads())
    with _LOCK:
        per = _SESSIONS.setdefault(module, {})
        if key not in per:
            data = onnx_bytes(module, card, precision, in_channels=in_channels,
                              takes_map=takes_map)
            per[key] = OrtNetwork(make_session(data, key[1]), takes_map=takes_map,
                                  multiple=padded_multiple(module))
        return per[key]
