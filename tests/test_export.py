"""Export: BioImage Model Zoo packages (validated and tested by bioimageio.core, then run
here as the original model), TorchScript, the command line, and refusals."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import napari_denoise as nd
from bioimageio_helpers import tiny_ffdnet, tiny_n2n
from napari_denoise.cli import main
from napari_denoise.core.errors import DenoiseError, ModelNotFoundError


@pytest.fixture(scope="module")
def ffdnet_package(tmp_path_factory):
    model = tiny_ffdnet()
    path = nd.export_model(model, tmp_path_factory.mktemp("pkg") / "tiny_ffdnet.zip",
                           test=False)
    return model, path


def test_ffdnet_package_passes_bioimageio_and_runs_as_the_original(ffdnet_package, rng):
    from bioimageio.core import test_model
    from bioimageio.spec import InvalidDescr, load_description

    model, path = ffdnet_package
    descr = load_description(path, perform_io_checks=True)
    assert not isinstance(descr, InvalidDescr)
    assert [str(t.id) for t in descr.inputs] == ["input", "noise_level"]
    assert "scale_range" in [p.id for p in descr.inputs[0].preprocessing]
    assert {"pytorch_state_dict", "torchscript", "onnx"} <= {k for k, v in descr.weights if v}
    summary = test_model(path)
    assert summary.status == "passed", summary.format()
    tested = " ".join(d.name for d in summary.details)
    for fmt in ("pytorch_state_dict", "torchscript", "onnx"):
        assert f"Reproduce test outputs from test inputs ({fmt})" in tested
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        doc = z.read("README.md").decode()
    assert {"cover.png", "test_input.npy", "test_noise_level.npy", "test_output.npy",
            "architecture.py", "weights.pt", "weights.torchscript.pt", "weights.onnx"} <= names
    assert "## Validation" in doc and model.card["limitations"] in doc

    img = (rng.random((70, 90)) * 0.8 + 0.1).astype(np.float32)
    before = img.copy()
    ours = nd.denoise(img, model, sigma=0.1, precision="fp32", tile=48)
    theirs = nd.denoise(img, str(path), sigma=0.1, precision="fp32", tile=48)
    np.testing.assert_array_equal(img, before)
    assert np.abs(ours - img).max() > 1e-3  # the network does something
    assert np.abs(theirs - ours).max() <= 1e-4
    # a per-pixel noise map goes to the package's noise_level input as to the original
    smap = np.linspace(0.02, 0.2, img.size, dtype=np.float32).reshape(img.shape)
    np.testing.assert_allclose(nd.denoise(img, str(path), sigma=smap, precision="fp32"),
                               nd.denoise(img, model, sigma=smap, precision="fp32"),
                               atol=1e-4)


def test_user_trained_n2n_unet_round_trip_by_name(tmp_path, rng):
    model = tiny_n2n()
    model.save()  # the user's models folder: exported by its name
    path = nd.export_model("my_n2n", tmp_path / "n2n.zip")  # runs bioimageio's model test
    with zipfile.ZipFile(path) as z:
        assert "test_noise_level.npy" not in z.namelist()
    img = (rng.normal(500, 60, (3, 40, 56))).astype(np.uint16)
    ours = nd.denoise(img, model, precision="fp32", axes="TYX")
    theirs = nd.denoise(img, str(path), precision="fp32", axes="TYX")
    assert ours.dtype == theirs.dtype == np.uint16
    assert np.abs(ours.astype(float) - img).max() > 1
    assert np.abs(theirs.astype(float) - ours).max() <= 1  # uint16: rounding at most

    # imported: listed with the user's models, and run by its name
    from napari_denoise.core.models import user_models_dir

    shutil.copy(path, user_models_dir() / "shared_n2n.zip")
    entry = {m["name"]: m for m in nd.list_models()}["shared_n2n"]
    assert entry["kind"] == "user" and entry["card"]["noise_model"] == "self-supervised"
    np.testing.assert_array_equal(nd.denoise(img, "shared_n2n", precision="fp32",
                                             axes="TYX"), theirs)
    assert (user_models_dir() / "shared_n2n.zip").exists()


def test_torchscript_export_matches_torch(tmp_path):
    import torch

    for model, takes_map in ((tiny_ffdnet(), True), (tiny_n2n(), False)):
        path = nd.export_model(model, tmp_path / f"{model.name}.pt", "torchscript")
        ts = torch.jit.load(str(path))
        x = torch.rand(2, 1, 40, 48)  # not the traced size
        args = (x, torch.full((2, 1, 40, 48), 0.08)) if takes_map else (x,)
        with torch.no_grad():
            ref = model.module(x, args[1] if takes_map else None)
            diff = float((ts(*args) - ref).abs().max())
        assert diff <= 1e-4
        assert float((ref - x).abs().max()) > 1e-3


def test_export_format_from_the_file_name_and_onnx(tmp_path):
    import onnxruntime as ort

    path = nd.export_model(tiny_ffdnet(), tmp_path / "m.onnx", format=None)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input", "noise_level"]


def test_failed_export_writes_nothing(tmp_path, monkeypatch):
    from napari_denoise.core.export import bioimageio as bmz

    def fail(path):
        raise DenoiseError("the exported package failed bioimageio's model test: boom")

    monkeypatch.setattr(bmz, "check_package", fail)
    with pytest.raises(DenoiseError, match="model test: boom"):
        nd.export_model(tiny_ffdnet(), tmp_path / "m.zip")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("model, error, words", [
    ("bm3d", DenoiseError, "classical method"),
    ("no_such_model", ModelNotFoundError, "unknown model"),
    ("missing/file.safetensors", ModelNotFoundError, "not found"),
])
def test_export_refusals_are_one_line(tmp_path, model, error, words):
    with pytest.raises(error, match=words) as info:
        nd.export_model(model, tmp_path / "m.zip")
    assert "\n" not in str(info.value)
    with pytest.raises(DenoiseError, match="format must be one of"):
        nd.export_model(tiny_ffdnet(), tmp_path / "m.zip", format="keras")
    assert list(tmp_path.iterdir()) == []


def test_cli_export(tmp_path, capsys, tiny_model_file):
    out = tmp_path / "tiny.onnx"
    assert main(["export", str(tiny_model_file), "-o", str(out)]) == 0
    assert out.exists() and "ONNX model written" in capsys.readouterr().out
    assert main(["export", "bm3d", "-o", str(tmp_path / "x.zip")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("napari-denoise: error: bm3d is a classical method") \
        and err.count("\n") == 1
    assert main(["export", "dncnn_blind", "-o", str(tmp_path / "x"), "--format", "keras"]) == 2
    assert "--format" in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists()


def test_export_without_the_extra_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "bioimageio.core", None)  # as if not installed
    with pytest.raises(DenoiseError, match=r'pip install "napari-denoise\[export\]"'):
        nd.export_model(tiny_ffdnet(), tmp_path / "m.zip")
    code = ("import sys, napari_denoise as nd; nd.denoise; "
            "bad = [m for m in ('bioimageio.spec', 'bioimageio.core', 'onnx', 'onnxruntime') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
