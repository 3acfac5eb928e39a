"""The Train widget's loss plot: training and validation loss (log axis, left) and
validation PSNR (dB, right axis) against the step, with pyqtgraph."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from qtpy.QtCore import QTimer

from ._plot import COLOURS, PlotWidget


class LossPlot(PlotWidget):
    """Training loss, validation loss (log scale) and validation PSNR (right axis, dB)
    against the step; redrawn at most every ``interval_ms``."""

    interval_ms = 500

    def __init__(self, parent=None):
        super().__init__(parent, bottom="step", left="loss")
        self.train: list[tuple[int, float]] = []
        self.val: list[tuple[int, float]] = []
        self.psnr: list[tuple[int, float]] = []
        item = self.getPlotItem()
        item.setLogMode(y=True)
        item.addLegend(offset=(-5, 5), labelTextSize="8pt")
        self._train = item.plot([], [], pen=pg.mkPen(COLOURS[0], width=1.5), name="train loss")
        self._val = item.plot([], [], pen=pg.mkPen(COLOURS[1], width=2), symbol="o",
                              symbolSize=5, symbolBrush=COLOURS[1], name="validation loss")
        # PSNR on its own view box and right axis, sharing the steps
        self._psnr_box = pg.ViewBox()
        item.showAxis("right")
        right = item.getAxis("right")
        right.setLabel("val PSNR (dB)")
        right.setLogMode(False)  # the plot's log mode is for the losses only
        right.setTextPen(self.text_colour)
        right.setPen(self.text_colour)
        right.enableAutoSIPrefix(False)
        item.scene().addItem(self._psnr_box)
        right.linkToView(self._psnr_box)
        self._psnr_box.setXLink(item)
        self._psnr = pg.PlotCurveItem(pen=pg.mkPen(COLOURS[2], width=2))
        self._psnr_box.addItem(self._psnr)
        item.legend.addItem(self._psnr, "val PSNR")
        item.vb.sigResized.connect(self._sync_boxes)
        item.hideAxis("right")
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.interval_ms)
        self._timer.timeout.connect(self.redraw)
        self.setTitle("no training yet")

    def _sync_boxes(self):
        self._psnr_box.setGeometry(self.getPlotItem().vb.sceneBoundingRect())

    def clear(self):
        self.train.clear()
        self.val.clear()
        self.psnr.clear()
        self.redraw()

    def add(self, train=(), history=()):
        """Append (step, loss) points and validation records; schedule a redraw."""
        self.train.extend((int(s), float(v)) for s, v in train
                          if v is not None and math.isfinite(v))
        for h in history:
            if h.get("val_loss") is not None:
                self.val.append((int(h["step"]), float(h["val_loss"])))
            if h.get("val_psnr") is not None and math.isfinite(h["val_psnr"]):
                self.psnr.append((int(h["step"]), float(h["val_psnr"])))
        if not self._timer.isActive():
            self._timer.start()

    def redraw(self) -> None:
        """Put the points into the curves (log axis: positive losses only)."""
        for curve, pts in ((self._train, self.train), (self._val, self.val)):
            good = [(s, v) for s, v in pts if v > 0]
            xs, ys = (np.array(c, dtype=float) for c in zip(*good)) if good else ([], [])
            curve.setData(xs, ys)
        if self.psnr:
            xs, ys = (np.array(c, dtype=float) for c in zip(*self.psnr))
            self._psnr.setData(xs, ys)
            self.getPlotItem().showAxis("right")
        else:
            self._psnr.setData([], [])
            self.getPlotItem().hideAxis("right")
        self.setTitle(None if self.train or self.val else "no training yet")
        self._sync_boxes()


__all__ = ["LossPlot"]
