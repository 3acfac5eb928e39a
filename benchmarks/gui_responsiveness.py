"""How responsive napari stays while a Denoise run and a training are in progress.

A 10 ms QTimer runs in napari's event loop while the job's worker computes; the
share of its ticks that arrive (ticks received / ticks expected from the elapsed
time) and the longest gap between two ticks say how much the GUI is starved (a
user feels gaps above ~100 ms). Issue 16 asks for at least 80% of the ticks on
2 cores.

Run it on an otherwise idle machine, under a display or Xvfb (napari needs OpenGL):

    xvfb-run -a python benchmarks/gui_responsiveness.py                    # both jobs
    xvfb-run -a python benchmarks/gui_responsiveness.py --torch-threads 1  # leave a core
    xvfb-run -a python benchmarks/gui_responsiveness.py --jobs denoise --seconds 5 --json out.json

Each job is cancelled (stopped) after ``--seconds`` if it has not ended, so the
window measured is the same whatever the machine's speed. ``--torch-threads N``
sets torch's intra-op threads first (the default is torch's own choice: all cores),
to compare leaving a core to the GUI with not doing so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

TICK_MS = 10


class TickMeter:
    """Counts the ticks of a ``TICK_MS`` QTimer between :meth:`start` and :meth:`stop`."""

    def __init__(self):
        from qtpy.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.times: list[float] = []

    def _tick(self):
        self.times.append(time.perf_counter())

    def start(self):
        self.times = []
        self.t0 = time.perf_counter()
        self.timer.start()

    def stop(self) -> dict:
        self.timer.stop()
        t1 = time.perf_counter()
        elapsed = t1 - self.t0
        stamps = [self.t0] + self.times + [t1]
        gaps = np.diff(stamps)
        expected = max(1, int(elapsed * 1000 / TICK_MS))
        return {"seconds": round(elapsed, 3), "ticks": len(self.times), "expected": expected,
                "ratio": round(min(1.0, len(self.times) / expected), 3),
                "max_gap_ms": round(1000 * float(gaps.max()), 1),
                "p95_gap_ms": round(1000 * float(np.percentile(gaps, 95)), 1),
                "gaps_over_100ms": int((gaps > 0.1).sum())}


def _ensure_plugin() -> None:
    import npe2

    pm = npe2.PluginManager.instance()
    try:
        pm.get_manifest("napari-denoise")
    except KeyError:
        import napari_denoise

        pm.register(npe2.PluginManifest.from_file(
            Path(napari_denoise.__file__).parent / "napari.yaml"))


def _measure(worker, stop, seconds: float) -> dict:
    """Run the event loop until ``worker`` finishes, calling ``stop()`` after
    ``seconds``; the tick statistics of that time."""
    from qtpy.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    worker.finished.connect(loop.quit)
    meter = TickMeter()
    QTimer.singleShot(int(seconds * 1000), stop)
    QTimer.singleShot(int((seconds + 60) * 1000), loop.quit)  # never hang
    meter.start()
    loop.exec()
    return meter.stop()


def bench_denoise(viewer, args) -> dict:
    _, w = viewer.window.add_plugin_dock_widget("napari-denoise", "Denoise")
    rng = np.random.default_rng(0)
    side = args.size
    img = np.clip(rng.normal(0.5, 0.1, (side, side)), 0, 1).astype(np.float32)
    layer = viewer.add_image(img, name="noisy")
    w.image_layer.value = layer
    if args.method:
        w.method.value = args.method
    if "cpu" in w.device.choices:
        w.device.value = "cpu"
    worker = w.run()
    if worker is None:
        raise SystemExit("the Denoise run did not start")
    out = _measure(worker, w.cancel, args.seconds)
    out.update(job=f"denoise {side}x{side} ({w.method.value})", status=w.status.value)
    return out


def bench_train(viewer, args) -> dict:
    _, w = viewer.window.add_plugin_dock_widget("napari-denoise", "Train Noise2Noise")
    rng = np.random.default_rng(1)
    layer = viewer.add_image((0.5 + rng.normal(0, 0.1, (6, 128, 128))).astype(np.float32),
                             name="stack")
    w.data_layer.value = layer
    w.size.value = "tiny"
    w.minutes.value, w.steps.value = 0, 100_000
    if "cpu" in w.device.choices:
        w.device.value = "cpu"
    worker = w.train()
    if worker is None:
        raise SystemExit("the training did not start")
    out = _measure(worker, w.stop, args.seconds)
    out.update(job="train tiny (Noise2Noise)", status=w.status.value)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", default="denoise,train", help="denoise, train or both")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured time per job")
    ap.add_argument("--size", type=int, default=2048, help="side of the denoised image")
    ap.add_argument("--method", help="Denoise method key (default: the panel's default)")
    ap.add_argument("--torch-threads", type=int, help="torch.set_num_threads first")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)

    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    import napari

    _ensure_plugin()
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1280, 800)
    results = []
    for job in [j.strip() for j in args.jobs.split(",") if j.strip()]:
        fn = {"denoise": bench_denoise, "train": bench_train}[job]
        results.append(fn(viewer, args))
    viewer.close()
    import torch

    header = (f"cores {os.cpu_count()}, torch threads {torch.get_num_threads()}, "
              f"timer {TICK_MS} ms")
    print(header)
    print(f"{'job':40s} {'s':>6s} {'ticks':>7s} {'ratio':>6s} {'max gap':>8s} {'p95':>6s}")
    for r in results:
        print(f"{r['job']:40s} {r['seconds']:6.1f} {r['ticks']:7d} {r['ratio']:6.0%} "
              f"{r['max_gap_ms']:6.0f}ms {r['p95_gap_ms']:4.0f}ms")
    if args.json:
        Path(args.json).write_text(json.dumps({"setup": header, "results": results}, indent=1))
    return 0 if all(r["ratio"] >= 0.8 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
