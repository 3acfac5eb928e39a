"""The Noise map dock widget and its link to the Denoise widget, in a real napari viewer
(needs a display: run under xvfb-run)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari_denoise._widgets import DenoiseWidget, NoiseMapWidget  # noqa: E402
from napari_denoise._widgets import denoise as denoise_mod  # noqa: E402
from napari_denoise._widgets import noise_map as noise_map_mod  # noqa: E402
from conftest import run_and_wait  # noqa: E402

pytestmark = pytest.mark.gui

WAIT_MS = 60_000
A, B = 0.01, 1e-3


@pytest.fixture
def notes(monkeypatch):
    """Errors the widgets notify, captured instead of shown."""
    got = []
    for mod in (denoise_mod, noise_map_mod):
        monkeypatch.setattr(mod, "show_error", lambda m: got.append(m))
    monkeypatch.setattr(denoise_mod, "show_warning", lambda m: got.append(m))
    return got


@pytest.fixture(scope="module")
def pg_image():
    """A 256x256 crop of skimage's camera in [0, 1] with Poisson-Gaussian noise
    (variance = A * signal + B)."""
    from skimage.data import camera

    clean = camera()[128:384, 128:384].astype(np.float64) / 255
    rng = np.random.default_rng(0)
    noisy = A * rng.poisson(clean / A) + rng.normal(0, np.sqrt(B), clean.shape)
    return noisy.astype(np.float32)


@pytest.fixture
def widgets(make_napari_viewer, plugin):
    """A viewer with the Noise map and Denoise widgets docked through the manifest."""
    viewer = make_napari_viewer()
    _, nm = viewer.window.add_plugin_dock_widget("napari-denoise", "Noise map")
    _, dw = viewer.window.add_plugin_dock_widget("napari-denoise", "Denoise")
    assert isinstance(nm, NoiseMapWidget) and isinstance(dw, DenoiseWidget)
    nm.edit_delay_ms = 50
    nm._edit_timer.setInterval(50)
    return viewer, nm, dw


def _idle(nm):
    return nm.estimate_worker is None and nm.map_worker is None and \
        not nm._edit_timer.isActive()


def _wait_until(qtbot, nm, cond):
    qtbot.waitUntil(lambda: _idle(nm) and cond(), timeout=WAIT_MS)


def _run(qtbot, dw):
    run_and_wait(qtbot, dw, WAIT_MS)


def test_estimate_map_strength_source_and_denoise(widgets, qtbot, notes, pg_image):
    from napari._app_model import get_app_model

    from napari_denoise.core.noise import NoiseEstimate

    viewer, nm, dw = widgets
    menu = get_app_model().menus.get_menu("napari/layers/filter")
    assert "napari-denoise.make_noise_map_widget" in {
        getattr(getattr(i, "command", None), "id", None) for i in menu}

    ramp = np.broadcast_to(np.linspace(0.02, 0.2, 256, dtype=np.float32), (256, 256)).copy()
    painted = viewer.add_image(ramp, name="painted")  # listed before the map in Denoise
    layer = viewer.add_image(pg_image.copy(), name="cam", scale=(0.5, 0.25),
                             translate=(10, 20))
    original = layer.data.copy()
    nm.image_layer.value = layer
    dw.image_layer.value = layer
    assert nm.model.value == "poisson-gaussian" and nm.map_layer is None

    # Estimate: the fit, the plot, the fields and the map layer
    assert nm.run_estimate() is not None
    assert not nm.busy.native.isHidden()  # the busy indicator while it runs
    _wait_until(qtbot, nm, lambda: nm.map_layer is not None)
    assert nm.busy.native.isHidden()
    est = nm.estimate
    assert est.model == "poisson-gaussian"
    assert est.a == pytest.approx(A, rel=0.15)
    assert float(nm.gain.value) == pytest.approx(est.a, rel=1e-5)
    assert float(nm.offset.value) == pytest.approx(est.b, rel=1e-5, abs=1e-12)
    assert nm.message.value == "" and nm.message.native.isHidden()  # no fallback
    assert nm.plot.points is not None and len(nm.plot.points) >= 5
    assert nm.plot.a == pytest.approx(est.a) and nm.plot.b == pytest.approx(est.b)
    assert nm.plot.title.startswith("fit: variance") and "bins cover" in nm.plot.cover_text
    painted_before = nm.plot.paints
    nm.plot.grab()  # renders the plot off screen
    assert nm.plot.paints > painted_before
    out = viewer.layers["cam noise map"]
    assert out is nm.map_layer
    assert out.data.shape == layer.data.shape and out.data.dtype == np.float32
    assert float(out.data.min()) > 0
    np.testing.assert_allclose(out.data, est.sigma_map(pg_image), rtol=1e-6)
    # sigma grows with the signal: bright pixels are noisier than dark ones
    bright, dark = pg_image > 0.6, pg_image < 0.2
    assert out.data[bright].mean() > 1.5 * out.data[dark].mean()
    np.testing.assert_allclose(out.scale, layer.scale)
    np.testing.assert_allclose(out.translate, layer.translate)
    assert out.colormap.name == "magma"
    meta = out.metadata["napari_denoise"]
    assert meta["noise_map_for"] == "cam" and meta["model"] == "poisson-gaussian"
    assert meta["a"] == pytest.approx(est.a) and meta["strength"] == 1.0
    first = out.data.copy()

    # strength 2 doubles the map (same layer, updated in place)
    n = len(viewer.layers)
    nm.strength.value = 2.0
    _wait_until(qtbot, nm, lambda: out.metadata["napari_denoise"]["strength"] == 2.0)
    assert viewer.layers["cam noise map"] is out and len(viewer.layers) == n
    np.testing.assert_allclose(out.data, 2 * first, rtol=1e-5)

    # an edited gain changes the model, the plot and the map
    nm.gain.value = "0.02"
    _wait_until(qtbot, nm, lambda: out.metadata["napari_denoise"]["a"] == 0.02)
    edited = NoiseEstimate.poisson_gaussian(0.02, est.b)
    np.testing.assert_allclose(out.data, edited.sigma_map(pg_image, strength=2.0), rtol=1e-5)
    assert nm.plot.a == 0.02 and nm.plot.points is not None
    assert nm.plot.title.startswith("edited by hand: variance = 0.02 * signal")
    nm.gain.value = "not a number"
    assert nm.apply_params() is False and any("gain" in m for m in notes)
    notes.clear()
    nm.gain.value = "0.02"
    _wait_until(qtbot, nm, lambda: True)

    # the Denoise widget's map mode picks the map (not the first layer listed) and uses
    # it as it is: its own strength is not applied a second time
    dw.noise_mode.value = "map"
    assert list(dw.noise_map.choices)[0] is painted
    assert dw.noise_map.value is out
    assert not dw.strength.enabled
    dw.strength.value = 3.0
    dw.method.value = "tv"
    _run(qtbot, dw)
    res = viewer.layers["cam_denoised"]
    info = res.metadata["napari_denoise"]
    assert info["noise_kind"] == "map", info
    assert f"{float(out.data.mean()):.4g}" in info["sigma"]  # the map's mean, as people read it
    assert info["strength"] == 1.0
    with_map = res.data.copy()
    dw.noise_mode.value = "manual"
    dw.sigma_value.value = 0.001
    _run(qtbot, dw)
    assert res.metadata["napari_denoise"]["noise_kind"] == "gaussian"
    assert np.abs(res.data - with_map).mean() > 0.005
    assert not notes, notes

    # a painted layer as the source: its data times the strength
    nm.source.value = noise_map_mod.SOURCE_LAYER
    assert not nm.source_layer.native.isHidden()
    # image layers of the input's shape, but not the input or its map
    assert list(nm.source_layer.choices) == [painted, viewer.layers["cam_denoised"]]
    nm.source_layer.value = painted
    nm.strength.value = 1.5
    _wait_until(qtbot, nm, lambda: out.metadata["napari_denoise"]["strength"] == 1.5)
    np.testing.assert_allclose(out.data, 1.5 * ramp, rtol=1e-6)
    assert out.metadata["napari_denoise"]["source"] == "layer 'painted'"
    np.testing.assert_array_equal(painted.data, ramp)

    # "Use in Denoise" selects the input, map mode and the map
    other = viewer.add_image(np.zeros((64, 64), np.float32), name="other")
    dw.noise_mode.value = "auto"
    dw.image_layer.value = other
    assert nm.use_in_denoise() is dw
    assert dw.image_layer.value is layer and dw.noise_mode.value == "map"
    assert dw.noise_map.value is out
    assert not notes, notes
    np.testing.assert_array_equal(layer.data, original)  # the input was never modified


def test_denoise_noise_controls_reach_the_engine(widgets, qtbot, notes, pg_image):
    viewer, nm, dw = widgets
    layer = viewer.add_image(pg_image.copy(), name="cam")
    dw.image_layer.value = layer
    dw.method.value = "tv"
    assert dw.noise_mode.value == "auto" and dw.noise_model.value == "auto"
    assert dw.strength.enabled and dw.strength.value == 1.0 and not dw.destripe.value
    dw.noise_model.value = "poisson-gaussian"
    _run(qtbot, dw)
    info = viewer.layers["cam_denoised"].metadata["napari_denoise"]
    assert info["noise_kind"] == "poisson-gaussian" and info["transform"] == "gat", info
    dw.noise_model.value = "gaussian"
    dw.strength.value = 2.0
    dw.destripe.value = True
    _run(qtbot, dw)
    info = viewer.layers["cam_denoised"].metadata["napari_denoise"]
    assert info["transform"] is None and info["noise_kind"] == "gaussian"
    assert info["strength"] == 2.0 and info["destripe"] is True
    # the cached Gaussian estimate (the noise level the controls hold), times the strength
    assert dw.axes.value == "YX" and dw.image_layer.value is layer
    assert info["sigma_value"] == pytest.approx(2 * dw.settings().noise_level(), rel=1e-3)
    assert not notes, notes


def test_fallbacks_and_errors_are_messages(widgets, qtbot, notes):
    viewer, nm, dw = widgets
    flat = viewer.add_image(np.full((64, 64), 0.5, np.float32), name="flat")
    nm.image_layer.value = flat
    assert nm.run_estimate() is not None
    _wait_until(qtbot, nm, lambda: nm.estimate is not None)
    assert "constant" in nm.message.value and not nm.message.native.isHidden()
    assert nm.estimate.model == "gaussian" and not notes
    assert "flat noise map" in viewer.layers  # a map of zeros: nothing to denoise
    # a map that would not fit in memory is not computed: a message instead
    big = viewer.add_image(np.random.default_rng(1).normal(0.5, 0.1, (64, 64)), name="big")
    nm.image_layer.value = big
    nm.max_map_bytes = 1000
    nm.run_estimate()
    _wait_until(qtbot, nm, lambda: nm.estimate is not None)
    assert "not computed" in nm.status.value and "big noise map" not in viewer.layers
    # failures in the worker and bad input are notifications, not exceptions
    tiny = viewer.add_image(np.ones((4, 4), np.float32), name="tiny")
    nm.image_layer.value = tiny
    nm.run_estimate()
    _wait_until(qtbot, nm, lambda: bool(notes))
    assert "too small" in notes[-1] and nm.estimate is None
    notes.clear()
    nm.axes.value = "ZYX"
    assert nm.run_estimate() is None and "axes" in notes[-1].lower()
    notes.clear()
    nm.axes.value = "YX"
    assert nm.show_map() is None and "estimate" in notes[-1]
    assert nm.use_in_denoise() is None and "show a map first" in notes[-1]


def test_a_new_estimate_abandons_the_running_one(widgets, qtbot, notes, monkeypatch):
    """The result of an estimate that a newer one replaced never lands, not even when it
    comes after the newer one's start (or its result)."""
    import threading

    from napari_denoise.core.noise import NoiseEstimate

    viewer, nm, dw = widgets
    img = np.random.default_rng(0).normal(0.5, 0.05, (64, 64)).astype(np.float32)
    layer = viewer.add_image(img, name="img")
    nm.image_layer.value = layer
    gains = [0.5, 0.01]  # the first (stale) estimate's, the second's
    release = [threading.Event(), threading.Event()]
    started = []

    def slow_estimate(data, axes, model, sample):  # in the workers
        k = len(started)
        started.append(k)
        release[k].wait(WAIT_MS / 1000)
        return NoiseEstimate.poisson_gaussian(gains[k], 1e-3)

    monkeypatch.setattr(noise_map_mod, "fit_noise", slow_estimate)
    try:
        first = nm.run_estimate()
        assert first is not None
        qtbot.waitUntil(lambda: len(started) == 1, timeout=WAIT_MS)
        second = nm.run_estimate()  # e.g. after a change of the noise model
        assert second is not None and second is not first, "the new estimate did not start"
        assert first.abort_requested and nm.estimate_worker is second
        qtbot.waitUntil(lambda: len(started) == 2, timeout=WAIT_MS)
        with qtbot.waitSignal(first.finished, timeout=WAIT_MS):
            release[0].set()  # the stale one ends while the new one still runs
        qtbot.waitUntil(lambda: not first.is_running, timeout=WAIT_MS)
        assert nm.estimate is None and nm.gain.value == ""  # its result was dropped
        assert nm.estimate_worker is second and not nm.busy.native.isHidden()
        release[1].set()
        _wait_until(qtbot, nm, lambda: nm.map_layer is not None)
    finally:
        for ev in release:
            ev.set()
    assert nm.estimate.a == pytest.approx(gains[1])
    assert nm.map_layer.metadata["napari_denoise"]["a"] == pytest.approx(gains[1])
    assert nm.busy.native.isHidden() and not notes, notes


def test_a_pending_edit_never_fires_after_the_widget_is_destroyed(make_napari_viewer, qtbot,
                                                                  monkeypatch):
    from qtpy import sip

    calls = []
    real = noise_map_mod.NoiseMapWidget.apply_params

    def counting(self):
        calls.append(1)
        return real(self)

    monkeypatch.setattr(noise_map_mod.NoiseMapWidget, "apply_params", counting)
    viewer = make_napari_viewer()
    nm = NoiseMapWidget(viewer)  # on its own, not docked
    nm._edit_timer.setInterval(20)
    nm.gain.value = "0.01"  # an edit: applied after the pause
    timer = nm._edit_timer
    assert timer.isActive() and not calls
    gone = []
    nm.native.destroyed.connect(lambda *a: gone.append(1))
    nm.native.deleteLater()
    qtbot.waitUntil(lambda: bool(gone), timeout=WAIT_MS)
    # the timer went with the widget (or was stopped): nothing left to fire
    assert sip.isdeleted(timer) or not timer.isActive()
    qtbot.wait(200)  # ten pauses: had it survived, it would have fired by now
    assert not calls
