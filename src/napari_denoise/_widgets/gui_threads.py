"""Leave one CPU core to napari's event loop while a Denoise run computes (no Qt).

Measured on 2 cores (``benchmarks/gui_responsiveness.py``, docs/BENCHMARKS.md): with torch
on both cores the event loop got 77% of its 10 ms ticks during a run, with gaps up to
0.23 s; with one core left to it, 91% and 44 ms. torch's thread count is global to the
process, so the runs in flight share one setting: the first sets it, the last restores
what it was.
"""

from __future__ import annotations

import contextlib
import os
import threading

_lock = threading.Lock()
_users = 0
_saved: int | None = None


def compute_threads(cores: int | None = None) -> int | None:
    """torch threads for a run beside the GUI: all cores but one (None on one core)."""
    n = cores or os.cpu_count() or 1
    return n - 1 if n >= 2 else None


@contextlib.contextmanager
def leave_a_core():
    global _users, _saved
    import torch

    with _lock:
        if _users == 0:
            _saved = torch.get_num_threads()
            n = compute_threads()
            torch.set_num_threads(min(_saved, n) if n else _saved)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _saved is not None:
                torch.set_num_threads(_saved)
