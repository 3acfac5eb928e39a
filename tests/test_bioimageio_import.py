"""Import: BioImage Model Zoo packages from other tools run through the tiled engine with
their own processing; packages this engine cannot run are refused in one line, and
weights are never unpickled."""

from __future__ import annotations

import io

import numpy as np
import pytest

import napari_denoise as nd
from bioimageio_helpers import foreign_package, rewrite_zip, tiny_ffdnet
from napari_denoise.cli import main
from napari_denoise.core.errors import DenoiseError, ModelNotFoundError


@pytest.fixture(scope="module")
def own_package(tmp_path_factory):
    return nd.export_model(tiny_ffdnet(), tmp_path_factory.mktemp("own") / "own.zip",
                           test=False)


def _whole_image_prediction(path, img):
    """bioimageio.core's own prediction of the package on the whole image (no tiles)."""
    from bioimageio.core import predict
    from bioimageio.spec import load_description

    descr = load_description(path)
    sample = predict(model=descr, inputs={"raw": img[None, None]})
    return np.asarray(sample.members["denoised"].data)[0, 0]


def test_package_with_zero_mean_unit_variance_runs_tiled_as_bioimageio_predicts(tmp_path,
                                                                                 rng):
    from bioimageio.spec.model import v0_5 as s

    axes = [s.AxisId("channel"), s.AxisId("y"), s.AxisId("x")]
    path = foreign_package(tmp_path, "zmuv", pre=[s.ZeroMeanUnitVarianceDescr(
        kwargs=s.ZeroMeanUnitVarianceKwargs(axes=axes))])
    img = (rng.normal(1000, 150, (80, 72)) + np.linspace(0, 300, 72)).astype(np.float32)
    before = img.copy()
    ours = nd.denoise(img, str(path), tile=40, precision="fp32")  # 4 tiles
    np.testing.assert_array_equal(img, before)
    # no postprocessing: the output is in the normalised units; back by the inverse
    ref = _whole_image_prediction(path, img) * (img.std() + 1e-6) + img.mean()
    ref = np.clip(ref, img.min(), img.max())  # the engine keeps the input's range
    assert np.abs(ours - img).max() > 10  # the blur does something
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-4 * (img.max() - img.min()))


def test_fixed_size_package_runs_window_by_window(tmp_path, rng):
    from bioimageio.spec.model import v0_5 as s

    pre = [s.ScaleRangeDescr(kwargs=s.ScaleRangeKwargs(
        axes=[s.AxisId("channel"), s.AxisId("y"), s.AxisId("x")], max_percentile=99.8))]
    path = foreign_package(tmp_path, "fixed32", pre=pre, fixed=32)
    img = rng.normal(500, 50, (72, 48)).astype(np.float32)  # valid for "free"
    ours = nd.denoise(img, str(path), precision="fp32")
    # the blur is local: windows with margins give the whole-image blur
    lo, hi = np.percentile(img, [0, 99.8])
    blur = _whole_image_prediction(foreign_package(tmp_path, "free", pre=pre), img)
    ref = np.clip(blur * (hi - lo + 1e-6) + lo, img.min(), img.max())
    # (the image's outermost pixels see reflected neighbours where a window is padded
    # to the fixed size, zeros in the whole-image run)
    np.testing.assert_allclose(ours[1:-1, 1:-1], ref[1:-1, 1:-1], rtol=0, atol=1e-3)


