"""The "Train Noise2Noise" dock widget in a real napari viewer (run under xvfb-run).

Tiny data and a tiny U-Net (features 8, levels 2): every training takes a second or two.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

import napari_denoise  # noqa: E402
from napari_denoise._widgets import DenoiseWidget, TrainWidget  # noqa: E402
from napari_denoise._widgets import denoise as denoise_mod  # noqa: E402
from napari_denoise._widgets import train as train_mod  # noqa: E402
from napari_denoise._widgets.train_settings import AUTO_INIT, NO_INIT  # noqa: E402
from conftest import MainThreadPing

pytestmark = pytest.mark.gui

WAIT_MS = 120_000


@pytest.fixture
def notes(monkeypatch):
    """Notifications of both widgets, captured instead of shown."""
    got = {"error": [], "info": [], "warning": []}
    monkeypatch.setattr(train_mod, "show_error", lambda m: got["error"].append(m))
    monkeypatch.setattr(train_mod, "show_info", lambda m: got["info"].append(m))
    monkeypatch.setattr(denoise_mod, "show_error", lambda m: got["error"].append(m))
    monkeypatch.setattr(denoise_mod, "show_warning", lambda m: got["warning"].append(m))
    return got


@pytest.fixture
def viewer_train(make_napari_viewer, plugin):
    """A viewer with the Train widget docked through the manifest."""
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-denoise", "Train Noise2Noise")
    assert isinstance(widget, TrainWidget)
    return viewer, widget


def _scene(n=48):
    yy, xx = np.mgrid[:n, :n]
    return (0.5 + 0.3 * np.sin(xx / 5.0) * np.cos(yy / 7.0)).astype(np.float32)


def _stack(frames=6, n=48, sigma=0.1, seed=0):
    """A still scene filmed ``frames`` times, independent noise in every frame."""
    rng = np.random.default_rng(seed)
    return (_scene(n) + rng.normal(0, sigma, (frames, n, n))).astype(np.float32)


def _tiny(w, layer, steps=30):
    """Settings for a training of a second or two."""
    w.data_layer.value = layer
    w.pairs.value = "neighbors"
    w.init.value = NO_INIT  # random weights: the tiny network, not the shipped one
    w.size.value = "tiny"  # U-Net features 8, levels 2
    w.patch.value = 32
    w.batch.value = 4
    w.minutes.value = 0
    w.steps.value = steps
    w.lr.value = 0.003
    if "cpu" in w.device.choices:
        w.device.value = "cpu"
    w.preview_interval = 0.1


def _wait(qtbot, worker, timeout=WAIT_MS):
    assert worker is not None, "training did not start"
    with qtbot.waitSignal(worker.finished, timeout=timeout):
        pass


def test_docked_from_manifest_controls(viewer_train, notes):
    from napari._app_model import get_app_model

    viewer, w = viewer_train
    # listed under Plugins (in the plugin's submenu: it has more than one widget)
    menus = get_app_model().menus
    ids = set()
    for menu in ("napari/plugins", "napari/plugins/napari-denoise"):
        try:
            ids |= {getattr(getattr(i, "command", None), "id", None)
                    for i in menus.get_menu(menu)}
        except KeyError:
            pass
    assert "napari-denoise.make_train_widget" in ids
    assert w.data_layer.value is None and not w.axis.choices
    # the stack axis comes from the axis labels, else from the shape
    viewer.add_image(_stack(), name="stack", axis_labels=("t", "y", "x"))
    w.data_layer.value = viewer.layers["stack"]  # (also followed from the selection)
    assert w.axis.value == 0 and "T (6 frames" in w.axis.native.currentText()
    assert w.model_name.value == "n2n_stack"
    tz = viewer.add_image(np.zeros((2, 5, 16, 16), np.float32), name="tz")
    w.data_layer.value = tz
    assert len(w.axis.choices) == 2 and w.model_name.value == "n2n_tz"
    assert "'-" not in w.axis.native.currentText()  # napari's default labels not shown
    w.axis.value = w.axis.choices[1]
    viewer.add_points(np.zeros((1, 4)))  # layer list changes keep the choice
    assert w.data_layer.value is tz and w.axis.value == w.axis.choices[1]
    # the explanation and the controls follow the kind of pairs
    texts = {}
    assert w.pairs.value == "auto" and w.target_layer.value is None
    for kind in ("auto", "neighbors", "others", "two", "subsample", "blindspot"):
        w.pairs.value = kind
        texts[kind] = w.pairs_info.value
        assert w.target_layer.native.isHidden() == (kind not in ("two", "auto"))
        assert w.axis.native.isHidden() == (kind not in ("neighbors", "others", "auto"))
        assert w.distance.native.isHidden() == (kind != "neighbors")
    assert len(set(texts.values())) == 6
    assert "single images" in texts["subsample"] and "two" in texts["two"].lower()
    # fine-tuning (the shipped network for the data's noise, by default) takes the network
    # of the model it starts from
    assert w.init.value == AUTO_INIT
    assert not w.model.enabled and not w.size.enabled
    w.init.value = NO_INIT
    assert w.model.enabled and w.size.enabled
    assert list(w.model.choices) == ["unet", "dncnn"]
    assert list(w.loss.choices) == ["l2", "l1", "charbonnier"]
    assert not w.stop_button.enabled and not w.resume_button.enabled
    assert not w.save_button.enabled and not w.use_button.enabled
    assert not notes["error"]


def test_train_progress_plot_preview_and_responsive(viewer_train, qtbot, notes, monkeypatch):
    from napari_denoise.core.training.n2n import Noise2NoiseTrainer

    viewer, w = viewer_train
    layer = viewer.add_image(_stack(), name="stack")
    ref = viewer.add_image(_scene(), name="clean")
    _tiny(w, layer, steps=40)
    w.reference_layer.value = ref
    assert w.data_layer.value is layer
    ping = MainThreadPing(what="the training")
    real_run = Noise2NoiseTrainer.run
    steps = []

    def pinging_run(self, stop=None):  # the trainer, as the worker drives it
        gen = real_run(self, stop=stop)
        try:
            while True:
                try:
                    info = next(gen)
                except StopIteration as done:
                    return done.value
                steps.append(info["step"])
                ping.ask()  # the main thread must serve an event before the next step
                yield info
        finally:
            gen.close()

    monkeypatch.setattr(Noise2NoiseTrainer, "run", pinging_run)
    seen, previews = [], []
    ping.timer.start()
    try:
        worker = w.train()
        assert w.is_running and w.stop_button.enabled and not w.train_button.enabled
        worker.yielded.connect(lambda m: (seen.append(m["info"]),
                                          previews.append(m["preview"] is not None)))
        _wait(qtbot, worker)
    finally:
        ping.timer.stop()
    assert not notes["error"], notes["error"]
    # progress dicts went through, up to the end
    assert seen and seen[0]["phase"] == "start" and seen[-1]["phase"] == "done"
    assert seen[-1]["step"] == 40 and w.last_info["step"] == 40
    assert {"loss", "val_loss", "val_psnr", "eta", "message"} <= set(seen[-1])
    assert "step 40/40" in w.status.value or "Done" in w.status.value
    # what was trained, in words: the pairs and the network
    assert seen[-1]["setup"] == "Noise2Noise on neighbouring frames; unet from scratch"
    assert "Noise2Noise on neighbouring frames; unet from scratch" in w.status.value
    assert w.progress_bar.value == 1000
    # the plot got the curves: training loss, validation loss and PSNR (reference given)
    assert len(w.plot.train) >= 3 and len(w.plot.val) >= 3 and len(w.plot.psnr) >= 3
    assert [s for s, _ in w.plot.val] == [h["step"] for h in w.history]
    assert all(h["val_psnr"] is not None for h in w.history)
    w.plot.grab()  # paints without error
    assert w.plot.paints >= 1
    # previews of the slice shown, made with the model being trained (and the final one)
    assert sum(previews) >= 2, previews
    [prev] = [lay for lay in viewer.layers if "preview" in lay.metadata.get("napari_denoise", {})]
    assert prev.data.shape == (48, 48) and prev.metadata["napari_denoise"]["preview"]
    # the name says which slice and which model (the final preview: the model kept)
    z = viewer.dims.current_step[0]
    assert prev.name.startswith(f"stack training preview, Z {z} (step 40"), prev.name
    assert w.data_layer.value is layer  # the preview did not become the input
    # the result: the best model, usable at once
    trained = w.trained
    assert trained is not None and trained.card["metrics"]["steps"] == 40
    out = trained.denoise(layer.data[0], axes="YX")
    assert out.shape == (48, 48) and np.isfinite(out).all()
    assert w.save_button.enabled and w.use_button.enabled and w.resume_button.enabled
    assert not w.is_running
    # the main thread kept serving events: one answer at every step of the training
    assert not ping.failed, ping.failed
    assert len(steps) >= 40 and steps[-1] == 40
    assert ping.answered == len(steps)


def test_the_training_preview_follows_the_slice(viewer_train, qtbot, notes):
    viewer, w = viewer_train
    layer = viewer.add_image(_stack(), name="stack")
    _tiny(w, layer, steps=5000)  # far more than we wait for
    viewer.dims.set_current_step(0, 0)
    worker = w.train()

    def previews():
        return [lay for lay in viewer.layers
                if lay.metadata.get("napari_denoise", {}).get("preview")]

    try:
        qtbot.waitUntil(lambda: len(previews()) == 1, timeout=WAIT_MS)
        [first] = previews()
        assert first.name.startswith("stack training preview, Z 0 (step ")
        viewer.dims.set_current_step(0, 3)
        assert first not in viewer.layers  # slice 0's preview is not shown over slice 3
        # one of slice 3 comes, made from slice 3's data
        qtbot.waitUntil(lambda: len(previews()) == 1, timeout=WAIT_MS)
        [prev] = previews()
        assert prev.name.startswith("stack training preview, Z 3 (step ")
        diff = [np.abs(prev.data - layer.data[k]).mean() for k in range(6)]
        assert int(np.argmin(diff)) == 3
    finally:
        w.stop()
        _wait(qtbot, worker)
    assert not notes["error"], notes["error"]


def test_stop_keeps_best_then_resume_continues(viewer_train, qtbot, notes):
    viewer, w = viewer_train
    layer = viewer.add_image(_stack(), name="stack")
    _tiny(w, layer, steps=5000)  # far more than we wait for

    def stop_at(n):
        def on_progress(m):
            if m["info"]["step"] >= n and not w._job.stop.is_set():
                w.stop()
        return on_progress

    worker = w.train()
    worker.yielded.connect(stop_at(12))
    _wait(qtbot, worker)
    assert not notes["error"], notes["error"]
    stopped = w.last_info["step"]
    assert 12 <= stopped < 200
    assert w.trained is not None and w.status.value.startswith("Stopped")
    assert w.trained.card["metrics"]["steps"] == stopped
    assert w.trained.card["metrics"]["best_step"] is not None
    out = w.trained.denoise(layer.data[2], axes="YX")
    assert out.shape == (48, 48) and np.isfinite(out).all()
    first = w.trained
    trainer = w.trainer
    n_val = len(w.history)
    assert w.resume_button.enabled and not w.stop_button.enabled
    # Resume: the same trainer goes on from the stopped step
    worker = w.resume()
    worker.yielded.connect(stop_at(stopped + 15))
    _wait(qtbot, worker)
    assert not notes["error"], notes["error"]
    assert w.trainer is trainer
    assert w.last_info["step"] >= stopped + 15
    assert w.trained is not first and w.trained.card["metrics"]["steps"] == w.last_info["step"]
    assert len(w.history) > n_val and w.history[-1]["step"] > stopped
    assert max(s for s, _ in w.plot.train) > stopped
    # a finished schedule is extended by the steps asked for
    trainer.total = trainer.step
    w.steps.value = 6
    before = trainer.step
    _wait(qtbot, w.resume())
    assert w.last_info["step"] == before + 6 and not notes["error"]


def test_save_lists_model_and_use_in_denoise_runs(viewer_train, qtbot, notes):
    from napari_denoise.core.models import user_models_dir

    viewer, w = viewer_train
    layer = viewer.add_image(_stack(), name="stack")
    _tiny(w, layer, steps=10)
    _wait(qtbot, w.train())
    w.model_name.value = "my_n2n"
    path = w.save()
    assert path is not None and path.exists() and path.parent == user_models_dir()
    assert path.name == "my_n2n.safetensors"
    assert notes["info"] and str(path) in notes["info"][-1]
    entries = {e["name"]: e for e in napari_denoise.list_models()}
    assert entries["my_n2n"]["kind"] == "user"
    assert entries["my_n2n"]["card"]["arch"] == "unet"
    # Use in Denoise, with the Denoise widget docked
    _, dw = viewer.window.add_plugin_dock_widget("napari-denoise", "Denoise")
    assert isinstance(dw, DenoiseWidget)
    w.model_name.value = "my_n2n_v2"  # a new name: saved again first
    got = w.use_in_denoise()
    assert got is dw
    assert (user_models_dir() / "my_n2n_v2.safetensors").exists()
    assert Path(dw.method.value).resolve() == (user_models_dir() /
                                               "my_n2n_v2.safetensors").resolve()
    assert dw.current_model()["kind"] == "user"
    assert dw.image_layer.value is layer
    worker = dw.run()
    assert worker is not None
    _wait(qtbot, worker)
    assert not notes["error"], notes["error"]
    out = viewer.layers["stack_denoised"]
    assert out.data.shape == layer.data.shape and out.data.dtype == layer.data.dtype


def test_use_in_denoise_docks_it(viewer_train, qtbot, notes):
    viewer, w = viewer_train
    layer = viewer.add_image(_stack(frames=4), name="movie")
    _tiny(w, layer, steps=5)
    _wait(qtbot, w.train())
    assert denoise_mod.find_denoise_widget(viewer) is None
    dw = w.use_in_denoise()  # saves under the default name, docks Denoise
    assert isinstance(dw, DenoiseWidget)
    assert denoise_mod.find_denoise_widget(viewer) is dw
    assert w.saved_path is not None and w.saved_path.stem == "n2n_movie"
    assert Path(dw.method.value).resolve() == w.saved_path.resolve()
    assert not notes["error"], notes["error"]
    # the saved model can be fine-tuned: it is listed under "Start from"
    assert str(w.saved_path) in w.init.choices
    w.init.value = str(w.saved_path)
    assert not w.model.enabled and not w.size.enabled  # the network is the saved one's
    w.steps.value = 3
    _wait(qtbot, w.train())
    assert not notes["error"], notes["error"]
    assert "n2n_movie" in str(w.trained.card["training"]["init"])
    assert w.trained.card["arch_args"]["features"] == 8


def test_errors_are_notifications(viewer_train, qtbot, notes, monkeypatch):
    viewer, w = viewer_train
    # one frame with neighbour pairs: refused at once, subsample suggested
    one = viewer.add_image(_stack(frames=1), name="one")
    _tiny(w, one, steps=4)
    w.pairs.value = "neighbors"
    assert w.train() is None
    assert len(notes["error"]) == 1 and "subsample" in notes["error"][0]
    assert not w.is_running and w.train_button.enabled
    # a single 2-D image too
    single = viewer.add_image(_stack(frames=1)[0], name="single")
    w.data_layer.value = single
    notes["error"].clear()
    assert w.train() is None and "subsample" in notes["error"][0]
    # ... which trains with sub-sampled pairs
    w.pairs.value = "subsample"
    notes["error"].clear()
    _wait(qtbot, w.train())
    assert not notes["error"], notes["error"]
    assert w.trained is not None and w.trained.card["metrics"]["pairs"] == "subsample"
    # two captures without the second one
    w.pairs.value = "two"
    notes["error"].clear()
    assert w.train() is None and "second capture" in notes["error"][0]
    # found by the core in the worker: constant data
    flat = viewer.add_image(np.full((3, 32, 32), 7.0, np.float32), name="flat")
    w.data_layer.value = flat
    w.pairs.value = "neighbors"
    notes["error"].clear()
    _wait(qtbot, w.train())
    assert len(notes["error"]) == 1 and "constant" in notes["error"][0]
    assert w.train_button.enabled and not w.is_running
    # a RuntimeError in the worker (superqt would swallow it) is reported too
    from napari_denoise.core.training import n2n

    def diverge(self):
        raise RuntimeError("training diverged at step 1")

    monkeypatch.setattr(n2n.Noise2NoiseTrainer, "train_step", diverge)
    w.data_layer.value = viewer.layers["one"]
    w.pairs.value = "blindspot"
    notes["error"].clear()
    _wait(qtbot, w.train())
    assert len(notes["error"]) == 1 and "diverged" in notes["error"][0]
    assert w.train_button.enabled


def test_volumes_train_a_3d_network_from_the_layer_scale(viewer_train, qtbot, notes):
    viewer, w = viewer_train
    rng = np.random.default_rng(4)
    vols = (_scene(32)[None, None] + rng.normal(0, 0.1, (3, 8, 32, 32))).astype(np.float32)
    layer = viewer.add_image(vols, name="vols", axis_labels=("t", "z", "y", "x"),
                             scale=(1.0, 0.5, 0.125, 0.125))
    w.data_layer.value = layer
    assert w.patch.value == 64
    w.dims.value = 3
    assert w.patch.value == 32  # the core's 3-D default
    _tiny(w, layer, steps=3)
    w.dims.value = 3
    w.pairs.value = "others"
    w.patch.value = 16
    _wait(qtbot, w.train())
    assert not notes["error"], notes["error"]
    card = w.trained.card
    assert card["dims"] == 3 and card["arch_args"]["anisotropy"] == 4.0
    assert card["training"]["patch"] == [4, 16, 16]
    w.dims.value = 2
    assert w.patch.value == 16  # a patch the user chose stays
