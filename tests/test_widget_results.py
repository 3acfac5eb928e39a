"""The Denoise widget's results in a real napari viewer: settings in the metadata, Keep,
Copy as command line / Python (needs a display: run under xvfb-run)."""

from __future__ import annotations

import shlex

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari_denoise._widgets import DenoiseWidget  # noqa: E402
from napari_denoise._widgets import denoise as denoise_mod  # noqa: E402
from napari_denoise._widgets import denoise_results as results_mod  # noqa: E402
from conftest import run_and_wait  # noqa: E402

pytestmark = pytest.mark.gui

WAIT_MS = 60_000


@pytest.fixture
def notes(monkeypatch):
    got = []
    for mod in (denoise_mod, results_mod):
        monkeypatch.setattr(mod, "show_error", got.append)
    monkeypatch.setattr(denoise_mod, "show_warning", got.append)
    return got


@pytest.fixture
def viewer_widget(make_napari_viewer, plugin):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-denoise", "Denoise")
    assert isinstance(widget, DenoiseWidget)
    widget.method.value = "tv"  # classical: fast, and no model file needed
    return viewer, widget


def _run(qtbot, w):
    run_and_wait(qtbot, w, WAIT_MS)


def _image(shape=(2, 40, 48), seed=0):
    return np.random.default_rng(seed).normal(0.5, 0.08, shape).astype(np.float32)


def test_keep_then_a_second_run_leave_two_layers_with_their_settings(viewer_widget, qtbot,
                                                                    notes):
    viewer, w = viewer_widget
    layer = viewer.add_image(_image(), name="stack")
    w.image_layer.value = layer
    w.noise_mode.value = "manual"
    w.sigma_value.value = 0.05
    assert not w.keep_button.enabled  # nothing to keep yet
    _run(qtbot, w)
    first = viewer.layers["stack_denoised"]
    settings = first.metadata["napari_denoise"]["settings"]
    assert settings["method"] == "tv" and settings["noise_level"] == pytest.approx(0.05)
    assert settings["noise_model"] == "auto" and settings["strength"] == 1.0
    assert settings["precision"] == "auto" and settings["quality"] == "fast"
    assert w.keep_button.enabled
    kept = w.keep()
    # (the widget sees napari's proxies of the layers: compared by name)
    assert first.name == "stack denoised (tv, sigma 0.05)" and kept.name == first.name
    assert first.metadata["napari_denoise"]["kept"] is True
    assert not w.keep_button.enabled
    kept_data = first.data.copy()
    # a second run with other settings: a new layer, the kept one untouched
    w.strength.value = 2.0
    _run(qtbot, w)
    second = viewer.layers["stack_denoised"]
    assert second is not first and first in viewer.layers
    np.testing.assert_array_equal(first.data, kept_data)
    assert not np.array_equal(second.data, first.data)
    assert second.metadata["napari_denoise"]["settings"]["strength"] == 2.0
    assert first.metadata["napari_denoise"]["settings"]["strength"] == 1.0
    names = [lay.name for lay in viewer.layers]
    assert names == ["stack", "stack denoised (tv, sigma 0.05)", "stack_denoised"]
    # without Keep, a third run replaces the second (as before)
    _run(qtbot, w)
    assert viewer.layers["stack_denoised"] is second and len(viewer.layers) == 3
    assert not notes, notes


def test_copy_as_python_and_command_line_repeat_the_run(viewer_widget, qtbot, notes,
                                                        tmp_path):
    from qtpy.QtWidgets import QApplication

    from napari_denoise.cli import main
    from napari_denoise.io import read_image, write_image

    viewer, w = viewer_widget
    assert w.copy_python() is None and notes  # nothing to copy before a run
    notes.clear()
    src = tmp_path / "cells stack.tif"
    write_image(src, _image())
    [layer] = viewer.open(str(src))
    w.image_layer.value = layer
    w.axes.value = "ZYX"
    w.noise_mode.value = "auto"
    w.noise_model.value = "gaussian"  # the widget's own estimate is used
    w.strength.value = 1.3
    qtbot.waitUntil(lambda: w.settings().estimate is not None, timeout=WAIT_MS)
    _run(qtbot, w)
    out = viewer.layers[f"{layer.name}_denoised"]
    # Python: executed on the layer's array, the same array
    code = w.copy_python()
    assert QApplication.clipboard().text() == code
    ns = {"image": np.asarray(layer.data)}
    exec(compile(code, "<copied>", "exec"), ns)  # noqa: S102 - the code the widget wrote
    np.testing.assert_array_equal(ns["denoised"], out.data)
    # command line: the layer's file in, run as it is, the same array
    cmd = w.copy_command()
    assert QApplication.clipboard().text() == cmd
    words = shlex.split(cmd)
    assert words[:3] == ["napari-denoise", "denoise", str(src)]
    dst = tmp_path / "cells stack_denoised.tif"
    assert words[4] == str(dst) and not dst.exists()
    assert main(words[1:]) == 0
    got, _ = read_image(dst)
    np.testing.assert_array_equal(got, out.data)
    assert not notes, notes