def test_package_that_denormalises_itself(tmp_path, rng):
    """CAREamics' way: a fixed mean and std in, scale_linear back to the data's units."""
    from bioimageio.spec.model import v0_5 as s

    pre = [s.FixedZeroMeanUnitVarianceDescr(kwargs=s.FixedZeroMeanUnitVarianceKwargs(
        mean=900.0, std=120.0))]
    post = [s.ScaleLinearDescr(kwargs=s.ScaleLinearKwargs(gain=120.0, offset=900.0))]
    path = foreign_package(tmp_path, "fixed", pre=pre, post=post)
    img = rng.normal(900, 120, (64, 64)).astype(np.uint16)
    ours = nd.denoise(img, str(path), tile=32, precision="fp32")
    assert ours.dtype == np.uint16
    ref = _whole_image_prediction(path, img.astype(np.float32))
    ref = np.rint(np.clip(ref, img.min(), img.max()))
    assert np.abs(ours.astype(float) - ref).max() <= 1


def test_command_line_runs_a_package(tmp_path, own_package, rng):
    import tifffile

    img = (rng.random((40, 50)) * 200).astype(np.uint8)
    tifffile.imwrite(tmp_path / "in.tif", img)
    out = tmp_path / "out.tif"
    assert main(["denoise", str(tmp_path / "in.tif"), "-o", str(out), "--model",
                 str(own_package), "--sigma", "20", "--precision", "fp32", "-q"]) == 0
    expected = nd.denoise(img, tiny_ffdnet(), sigma=20, precision="fp32")
    assert np.abs(tifffile.imread(out).astype(int) - expected).max() <= 1


def _one_line_refusal(path, *words, error=DenoiseError):
    with pytest.raises(error) as info:
        nd.denoise(np.zeros((32, 32), np.float32) + np.eye(32, dtype=np.float32),
                   str(path))
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 400, msg
    for w in words:
        assert w in msg, msg
    return msg


