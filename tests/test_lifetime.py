"""Jobs end with their panel: closing a panel or the viewer cancels its workers, no
callback reaches a deleted widget, a closed panel adds no layer, and a training whose
panel closes keeps its best model (needs a display: run under xvfb-run)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import QTimer

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari_denoise._widgets import DenoiseWidget, NoiseMapWidget, TrainWidget  # noqa: E402
from napari_denoise._widgets import noise_map as noise_map_mod  # noqa: E402
from napari_denoise._widgets import train as train_mod  # noqa: E402

from conftest import long_training_panel, tiny_card  # noqa: E402

pytestmark = pytest.mark.gui

WAIT_MS = 60_000
SCRIPT = Path(__file__).with_name("close_during_job.py")


@pytest.fixture
def tiny_user_model():
    """A tiny DnCNN in the user-model folder (a temp dir set by conftest)."""
    import torch

    from napari_denoise.core.archs import DnCNN
    from napari_denoise.core.weights import save_model

    torch.manual_seed(0)
    path = Path(os.environ["NAPARI_DENOISE_MODELS"]) / "tiny.safetensors"
    save_model(DnCNN(depth=3, features=8), path, tiny_card())
    return str(path)


def _dock_of(widget):
    from qtpy.QtWidgets import QDockWidget

    w = widget.native
    while w is not None and not isinstance(w, QDockWidget):
        w = w.parent()
    assert w is not None, "the widget is not docked"
    return w


def _close_panel(viewer, widget):
    """What the close button of a napari dock does."""
    viewer.window.remove_dock_widget(_dock_of(widget))


@pytest.mark.parametrize("kind", ["denoise", "train"])
@pytest.mark.parametrize("mode", ["quit", "keep"])
def test_closing_the_viewer_during_a_job_exits_cleanly(tiny_user_model, kind, mode):
    """In a fresh process: the window closes mid-run (mid-training); the process exits
    with status 0, no exception is printed, the worker has ended, and a training's
    model is saved where the message says."""
    models = Path(os.environ["NAPARI_DENOISE_MODELS"])
    res = subprocess.run([sys.executable, str(SCRIPT), kind, mode], capture_output=True,
                         text=True, timeout=300, env=dict(os.environ))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert "closing the viewer" in res.stdout, out[-4000:]
    assert "Traceback" not in out and "has been deleted" not in out, out[-4000:]
    assert "worker ended: True" in res.stdout, out[-4000:]
    if kind == "train":
        saved = models / "closed_panel_model.safetensors"
        assert saved.is_file()
        assert f"saved to {saved}" in out
        import napari_denoise

        img = np.random.default_rng(1).normal(0.5, 0.1, (32, 32)).astype(np.float32)
        out_img = napari_denoise.denoise(img, model=str(saved), axes="YX")
        assert out_img.shape == img.shape and np.isfinite(out_img).all()


def test_closing_the_panel_cancels_its_run(make_napari_viewer, plugin, qtbot,
                                           tiny_user_model):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-denoise", "Denoise")
    assert isinstance(w, DenoiseWidget)
    w.refresh_models()
    w.method.value = tiny_user_model
    w.noise_mode.value = "manual"
    layer = viewer.add_image(
        np.random.default_rng(0).normal(0.5, 0.1, (16, 256, 256)).astype(np.float32),
        name="stack")
    w.image_layer.value = layer
    w.tile.value = 16  # hundreds of tiles
    seen = []

    def on_progress(p):  # not the widget's: it sees every tile the worker reports
        seen.append(p)
        if len(seen) == 1:
            _close_panel(viewer, w)

    worker = w.run()
    worker.yielded.connect(on_progress)
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
        pass
    qtbot.wait(100)  # the callbacks queued behind it
    assert not worker.is_running
    assert seen and seen[-1].done < seen[-1].total  # stopped long before the end
    assert not w.is_running and not w._life.alive
    assert [lay.name for lay in viewer.layers] == ["stack"]  # nothing was added
    assert w.preview() is None and w.run() is None  # a closed panel starts nothing


def test_closing_the_panel_stops_training_and_keeps_its_model(make_napari_viewer, plugin,
                                                              qtbot, monkeypatch):
    info = []
    monkeypatch.setattr(train_mod, "show_info", info.append)
    viewer = make_napari_viewer()
    w = long_training_panel(viewer, "my_model")
    assert isinstance(w, TrainWidget)
    # a model of that name exists: it is not replaced
    models = Path(os.environ["NAPARI_DENOISE_MODELS"])
    models.mkdir(parents=True, exist_ok=True)
    (models / "my_model.safetensors").write_bytes(b"the user's earlier model")
    steps, at_close, asked = [], [], []

    def close():  # from the event loop, as a click would (not inside a worker report)
        at_close.extend((lay.name, lay.data.copy()) for lay in viewer.layers)
        _close_panel(viewer, w)

    def on_progress(msg):
        steps.append(msg["info"]["step"])
        if msg["info"]["step"] >= 5 and not asked:
            asked.append(1)
            QTimer.singleShot(0, close)

    worker = w.train()
    worker.yielded.connect(on_progress)
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
        pass
    qtbot.wait(100)
    assert not w.is_running and not w._life.alive
    assert max(steps) < 1000  # stopped, not run to its 100000 steps
    saved = models / "my_model_2.safetensors"
    assert saved.is_file()
    assert (models / "my_model.safetensors").read_bytes() == b"the user's earlier model"
    assert info and str(saved) in info[-1] and "closed" in info[-1]
    # no preview came after: the layers are those at the close, with the same data
    assert [lay.name for lay in viewer.layers] == [name for name, _ in at_close]
    for lay, (_, data) in zip(viewer.layers, at_close):
        np.testing.assert_array_equal(lay.data, data)
    assert w.train() is None  # a closed panel starts nothing


def test_closing_the_panel_drops_its_noise_estimate(make_napari_viewer, plugin, qtbot,
                                                    monkeypatch):
    from napari_denoise.core.noise import NoiseEstimate

    viewer = make_napari_viewer()
    _, nm = viewer.window.add_plugin_dock_widget("napari-denoise", "Noise map")
    assert isinstance(nm, NoiseMapWidget)
    layer = viewer.add_image(
        np.random.default_rng(0).normal(0.5, 0.05, (64, 64)).astype(np.float32), name="img")
    nm.image_layer.value = layer
    started, release = threading.Event(), threading.Event()

    def slow_estimate(data, axes, model, sample):  # in the worker
        started.set()
        release.wait(WAIT_MS / 1000)
        return NoiseEstimate.poisson_gaussian(0.01, 1e-3)

    monkeypatch.setattr(noise_map_mod, "fit_noise", slow_estimate)
    monkeypatch.setattr(nm._life, "wait_s", 0.2)  # the estimate cannot stop midway
    worker = nm.run_estimate()
    assert worker is not None
    qtbot.waitUntil(started.is_set, timeout=WAIT_MS)
    _close_panel(viewer, nm)
    qtbot.waitUntil(lambda: not nm._life.alive, timeout=WAIT_MS)
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
        release.set()  # the estimate ends after its panel closed
    qtbot.wait(100)
    assert nm.estimate is None  # its result was dropped
    assert [lay.name for lay in viewer.layers] == ["img"]  # no map was added
