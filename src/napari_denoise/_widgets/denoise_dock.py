"""Finding, docking and raising a plugin widget in the napari window."""

from __future__ import annotations

from typing import Callable, TypeVar

W = TypeVar("W")


def docked_widgets(window) -> list:
    """The widgets docked in a napari window (the inner widgets, not their docks).

    ``Window.dock_widgets`` is public from napari 0.6.2; this package supports napari
    0.5, which has no public way to list docked widgets, so there (and only there) the
    window's private ``_dock_widgets`` is read.
    """
    public = getattr(window, "dock_widgets", None)
    if public is not None:
        return list(public.values())
    out = []
    for dock in getattr(window, "_dock_widgets", {}).values():  # napari < 0.6.2
        inner = getattr(dock, "inner_widget", None)
        out.append(inner() if callable(inner) else dock.widget())
    return out


def as_magicgui(widget, cls: type[W]) -> W | None:
    """``widget`` if it is a ``cls``, or the ``cls`` that a native Qt widget belongs to.

    napari may hand back the Qt widget of a magicgui widget (older versions do for
    docked magicgui containers); magicgui records its owner on it as ``_magic_widget``
    (private to magicgui, and the only link from a Qt widget back to its magicgui one).
    """
    if isinstance(widget, cls):
        return widget
    owner = getattr(widget, "_magic_widget", None)
    return owner if isinstance(owner, cls) else None


def find_docked(viewer, cls: type[W]) -> W | None:
    """The first widget of class ``cls`` docked in the viewer's window, if any."""
    for w in docked_widgets(viewer.window):
        found = as_magicgui(w, cls)
        if found is not None:
            return found
    return None


def open_docked(viewer, plugin: str, name: str, cls: type[W],
                notify: Callable[[str], None], beside=None) -> W | None:
    """The docked ``cls`` widget, docked first (the plugin's widget ``name``) if there
    is none, as a tab beside the dock of the widget ``beside`` (not under it: docks
    stacked one under another pushed the window past a laptop's screen);
    ``notify(msg)`` and None on failure."""
    found = find_docked(viewer, cls)
    if found is not None:
        return found
    try:
        dock, widget = viewer.window.add_plugin_dock_widget(plugin, name)
    except Exception as exc:  # noqa: BLE001 - not registered, no window, a failing factory
        notify(f"could not open the {name} widget: {exc}")
        return None
    found = as_magicgui(widget, cls)
    if found is None:
        notify(f"could not open the {name} widget: napari gave {type(widget).__name__}")
    elif beside is not None:
        tab_beside(dock, beside)
    return found


def dock_of(widget):
    """The QDockWidget holding a docked magicgui ``widget`` (None if not docked)."""
    from qtpy.QtWidgets import QDockWidget

    try:
        w = widget.native
        while w is not None and not isinstance(w, QDockWidget):
            w = w.parent()
    except RuntimeError:  # deleted
        return None
    return w


def tab_beside(dock, widget) -> None:
    """Put ``dock`` in a tab with the dock of ``widget``; the main window both are in
    is the docks' Qt parent."""
    from qtpy.QtWidgets import QMainWindow

    other = dock_of(widget)
    main = other.parent() if other is not None else None
    if isinstance(main, QMainWindow) and main is dock.parent():
        main.tabifyDockWidget(other, dock)
        dock.show()
        dock.raise_()


def raise_dock(widget) -> None:
    """Show and raise the dock holding ``widget`` (it may be tabbed behind another); the
    dock is the Qt parent of the widget, as napari's documentation suggests."""
    try:
        dock = widget.native.parent()
        if dock is not None:
            dock.show()
            dock.raise_()
    except RuntimeError:  # deleted meanwhile
        pass