def test_corrupt_and_missing_packages(tmp_path, own_package):
    data = own_package.read_bytes()
    (tmp_path / "cut.zip").write_bytes(data[: len(data) // 2])
    _one_line_refusal(tmp_path / "cut.zip", "cut.zip", "corrupt")
    (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04 this is not a zip file at all")
    _one_line_refusal(tmp_path / "junk.zip", "junk.zip", "not a zip file")
    _one_line_refusal(tmp_path / "absent.zip", "not found", error=ModelNotFoundError)
    rewrite_zip(own_package, tmp_path / "nofile.zip", drop=["weights.torchscript.pt"])
    _one_line_refusal(tmp_path / "nofile.zip", "weights.torchscript.pt", "missing")
    rewrite_zip(own_package, tmp_path / "swapped.zip",
                replace={"weights.torchscript.pt": b"not these bytes"})
    _one_line_refusal(tmp_path / "swapped.zip", "sha256")


def test_unsupported_weight_format(tmp_path):
    _one_line_refusal(foreign_package(tmp_path, "keras", weights="keras_hdf5"),
                      "keras_hdf5", "torchscript, onnx or pytorch_state_dict")


@pytest.mark.parametrize("axis, words", [("z", ("'z'", "2-D")), ("time", ("time axis",))])
def test_axes_that_cannot_be_mapped(tmp_path, axis, words):
    _one_line_refusal(foreign_package(tmp_path, f"axis_{axis}", extra_axis=axis), *words)


def test_segmentation_steps_are_refused(tmp_path):
    from bioimageio.spec.model import v0_5 as s

    post = [s.BinarizeDescr(kwargs=s.BinarizeKwargs(threshold=0.5))]
    _one_line_refusal(foreign_package(tmp_path, "seg", post=post), "'binarize'",
                      "not a denoising step")


def test_state_dict_needing_the_packages_code_is_refused(tmp_path):
    msg = _one_line_refusal(foreign_package(tmp_path, "code", weights="pytorch_state_dict"),
                            "arch.py", "not run")
    assert "torchscript or onnx" in msg


class _Exploit:
    """Unpickling this opens (creates) a file: what a malicious checkpoint would do."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_pickle_exploit_in_state_dict_is_never_executed(tmp_path, own_package):
    import hashlib

    import torch

    marker = tmp_path / "pwned.txt"
    buf = io.BytesIO()
    torch.save({"head.weight": _Exploit(marker)}, buf)
    evil = buf.getvalue()

    def only_state_dict(rdf):
        w = rdf["weights"]
        rdf["weights"] = {"pytorch_state_dict": w["pytorch_state_dict"]}
        rdf["weights"]["pytorch_state_dict"]["sha256"] = hashlib.sha256(evil).hexdigest()
        return rdf

    path = rewrite_zip(own_package, tmp_path / "evil.zip", replace={"weights.pt": evil},
                       rdf=only_state_dict)
    _one_line_refusal(path, "weights_only=True", "pytorch_state_dict")
    assert not marker.exists()
    # the command line says the same in one line, exit status 2
    import tifffile

    tifffile.imwrite(tmp_path / "in.tif", np.eye(24, dtype=np.uint8) * 200)
    assert main(["denoise", str(tmp_path / "in.tif"), "-o", str(tmp_path / "o.tif"),
                 "--model", str(path)]) == 2
    assert not marker.exists() and not (tmp_path / "o.tif").exists()


def test_cli_refusal_is_one_line(tmp_path, capsys, own_package):
    import tifffile

    tifffile.imwrite(tmp_path / "in.tif", np.zeros((20, 20), np.uint8))
    (tmp_path / "bad.zip").write_bytes(b"nonsense")
    rc = main(["denoise", str(tmp_path / "in.tif"), "-o", str(tmp_path / "o.tif"),
               "--model", str(tmp_path / "bad.zip")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("napari-denoise: error: bad.zip: not a zip file")
    assert err.count("\n") == 1 and not (tmp_path / "o.tif").exists()


@pytest.mark.gui
def test_panels_import_and_export_models(make_napari_viewer, plugin, qtbot, monkeypatch,
                                         tmp_path, own_package):
    """Denoise: 'Import model...' adds a package to the method choice and runs it; Train:
    'Export...' writes the trained model as a tested package."""
    from napari_denoise._widgets import model_io, train as train_mod
    from napari_denoise.core.models import user_models_dir
    from bioimageio_helpers import tiny_n2n

    viewer = make_napari_viewer()
    _, dw = viewer.window.add_plugin_dock_widget("napari-denoise", "Denoise")
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    monkeypatch.setattr(model_io, "ask_package_path", lambda parent=None: None)
    assert dw.import_model() is None  # the dialog was cancelled
    monkeypatch.setattr(model_io, "ask_package_path", lambda parent=None: str(own_package))
    dst = dw.import_model()
    assert dst == user_models_dir() / "tiny_ffdnet.zip" and dst.exists()
    assert dw.method.value == str(dst) and dw.current_model()["kind"] == "user"
    assert not shown, shown
    layer = viewer.add_image(np.eye(48, dtype=np.float32) * 0.5 + 0.25, name="img")
    dw.image_layer.value = layer
    worker = dw.run()
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        pass
    assert any(lay is not layer and lay.data.shape == (48, 48) for lay in viewer.layers)

    _, tw = viewer.window.add_plugin_dock_widget("napari-denoise", "Train Noise2Noise")
    assert tw.export_button in list(tw.result_buttons) and not tw.export_button.enabled
    tw.trained = tiny_n2n()
    notes = []
    monkeypatch.setattr(train_mod, "show_info", notes.append)
    monkeypatch.setattr(train_mod, "show_error", notes.append)
    out = tmp_path / "from_panel.zip"
    from napari_denoise.core.export import bioimageio as bmz

    tested = []  # bioimageio's model test itself is covered by test_export.py
    monkeypatch.setattr(bmz, "check_package", tested.append)
    monkeypatch.setattr(model_io, "ask_export_path", lambda parent=None, name="": str(out))
    worker = tw.export()
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        pass
    qtbot.waitUntil(lambda: bool(notes), timeout=5_000)
    assert out.exists() and "Exported" in notes[-1], notes
    assert len(tested) == 1  # the panel asked for the package to be tested
