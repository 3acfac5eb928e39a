"""The Denoise widget's noise estimate: the Gaussian sigma of its input (data units),
kept for the (layer, data array, axes) it was made for. Small layers are estimated
at once, big ones in a napari thread worker."""

from __future__ import annotations

from typing import Callable

import numpy as np
from napari.qt.threading import create_worker
from qtpy.QtCore import QTimer

from ..core.noise import estimate_noise
from ..core.normalise import sample_planes


def estimate_key(layer, axes) -> tuple:
    """What a noise estimate depends on: the layer, its data array and the axes."""
    return (id(layer), id(layer.data), axes)


def estimate_sigma(data, axes: str) -> float:
    """The Gaussian noise sigma of ``data`` (a few planes of it), in its units."""
    return float(estimate_noise(sample_planes(data, axes), axes=axes).sigma)


class SigmaEstimate:
    """The last estimate, and the one being made.

    ``done(key, sigma)`` and ``failed(key, exc)`` are called on the main thread with the
    :func:`estimate_key` the estimate was made for; the caller decides whether it is
    still wanted and keeps it with :meth:`store`. ``start(worker)`` starts a worker
    (the panel's :meth:`~._lifetime.Lifetime.start`; by default from the event loop).
    """

    def __init__(self, done: Callable[[tuple, float], None],
                 failed: Callable[[tuple, BaseException], None],
                 start: Callable | None = None):
        self._done, self._failed = done, failed
        self._start = start or (lambda w: QTimer.singleShot(0, w.start))
        self._last: tuple[tuple, float] | None = None
        self._running: tuple | None = None
        self.worker = None  # the current (or last) estimation worker

    def get(self, layer, axes) -> float | None:
        """The estimate for ``layer`` read with ``axes``, if it is known."""
        if layer is None or axes is None or self._last is None:
            return None
        return self._last[1] if self._last[0] == estimate_key(layer, axes) else None

    def store(self, key: tuple, sigma: float) -> None:
        self._last = (key, float(sigma))

    def start(self, layer, axes: str, sync_max: int) -> bool:
        """Estimate ``layer`` read with ``axes``: at once for numpy arrays of at most
        ``sync_max`` elements (False), else in a worker (True: the result comes later)."""
        key = estimate_key(layer, axes)
        data = layer.data
        if isinstance(data, np.ndarray) and data.size <= sync_max:
            try:
                sigma = estimate_sigma(data, axes)
            except Exception as exc:  # noqa: BLE001 - shown like a worker's error
                self._finish(key, exc)
            else:
                self._finish(key, sigma)
            return False
        if self._running != key:
            self._running = key
            self.worker = create_worker(
                estimate_sigma, data, axes, _start_thread=False,
                _connect={"returned": lambda s: self._finish(key, s),
                          "errored": lambda e: self._finish(key, e)})
            self._start(self.worker)
        return True

    def _finish(self, key, result) -> None:
        if self._running == key:
            self._running = None
        if isinstance(result, BaseException):
            self._failed(key, result)
        else:
            self._done(key, float(result))

    def quit(self) -> None:
        if self.worker is not None:
            try:
                self.worker.quit()
            except RuntimeError:  # deleted already
                pass
