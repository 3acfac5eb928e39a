"""The pyqtgraph plots of the panels: tick labels, axis choices, the fitted line, the
signal range the bins cover, and a title that says when the line was edited (needs a
display: run under xvfb-run)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from napari_denoise._widgets.noise_map_plot import MeanVariancePlot  # noqa: E402
from napari_denoise._widgets.noise_map_rules import (bins_cover, model_words,  # noqa: E402
                                                     plot_title)
from napari_denoise._widgets.train_plot import LossPlot  # noqa: E402
from napari_denoise.core.noise import NoiseEstimate  # noqa: E402

pytestmark = pytest.mark.gui

PTS = np.array([[0.2, 0.003, 10], [0.4, 0.005, 12], [0.6, 0.007, 9]])


def _numbers(labels):
    return [float(s.replace("−", "-")) for s in labels if s.replace(".", "").replace("-", "")
            .replace("−", "").isdigit()]


def test_mean_variance_plot_axes_line_cover_and_edited_title(qtbot):
    plot = MeanVariancePlot()
    qtbot.addWidget(plot)
    plot.resize(400, 320)
    plot.show()
    est = NoiseEstimate.poisson_gaussian(0.01, 0.001, points=PTS)
    plot.set_data(PTS, est.a, est.b, estimate=est, signal_range=(0.0, 1.0))
    qtbot.wait(20)
    assert plot.title == "fit: variance = 0.01 * signal + 0.001"
    assert plot.cover_text.startswith("bins cover 40% of the signal range")
    xs = _numbers(plot.view.tick_labels("bottom"))
    assert min(xs) <= 0.0 and max(xs) >= 1.0  # the axis spans the whole signal range
    assert _numbers(plot.view.tick_labels("left"))
    line_x, line_y = plot._line.getData()  # the fitted line over the signal range
    assert line_x[0] == pytest.approx(0.0) and line_x[-1] == pytest.approx(1.0)
    np.testing.assert_allclose(line_y, 0.01 * line_x + 0.001)
    plot.set_scale("sqrt")  # noise std: the square root of the variance
    np.testing.assert_allclose(plot._dots.getData()[1], np.sqrt(PTS[:, 1]))
    assert plot.view.getPlotItem().getAxis("left").labelText == "noise std"
    plot.set_scale("log")
    assert plot.view.getPlotItem().getAxis("bottom").logMode
    assert plot.view.tick_labels("bottom")
    # the fit's bootstrap confidence: a band around the line; its coverage is the one shown
    est.confidence = {"rel_a": 0.1, "rel_b": 0.5, "coverage": 0.8, "signal_range": (0.1, 0.6)}
    plot.set_scale("linear")
    plot.set_data(PTS, est.a, est.b, estimate=est, signal_range=(0.0, 1.0))
    xs, lo, hi = plot.band
    mid = 0.01 * xs + 0.001
    assert np.all(lo < mid + 1e-12) and np.all(hi > mid - 1e-12) and hi[-1] - lo[-1] > 0.001
    assert plot.cover_text.startswith("bins cover 80%")
    assert plot.signal_range == (0.1, 0.6)  # the fit's own signal range, not the layer's
    edited = NoiseEstimate.poisson_gaussian(0.02, -0.001, points=PTS, source="edited")
    plot.set_data(PTS, edited.a, edited.b, estimate=edited, signal_range=(0.0, 1.0))
    assert plot.title.startswith("edited by hand: variance = 0.02 * signal")
    assert "read noise too small to measure" in plot.title  # not a negative variance
    assert plot.title_shown.startswith("edited by hand, gain 0.02")  # short: a narrow panel
    assert "read noise too small" in plot.view.toolTip()  # the full words
    assert plot.band is None  # a line edited by hand has no confidence
    before = plot.paints
    plot.grab()
    assert plot.paints > before


def test_rules_of_the_plot():
    assert bins_cover(PTS, (0.0, 2.0))[2] == pytest.approx(0.2)
    assert bins_cover(PTS, None) is None
    assert plot_title(None) == "no estimate yet"
    assert "Gaussian" in plot_title(NoiseEstimate(model="gaussian", sigma=0.1))
    words = model_words(NoiseEstimate.poisson_gaussian(4.9, -165.7))  # a pedestal
    assert "-165.7" not in words and "read noise too small to measure" in words


def test_loss_plot_has_log_losses_and_a_psnr_axis_with_ticks(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(400, 260)
    plot.show()
    plot.add([(i, 1.0 / (i + 1)) for i in range(50)],
             [{"step": 10, "val_loss": 0.1, "val_psnr": 25.0},
              {"step": 40, "val_loss": 0.03, "val_psnr": 28.0}])
    plot.redraw()
    qtbot.wait(20)
    assert plot.axis("left").logMode and not plot.axis("right").logMode
    assert plot.axis("right").isVisible()
    assert _numbers(plot.tick_labels("bottom")) and plot.tick_labels("left")
    psnr_ticks = _numbers(plot.tick_labels("right"))
    assert psnr_ticks and 24 <= min(psnr_ticks) and max(psnr_ticks) <= 29
    plot.clear()
    assert not plot.axis("right").isVisible()
