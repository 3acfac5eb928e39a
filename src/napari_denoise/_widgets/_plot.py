"""The widgets' plots (training loss, mean-variance fit), drawn with pyqtgraph: axes
with tick labels, log scales, zoom and pan (right-click: more) come with it.

:func:`new_plot` makes a ``pyqtgraph.PlotWidget`` in the colours of the Qt palette
(napari's dark or light theme); ``paints`` counts its repaints (tests use it).
"""

from __future__ import annotations

import pyqtgraph as pg
from qtpy.QtWidgets import QSizePolicy

#: line colours: first series, second series, third series
COLOURS = ((80, 150, 255), (255, 150, 40), (90, 200, 90))


class PlotWidget(pg.PlotWidget):
    """A pyqtgraph plot in the palette's colours, at least 190 px high."""

    def __init__(self, parent=None, *, bottom: str = "", left: str = ""):
        super().__init__(parent)
        # pyqtgraph copies the plot item's clear() onto the widget: subclasses define their own
        self.__dict__.pop("clear", None)
        self.paints = 0
        pal = self.palette()
        self.setBackground(pal.color(pal.ColorRole.Base))
        text = pal.color(pal.ColorRole.Text)
        item = self.getPlotItem()
        for name in ("bottom", "left"):
            ax = item.getAxis(name)
            ax.setTextPen(text)
            ax.setPen(text)
            ax.enableAutoSIPrefix(False)  # the values themselves, not "x 0.001"
        self.text_colour = text
        item.setLabel("bottom", bottom)
        item.setLabel("left", left)
        item.showGrid(x=True, y=True, alpha=0.15)
        item.layout.setContentsMargins(2, 2, 14, 2)  # room for the last tick label
        item.setMenuEnabled(True)
        self.setMinimumHeight(190)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def paintEvent(self, event):  # noqa: N802 - Qt's name
        self.paints += 1
        super().paintEvent(event)

    def axis(self, name: str):
        """The plot's ``"bottom"``, ``"left"`` (or ``"right"``) axis item."""
        return self.getPlotItem().getAxis(name)

    def tick_labels(self, name: str) -> list[str]:
        """The tick labels the axis ``name`` shows now (tests and screenshots)."""
        ax = self.axis(name)
        lo, hi = ax.range
        length = ax.height() if ax.orientation in ("left", "right") else ax.width()
        out: list[str] = []
        for spacing, values in ax.tickValues(lo, hi, max(length, 100)):
            out += ax.tickStrings(values, ax.autoSIPrefixScale, spacing)
        return [s for s in out if s]
