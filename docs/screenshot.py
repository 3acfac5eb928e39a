"""Make the panels' screenshots in docs/, each of a 1280x800 napari window (a laptop's
screen) after a real job:

- ``screenshot.png``: Denoise, after a run on the plugin's 2D sample (the camera image
  with Gaussian noise of sigma 25), input and result side by side;
- ``screenshot_compare.png``: Compare methods on the same image (Automatic, BM3D and
  non-local means by default), results right of the input, residuals under them,
  scores and PSNR/SSIM against the clean image in the table;
- ``screenshot_train.png``: Train Noise2Noise, after a short training on the 3D sample
  (loss plot, preview).

The Noise map panel has its own script (``docs/screenshot_noise_map.py``). Run under
a display (or Xvfb):

    xvfb-run -a python docs/screenshot.py [--panels denoise,compare,train] [--model NAME]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PREFERRED = ("drunet_gray", "ffdnet_gray", "dncnn_blind", "bm3d", "nlm", "wavelet", "tv")
WINDOW = (1280, 800)


def _ensure_plugin() -> None:
    """Register the manifest when the package is used from a source tree (not installed)."""
    import npe2

    pm = npe2.PluginManager.instance()
    try:
        pm.get_manifest("napari-denoise")
    except KeyError:
        import napari_denoise

        pm.register(npe2.PluginManifest.from_file(
            Path(napari_denoise.__file__).parent / "napari.yaml"))


def wait(busy, timeout: float) -> None:
    """Serve the event loop while ``busy()``, then a little more (the window settles)."""
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    t0 = time.perf_counter()
    while busy():
        app.processEvents()
        time.sleep(0.02)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("timed out")
    for _ in range(25):
        app.processEvents()
        time.sleep(0.02)


def new_viewer(title: str):
    import napari

    _ensure_plugin()
    viewer = napari.Viewer(title=title, show=True)
    viewer.window.resize(*WINDOW)
    return viewer


def save(viewer, out: Path) -> None:
    wait(lambda: False, 5)
    viewer.screenshot(str(out), canvas_only=False)
    print(f"saved {out}")
    viewer.close()


def shot_denoise(args) -> int:
    viewer = new_viewer("napari-denoise")
    viewer.open_sample("napari-denoise", "noisy_2d")
    _, widget = viewer.window.add_plugin_dock_widget("napari-denoise", "Denoise")
    noisy = next(layer for layer in viewer.layers if "noisy" in layer.name)
    widget.image_layer.value = noisy
    names = {e["name"]: key for key, e in widget._models.items()}
    wanted = [args.model] if args.model else [n for n in PREFERRED if n in names]
    if not wanted or wanted[0] not in names:
        print(f"no such method: {args.model!r}; available: {sorted(names)}", file=sys.stderr)
        return 2
    widget.method.value = names[wanted[0]]
    t0 = time.perf_counter()
    if widget.run() is None:
        print("the run did not start (see the notification)", file=sys.stderr)
        return 1
    wait(lambda: widget.is_running, args.timeout)
    out_name = f"{noisy.name}_denoised"
    if out_name not in viewer.layers:
        print(f"no output layer: {widget.status.value}", file=sys.stderr)
        return 1
    print(f"{widget.status.value} ({time.perf_counter() - t0:.1f} s)")
    for layer in viewer.layers:  # noisy and denoised side by side
        layer.visible = layer.name in (noisy.name, out_name)
    viewer.grid.enabled = True
    viewer.grid.shape = (1, 2)
    viewer.layers.selection.active = viewer.layers[out_name]
    viewer.reset_view()
    save(viewer, HERE / "screenshot.png")
    return 0


def shot_compare(args) -> int:
    viewer = new_viewer("napari-denoise: compare methods")
    viewer.open_sample("napari-denoise", "noisy_2d")
    _, w = viewer.window.add_plugin_dock_widget("napari-denoise", "Compare methods")
    noisy = next(layer for layer in viewer.layers if "noisy" in layer.name)
    clean = next(layer for layer in viewer.layers if "clean" in layer.name)
    w.image_layer.value = noisy
    w.reference.value = clean
    worker = w.run()
    if worker is None:
        print(f"the comparison did not start: {w.status.value}", file=sys.stderr)
        return 1
    wait(lambda: w.worker is not None, args.timeout)
    print(w.status.value)
    for row in w.table.to_dict("split")["data"]:
        print("  " + " | ".join(row))
    save(viewer, HERE / "screenshot_compare.png")
    return 0


def shot_train(args) -> int:
    viewer = new_viewer("napari-denoise: train")
    viewer.open_sample("napari-denoise", "noisy_3d")
    _, w = viewer.window.add_plugin_dock_widget("napari-denoise", "Train Noise2Noise")
    noisy = next(layer for layer in viewer.layers if "noisy" in layer.name)
    clean = next(layer for layer in viewer.layers if "clean" in layer.name)
    w.data_layer.value = noisy
    w.reference_layer.value = clean
    w.size.value = "tiny"
    w.minutes.value, w.steps.value = 0, args.train_steps
    if w.train() is None:
        print(f"the training did not start: {w.status.value}", file=sys.stderr)
        return 1
    wait(lambda: w.is_running, args.timeout)
    print(w.status.value)
    from qtpy.QtCore import QPoint

    bar = w.native.verticalScrollBar()  # scrolled down to the loss plot
    bar.setValue(w.plot.mapTo(w.native.widget(), QPoint(0, 0)).y() - 120)
    save(viewer, HERE / "screenshot_train.png")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--panels", default="denoise,compare,train")
    ap.add_argument("--model", help="Denoise method (default: the best available)")
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for a job")
    args = ap.parse_args(argv)
    shots = {"denoise": shot_denoise, "compare": shot_compare, "train": shot_train}
    for name in [p.strip() for p in args.panels.split(",") if p.strip()]:
        rc = shots[name](args)
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
