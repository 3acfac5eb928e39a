"""A Denoise run leaves one core to napari's event loop, and gives it back after."""

import threading

import torch

from napari_denoise._widgets import gui_threads
from napari_denoise._widgets.denoise_worker import drive
from napari_denoise.core.progress import Progress


def test_a_run_leaves_a_core_and_restores_the_thread_count(monkeypatch):
    monkeypatch.setattr(gui_threads.os, "cpu_count", lambda: 4)
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    seen = []

    def engine():
        seen.append(torch.get_num_threads())
        yield Progress(1, 2)
        seen.append(torch.get_num_threads())
        return "result"

    try:
        gen = drive(engine(), threading.Event())
        assert next(gen).done == 1
        # a second run starting meanwhile shares the setting and does not restore it early
        other = drive(iter([Progress(1, 1)]), threading.Event())
        assert next(other).done == 1
        assert list(other) == [] and torch.get_num_threads() == 3
        out = list(gen)
        assert seen == [3, 3] and out == []
        assert torch.get_num_threads() == 4  # the last run out restores it
        # cancelled (closed) mid-run: restored too
        gen = drive(engine(), threading.Event())
        next(gen)
        gen.close()
        assert torch.get_num_threads() == 4
    finally:
        torch.set_num_threads(before)


def test_one_core_is_not_taken_from_the_run():
    assert gui_threads.compute_threads(1) is None
    assert gui_threads.compute_threads(2) == 1 and gui_threads.compute_threads(16) == 15
