"""What runs in the Denoise widget's worker, and how its progress reads (no Qt).

:func:`drive` is the body of the napari thread worker: it iterates the engine's
generator, passes on its :class:`~napari_denoise.core.progress.Progress` (throttled)
and returns its result. A :class:`Job` is what the widget knows of the run in flight.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


class WorkerRuntimeError(Exception):
    """A RuntimeError raised in a worker (superqt's generator worker would swallow a
    RuntimeError as a mere warning, so it travels wrapped in this)."""

    def __init__(self, original: RuntimeError):
        super().__init__(str(original))
        self.original = original


@dataclass
class Job:
    """A run or preview in flight."""

    kind: str                 # "run" or "preview"
    layer: Any                # the input layer
    layer_name: str
    out_name: str
    props: dict               # the output layer's add_image keyword arguments
    device: str
    key: Any = None           # a preview's plane (slice_preview.slice_key)
    why_cancelled: str = ""   # said when it ends cancelled (else "Cancelled.")
    record: dict = field(default_factory=dict)  # its settings (run_record.run_record)
    map_layer: Any = None     # the noise-map layer, in map mode
    store: Any = None         # a run into a zarr store (big_run): its path
    stored: bool = False      # ... whose result was shown (else it is removed at the end)
    gen: Any = None
    cancel: threading.Event = field(default_factory=threading.Event)
    pbar: Any = None
    t0: float = field(default_factory=time.perf_counter)


def drive(gen, cancel: threading.Event, min_interval: float = 0.05):
    """Run the engine's generator in the worker; yield its Progress at most every
    ``min_interval`` s (and at once when cancel was asked, so the worker stops at the
    next tile); return its DenoiseResult. torch leaves one core to napari meanwhile
    (:mod:`.gui_threads`)."""
    from .gui_threads import leave_a_core

    last = -math.inf
    with leave_a_core():
        while True:
            try:
                p = next(gen)
            except StopIteration as stop:
                return stop.value
            except RuntimeError as exc:
                raise WorkerRuntimeError(exc) from exc
            now = time.perf_counter()
            if cancel.is_set() or now - last >= min_interval or p.done >= p.total:
                last = now
                yield p


def format_seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "--"
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def progress_text(p) -> str:
    """A Progress in words: its message, and the tiles done, time spent and ETA."""
    if not (p.total > 1 or p.done):
        return p.message
    eta = format_seconds(p.eta) if p.done < p.total else "0 s"
    return (f"{p.message}: tile {p.done}/{p.total}, "
            f"{format_seconds(p.elapsed)} elapsed, ETA {eta}")


def result_text(info, seconds: float) -> str:
    """A finished run in words, from its DenoiseInfo."""
    how = info.device + (f" ({info.precision})" if info.precision else "")
    extra = ", 8 flips and rotations averaged" if info.quality == "best" else ""
    if info.colour_space == "opponent":
        extra += ", colour as luminance and colour differences"
    return (f"Done in {format_seconds(seconds)}: {info.model} on {how}, "
            f"sigma {info.sigma}{extra}")


def release_gpu_memory(device: str) -> None:
    """Give the GPU memory torch keeps cached back to the driver (not on CPU or MPS, and
    only when torch is loaded already)."""
    torch = sys.modules.get("torch")
    if torch is None or str(device).startswith(("cpu", "mps")):
        return
    try:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()
    except RuntimeError as exc:  # a CUDA error after a failed run: nothing to give back
        logger.debug("could not release GPU memory: %s", exc)


def close_progress_bar(pbar) -> None:
    """Close a napari progress bar whose Qt view may have gone with the window."""
    if pbar is None:
        return
    try:
        pbar.close()
    except RuntimeError:  # its Qt view was deleted with the window
        pass