def test_copy_command_of_a_layer_without_a_file_names_the_file_to_save(viewer_widget, qtbot,
                                                                       notes):
    viewer, w = viewer_widget
    layer = viewer.add_image(_image((40, 48)), name="img")
    w.image_layer.value = layer
    w.noise_mode.value = "manual"
    _run(qtbot, w)
    cmd = w.copy_command()
    assert shlex.split(cmd)[2:5] == ["img.tif", "-o", "img_denoised.tif"]
    assert "Save 'img' as TIFF first" in w.status.value


def test_the_strength_chosen_on_the_image(viewer_widget, qtbot, notes):
    """The checkbox replaces the typed strength (disabled while it is on), the run
    scores strengths on the image first, and the layer's settings say so."""
    viewer, w = viewer_widget
    layer = viewer.add_image(_image((40, 48), seed=4), name="img")
    w.image_layer.value = layer
    w.noise_mode.value = "manual"
    w.sigma_value.value = 0.08
    assert w.strength.enabled
    w.tune_strength.value = True
    assert not w.strength.enabled
    _run(qtbot, w)
    out = viewer.layers["img_denoised"]
    settings = out.metadata["napari_denoise"]["settings"]
    assert settings["tune"] is True
    import napari_denoise as nd
    from napari_denoise.core.progress import run_to_end

    direct = run_to_end(nd.denoise_iter(layer.data, "tv", sigma=0.08, axes="YX", tune=True))
    np.testing.assert_array_equal(out.data, direct.image)
    assert any("chosen on this image" in n for n in direct.info.notes)
    w.noise_mode.value = "map"  # a map holds its own strength: nothing to choose
    assert not w.tune_strength.enabled and not w.strength.enabled



def test_automatic_is_the_default_and_picks_the_model_for_the_data(make_napari_viewer, plugin,
                                                                   qtbot, notes):
    """A fresh panel runs model="auto": fluorescence-like counts (noise growing with
    brightness) go to the microscopy model, as on the command line."""
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-denoise", "Denoise")
    assert w.method.value == "auto"
    yy, xx = np.mgrid[:256, :256]  # enough smooth blocks for a Poisson-Gaussian fit
    counts = 20 + 400 * (0.5 + 0.5 * np.sin(xx / 9.0) * np.cos(yy / 13.0))
    img = np.random.default_rng(5).poisson(counts).astype(np.uint16)
    layer = viewer.add_image(img, name="cells")
    w.image_layer.value = layer
    _run(qtbot, w)
    out = viewer.layers["cells_denoised"]
    assert out.metadata["napari_denoise"]["settings"]["method"] == "auto"
    assert "drunet_microscopy" in w.status.value and out.data.dtype == np.uint16


def _run_stack(qtbot, viewer, w):
    """A run of 'tv' on a Z stack with a pixel size in micrometres."""
    layer = viewer.add_image(_image((3, 40, 48)), name="stack", scale=(2.0, 0.5, 0.5),
                             units=("micrometer",) * 3)
    w.image_layer.value = layer
    w.noise_mode.value = "manual"
    w.sigma_value.value = 0.05
    assert not w.save_button.enabled and not w.compare_input.enabled  # no result yet
    _run(qtbot, w)
    return layer, viewer.layers["stack_denoised"]


