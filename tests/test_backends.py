"""ONNX export, the ONNX Runtime backend, int8 models and how "auto" picks a backend."""

import numpy as np
import pytest

import onnxruntime as ort  # the [export] extra, part of [test]
import torch

from napari_denoise.core.archs import DRUNet  # noqa: E402
from napari_denoise.core.export.onnx import to_onnx  # noqa: E402
from napari_denoise.core.registry import create_arch  # noqa: E402


@pytest.fixture(autouse=True)
def _onnx_cache(tmp_path_factory, monkeypatch):
    """Exported graphs of shipped models go to a temporary cache, not the user's."""
    monkeypatch.setenv("NAPARI_DENOISE_CACHE", str(tmp_path_factory.mktemp("cache")))


def tiny(kind):
    torch.manual_seed(0)
    if kind == "drunet":
        net = DRUNet(widths=(4, 8, 16), blocks=1)
    elif kind == "ffdnet":
        net = create_arch("ffdnet", depth=4, features=8)
    else:
        net = create_arch("dncnn", depth=4, features=8)
    with torch.no_grad():  # He-normal weights everywhere (the inits keep the residual
        for m in net.modules():  # tiny) and non-trivial BatchNorm statistics
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                m.weight.mul_(0.5)
            if hasattr(m, "running_var"):
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.0)
    return net.eval()


@pytest.mark.parametrize("kind", ["drunet", "ffdnet", "dncnn"])
def test_onnx_export_matches_torch(kind, tmp_path, rng):
    net = tiny(kind)
    takes_map = bool(net.takes_noise_map)
    path = to_onnx(net, tmp_path / f"{kind}.onnx", in_channels=1, takes_map=takes_map)
    assert path.exists() and not list(tmp_path.glob("*.part"))  # written atomically
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    assert names == (["input", "noise_level"] if takes_map else ["input"])
    # another batch size and size than traced: N, H and W are dynamic
    x = rng.random((2, 1, 40, 56)).astype(np.float32)
    m = rng.uniform(0.02, 0.2, (2, 1, 40, 56)).astype(np.float32)
    feed = {"input": x, "noise_level": m} if takes_map else {"input": x}
    y = sess.run(["output"], feed)[0]
    with torch.no_grad():
        ref = net(torch.from_numpy(x), torch.from_numpy(m) if takes_map else None).numpy()
    assert y.shape == ref.shape
    assert np.abs(y - ref).max() < 1e-4
    assert np.abs(ref - x).mean() > 1e-3  # the network does something


# -- the backend option -------------------------------------------------------------------
import types  # noqa: E402

import napari_denoise as nd  # noqa: E402
from napari_denoise.core import backends  # noqa: E402
from napari_denoise.core.errors import DenoiseError  # noqa: E402
from napari_denoise.core.inference import denoise_iter, run_to_end  # noqa: E402
from napari_denoise.core.models import configure, resolve_denoiser  # noqa: E402
from napari_denoise.core.precision import dtype_name, inference_dtype  # noqa: E402


def scene(rng, shape=(70, 90)):
    """A smooth synthetic image in [0.1, 0.9] and a noisy copy (sigma 0.08)."""
    yy, xx = np.mgrid[:shape[0], :shape[1]] / 20.0
    clean = (0.5 + 0.4 * np.sin(yy) * np.cos(1.3 * xx)).astype(np.float32)
    return clean, (clean + rng.normal(0, 0.08, shape)).astype(np.float32)


def as_trained(net, **inference):
    """A trained-model-like object (module + card), with an ``inference`` record."""
    card = {"name": "tiny", "sigma_range": [0, 55]}
    if inference:
        card["inference"] = inference
    return types.SimpleNamespace(module=net, card=card)


def record(choice, features=None):
    return {"cpu_backend": {"cpu_features": backends.cpu_features() if features is None
                            else features, "choice": choice}}


def run(img, model, **kw):
    kw = {"sigma": 0.08, "data_range": (0.0, 1.0), "device": "cpu", "noise": "gaussian",
          **kw}
    return run_to_end(denoise_iter(img, model, **kw))


