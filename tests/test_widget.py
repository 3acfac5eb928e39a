"""The Denoise dock widget in a real napari viewer (needs a display: run under xvfb-run)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

import napari_denoise  # noqa: E402
from napari_denoise._widgets import denoise as denoise_mod  # noqa: E402

from conftest import MainThreadPing, tiny_card  # noqa: E402
from widget_support import (WAIT_MS, _interrupt_after_first_tile, _noisy, _wait,  # noqa: E402,F401
                            notes, tiny_user_model, viewer_widget)

pytestmark = pytest.mark.gui


def test_docked_from_manifest_lists_grouped_methods(viewer_widget, tiny_user_model):
    from napari._app_model import get_app_model

    viewer, w = viewer_widget
    # listed under Layers > Filter and under Plugins (in a napari-denoise submenu
    # once the plugin has more than one widget)
    menus = get_app_model().menus

    def ids(menu):
        return {getattr(getattr(item, "command", None), "id", None)
                for item in menus.get_menu(menu)} if menu in menus else set()

    assert "napari-denoise.make_denoise_widget" in ids("napari/layers/filter")
    assert "napari-denoise.make_denoise_widget" in (
        ids("napari/plugins") | ids("napari/plugins/napari-denoise"))
    names = [w.method.native.itemText(i) for i in range(w.method.native.count())]
    assert "Your models: tiny" in names
    # first the engine's own choice, as model="auto" on the command line and in Python
    assert names[0] == "Automatic (chosen for the data)"
    assert w.method.choices[0] == "auto"
    # plain names, not file names (those are in the cards)
    from napari_denoise._widgets.denoise_models import PLAIN_NAMES

    assert "Total variation (classical, fast)" in names and "tv" not in " ".join(names)
    assert all(n in PLAIN_NAMES.values() or n.split(": ")[0] in ("Pretrained", "Your models")
               for n in names[1:])
    assert w.method_info.value.startswith("tiny test network")
    dlg = w.show_model_card()
    from qtpy.QtWidgets import QPlainTextEdit

    text = dlg.findChild(QPlainTextEdit).toPlainText()
    assert "BSD68 crops" in text and "psnr_sigma25" in text
    dlg.close()
    # devices: what torch really has; the reason is shown when no GPU is used
    from napari_denoise.core.devices import available_devices, gpu_unavailable_reason

    assert list(w.device.choices) == [d for d, _ in available_devices()]
    reason = gpu_unavailable_reason()
    assert (reason or "") in w.device_info.value


@pytest.mark.parametrize("case", ["2d", "zyx", "rgb"])
def test_run_keeps_shape_dtype_and_transform(viewer_widget, qtbot, notes, case):
    viewer, w = viewer_widget
    if case == "2d":
        data, kw, axes = _noisy((64, 80)), dict(scale=(0.5, 0.25), translate=(3, 4)), "YX"
    elif case == "zyx":
        data = _noisy((4, 48, 40), np.float32)
        kw, axes = dict(scale=(2.0, 0.5, 0.5), translate=(1, 2, 3),
                        axis_labels=("z", "y", "x"), units=("um", "um", "um")), "ZYX"
    else:
        data, kw, axes = _noisy((48, 40, 3)), dict(rgb=True, scale=(1.5, 1.5)), "YXC"
    original = data.copy()
    layer = viewer.add_image(data, name="img", metadata={"origin": "test"}, **kw)
    w.image_layer.value = layer
    assert w.axes.value == axes
    _wait(qtbot, w, w.run)
    assert not notes["error"], notes["error"]
    out = viewer.layers["img_denoised"]
    assert out.data.shape == data.shape and out.data.dtype == data.dtype
    np.testing.assert_allclose(out.scale, layer.scale)
    np.testing.assert_allclose(out.translate, layer.translate)
    assert out.rgb == layer.rgb
    assert tuple(out.units) == tuple(layer.units)
    assert tuple(out.axis_labels) == tuple(layer.axis_labels)
    assert out.metadata["origin"] == "test" and "napari_denoise" in out.metadata
    np.testing.assert_allclose(out.contrast_limits, layer.contrast_limits)
    if not layer.rgb:
        assert out.colormap.name == layer.colormap.name
    np.testing.assert_array_equal(layer.data, original)  # the input is never modified
    assert not np.array_equal(out.data, original)


def test_rerun_replaces_output_in_place(viewer_widget, qtbot, notes):
    viewer, w = viewer_widget
    viewer.add_image(_noisy((64, 64)), name="other")
    layer = viewer.add_image(_noisy((64, 64)), name="img")
    assert w.image_layer.value is layer  # follows the layer selected in the layer list
    _wait(qtbot, w, w.run)
    out = viewer.layers["img_denoised"]
    first = out.data
    n = len(viewer.layers)
    _wait(qtbot, w, w.run)
    assert viewer.layers["img_denoised"] is out
    assert len(viewer.layers) == n
    assert out.data is not first  # new data, same layer
    assert w.image_layer.value is layer  # the output did not become the input
    np.testing.assert_array_equal(out.data, first)  # deterministic
    assert not notes["error"]



def test_cancel_mid_run_leaves_nothing(viewer_widget, qtbot, notes):
    viewer, w = viewer_widget
    seen = _interrupt_after_first_tile(qtbot, viewer, w, 16, w.run, w.cancel)
    assert seen and seen[-1].done < seen[-1].total
    assert "stack_denoised" not in viewer.layers
    assert not notes["error"] and not notes["warning"]
    assert w.status.value == "Cancelled."
    assert w.run_button.enabled and not w.cancel_button.enabled


def test_event_loop_runs_during_a_run(viewer_widget, qtbot, notes, monkeypatch):
    viewer, w = viewer_widget
    w.noise_mode.value = "manual"  # the model is blind: no estimate needed
    # dozens of tiles: tiles are raised to twice the overlap
    layer = viewer.add_image(_noisy((1, 512, 512), np.float32), name="stack")
    w.image_layer.value = layer
    w.axes.value = "ZYX"
    w.tile.value = 32
    ping = MainThreadPing()
    real_iter = denoise_mod.denoise_iter
    steps = []

    def pinging_iter(*args, **kwargs):  # the engine, as the worker drives it
        gen = real_iter(*args, **kwargs)
        try:
            while True:
                try:
                    p = next(gen)
                except StopIteration as done:
                    return done.value
                steps.append(p)
                ping.ask()  # the main thread must serve an event before the next tile
                yield p
        finally:
            gen.close()

    monkeypatch.setattr(denoise_mod, "denoise_iter", pinging_iter)
    from napari.utils import progress

    seen = []

    def watch(p):  # the widget's bar and text, and napari's own progress
        seen.append((w.progress_bar.value, w.status.value,
                     [b.desc for b in progress._all_instances]))

    ping.timer.start()
    try:
        worker = w.run()
        worker.yielded.connect(watch)
        with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
            pass
    finally:
        ping.timer.stop()
    assert "stack_denoised" in viewer.layers and not notes["error"]
    assert any("ETA" in text for _, text, _ in seen)
    assert any(any("Denoising stack" in d for d in descs) for _, _, descs in seen)
    assert not any("Denoising stack" in b.desc for b in progress._all_instances)  # closed
    assert w.progress_bar.value == 1000
    # the main thread kept serving events: one answer at every step of the run
    assert not ping.failed, ping.failed
    assert len(steps) >= 10 and steps[-1].done == steps[-1].total
    assert ping.answered == len(steps)



def test_input_removed_during_run_does_not_crash(viewer_widget, qtbot, notes):
    viewer, w = viewer_widget
    w.noise_mode.value = "manual"  # the model is blind: no estimate needed
    layer = viewer.add_image(_noisy((1, 256, 256), np.float32), name="stack")
    w.image_layer.value = layer
    w.axes.value = "ZYX"
    w.tile.value = 32

    def remove_once(p):
        if "stack" in viewer.layers:
            viewer.layers.remove("stack")

    worker = w.run()
    worker.yielded.connect(remove_once)
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
        pass
    assert "stack" not in viewer.layers
    assert not notes["error"]
    assert notes["warning"] and "removed" in notes["warning"][0]
    assert viewer.layers["stack_denoised"].data.shape == (1, 256, 256)


def test_bad_input_is_a_notification(viewer_widget, notes):
    viewer, w = viewer_widget
    expected = {"tiny": "too small", "all_nan": "NaN", "wrong_axes": "axes",
                "map_shape": "noise map"}
    for case, words in expected.items():
        if case == "tiny":
            layer = viewer.add_image(np.ones((1, 1), np.float32), name=case)
        elif case == "all_nan":
            layer = viewer.add_image(np.zeros((32, 32), np.float32), name=case)
            layer.data = np.full((32, 32), np.nan, np.float32)
        else:
            layer = viewer.add_image(_noisy((32, 32)), name=case)
        w.image_layer.value = layer
        if case == "wrong_axes":
            w.axes.value = "ZYX"
        if case == "map_shape":
            noise_map = viewer.add_image(np.ones((16, 16), np.float32), name="map")
            w.image_layer.value = layer
            w.noise_mode.value = "map"
            w.noise_map.value = noise_map
        notes["error"].clear()
        assert w.run() is None, case
        assert len(notes["error"]) == 1, case
        assert words in notes["error"][0], (case, notes["error"][0])
        assert f"{case}_denoised" not in viewer.layers and not w.is_running


def test_error_in_worker_is_a_notification(viewer_widget, qtbot, notes):
    viewer, w = viewer_widget
    data = _noisy((32, 32), np.float32)
    data[3, 4] = np.nan  # found by the engine, in the worker
    layer = viewer.add_image(data, name="img")
    w.image_layer.value = layer
    w.noise_mode.value = "manual"
    _wait(qtbot, w, w.run)
    assert len(notes["error"]) == 1 and "NaN" in notes["error"][0]
    assert "img_denoised" not in viewer.layers
    assert w.run_button.enabled


def test_runtime_error_in_worker_is_a_notification(viewer_widget, qtbot, notes, monkeypatch):
    # superqt's generator worker turns a RuntimeError into a mere warning: the widget
    # must still report it
    def failing(*args, **kwargs):
        yield napari_denoise.Progress(0, 1, "starting")
        raise RuntimeError("boom")

    monkeypatch.setattr(denoise_mod, "denoise_iter", failing)
    viewer, w = viewer_widget
    viewer.add_image(_noisy((32, 32)), name="img")
    _wait(qtbot, w, w.run)
    assert len(notes["error"]) == 1 and "boom" in notes["error"][0]
    assert "img_denoised" not in viewer.layers and w.run_button.enabled


def test_noise_level_controls(viewer_widget, qtbot):
    viewer, w = viewer_widget
    layer = viewer.add_image(_noisy((64, 64)), name="img")
    w.image_layer.value = layer
    # manual range in the data's units (uint8: 0-255)
    assert w.sigma_value.max == pytest.approx(127.5)
    w.noise_mode.value = "manual"
    # (the viewer is not shown, so ask whether the controls are hidden)
    assert not w.sigma_row.native.isHidden() and w.noise_map.native.isHidden()
    assert w.sigma_info.native.isHidden()
    w.sigma_slider.value = 30.0
    assert w.sigma_value.value == pytest.approx(30.0)
    assert w.settings().noise_level() == pytest.approx(30.0)
    w.noise_mode.value = "auto"
    assert w.sigma_row.native.isHidden() and not w.sigma_info.native.isHidden()
    assert "Estimated noise: sigma" in w.sigma_info.value
    assert 10 < w.settings().noise_level() < 40  # the noise is ~25
    # map: any image layer but the input itself
    w.noise_mode.value = "map"
    assert w.noise_map.value is None and list(w.noise_map.choices) == []
    noise_map = viewer.add_image(np.full((64, 64), 20.0, np.float32), name="map")
    assert w.image_layer.value is layer  # in map mode the input does not follow the selection
    assert list(w.noise_map.choices) == [noise_map]
    assert w.settings().noise_level() is noise_map.data
    w.noise_mode.value = "auto"
    # new data in the layer: estimated again
    before = w.settings().noise_level()
    layer.data = np.clip(_noisy((64, 64), seed=2).astype(float) * 0.3, 0, 255).astype(np.uint8)
    after = w.settings().noise_level()
    assert after != "auto" and after < 0.6 * before
    # big layers are estimated in a worker
    w.sync_estimate_max = 0  # every layer is "big"
    big = viewer.add_image(_noisy((64, 64), seed=1), name="big")
    assert w.image_layer.value is big
    assert w.estimate_worker is not None and "Estimating" in w.sigma_info.value
    with qtbot.waitSignal(w.estimate_worker.finished, timeout=WAIT_MS):
        pass
    assert "Estimated noise: sigma" in w.sigma_info.value
    assert 10 < w.settings().noise_level() < 40


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_sigma_range_follows_the_data_not_the_contrast_limits(viewer_widget, dtype):
    """The manual sigma's range is the one the engine normalises with (robust percentiles
    of the data), whatever contrast limits the layer shows; its values are data units."""
    from napari_denoise.core.normalise import estimate_range

    viewer, w = viewer_widget
    rng = np.random.default_rng(0)
    ramp = np.linspace(200, 3800, 96)[None, :] * np.ones((96, 1))
    data = np.clip(ramp + rng.normal(0, 100, ramp.shape), 0, 4000)  # 12-bit camera, noise 100
    limits = (0, 65535)
    if dtype == np.float32:  # the same scene in a float image of small values
        data, limits = data / 80_000, (0, 1)
    data = data.astype(dtype)
    layer = viewer.add_image(data, name="cam", contrast_limits=limits)
    w.image_layer.value = layer
    lo, hi = estimate_range(data)
    unit = hi - lo  # about 4000 (uint16) or 0.05 (float32)
    for slider in (w.sigma_slider, w.sigma_value):
        assert slider.min == 0 and slider.max == pytest.approx(0.5 * unit, rel=1e-6)
    # auto: the estimate, in the data's units (was clipped to the contrast limits' range)
    assert 0.6 * unit / 36 < w.sigma_value.value < 1.4 * unit / 36
    w.noise_mode.value = "manual"
    w.sigma_value.value = 0.2 * unit
    assert w.sigma_slider.value == pytest.approx(0.2 * unit)
    assert w.settings().noise_level() == pytest.approx(0.2 * unit)
    assert w.settings().engine_kwargs()["sigma"] == pytest.approx(0.2 * unit)


def test_sample_data_contributions(make_napari_viewer, plugin):
    import napari_denoise._sample_data  # noqa: F401 - ours: an import error fails the test

    viewer = make_napari_viewer()
    for key in ("noisy_2d", "noisy_3d", "noisy_timeseries"):
        n = len(viewer.layers)
        viewer.open_sample("napari-denoise", key)
        assert len(viewer.layers) > n


def test_a_result_that_removed_more_than_noise_is_flagged(viewer_widget, qtbot, notes):
    """The residual guard reaches the user as a notification; the result is still a new
    layer and the input is untouched."""
    import torch

    from napari_denoise.core.archs import DnCNN
    from napari_denoise.core.weights import save_model

    viewer, w = viewer_widget
    bad = DnCNN(depth=3, features=8)
    with torch.no_grad():  # output = input - 0.3 (of the range): far more than the noise
        for p in bad.parameters():
            p.zero_()
        bad.body[-1].bias.fill_(0.3)
    path = Path(os.environ["NAPARI_DENOISE_MODELS"]) / "shifty.safetensors"
    save_model(bad, path, tiny_card(name="shifty"))
    w.refresh_models()
    w.method.value = str(path)
    data = _noisy((64, 64))
    original = data.copy()
    layer = viewer.add_image(data, name="img")
    w.image_layer.value = layer
    _wait(qtbot, w, w.run)
    assert not notes["error"], notes["error"]
    assert any("more than noise" in m for m in notes["warning"]), notes["warning"]
    np.testing.assert_array_equal(layer.data, original)
    assert "img_denoised" in viewer.layers


def test_status_line_forgets_a_result_when_the_input_changes(viewer_widget, qtbot, notes):
    viewer, w = viewer_widget
    first = viewer.add_image(_noisy((48, 48)), name="first")
    second = viewer.add_image(_noisy((48, 48), seed=1), name="second")
    w.image_layer.value = first
    _wait(qtbot, w, w.run)
    assert w.status.value.startswith("Done")
    w.image_layer.value = second  # another input: the first one's result is not its own
    assert w.status.value == ""
    w.image_layer.value = first
    _wait(qtbot, w, w.run)
    assert w.status.value.startswith("Done")
