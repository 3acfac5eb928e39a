"""Close the napari window while a panel's job runs (run by test_lifetime.py in a
subprocess, under Xvfb).

    python close_during_job.py denoise|train quit|keep

``quit``: the application ends with its last window, as in a napari session; ``keep``:
the event loop goes on for a few seconds after the window closed (as in IPython, or
with a second window), so any worker callback arrives after the widgets are deleted.
napari's exception hooks are replaced by Python's own once the loop runs: an
exception in a Qt slot then aborts the process, as it does without napari's hooks.
Prints ``worker ended: True`` when the job's worker had ended by the end.
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import napari
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QApplication

logging.basicConfig(level=logging.WARNING)  # where a closed training says where it saved
kind, mode = sys.argv[1], sys.argv[2]
viewer = napari.Viewer(show=True)
app = QApplication.instance()
app.setQuitOnLastWindowClosed(mode == "quit")
rng = np.random.default_rng(0)
if kind == "denoise":
    _, w = viewer.window.add_plugin_dock_widget("napari-denoise", "Denoise")
    w.refresh_models()
    w.method.value = next(m for m in w.method.choices if str(m).endswith("tiny.safetensors"))
    w.noise_mode.value = "manual"
    layer = viewer.add_image(rng.normal(0.5, 0.1, (16, 256, 256)).astype(np.float32),
                             name="stack")
    w.image_layer.value = layer
    w.tile.value = 16  # hundreds of tiles: far from done when the window closes
    start = w.run
else:
    from conftest import long_training_panel  # this script runs from tests/

    w = long_training_panel(viewer, "closed_panel_model")
    start = w.train

workers = []


def go():
    sys.excepthook = sys.__excepthook__  # an exception in a slot now aborts the process
    worker = start()
    workers.append(worker)
    seen = []

    def on_progress(msg):
        if kind == "train" and msg["info"]["step"] < 5:
            return  # a model worth keeping: a few steps trained
        seen.append(1)
        if len(seen) == 3:
            print("closing the viewer", flush=True)
            viewer.close()
            if mode == "keep":  # callbacks of a job still running would come meanwhile
                QTimer.singleShot(6000, app.quit)
    worker.yielded.connect(on_progress)


QTimer.singleShot(100, go)
QTimer.singleShot(120_000, app.quit)  # never hang
napari.run()
print(f"worker ended: {bool(workers) and not workers[0].is_running}", flush=True)
