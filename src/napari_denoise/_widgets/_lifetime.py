"""A panel's jobs live as long as the panel.

A :class:`Lifetime` ends once, at the first of:

- the panel is closed: napari takes the widget out of its dock (the dock's close
  button calls ``Window.remove_dock_widget``, which leaves the widget without a
  parent but alive, and hidden);
- the widget is destroyed (the viewer window was closed and deleted);
- the application quits (closing the last window ends the event loop before the
  window is deleted).

It then disconnects the viewer's events the panel followed (:meth:`follow`), calls
the panel's ``cancel()`` (stop the jobs, forget them), waits up to ``wait_s`` for
the workers it started (:meth:`start`) to end, and calls ``after(all_ended)``. From
then on every callback wrapped by :meth:`guard` does nothing, so no worker reports
into a deleted widget and a closed panel adds no layer. Closing is final: napari
makes a new widget when the panel is opened again.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Callable

from qtpy.QtCore import QCoreApplication, QEvent, QObject, QTimer

logger = logging.getLogger(__name__)


class Lifetime(QObject):
    """The life of one panel (``native``: its Qt widget) and of the workers it starts."""

    #: the longest a closing panel waits for its workers to end (seconds)
    wait_s = 5.0

    def __init__(self, native, cancel: Callable[[], None],
                 after: Callable[[bool], None] | None = None):
        super().__init__()  # no Qt parent: it outlives the widget's C++ object
        self.alive = True
        self._native = native
        self._cancel, self._after = cancel, after
        self._workers: list = []
        self._followed: list = []
        native.installEventFilter(self)
        native.destroyed.connect(self.end)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.end)

    # -- what the panel uses -------------------------------------------------------------

    def guard(self, fn: Callable) -> Callable:
        """``fn``, doing nothing once the panel is closed."""
        @functools.wraps(fn)
        def guarded(*args, **kwargs):
            if self.alive:
                return fn(*args, **kwargs)
            return None
        return guarded

    def callbacks(self, connect: dict) -> dict:
        """A worker's ``_connect`` mapping, every callback guarded."""
        return {signal: self.guard(fn) for signal, fn in connect.items()}

    def follow(self, emitter, callback: Callable) -> None:
        """Connect ``callback`` to a napari event ``emitter`` while the panel lives."""
        emitter.connect(callback)
        self._followed.append((emitter, callback))

    def follow_layer_list(self, layers, callback: Callable) -> None:
        """``callback`` whenever ``layers`` (a viewer's layer list) gains, loses,
        reorders or renames a layer, while the panel lives: the layer choices change."""
        ev = layers.events
        for e in (ev.inserted, ev.removed, ev.reordered, ev.renamed):
            self.follow(e, callback)

    def start(self, worker):
        """Start ``worker`` from the event loop (so callers can connect to its signals
        first) unless the panel has closed meanwhile; it is waited for at closing."""
        self._workers = [w for w in self._workers if _running(w)]
        self._workers.append(worker)
        QTimer.singleShot(0, self.guard(worker.start))
        return worker

    # -- the end -------------------------------------------------------------------------

    def end(self, *args) -> None:
        """End the panel's life (once): cancel, wait briefly, report."""
        if not self.alive:
            return
        self.alive = False
        app = QCoreApplication.instance()
        if app is not None:
            try:
                app.aboutToQuit.disconnect(self.end)
            except (TypeError, RuntimeError):
                pass
        for emitter, callback in self._followed:
            try:
                emitter.disconnect(callback)
            except (TypeError, ValueError, RuntimeError):
                pass
        self._followed.clear()
        try:
            self._cancel()
        except Exception:  # noqa: BLE001 - closing must go on
            logger.exception("cancelling a closed panel's jobs failed")
        ended = self.wait(self.wait_s)
        if not ended:
            logger.warning("a job of a closed napari-denoise panel is still ending")
        if self._after is not None:
            try:
                self._after(ended)
            except Exception:  # noqa: BLE001
                logger.exception("finishing a closed panel's jobs failed")

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the workers started to end; True when they have."""
        deadline = time.monotonic() + timeout
        while any(_running(w) for w in self._workers):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
        # taken out of its dock (docking gives it a parent; nothing else takes it away):
        # end at once, before any queued worker report is delivered
        if obj is self._native and event.type() == QEvent.Type.ParentChange and \
                obj.parent() is None:
            self.end()
        return False


def _running(worker) -> bool:
    try:
        return bool(worker.is_running)
    except RuntimeError:  # its Qt object was deleted: it ended
        return False
