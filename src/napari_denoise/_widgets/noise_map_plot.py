"""The Noise map widget's mean-variance plot (QPainter)."""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QPainter, QPen

from ._plot import PlotWidget
from .noise_map_rules import format_value


class MeanVariancePlot(PlotWidget):
    """Binned (signal mean, variance) points and the fitted line ``a * x + b``,
    drawn with QPainter on linear axes labelled "signal" and "variance"."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.points: np.ndarray | None = None  # (n, 3): mean, variance, count
        self.a: float | None = None
        self.b: float | None = None

    def set_data(self, points, a: float | None, b: float | None):
        pts = None if points is None else np.asarray(points, dtype=np.float64)
        if pts is not None and (pts.ndim != 2 or pts.shape[1] < 2 or len(pts) == 0):
            pts = None
        if pts is not None:
            pts = pts[np.all(np.isfinite(pts[:, :2]), axis=1)]
        self.points = pts
        self.a, self.b = a, b
        self.update()

    def clear(self):
        self.set_data(None, None, None)

    def ranges(self) -> tuple[float, float, float, float] | None:
        """(x0, x1, y0, y1) of the plot, or None when there is nothing to show."""
        pts = self.points
        if pts is None or not len(pts):
            return None
        x0, x1 = float(pts[:, 0].min()), float(pts[:, 0].max())
        if x1 <= x0:
            x0, x1 = x0 - 0.5 * (abs(x0) or 1.0), x1 + 0.5 * (abs(x1) or 1.0)
        ys = list(pts[:, 1])
        if self.a is not None and self.b is not None:
            ys += [self.a * x0 + self.b, self.a * x1 + self.b]
        y0, y1 = min(0.0, float(min(ys))), float(max(ys))
        if y1 <= y0:
            y1 = y0 + (abs(y0) or 1.0)
        pad = 0.05 * (y1 - y0)
        return x0, x1, y0, y1 + pad

    def _paint(self, p: QPainter):
        fm = p.fontMetrics()
        th = fm.height()
        plot, text = self._frame(p, left=fm.horizontalAdvance("-0.000e-00") + 6, right=10,
                                 top=th + 6, bottom=2 * th + 6)
        # axis labels
        p.drawText(QRectF(plot.left(), plot.bottom() + th, plot.width(), th),
                   Qt.AlignmentFlag.AlignHCenter, "signal")
        p.drawText(QPointF(2, th - 1), "variance")
        dots, line = QColor(80, 150, 255), QColor(255, 150, 40)
        if self.a is not None and self.b is not None:
            title = f"fit: {format_value(self.a)} * signal {self.b:+.4g}"
            p.setPen(QPen(line, 1))
            p.drawText(QPointF(plot.right() - fm.horizontalAdvance(title), th - 1), title)
            p.setPen(QPen(text, 1))
        r = self.ranges()
        if r is None:
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "no mean-variance points yet")
            return
        x0, x1, y0, y1 = r

        def sx(x):
            return plot.left() + (x - x0) / (x1 - x0) * plot.width()

        def sy(y):
            return plot.bottom() - (y - y0) / (y1 - y0) * plot.height()

        self._tick_labels(p, plot, f"{y1:.3g}", f"{y0:.3g}", f"{x0:.3g}", f"{x1:.3g}")
        p.setClipRect(plot)
        if self.a is not None and self.b is not None:
            p.setPen(QPen(line, 2))
            p.drawLine(QPointF(sx(x0), sy(self.a * x0 + self.b)),
                       QPointF(sx(x1), sy(self.a * x1 + self.b)))
        p.setPen(QPen(dots, 1))
        p.setBrush(dots)
        for x, y in self.points[:, :2]:
            p.drawEllipse(QPointF(sx(x), sy(y)), 3.0, 3.0)


__all__ = ["MeanVariancePlot"]
