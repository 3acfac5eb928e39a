"""Fixtures and helpers shared by the Denoise dock widget's GUI tests (imported by them;
needs napari and pytest-qt, like the tests)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from napari_denoise._widgets import DenoiseWidget
from napari_denoise._widgets import denoise as denoise_mod

from conftest import tiny_card

WAIT_MS = 60_000


@pytest.fixture
def tiny_user_model():
    """A tiny DnCNN saved in the user-model folder (a temp dir set by conftest)."""
    import torch

    from napari_denoise.core.archs import DnCNN
    from napari_denoise.core.weights import save_model

    torch.manual_seed(0)
    path = Path(os.environ["NAPARI_DENOISE_MODELS"]) / "tiny.safetensors"
    save_model(DnCNN(depth=3, features=8), path, tiny_card(metrics={"psnr_sigma25": 28.1},
                                                             training_data="BSD68 crops"))
    return str(path)


@pytest.fixture
def notes(monkeypatch):
    """Errors and warnings the widget notifies, captured instead of shown."""
    got = {"error": [], "warning": []}
    monkeypatch.setattr(denoise_mod, "show_error", lambda m: got["error"].append(m))
    monkeypatch.setattr(denoise_mod, "show_warning", lambda m: got["warning"].append(m))
    return got


@pytest.fixture
def viewer_widget(make_napari_viewer, plugin, tiny_user_model):
    """A viewer with the Denoise widget docked through the manifest, set to the tiny model."""
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-denoise", "Denoise")
    assert isinstance(widget, DenoiseWidget)
    widget.refresh_models()
    widget.method.value = tiny_user_model
    return viewer, widget


def _wait(qtbot, widget, start, timeout=WAIT_MS):
    """Start a run or preview (``start()``) and wait for its worker to finish."""
    worker = start()
    assert worker is not None, "the run did not start"
    with qtbot.waitSignal(worker.finished, timeout=timeout):
        pass
    assert not widget.is_running
    return worker


def _noisy(shape, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(120, 25, shape)
    if np.dtype(dtype).kind == "f":
        return (x / 255).astype(dtype)
    return np.clip(x, 0, 255).astype(dtype)


def _interrupt_after_first_tile(qtbot, viewer, w, planes, start, interrupt):
    """Start a job (``start``: w.run or w.preview) on a stack of small tiles, call
    ``interrupt`` at its first progress report, wait for it to end; its reports."""
    w.noise_mode.value = "manual"  # the model is blind: no estimate needed
    layer = viewer.add_image(_noisy((planes, 256, 256), np.float32), name="stack")
    w.image_layer.value = layer
    w.tile.value = 16  # many small tiles
    seen = []

    def on_progress(p):
        seen.append(p)
        if len(seen) == 1:
            interrupt()

    worker = start()
    worker.yielded.connect(on_progress)
    with qtbot.waitSignals([worker.aborted, worker.finished], timeout=WAIT_MS):
        pass
    return seen
