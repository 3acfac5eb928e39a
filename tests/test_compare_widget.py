"""The Compare panel in a real napari viewer (needs a display: run under xvfb-run)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari_denoise._widgets import CompareWidget  # noqa: E402
from napari_denoise._widgets import compare as compare_mod  # noqa: E402

pytestmark = pytest.mark.gui

WAIT_MS = 60_000


@pytest.fixture
def panel(make_napari_viewer, plugin, monkeypatch):
    notes = []
    monkeypatch.setattr(compare_mod, "show_error", notes.append)
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-denoise", "Compare methods")
    assert isinstance(w, CompareWidget)
    assert w.native.maximumWidth() <= 420  # fits beside the canvas
    ticked = [k for k, _ in w.chosen_methods()]
    assert "auto" in ticked and "bm3d" in ticked  # the defaults
    for key, box in w.method_boxes.items():
        box.value = key in ("tv", "wavelet")  # fast, no model file needed
    rng = np.random.default_rng(0)
    clean = np.stack([np.tile(np.linspace(0.2, 0.8, 56, dtype=np.float32), (48, 1))] * 2)
    noisy = viewer.add_image(clean + rng.normal(0, 0.06, clean.shape).astype(np.float32),
                             name="stack", scale=(3.0, 0.5, 0.5))
    ref = viewer.add_image(clean, name="clean")
    w.image_layer.value = ref
    assert ref not in w.reference.choices  # any image but the input
    w.image_layer.value = noisy
    assert ref in w.reference.choices
    return viewer, w, notes, noisy, ref


def _wait(qtbot, worker):
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
        pass


def test_compare_shows_each_result_its_residual_and_the_scores(panel, qtbot):
    from skimage.metrics import peak_signal_noise_ratio

    viewer, w, notes, noisy, ref = panel
    w.reference.value = ref
    viewer.dims.set_point(0, 3.0)  # the second plane (Z pixel size 3)
    _wait(qtbot, w.run())
    assert not notes
    tv, wav = "Total variation (classical, fast)", "Wavelet shrinkage (classical, fastest)"
    assert [lay.name for lay in w.shown] == [f"stack Z 1: {tv}", f"stack Z 1: {tv} residual",
                                             f"stack Z 1: {wav}",
                                             f"stack Z 1: {wav} residual"]
    plane = noisy.data[1]
    width = plane.shape[1] * 0.5
    for k, r in enumerate(w.results):
        out, resid = w.shown[2 * k], w.shown[2 * k + 1]
        np.testing.assert_array_equal(out.data, r.output)
        np.testing.assert_allclose(resid.data, plane - out.data, atol=1e-6)
        assert out.translate[1] >= (k + 1) * width  # beside the input, not over it
        assert resid.translate[0] >= plane.shape[0] * 0.5  # under its result
        expected = peak_signal_noise_ratio(ref.data[1], out.data,
                                           data_range=float(np.ptp(ref.data[1])))
        assert r.psnr == pytest.approx(expected, rel=1e-6)
    table = w.table.to_dict("split")
    assert list(table["columns"]) == ["Method", "Score", "PSNR (dB)", "SSIM", "Removed",
                                      "Time"]
    assert len(table["data"]) == 2
    assert table["data"][0][2].startswith(f"{w.results[0].psnr:.2f}")
    assert all(r.score is not None for r in w.results)
    # a second comparison replaces the first one's layers
    n = len(viewer.layers)
    _wait(qtbot, w.run())
    assert len(viewer.layers) == n
    np.testing.assert_array_equal(noisy.data[1], plane)  # the input untouched


@pytest.fixture
def slow_methods(monkeypatch):
    """A pause after each report of the comparison, so that the tests below act while it
    runs: with the two fast methods on tiny planes the worker could otherwise finish
    before the main thread sees its first report (a race that failed once in CI)."""
    import time

    real = compare_mod.compare_iter

    def slow(*args, **kwargs):
        gen = real(*args, **kwargs)
        while True:
            try:
                p = next(gen)
            except StopIteration as done:
                return done.value
            yield p
            time.sleep(0.3)

    monkeypatch.setattr(compare_mod, "compare_iter", slow)


def test_cancel_leaves_no_layers(panel, qtbot, slow_methods):
    viewer, w, notes, noisy, ref = panel
    n = len(viewer.layers)
    worker = w.run()
    with qtbot.waitSignal(worker.yielded, timeout=WAIT_MS):
        pass
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):  # listening before it can end
        w.cancel()
    assert len(viewer.layers) == n and w.shown == [] and not notes
    assert w.status.value.startswith("Cancelled")


def test_a_reference_of_another_shape_is_refused(panel, qtbot):
    viewer, w, notes, noisy, ref = panel
    w.reference.value = viewer.add_image(np.zeros((5, 5), np.float32), name="small")
    assert w.run() is None
    assert notes and "shape" in notes[0] and w.worker is None


def test_closing_the_panel_stops_the_comparison(panel, qtbot, slow_methods):
    viewer, w, notes, noisy, ref = panel
    names = [lay.name for lay in viewer.layers]
    worker = w.run()
    seen = []

    def close_at_first_report(p):  # what the close button of a napari dock does
        seen.append(p)
        if len(seen) == 1:
            from napari_denoise._widgets.denoise_dock import dock_of

            viewer.window.remove_dock_widget(dock_of(w))

    worker.yielded.connect(close_at_first_report)
    _wait(qtbot, worker)
    qtbot.wait(100)  # the callbacks queued behind it
    assert seen and seen[-1].done < seen[-1].total and not w._life.alive  # stopped early
    assert [lay.name for lay in viewer.layers] == names and not notes
    assert w.run() is None  # a closed panel starts nothing
