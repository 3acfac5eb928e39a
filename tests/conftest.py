import os

import numpy as np
import pytest

# keep tests predictable on the 2-core CI machine
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(autouse=True)
def _user_models_dir(tmp_path_factory, monkeypatch):
    """Never read or write the real user's model folder from tests."""
    monkeypatch.setenv("NAPARI_DENOISE_MODELS", str(tmp_path_factory.mktemp("user_models")))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def tiny_card(**kw):
    card = dict(name="tiny", description="tiny test network", arch="dncnn",
                arch_args={"depth": 3, "features": 8}, dims=2, channels=1,
                noise_model="gaussian", sigma_range=[0, 55], normalisation="[0, 1]",
                training_data="none", recipe="none", metrics={}, licence="BSD-3-Clause",
                limitations="test only")
    card.update(kw)
    return card


@pytest.fixture
def tiny_model_file(tmp_path):
    import torch

    from napari_denoise.core.archs import DnCNN
    from napari_denoise.core.weights import save_model

    torch.manual_seed(0)
    return save_model(DnCNN(depth=3, features=8), tmp_path / "tiny.safetensors", tiny_card())


@pytest.fixture
def plugin():
    """The plugin's manifest, registered with npe2 unless installed (and so discovered)."""
    from pathlib import Path

    import npe2

    import napari_denoise

    pm = npe2.PluginManager.instance()
    try:
        pm.get_manifest("napari-denoise")
    except KeyError:
        pm.register(npe2.PluginManifest.from_file(Path(napari_denoise.__file__).parent / "napari.yaml"))
    return pm


def assert_widget_modules_import_no_gui(*names: str) -> None:
    """Import ``napari_denoise._widgets.<name>`` in a fresh interpreter, without the
    package's __init__ (which loads the widgets), and assert no Qt, napari, magicgui or
    torch module came with them: the widgets' rules must run without a display."""
    import subprocess
    import sys

    code = f"""
import importlib, pathlib, sys, types
import napari_denoise
pkg = types.ModuleType("napari_denoise._widgets")
pkg.__path__ = [str(pathlib.Path(napari_denoise.__file__).parent / "_widgets")]
sys.modules["napari_denoise._widgets"] = pkg
for name in {names!r}:
    importlib.import_module("napari_denoise._widgets." + name)
roots = {{"napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "superqt", "torch"}}
bad = sorted(m for m in sys.modules if m.split(".")[0] in roots)
assert not bad, bad
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr


class MainThreadPing:
    """A worker thread asks, the main thread's event loop answers (from a QTimer).

    ``ask()`` (called in a worker between steps) returns only once the main thread has
    served a timer event; on the main thread itself, or when no answer comes, it fails
    (and stops asking). Counts, not clocks: ``answered`` pings are events served while
    the job was in flight. ``what`` names the job in the failure messages."""

    def __init__(self, timeout_s: float = 30.0, what: str = "the run"):
        import threading

        from qtpy.QtCore import QTimer

        self.timeout_s, self.what = timeout_s, what
        self.asked, self.reply = threading.Event(), threading.Event()
        self.answered = 0
        self.failed: list[str] = []
        self.timer = QTimer()
        self.timer.setInterval(1)
        self.timer.timeout.connect(self._answer)

    def _answer(self):  # main thread
        if self.asked.is_set():
            self.asked.clear()
            self.answered += 1
            self.reply.set()

    def ask(self):  # the worker thread
        import threading

        if self.failed:
            return
        if threading.current_thread() is threading.main_thread():
            self.failed.append(f"{self.what} works on the main thread")
            return
        self.reply.clear()
        self.asked.set()
        if not self.reply.wait(self.timeout_s):
            self.failed.append("the main thread served no event")


def long_training_panel(viewer, model_name: str):
    """The Train panel docked in ``viewer`` on a small noisy stack, set to train far
    longer than any test waits (100000 steps, no time limit), previews every 0.1 s."""
    _, w = viewer.window.add_plugin_dock_widget("napari-denoise", "Train Noise2Noise")
    rng = np.random.default_rng(0)
    layer = viewer.add_image((0.5 + rng.normal(0, 0.1, (6, 48, 48))).astype(np.float32),
                             name="stack")
    w.data_layer.value = layer
    w.size.value = "tiny"
    w.patch.value, w.batch.value, w.minutes.value, w.steps.value = 32, 4, 0, 100_000
    if "cpu" in w.device.choices:
        w.device.value = "cpu"
    w.preview_interval = 0.1
    w.model_name.value = model_name
    return w


def run_and_wait(qtbot, denoise_widget, timeout_ms: int = 60_000) -> None:
    """Press Run on a Denoise panel and wait for its worker to finish."""
    worker = denoise_widget.run()
    assert worker is not None, "the run did not start"
    with qtbot.waitSignal(worker.finished, timeout=timeout_ms):
        pass
    assert not denoise_widget.is_running