@pytest.mark.parametrize("kind", ["drunet", "dncnn"])  # a noise-map model and a blind one
def test_onnxruntime_backend_equals_torch_fp32(kind, rng):
    _, noisy = scene(rng)  # 70 x 90: not a multiple of the U-Net's 4, padded like torch
    net = tiny(kind)
    ref = run(noisy, net, backend="torch", precision="fp32")
    out = run(noisy, net, backend="onnxruntime", precision="fp32")
    assert (ref.info.backend, ref.info.precision) == ("torch", "fp32")
    assert (out.info.backend, out.info.precision) == ("onnxruntime", "fp32")
    assert np.abs(out.image - ref.image).max() < 1e-4
    assert np.abs(ref.image - noisy).mean() > 1e-3
    assert not np.shares_memory(out.image, noisy)


def test_onnxruntime_backend_with_the_x8_ensemble(rng):
    _, noisy = scene(rng, (36, 52))  # turned by 90 degrees: H and W swap, still padded
    net = tiny("drunet")
    ref = run(noisy, net, backend="torch", precision="fp32", quality="best")
    out = run(noisy, net, backend="onnxruntime", quality="best")
    assert out.info.quality == "best" and out.info.backend == "onnxruntime"
    assert np.abs(out.image - ref.image).max() < 1e-4


def psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2))


#: int8 against fp32 on the synthetic scene: the quantised network's output differs from
#: the fp32 one's by less than this (PSNR of the one against the other, dB)
INT8_AGREEMENT_DB = 40.0


def test_int8_stays_within_its_budget(rng):
    _, noisy = scene(rng, (64, 64))
    net = tiny("drunet")
    f32 = run(noisy, net, backend="onnxruntime", precision="fp32")
    i8 = run(noisy, net, precision="int8")  # backend auto: int8 runs in ONNX Runtime
    assert (i8.info.backend, i8.info.precision) == ("onnxruntime", "int8")
    agreement = psnr(i8.image, f32.image)
    assert INT8_AGREEMENT_DB < agreement < 200  # quantised: close, but not the same graph


def test_int8_graph_is_quantised(tmp_path):
    import onnx

    from napari_denoise.core.export.ort_runner import onnx_bytes

    net = tiny("dncnn")
    data = onnx_bytes(net, {}, "int8", in_channels=1, takes_map=False)
    ops = [n.op_type for n in onnx.load_from_string(data).graph.node]
    assert ops.count("QuantizeLinear") >= 2 and "DequantizeLinear" in ops


def test_auto_follows_the_recorded_measurement(rng):
    _, noisy = scene(rng, (48, 48))
    net = tiny("drunet")
    measured = run(noisy, as_trained(net, **record({"auto": "onnxruntime-fp32"})))
    assert (measured.info.backend, measured.info.precision) == ("onnxruntime", "fp32")
    # measured on a CPU with other features: not applied here, the torch default runs
    other = run(noisy, as_trained(net, **record({"auto": "onnxruntime-fp32"}, "avx2 other")))
    assert other.info.backend == "torch"
    # forcing one backend overrides the measurement
    forced = run(noisy, as_trained(net, **record({"auto": "onnxruntime-fp32"})),
                 backend="torch")
    assert forced.info.backend == "torch"


def test_auto_choice_per_requested_setting():
    net = tiny("ffdnet")
    rec = record({"auto": "onnxruntime-int8", "fp32": "torch-fp32",
                  "onnxruntime": "onnxruntime-fp32"})
    den = resolve_denoiser(as_trained(net, **rec), "cpu")

    def rt(**kw):
        return configure(den, **kw).runtime

    assert rt() == ("onnxruntime", "int8")
    assert rt(precision="fp32") == ("torch", "fp32")
    assert rt(backend="onnxruntime") == ("onnxruntime", "fp32")
    assert rt(backend="onnxruntime", precision="int8") == ("onnxruntime", "int8")
    bf16 = rt(precision="bf16")
    assert bf16[0] == "torch"
    # no measurement: the torch policy of .precision (bf16 only with a measured cost)
    plain = resolve_denoiser(as_trained(net), "cpu")
    expect = dtype_name(inference_dtype(plain.device, "auto", plain.card))
    assert configure(plain).runtime == ("torch", expect)
    assert configure(plain, backend="onnxruntime").runtime == ("onnxruntime", "fp32")


