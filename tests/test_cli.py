"""The napari-denoise command, end to end on temporary files."""

import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_denoise import cli
from napari_denoise.cli import demo as cli_demo
from napari_denoise.cli import main
from napari_denoise.cli import summary_line
from napari_denoise.core.classical import CLASSICAL

PREFIX = "napari-denoise: error: "


def _card(**kw):
    card = dict(name="smooth3", description="3x3 mean filter as a DnCNN (test only)",
                arch="dncnn", arch_args={"depth": 3, "features": 8}, dims=2, channels=1,
                noise_model="gaussian", sigma_range=[0, 55], normalisation="[0, 1]",
                training_data="none", recipe="none", metrics={"synthetic": {"psnr": 30.5}},
                licence="BSD-3-Clause", limitations="test only")
    card.update(kw)
    return card


def _smoothing_dncnn():
    """A DnCNN whose residual is x - box3(x): it denoises without training."""
    import torch

    from napari_denoise.core.archs import DnCNN

    net = DnCNN(depth=3, features=8)
    delta = torch.zeros(3, 3)
    delta[1, 1] = 1.0
    hp = delta - torch.full((3, 3), 1 / 9)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        first, mid, last = [m for m in net.body if isinstance(m, torch.nn.Conv2d)]
        first.weight[0, 0], first.weight[1, 0] = hp, -hp  # relu(r) and relu(-r)
        mid.weight[0, 0], mid.weight[1, 1] = delta, delta
        last.weight[0, 0], last.weight[0, 1] = delta, -delta  # r = relu(r) - relu(-r)
        for m in net.body:
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.fill_(1.0)
    return net.eval()


@pytest.fixture
def smooth_model(tmp_path):
    from napari_denoise.core.weights import save_model

    return save_model(_smoothing_dncnn(), tmp_path / "smooth3.safetensors", _card())


def _clean_noisy(shape=(96, 112), sigma=20.0, seed=0):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    clean = 128 + 70 * np.sin(xx / 9.0) * np.cos(yy / 11.0)
    rng = np.random.default_rng(seed)
    noisy = clean + rng.normal(0, sigma, shape)
    return (np.clip(np.rint(clean), 0, 255).astype(np.uint8),
            np.clip(np.rint(noisy), 0, 255).astype(np.uint8))


def _psnr(a, b):
    from skimage.metrics import peak_signal_noise_ratio

    return peak_signal_noise_ratio(a, b, data_range=255)


def _assert_one_line_error(err):
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(PREFIX), err
    assert "Traceback" not in err
    return lines[0]


# -- denoise ------------------------------------------------------------------------

