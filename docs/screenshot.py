"""Make docs/screenshot.png: napari with the Denoise widget after a real run.

Run it under a display (or Xvfb):

    xvfb-run -a python docs/screenshot.py [--model NAME] [--out PATH]

It opens napari, adds the plugin's 2D sample (the camera image with Gaussian noise
of sigma 25), docks the Denoise widget, denoises the noisy layer with the best
available method (a pretrained network when its weights are present, else BM3D),
waits for the worker, shows input and output side by side and saves the window.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PREFERRED = ("ffdnet_gray", "dncnn_blind", "bm3d", "nlm", "wavelet", "tv")


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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="method or model name (default: the best available)")
    ap.add_argument("--out", default=str(HERE / "screenshot.png"))
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the run")
    args = ap.parse_args(argv)

    import napari
    from qtpy.QtWidgets import QApplication

    _ensure_plugin()
    viewer = napari.Viewer(title="napari-denoise", show=True)
    viewer.window.resize(1500, 860)
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

    app = QApplication.instance()
    t0 = time.perf_counter()
    worker = widget.run()
    if worker is None:
        print("the run did not start (see the notification)", file=sys.stderr)
        return 1
    while widget.is_running:
        app.processEvents()
        time.sleep(0.02)
        if time.perf_counter() - t0 > args.timeout:
            widget.cancel()
            print("timed out", file=sys.stderr)
            return 1
    out_name = f"{noisy.name}_denoised"
    if out_name not in viewer.layers:
        print(f"no output layer: {widget.status.value}", file=sys.stderr)
        return 1
    print(f"{widget.status.value} ({time.perf_counter() - t0:.1f} s)")

    # noisy and denoised side by side
    for layer in viewer.layers:
        layer.visible = layer.name in (noisy.name, out_name)
    grid = viewer.canvas.grid if hasattr(viewer, "canvas") else viewer.grid
    grid.enabled = True
    grid.shape = (1, 2)
    viewer.layers.selection.active = viewer.layers[out_name]
    viewer.reset_view()
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    viewer.screenshot(args.out, canvas_only=False)
    print(f"saved {args.out}")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
