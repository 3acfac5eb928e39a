"""The Noise map widget's mean-variance plot (pyqtgraph): the binned (signal, variance)
points, the fitted line over the whole signal range, the part of that range the bins
cover (shaded), linear, log-log or noise-std (sqrt) axes, and a title that says whether
the line was fitted or edited by hand. The rules are in :mod:`.noise_map_rules`."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from qtpy.QtWidgets import QComboBox, QVBoxLayout, QWidget

from ._plot import COLOURS, PlotWidget
from .noise_map_rules import PLOT_SCALES, bins_cover, fit_band, fit_line, plot_title, plot_xy


class MeanVariancePlot(QWidget):
    """The plot (``view``, a :class:`~._plot.PlotWidget`) and its axis choice
    (``scale_box``: linear, log-log, noise std)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.points: np.ndarray | None = None  # (n, 3): mean, variance, count
        self.a: float | None = None
        self.b: float | None = None
        self.estimate = None
        self.signal_range: tuple[float, float] | None = None
        self.title = ""        # the title's first line: the line fitted or edited
        self.cover_text = ""   # its second line: the part of the signal range the bins cover
        self.title_shown = ""  # what the plot shows: both, shortened
        self.band = None       # (x, lower, upper) of the fit's confidence band, if any
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.scale_box = QComboBox()
        for label, key in PLOT_SCALES:
            self.scale_box.addItem(f"Axes: {label}", key)
        self.scale_box.setToolTip("linear; log-log (positive values only); or the noise "
                                  "std (square root of the variance) against the signal")
        self.scale_box.currentIndexChanged.connect(self.redraw)
        self.view = PlotWidget(bottom="signal", left="variance")
        lay.addWidget(self.scale_box)
        lay.addWidget(self.view)
        item = self.view.getPlotItem()
        self._cover = pg.LinearRegionItem(movable=False,
                                          brush=pg.mkBrush(*COLOURS[0], 30),
                                          pen=pg.mkPen(None))
        self._cover.setZValue(-10)
        item.addItem(self._cover)
        # the fit give or take one standard deviation of a and b (its bootstrap)
        self._band_lo = pg.PlotDataItem([], [], pen=pg.mkPen(None))
        self._band_hi = pg.PlotDataItem([], [], pen=pg.mkPen(None))
        self._band = pg.FillBetweenItem(self._band_lo, self._band_hi,
                                        brush=pg.mkBrush(*COLOURS[1], 60))
        for it in (self._band_lo, self._band_hi, self._band):
            item.addItem(it)
        self._line = item.plot([], [], pen=pg.mkPen(COLOURS[1], width=2))
        self._dots = item.plot([], [], pen=None, symbol="o", symbolSize=6,
                               symbolBrush=COLOURS[0], symbolPen=None)
        self.redraw()

    def _show_title(self, second: str) -> None:
        """The title in two short lines (the panel is narrow): fitted or edited by hand,
        and ``second``; the full words in the plot's tooltip."""
        first = self.title.split(": ", 1)[0] if ": " in self.title else self.title
        first = {"fit": "fitted line"}.get(first, first)
        if self.a is not None and ": " in self.title:
            first += f", gain {self.a:.4g}"
        # short lines: a title wider than the plot would push the plot out of view
        short = second.replace("bins cover ", "bins: ").replace(" of the signal range",
                                                                " of the range, shaded")
        self.title_shown = first + (f"<br>{short}" if second else "")
        self.view.setTitle(self.title_shown, size="9pt")
        self.view.setToolTip("\n".join(t for t in (self.title, second) if t))

    @property
    def paints(self) -> int:
        return self.view.paints

    @property
    def scale(self) -> str:
        return self.scale_box.currentData() or "linear"

    def set_scale(self, key: str) -> None:
        self.scale_box.setCurrentIndex(max(0, self.scale_box.findData(key)))

    def set_data(self, points, a: float | None, b: float | None, *, estimate=None,
                 signal_range: tuple[float, float] | None = None):
        """The binned points, the line ``a * signal + b`` (``estimate``: the model they
        come from, for the title), and the data's signal range."""
        pts = None if points is None else np.asarray(points, dtype=np.float64)
        if pts is not None and (pts.ndim != 2 or pts.shape[1] < 2 or len(pts) == 0):
            pts = None
        if pts is not None:
            pts = pts[np.all(np.isfinite(pts[:, :2]), axis=1)]
        self.points, self.a, self.b = pts, a, b
        self.estimate, self.signal_range = estimate, signal_range
        self.redraw()

    def clear(self):
        self.set_data(None, None, None)

    def redraw(self, *args) -> None:
        scale = self.scale
        item = self.view.getPlotItem()
        item.setLogMode(x=scale == "log", y=scale == "log")
        item.setLabel("left", "noise std" if scale == "sqrt" else "variance")
        pts = self.points
        conf = getattr(self.estimate, "confidence", None) or {}
        srange = conf.get("signal_range")  # the fit's own (block means): else the layer's
        if srange is not None and all(np.isfinite(v) for v in srange) and srange[1] > srange[0]:
            self.signal_range = (float(srange[0]), float(srange[1]))
        if pts is None or not len(pts):
            self._dots.setData([], [])
            self._line.setData([], [])
            self._band_lo.setData([], [])
            self._band_hi.setData([], [])
            self.band = None
            self._cover.hide()
            self.cover_text = ""
            self.title = "no mean-variance points yet" if self.a is None else \
                plot_title(self.estimate)
            self._show_title("")
            return
        self._dots.setData(*plot_xy(pts[:, 0], pts[:, 1], scale))
        x0, x1 = float(pts[:, 0].min()), float(pts[:, 0].max())
        if self.signal_range is not None:
            x0, x1 = min(x0, self.signal_range[0]), max(x1, self.signal_range[1])
        if self.a is not None and self.b is not None:
            self._line.setData(*fit_line(self.a, self.b, x0, x1, scale))
        else:
            self._line.setData([], [])
        band = fit_band(self.estimate, x0, x1, scale)
        self.band = band
        xs, lo, hi = band if band is not None else ([], [], [])
        self._band_lo.setData(xs, lo)
        self._band_hi.setData(xs, hi)
        self.title = plot_title(self.estimate) if self.estimate is not None else (
            f"fit: variance = {self.a:.4g} * signal + {self.b:.4g}"
            if self.a is not None and self.b is not None else "")
        cover = bins_cover(pts, self.signal_range)
        measured = (getattr(self.estimate, "confidence", None) or {}).get("coverage")
        if measured is not None and np.isfinite(measured):  # the fit's own, as its text says
            cover = (float(pts[:, 0].min()), float(pts[:, 0].max()), float(measured))
        lo, hi = float(pts[:, 0].min()), float(pts[:, 0].max())
        if scale == "log":
            lo, hi = (np.log10(v) if v > 0 else np.log10(max(hi, 1e-12)) - 3 for v in (lo, hi))
        self._cover.setRegion((lo, hi))
        self._cover.show()
        self.cover_text = "" if cover is None else \
            f"bins cover {100 * cover[2]:.0f}% of the signal range"
        self._show_title(self.cover_text)
        item.enableAutoRange()


__all__ = ["MeanVariancePlot"]