@pytest.mark.parametrize("name", ["out/result.tif", "result.ome.zarr"])
def test_save_result_writes_the_layer_with_its_scale_and_settings(viewer_widget, qtbot, notes,
                                                                 tmp_path, name):
    from napari_denoise.io import read_image
    from napari_denoise.io.save import saved_settings
    from napari_denoise.io.zarr_store import read_zarr

    viewer, w = viewer_widget
    layer, out = _run_stack(qtbot, viewer, w)
    assert w.save_button.enabled
    written = w.save(tmp_path / name)
    assert written is not None and written.exists() and not notes
    data, meta = read_zarr(written) if name.endswith("zarr") else read_image(written)
    np.testing.assert_array_equal(np.asarray(data), out.data)
    assert meta.axes == "ZYX" and meta.scale == pytest.approx((2.0, 0.5, 0.5))
    assert meta.unit == "µm"
    settings = saved_settings(written)
    assert settings["method"] == "tv" and settings["noise_level"] == pytest.approx(0.05)
    assert settings["input"] == "stack"
    assert str(written) in w.status.value


def test_a_failed_save_leaves_no_file(viewer_widget, qtbot, notes, tmp_path, monkeypatch):
    import tifffile

    viewer, w = viewer_widget
    _run_stack(qtbot, viewer, w)

    def full_disk(path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"II*\x00 half a file")
        raise OSError("No space left on device")

    monkeypatch.setattr(tifffile, "imwrite", full_disk)
    assert w.save(tmp_path / "result.tif") is None
    assert list(tmp_path.iterdir()) == []  # not even the temporary file
    assert any("No space left on device" in n for n in notes)
    assert w.status.value.startswith("Not saved")
    assert w.save(tmp_path / "result.png") is None  # a format that cannot hold it: refused
    assert list(tmp_path.iterdir()) == []


def test_show_the_input_flips_what_is_shown(viewer_widget, qtbot, notes):
    viewer, w = viewer_widget
    layer, out = _run_stack(qtbot, viewer, w)
    assert out.visible and w.compare_input.enabled
    w.compare_input.value = True
    assert not out.visible and layer.visible
    assert "Showing the input" in w.status.value
    # Alt+B on the canvas flips back, and again
    keys = {str(k): f for k, f in viewer.keymap.items()}
    assert "Alt+B" in keys
    keys["Alt+B"](viewer)
    assert out.visible and not w.compare_input.value
    keys["Alt+B"](viewer)
    assert not out.visible
    # a new run shows its result
    _run(qtbot, w)
    assert viewer.layers["stack_denoised"].visible and not w.compare_input.value


def test_noise_level_auto_shows_the_decision_the_run_takes(viewer_widget, qtbot, notes):
    """The estimate shown and the run's come from one code path (estimate_for_run): a
    stack whose noise grows with brightness is said so, with the run's own numbers."""
    from napari_denoise.core.noise_plan import estimate_for_run, variance_words

    viewer, w = viewer_widget
    from skimage.data import camera

    rng = np.random.default_rng(3)
    signal = np.stack([camera()[128:256, 128:256], camera()[256:384, 128:256]]) * 8.0 + 100
    data = np.clip(rng.poisson(signal / 4.0) * 4.0 + rng.normal(0, 3, signal.shape),
                   0, 4095).astype(np.uint16)
    layer = viewer.add_image(data, name="cells")
    w.image_layer.value = layer
    assert w.noise_mode.value == "auto" and w.noise_model.value == "auto"
    est = estimate_for_run(data, "ZYX", "auto")
    assert est.model == "poisson-gaussian"
    assert w.sigma_info.value.startswith("Estimated noise grows with brightness")
    assert variance_words(est) in w.sigma_info.value
    _run(qtbot, w)
    info = viewer.layers["cells_denoised"].metadata["napari_denoise"]
    assert f"{est.a:.4g}" in info["noise"] and f"{est.b:+.4g}" in info["noise"]
    # the Gaussian model chosen: the panel says one sigma, and the run is given it
    w.noise_model.value = "gaussian"
    gauss = estimate_for_run(data, "ZYX", "gaussian")
    assert f"sigma {gauss.sigma:.4g}" in w.sigma_info.value
    assert w.settings().engine_kwargs()["sigma"] == pytest.approx(gauss.sigma)
