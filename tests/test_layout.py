"""The panels fit a 1280x800 screen: scroll areas, at most 420 px wide, advanced settings
folded under "More settings", a panel opened from another one comes as a tab (needs a
display: run under xvfb-run)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari_denoise._widgets import (CompareWidget, DenoiseWidget, NoiseMapWidget,  # noqa: E402
                                     TrainWidget)
from napari_denoise._widgets._panel import PANEL_MAX_WIDTH  # noqa: E402
from napari_denoise._widgets.denoise import open_denoise_widget  # noqa: E402
from napari_denoise._widgets.denoise_dock import dock_of  # noqa: E402

pytestmark = pytest.mark.gui

SCREEN = (1280, 800)
PANELS = {"Denoise": DenoiseWidget, "Noise map": NoiseMapWidget,
          "Train Noise2Noise": TrainWidget, "Compare methods": CompareWidget}


@pytest.fixture
def window(make_napari_viewer, plugin):
    """A shown viewer, its window 1280x800, with a stack (the fixture holds no Qt
    object: napari's fixture checks that none outlives the viewer)."""
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(*SCREEN)
    viewer.add_image(np.random.default_rng(0).random((6, 64, 64)).astype(np.float32),
                     name="a stack with a rather long name, as microscopy files have")
    return viewer


def _win(viewer):
    return viewer.window._qt_window  # the QMainWindow (napari has no public handle)


def _fits(win, qtbot):
    qtbot.wait(50)  # let the layout settle
    assert win.width() <= SCREEN[0] and win.height() <= SCREEN[1], (win.width(), win.height())
    assert win.minimumSizeHint().height() <= SCREEN[1]


def test_every_panel_docked_fits_the_screen(window, qtbot):
    viewer = window
    win = _win(viewer)
    docked = {}
    for name, cls in PANELS.items():
        _, w = viewer.window.add_plugin_dock_widget("napari-denoise", name)
        assert isinstance(w, cls)
        docked[name] = w
        _fits(win, qtbot)  # docked one under another, still within the screen
    for name, w in docked.items():
        scroll = w.native  # what napari docked: the panel's scroll area
        assert scroll.widget() is not None, name
        assert scroll.width() <= PANEL_MAX_WIDTH, (name, scroll.width())
        # it scrolls instead of growing: its least height is a few rows
        assert scroll.minimumSizeHint().height() < 200, name
    # the canvas keeps most of the window
    assert viewer.window._qt_viewer.canvas.native.width() >= 500
    # the Run button can be scrolled to, and then it is on screen
    dw = docked["Denoise"]
    dw.native.ensureWidgetVisible(dw.run_button.native)
    qtbot.wait(50)
    assert not dw.run_button.native.visibleRegion().isEmpty()


def test_advanced_settings_are_folded(window, qtbot):
    viewer = window
    win = _win(viewer)
    _, dw = viewer.window.add_plugin_dock_widget("napari-denoise", "Denoise")
    folded = [dw.noise_model, dw.processing, dw.axes, dw.quality, dw.device, dw.precision,
              dw.tile_row, dw.destripe]
    assert all(c.native.isHidden() for c in folded)
    assert not dw.method.native.isHidden() and not dw.strength.native.isHidden()
    assert dw.more.button.text == "More settings"
    dw.more.button.native.click()
    assert not any(c.native.isHidden() for c in folded)
    assert dw.more.button.text == "Fewer settings"
    # a control its own rule hides stays hidden when the section opens
    assert dw.device_info.native.isHidden() == (dw.device_info.value == "")
    dw.more.button.native.click()
    assert all(c.native.isHidden() for c in folded)
    # plain words: no "(0 = ...)" in the labels; what 0 means is said beside the value
    assert dw.tile_row.label == "Tile size" and "0: automatic" in [
        c.value for c in dw.tile_row if c is not dw.tile]
    _, tw = viewer.window.add_plugin_dock_widget("napari-denoise", "Train Noise2Noise")
    assert tw.lr.native.isHidden() and tw.batch.native.isHidden()
    assert not tw.minutes.native.isHidden() and not tw.steps_row.native.isHidden()
    assert tw.lr.label == "Learning rate" and tw.lr.native.lineEdit().text() == "automatic"
    _fits(win, qtbot)


def test_a_panel_opened_from_another_comes_as_a_tab(window, qtbot):
    """'Use in Denoise' opens Denoise beside the panel, not under it (it used to push
    the window to 1200-1540 px on a 1000 px screen)."""
    viewer = window
    win = _win(viewer)
    train_dock, tw = viewer.window.add_plugin_dock_widget("napari-denoise",
                                                          "Train Noise2Noise")
    dw = open_denoise_widget(viewer, pytest.fail, beside=tw)
    assert isinstance(dw, DenoiseWidget)
    qtbot.waitUntil(lambda: dock_of(dw) in win.tabifiedDockWidgets(train_dock), timeout=5000)
    _fits(win, qtbot)
