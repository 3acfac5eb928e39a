"""The Denoise widget's noise estimate of its input: the engine's own decision
(:func:`~napari_denoise.core.noise_plan.estimate_for_run`: Gaussian, Poisson-Gaussian or
Rician, on the same data a run with ``sigma="auto"`` reads), kept for the (layer, data
array, axes, noise model) it was made for, so "Noise level: auto" shows what the run
will do. Small layers are estimated at once, big ones in a napari thread worker."""

from __future__ import annotations

from typing import Callable

import numpy as np
from napari.qt.threading import create_worker
from qtpy.QtCore import QTimer

from ..core.noise_plan import estimate_for_run


def estimate_key(layer, axes, noise: str = "auto") -> tuple:
    """What a noise estimate depends on: the layer, its data array, the axes and the
    noise model."""
    return (id(layer), id(layer.data), axes, noise)


def estimate_sigma(data, axes: str, noise: str = "auto"):
    """The estimate a run of ``data`` with ``sigma="auto"`` and ``noise`` makes."""
    return estimate_for_run(data, axes, noise)


class SigmaEstimate:
    """The last estimate, and the one being made.

    ``done(key, estimate)`` and ``failed(key, exc)`` are called on the main thread with the
    :func:`estimate_key` the estimate was made for; the caller decides whether it is
    still wanted and keeps it with :meth:`store`. ``start(worker)`` starts a worker
    (the panel's :meth:`~._lifetime.Lifetime.start`; by default from the event loop).
    """

    def __init__(self, done: Callable[[tuple, object], None],
                 failed: Callable[[tuple, BaseException], None],
                 start: Callable | None = None):
        self._done, self._failed = done, failed
        self._start = start or (lambda w: QTimer.singleShot(0, w.start))
        self._last: tuple[tuple, object] | None = None
        self._running: tuple | None = None
        self.worker = None  # the current (or last) estimation worker

    def estimate(self, layer, axes, noise: str = "auto"):
        """The estimate for ``layer`` read with ``axes`` and ``noise``, if it is known."""
        if layer is None or axes is None or self._last is None:
            return None
        return self._last[1] if self._last[0] == estimate_key(layer, axes, noise) else None

    def get(self, layer, axes, noise: str = "auto") -> float | None:
        """The Gaussian sigma of that estimate (data units), if it is known."""
        est = self.estimate(layer, axes, noise)
        return None if est is None else float(est.sigma)

    def store(self, key: tuple, est) -> None:
        self._last = (key, est)

    def start(self, layer, axes: str, sync_max: int, noise: str = "auto") -> bool:
        """Estimate ``layer`` read with ``axes`` and ``noise``: at once for numpy arrays
        of at most ``sync_max`` elements (False), else in a worker (True: the result
        comes later)."""
        key = estimate_key(layer, axes, noise)
        data = layer.data
        if isinstance(data, np.ndarray) and data.size <= sync_max:
            try:
                sigma = estimate_sigma(data, axes, noise)
            except Exception as exc:  # noqa: BLE001 - shown like a worker's error
                self._finish(key, exc)
            else:
                self._finish(key, sigma)
            return False
        if self._running != key:
            self._running = key
            self.worker = create_worker(
                estimate_sigma, data, axes, noise, _start_thread=False,
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
            self._done(key, result)

    def quit(self) -> None:
        if self.worker is not None:
            try:
                self.worker.quit()
            except RuntimeError:  # deleted already
                pass
