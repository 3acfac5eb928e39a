"""Panels that fit a laptop screen (1280x800): a scroll area, a width limit, and the
advanced settings folded under "More settings".

:class:`ScrollPanel` is a magicgui Container in a vertical scroll area. napari docks a
magicgui widget's ``native``, and magicgui's ``native`` of a scrollable Container is the
widget *inside* the scroll area, so the panel's ``native`` is its root (the scroll area)
instead: that is what napari docks, closes and deletes. Its minimum height is a few
rows, so panels docked one under another never push the window past the screen; its
width is at most :data:`PANEL_MAX_WIDTH`, so the canvas keeps most of the window.

:class:`MoreSettings` shows or hides a group of controls with one button; a control
that its own rule hides stays hidden when the group opens (:meth:`MoreSettings.show_if`).
"""

from __future__ import annotations

from magicgui.widgets import ComboBox, Container, PushButton
from qtpy.QtWidgets import QComboBox, QFrame

#: the widest a panel gets (pixels): the canvas keeps the rest of a 1280 px screen
PANEL_MAX_WIDTH = 420
#: characters a drop-down list shows when closed (its list shows the full names)
COMBO_CHARS = 14


class ScrollPanel(Container):
    """A Container in a vertical scroll area, at most :data:`PANEL_MAX_WIDTH` wide."""

    def __init__(self, **kwargs):
        super().__init__(scrollable=True, **kwargs)
        scroll = self.root_native_widget
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setMaximumWidth(PANEL_MAX_WIDTH)

    @property
    def native(self):
        """The scroll area: what napari docks (see the module's docstring)."""
        return self.root_native_widget

    def fit(self) -> None:
        """Once the controls are in: let drop-down lists with long names (models, layers)
        be narrower than their longest name (the open list still shows it in full), and
        make the panel as narrow as its controls allow, up to :data:`PANEL_MAX_WIDTH`."""
        for w in self:
            for c in _combos(w):
                q = c.native
                q.setSizeAdjustPolicy(
                    QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
                q.setMinimumContentsLength(COMBO_CHARS)
        scroll = self.root_native_widget
        bar = scroll.verticalScrollBar().sizeHint().width()
        need = scroll.widget().minimumSizeHint().width() + bar + 2
        scroll.setMinimumWidth(min(need, PANEL_MAX_WIDTH))


def _combos(widget):
    if isinstance(widget, ComboBox):
        yield widget
    elif isinstance(widget, Container):
        for w in widget:
            yield from _combos(w)


class MoreSettings:
    """A "More settings" button that shows or hides ``widgets`` (hidden at first)."""

    def __init__(self, widgets: list, *, name: str = "more_button"):
        self.widgets = list(widgets)
        self._wanted = {id(w): True for w in self.widgets}
        self.button = PushButton(name=name, text="More settings",
                                 tooltip="Show or hide the advanced settings")
        self.button.changed.connect(self.toggle)
        self.open = False
        self._apply()

    def toggle(self, value=None) -> None:
        self.open = not self.open
        self._apply()

    def show_if(self, widget, visible: bool) -> None:
        """``widget``'s own rule: shown when the group is open and ``visible``."""
        self._wanted[id(widget)] = bool(visible)
        widget.visible = self.open and bool(visible)

    def _apply(self) -> None:
        for w in self.widgets:
            w.visible = self.open and self._wanted[id(w)]
        self.button.text = "Fewer settings" if self.open else "More settings"
