"""The small QPainter plots of the widgets (training loss, mean-variance fit)."""

from __future__ import annotations

from qtpy.QtCore import QPointF, QRectF
from qtpy.QtGui import QColor, QPainter, QPen
from qtpy.QtWidgets import QSizePolicy, QWidget


class PlotWidget(QWidget):
    """A plot drawn by ``_paint(painter)``; ``paints`` counts repaints (tests use it)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.paints = 0
        self.setMinimumHeight(170)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def paintEvent(self, event):  # noqa: N802 - Qt's name
        self.paints += 1
        p = QPainter(self)
        try:
            self._paint(p)
        finally:
            p.end()

    def _paint(self, p: QPainter):  # pragma: no cover - subclasses draw
        raise NotImplementedError

    def _frame(self, p: QPainter, left: float, right: float, top: float,
               bottom: float) -> tuple[QRectF, QColor]:
        """Clear to the palette's base colour and draw the plot box inside the margins.

        Returns the box and the text colour (the pen is left in it)."""
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.color(pal.ColorRole.Text)
        p.fillRect(self.rect(), pal.color(pal.ColorRole.Base))
        plot = QRectF(left, top, max(10, self.width() - left - right),
                      max(10, self.height() - top - bottom))
        p.setPen(QPen(text, 1))
        p.drawRect(plot)
        return plot, text

    @staticmethod
    def _tick_labels(p: QPainter, plot: QRectF, y_top: str, y_bottom: str, x_first: str,
                     x_last: str) -> None:
        """Value labels at the box's corners: y on the left, x below."""
        fm = p.fontMetrics()
        th = fm.height()
        p.drawText(QPointF(2, plot.top() + th * 0.8), y_top)
        p.drawText(QPointF(2, plot.bottom()), y_bottom)
        p.drawText(QPointF(plot.left(), plot.bottom() + th), x_first)
        p.drawText(QPointF(plot.right() - fm.horizontalAdvance(x_last), plot.bottom() + th),
                   x_last)