def test_denoise_tiff_improves_psnr_and_keeps_shape_dtype(tmp_path, smooth_model, capsys):
    clean, noisy = _clean_noisy()
    src, dst = tmp_path / "noisy.tif", tmp_path / "out" / "clean.tif"
    tifffile.imwrite(src, noisy)
    rc = main(["denoise", str(src), "-o", str(dst), "--model", str(smooth_model)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert err == ""  # not a terminal: no per-tile progress
    lines = out.strip().splitlines()
    assert len(lines) == 1 and str(dst) in lines[0] and "smooth3" in lines[0]
    result = tifffile.imread(dst)
    assert result.shape == noisy.shape and result.dtype == np.uint8
    assert _psnr(clean, result) > _psnr(clean, noisy) + 3


def test_denoise_stack_keeps_imagej_metadata(tmp_path, smooth_model, capsys):
    clean, noisy = _clean_noisy((64, 64))
    stack = np.stack([noisy.astype(np.uint16) * 100 + i for i in range(4)])
    src, dst = tmp_path / "stack.tif", tmp_path / "stack_out.tif"
    tifffile.imwrite(src, stack, imagej=True, resolution=(1 / 0.2, 1 / 0.2),
                     metadata={"axes": "ZYX", "spacing": 0.7, "unit": "um"})
    dst.write_bytes(b"old")  # a file we did not write is replaced only with --overwrite
    rc = main(["denoise", str(src), "-o", str(dst), "-m", str(smooth_model), "--sigma", "300",
               "--quiet", "--overwrite"])
    out, err = capsys.readouterr()
    assert rc == 0 and out == "" and err == ""
    with tifffile.TiffFile(dst) as tf:
        assert tf.is_imagej and tf.series[0].axes == "ZYX"
        assert tf.imagej_metadata["spacing"] == pytest.approx(0.7)
        assert tf.imagej_metadata["unit"] == "um"
        assert tf.pages[0].resolution == pytest.approx((5.0, 5.0))
        res = tf.asarray()
    assert res.shape == stack.shape and res.dtype == np.uint16
    ref = clean.astype(np.uint16) * 100
    mse = lambda a: np.mean((a[1].astype(float) - ref) ** 2)  # noqa: E731
    assert mse(res) < mse(stack) / 2


def test_denoise_png_with_classical_method(tmp_path, capsys):
    clean, noisy = _clean_noisy()
    src, dst = tmp_path / "n.png", tmp_path / "d.png"
    from napari_denoise.io import write_image

    write_image(src, noisy)
    rc = main(["denoise", str(src), "-o", str(dst), "--model", "wavelet", "--sigma", "auto"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "wavelet" in out and "estimated" in out
    from napari_denoise.io import read_image

    res, meta = read_image(dst)
    assert res.shape == noisy.shape and res.dtype == np.uint8 and meta.axes == "YX"
    assert _psnr(clean, res) > _psnr(clean, noisy) + 3


# -- errors -----------------------------------------------------------------------------

@pytest.fixture
def inputs(tmp_path):
    _, noisy = _clean_noisy((32, 32))
    tifffile.imwrite(tmp_path / "img.tif", noisy)
    (tmp_path / "fake.tif").write_text("not a tiff at all")
    tifffile.imwrite(tmp_path / "u16.tif", noisy.astype(np.uint16))
    return tmp_path


ERROR_CASES = [
    # argv (with {d} = the folder), exit status, text expected in the message
    (["denoise", "{d}/missing.tif", "-o", "{d}/o.tif"], 2, "not found"),
    (["denoise", "{d}/fake.tif", "-o", "{d}/o.tif"], 2, "not a readable TIFF"),
    (["denoise", "{d}/img.tif", "-o", "{d}/o.tif", "--model", "no_such_model"], 2,
     "unknown model 'no_such_model'; available"),
    (["denoise", "{d}/img.tif", "-o", "{d}/o.tif", "--model", "{d}/nothing.safetensors"], 2,
     "model file not found"),
    (["denoise", "{d}/img.tif", "-o", "{d}/o.tif", "--axes", "ZYX"], 2, "does not fit"),
    (["denoise", "{d}/img.tif", "-o", "{d}/o.tif", "--axes", "abc"], 2, "bad axes"),
    (["denoise", "{d}/img.tif", "-o", "{d}/o.tif", "--sigma", "lots"], 2, "--sigma"),
    (["denoise", "{d}/img.tif", "-o", "{d}/o.tif", "--sigma", "-1"], 2, ">= 0"),
    (["denoise", "{d}/img.tif", "-o", "{d}/o.tif", "--tile", "4"], 2, "--tile"),
    (["denoise", "{d}/img.tif", "-o", "{d}/o.weird"], 2, "unknown file type"),
    (["denoise", "{d}/u16.tif", "-o", "{d}/o.jpg"], 2, "8-bit"),
    (["denoise", "{d}/img.tif"], 2, "-o/--output"),
    (["denoise", "{d}/img.tif", "-o", "{d}/o.tif", "--mode", "4d"], 2, "--mode"),
    (["frobnicate"], 2, "invalid choice"),
    ([], 2, "no command"),
]


@pytest.mark.parametrize("argv,code,text", ERROR_CASES,
                         ids=[c[2] for c in ERROR_CASES])
def test_errors_are_one_line(inputs, capsys, argv, code, text):
    argv = [a.format(d=inputs) for a in argv]
    before = sorted(p.name for p in inputs.iterdir())
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == code
    line = _assert_one_line_error(err)
    assert text in line
    assert sorted(p.name for p in inputs.iterdir()) == before  # no output, no temp file


def test_cuda_without_gpu_is_one_line(inputs, smooth_model, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    rc = main(["denoise", str(inputs / "img.tif"), "-o", str(inputs / "o.tif"),
               "--model", str(smooth_model), "--device", "cuda"])
    line = _assert_one_line_error(capsys.readouterr().err)
    assert rc == 2 and "cuda" in line and not (inputs / "o.tif").exists()


def test_default_model_missing_gives_a_hint(inputs, capsys, monkeypatch):
    from napari_denoise.core import models

    monkeypatch.setattr(models, "DEFAULT_MODEL", "not_installed_model")
    rc = main(["denoise", str(inputs / "img.tif"), "-o", str(inputs / "o.tif")])
    line = _assert_one_line_error(capsys.readouterr().err)
    assert rc == 2 and "not_installed_model" in line and "--model" in line


def test_debug_shows_the_real_exception(inputs):
    with pytest.raises(ValueError, match="no_such_model"):
        main(["--debug", "denoise", str(inputs / "img.tif"), "-o", str(inputs / "o.tif"),
              "--model", "no_such_model"])


def test_ctrl_c_exits_130_without_output(inputs, smooth_model, capsys, monkeypatch):
    def interrupt(self, p):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.ProgressLine, "__call__", interrupt)
    dst = inputs / "o.tif"
    rc = main(["denoise", str(inputs / "img.tif"), "-o", str(dst), "-m", str(smooth_model)])
    assert rc == 130
    _assert_one_line_error(capsys.readouterr().err)
    assert not dst.exists()
    assert not [p for p in inputs.iterdir() if ".part" in p.name]


def test_failure_while_writing_keeps_previous_output(inputs, smooth_model, capsys, monkeypatch):
    dst = inputs / "o.tif"
    dst.write_bytes(b"previous")

    def full_disk(path, *a, **k):
        with open(path, "wb") as f:
            f.write(b"II*\x00")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tifffile, "imwrite", full_disk)
    rc = main(["denoise", str(inputs / "img.tif"), "-o", str(dst), "-m", str(smooth_model),
               "--overwrite"])
    line = _assert_one_line_error(capsys.readouterr().err)
    assert rc == 1 and "No space left" in line
    assert dst.read_bytes() == b"previous"
    assert not [p for p in inputs.iterdir() if ".part" in p.name]


def test_subprocess_error_and_module_entry_point(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "napari_denoise.cli", "denoise", str(tmp_path / "nope.tif"),
         "-o", str(tmp_path / "o.tif")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    line = _assert_one_line_error(proc.stderr)
    assert "nope.tif" in line and proc.stdout == ""


# -- progress, version, models -----------------------------------------------------------

class _TTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_only_on_a_terminal():
    from napari_denoise.core.inference import Progress

    tty, pipe = _TTY(), io.StringIO()
    for stream in (tty, pipe):
        line = cli.ProgressLine(stream, min_interval=0.0)
        for i in range(1, 5):
            line(Progress(i, 4, "net on 1 plane(s)", elapsed=float(i)))
        line.close()
    assert pipe.getvalue() == ""
    text = tty.getvalue()
    assert "\r" in text and "100%" in text and "25%" in text and "left" in text
    assert "\n" not in text and text.endswith("\r")


def test_version(capsys):
    assert main(["--version"]) == 0
    assert re.match(r"napari-denoise \d", capsys.readouterr().out)


def test_models_text_and_json(capsys, smooth_model, monkeypatch, tmp_path):
    from napari_denoise.core.models import user_models_dir

    user_dir = user_models_dir()
    user_dir.mkdir(parents=True, exist_ok=True)
    (user_dir / "my_net.safetensors").write_bytes(smooth_model.read_bytes())

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "my_net" in out and "noise: gaussian" in out and "sigma 0-55" in out
    assert "psnr 30.50" in out
    for name in CLASSICAL:
        assert name in out

    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    names = {m["name"]: m for m in listed}
    assert names["my_net"]["kind"] == "user"
    assert names["my_net"]["card"]["arch"] == "dncnn"
    for name in CLASSICAL:
        assert names[name]["kind"] == "classical"



def test_summary_line_names_model_sigma_axes_and_unusual_noise():
    from napari_denoise.core.info import DenoiseInfo

    info = DenoiseInfo(model="ffdnet_gray", kind="network", sigma="25.0 (estimated)", axes="YX",
                       mode="2d", device="cpu", seconds=1.5, noise="gaussian (estimated)",
                       noise_kind="gaussian")
    assert summary_line(info, "out.tif") == (
        "wrote out.tif: ffdnet_gray (network), sigma 25.0 (estimated), axes YX (2d), cpu, 1.5 s")
    # a noise model other than Gaussian is named, unless the sigma text already says it
    rice = DenoiseInfo(**dict(info, noise_kind="rician", noise="Rician, sigma 3 from the background"))
    assert summary_line(rice, "o.tif").endswith("1.5 s, noise: Rician, sigma 3 from the background")
    user = DenoiseInfo(**dict(info, noise_kind="map", noise="user map"))
    assert summary_line(user, "o.tif").endswith("1.5 s, noise: user map")
    pg = DenoiseInfo(**dict(info, noise_kind="poisson-gaussian", noise="poisson-gaussian noise",
                            sigma="Poisson-Gaussian map, variance = 2 * signal +36"))
    assert summary_line(pg, "o.tif").endswith("cpu, 1.5 s")
    assert "noise:" not in summary_line(DenoiseInfo(**dict(info, noise_kind="none")), "o.tif")
    # the arithmetic and the ensemble are said when they are known
    fast = DenoiseInfo(**dict(info, precision="bf16", quality="best"))
    assert summary_line(fast, "o.tif").endswith("axes YX (2d), cpu bf16, x8 ensemble, 1.5 s")
    bare = summary_line({}, "o.tif")  # no sigma, no time
    assert bare.startswith("wrote o.tif: None (None), sigma n/a, axes None (None), None, ?")


def test_package_keeps_every_public_name():
    for name in ("main", "build_parser", "to_flags", "SUBCOMMANDS", "ProgressLine", "TrainLine",
                 "has_display", "CLIError", "UsageError", "PROG", "DEMO_DIR", "summary_line"):
        assert hasattr(cli, name), name
    assert [n for n, _ in cli.SUBCOMMANDS] == ["denoise", "train", "models", "demo", "export"]
    assert cli.PROG == "napari-denoise" and cli.DEMO_DIR == "napari-denoise-demo"
    assert issubclass(cli.UsageError, cli.CLIError)

# -- demo ---------------------------------------------------------------------------------

def _psnrs(out):
    m = re.search(r"PSNR: noisy ([\d.]+) dB -> denoised ([\d.]+) dB", out)
    assert m, out
    return float(m.group(1)), float(m.group(2))


def test_demo_with_default_model(tmp_path, capsys):
    from napari_denoise import list_models

    if not any(m["kind"] == "pretrained" for m in list_models()):
        pytest.skip("no pretrained weights yet")
    rc = main(["demo", "--no-viewer", "--out", str(tmp_path / "demo")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    before, after = _psnrs(out)
    assert before < after
    assert "true 25" in out
    assert (tmp_path / "demo" / "noisy.png").exists()
    assert (tmp_path / "demo" / "denoised.png").exists()


def test_demo_with_classical_model_and_no_display(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli_demo, "has_display", lambda: False)  # where _run_demo looks
    rc = main(["demo", "--model", "wavelet", "--out", str(tmp_path / "d")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    before, after = _psnrs(out)
    assert before < after
    assert re.search(r"estimated [\d.]+ \(true 25\)", out)
    assert "skipped" in out and "display" in out
    from napari_denoise.io import read_image

    den, _ = read_image(tmp_path / "d" / "denoised.png")
    assert den.shape == (512, 512) and den.dtype == np.uint8


def test_has_display(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not cli.has_display()
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert cli.has_display()


def test_denoise_poisson_gaussian_noise_map_and_strength(tmp_path, capsys):
    from skimage import data

    rng = np.random.default_rng(0)
    x = data.camera()[:192, :192] / 255.0 * 900
    img = np.clip(100 + 2 * rng.poisson(x) + rng.normal(0, 6, x.shape), 0, 65535).astype(np.uint16)
    src, dst = tmp_path / "pg.tif", tmp_path / "out.tif"
    tifffile.imwrite(src, img)
    rc = main(["denoise", str(src), "-o", str(dst), "-m", "tv", "--noise", "poisson-gaussian"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "evened out by the Anscombe transform" in out and out.count("\n") == 1
    assert "variance = " in out
    assert tifffile.imread(dst).dtype == np.uint16
    # a map from a file, scaled by --strength
    mp = tmp_path / "map.tif"
    tifffile.imwrite(mp, np.full(img.shape, 30.0, np.float32))
    dst2 = tmp_path / "out2.tif"
    rc = main(["denoise", str(src), "-o", str(dst2), "-m", "ffdnet_gray", "--noise-map", str(mp),
               "--strength", "0.5"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "per-pixel map (mean 15" in out
    # errors: a map of the wrong shape, both --sigma and --noise-map, bad strength
    tifffile.imwrite(mp, np.full((10, 10), 30.0, np.float32))
    for argv, text in [(["--noise-map", str(mp)], "shape"),
                       (["--noise-map", str(mp), "--sigma", "3"], "either --sigma or --noise-map"),
                       (["--strength", "0"], "--strength must be positive")]:
        rc = main(["denoise", str(src), "-o", str(tmp_path / "x.tif"), "-m", "tv"] + argv)
        out, err = capsys.readouterr()
        assert rc == 2 and text in err and err.count("\n") == 1
    assert not (tmp_path / "x.tif").exists()
