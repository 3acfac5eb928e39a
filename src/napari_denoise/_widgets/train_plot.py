"""The Train widget's loss plot: training and validation loss, validation PSNR."""

from __future__ import annotations

import math

from qtpy.QtCore import QPointF, Qt, QTimer
from qtpy.QtGui import QColor, QPainter, QPen, QPolygonF

from ._plot import PlotWidget


class LossPlot(PlotWidget):
    """Training loss, validation loss (log scale, left) and validation PSNR (dB, right)
    against the step, drawn with QPainter; repainted at most every ``interval_ms``."""

    interval_ms = 500

    def __init__(self, parent=None):
        super().__init__(parent)
        self.train: list[tuple[int, float]] = []
        self.val: list[tuple[int, float]] = []
        self.psnr: list[tuple[int, float]] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.interval_ms)
        self._timer.timeout.connect(self.update)

    def clear(self):
        self.train.clear()
        self.val.clear()
        self.psnr.clear()
        self.update()

    def add(self, train=(), history=()):
        """Append (step, loss) points and validation records; schedule a repaint."""
        self.train.extend((int(s), float(v)) for s, v in train
                          if v is not None and math.isfinite(v))
        for h in history:
            if h.get("val_loss") is not None:
                self.val.append((int(h["step"]), float(h["val_loss"])))
            if h.get("val_psnr") is not None and math.isfinite(h["val_psnr"]):
                self.psnr.append((int(h["step"]), float(h["val_psnr"])))
        if not self._timer.isActive():
            self._timer.start()

    def _legend(self, p: QPainter, colours: dict, text, left: float):
        fm = p.fontMetrics()
        th = fm.height()
        x = left
        for key, name in (("train", "train loss"), ("val", "validation loss"),
                          ("psnr", "val PSNR")):
            if key == "psnr" and not self.psnr:
                continue
            p.setPen(QPen(colours[key], 2))
            p.drawLine(QPointF(x, th / 2 + 2), QPointF(x + 14, th / 2 + 2))
            p.setPen(text)
            p.drawText(QPointF(x + 18, th - 1), name)
            x += 30 + fm.horizontalAdvance(name)

    def _paint(self, p: QPainter):
        fm = p.fontMetrics()
        th = fm.height()
        left, right = fm.horizontalAdvance("1e-00 ") + 4, 8
        if self.psnr:
            right = fm.horizontalAdvance("00.0 dB") + 6
        plot, text = self._frame(p, left=left, right=right, top=th + 6, bottom=th + 6)
        colours = {"train": QColor(80, 150, 255), "val": QColor(255, 150, 40),
                   "psnr": QColor(90, 200, 90)}
        self._legend(p, colours, text, left)
        losses = [v for _, v in self.train + self.val if v > 0]
        if not losses:
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "no training yet")
            return
        steps = [s for s, _ in self.train + self.val + self.psnr]
        s0, s1 = min(steps), max(steps)
        if s1 <= s0:
            s1 = s0 + 1
        lo, hi = math.log10(min(losses)), math.log10(max(losses))
        if hi - lo < 1e-6:
            lo, hi = lo - 0.5, hi + 0.5
        pad = 0.05 * (hi - lo)
        lo, hi = lo - pad, hi + pad

        def sx(s):
            return plot.left() + (s - s0) / (s1 - s0) * plot.width()

        def sy(v):
            return plot.bottom() - (math.log10(v) - lo) / (hi - lo) * plot.height()

        p.setPen(text)
        self._tick_labels(p, plot, f"{10 ** hi:.0e}", f"{10 ** lo:.0e}", f"{s0}", f"step {s1}")
        p.setClipRect(plot)
        pts = self.train
        stride = max(1, len(pts) // max(1, int(plot.width())))
        poly = QPolygonF([QPointF(sx(s), sy(v)) for s, v in pts[::stride] if v > 0])
        p.setPen(QPen(colours["train"], 1.5))
        p.drawPolyline(poly)
        p.setPen(QPen(colours["val"], 2))
        vpts = [QPointF(sx(s), sy(v)) for s, v in self.val if v > 0]
        p.drawPolyline(QPolygonF(vpts))
        for q in vpts:
            p.drawEllipse(q, 2.5, 2.5)
        if self.psnr:
            vals = [v for _, v in self.psnr]
            a, b = min(vals), max(vals)
            if b - a < 1e-6:
                a, b = a - 0.5, b + 0.5
            ppts = [QPointF(sx(s), plot.bottom() - (v - a) / (b - a) * plot.height())
                    for s, v in self.psnr]
            p.setPen(QPen(colours["psnr"], 2))
            p.drawPolyline(QPolygonF(ppts))
            p.setClipping(False)
            p.drawText(QPointF(plot.right() + 3, plot.top() + th * 0.8), f"{b:.1f} dB")
            p.drawText(QPointF(plot.right() + 3, plot.bottom()), f"{a:.1f} dB")


__all__ = ["LossPlot"]