def one_line_error(fn):
    with pytest.raises(DenoiseError) as exc:
        fn()
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_unknown_backend_and_impossible_settings(rng):
    img = rng.random((32, 32)).astype(np.float32)
    msg = one_line_error(lambda: nd.denoise(img, tiny("dncnn"), backend="tensorrt"))
    assert "tensorrt" in msg and "onnxruntime" in msg
    msg = one_line_error(lambda: nd.denoise(img, tiny("dncnn"), backend="torch",
                                            precision="int8"))
    assert "int8" in msg and "onnxruntime" in msg
    msg = one_line_error(lambda: nd.denoise(img, tiny("dncnn"), backend="onnxruntime",
                                            precision="bf16"))
    assert "bf16" in msg
    msg = one_line_error(lambda: nd.denoise(img, "bm3d", sigma=0.1, backend="nope"))
    assert "backend" in msg
    vol = rng.random((8, 24, 24)).astype(np.float32)
    net3 = create_arch("dncnn", depth=3, features=4, dims=3)
    msg = one_line_error(lambda: nd.denoise(vol, net3, axes="ZYX", mode="3d",
                                            backend="onnxruntime"))
    assert "3-D" in msg and "torch" in msg


def test_missing_onnxruntime_says_how_to_install(rng, monkeypatch):
    monkeypatch.setattr(backends, "ort_available", lambda: False)
    img = rng.random((32, 32)).astype(np.float32)
    msg = one_line_error(lambda: nd.denoise(img, tiny("dncnn"), backend="onnxruntime"))
    assert 'pip install "napari-denoise[export]"' in msg
    one_line_error(lambda: nd.denoise(img, tiny("dncnn"), precision="int8"))
    # auto never needs it: a recorded ONNX Runtime choice falls back to torch
    res = run(img, as_trained(tiny("dncnn"), **record({"auto": "onnxruntime-fp32"})))
    assert res.info.backend == "torch"


def test_cli_backend_option(tmp_path, rng, capsys):
    from napari_denoise.cli import main

    src, dst = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(src, (rng.random((40, 40)) * 255).astype(np.uint8))
    assert main(["denoise", str(src), "-o", str(dst), "--model", "dncnn_blind",
                 "--backend", "onnxruntime", "--precision", "fp32"]) == 0
    assert "onnxruntime" in capsys.readouterr().out
    out = np.load(dst)
    assert out.shape == (40, 40) and out.dtype == np.uint8


def test_benchmark_record_is_what_auto_reads(monkeypatch):
    """benchmarks/backends.py --write-cards: the fastest variant within the quality budget
    (5% faster than the torch default at least), only from a full run; auto then runs it."""
    import importlib.util
    from pathlib import Path

    from napari_denoise.core import precision

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "backends.py"
    spec = importlib.util.spec_from_file_location("bench_backends", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)

    def r(psnr_db, s_per_mp, images=68):
        return {"psnr": psnr_db, "s_per_mp": s_per_mp, "images": images}

    res = {"torch-fp32": r(29.0, 3.0), "torch-bf16": r(28.999, 1.5),
           "onnxruntime-fp32": r(29.0, 2.8), "onnxruntime-int8": r(28.97, 1.0)}
    rec = bench.choices("dncnn_blind", res)  # its card: bf16 costs 0.0 dB
    assert rec["choice"] == {"auto": "onnxruntime-int8", "fp32": "onnxruntime-fp32",
                             "onnxruntime": "onnxruntime-int8"}
    den = resolve_denoiser(as_trained(tiny("dncnn"), cpu_backend=rec), "cpu")
    assert configure(den).runtime == ("onnxruntime", "int8")
    assert configure(den, precision="fp32").runtime == ("onnxruntime", "fp32")
    res["onnxruntime-int8"] = r(28.9, 1.0)  # 0.1 dB: over the budget
    assert bench.choices("dncnn_blind", res)["choice"]["auto"] == "torch-bf16"
    res["onnxruntime-int8"] = r(28.98, 1.45)  # within it, but not 5% faster than bf16
    assert bench.choices("dncnn_blind", res)["choice"]["auto"] == "torch-bf16"
    assert bench.choices("dncnn_blind", dict(res, **{"torch-fp32": r(29.0, 3.0, 2)})) is None
