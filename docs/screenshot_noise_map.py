"""Make docs/screenshot_noise_map.png: the Noise map widget on real widefield data.

    xvfb-run -a python docs/screenshot_noise_map.py [--image PATH] [--out PATH]

Opens a 1280x800 napari window with a W2S widefield capture (default: ../shared/data, field 077 channel 1; a
synthetic Poisson-Gaussian camera image when the file is not there), estimates its
Poisson-Gaussian noise in the Noise map widget (mean-variance plot, sigma-map layer),
hands the map to the Denoise widget ("Use in Denoise"), runs it and saves the window with
the Noise map panel in front.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT = HERE.parents[1] / "shared" / "data" / "microscopy" / "W2S" / "noisy" / "input_avg1_077_1.tif"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default=str(DEFAULT))
    ap.add_argument("--out", default=str(HERE / "screenshot_noise_map.png"))
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args(argv)

    import napari
    import numpy as np

    sys.path.insert(0, str(HERE))
    from screenshot import WINDOW, _ensure_plugin, wait

    if Path(args.image).exists():
        import tifffile

        data, name = tifffile.imread(args.image), Path(args.image).stem
    else:
        from skimage import data as skd

        rng = np.random.default_rng(0)
        data = (0.02 * rng.poisson(skd.camera() / 255.0 / 0.02)).astype(np.float32)
        name = "camera_poisson"
    _ensure_plugin()
    viewer = napari.Viewer(title="napari-denoise: noise map", show=True)
    viewer.window.resize(*WINDOW)  # a laptop's screen
    layer = viewer.add_image(data, name=name)
    _, nm = viewer.window.add_plugin_dock_widget("napari-denoise", "Noise map")
    nm.image_layer.value = layer
    nm.run_estimate()
    wait(lambda: nm.estimate_worker is not None or nm.map_layer is None, args.timeout)
    dw = nm.use_in_denoise()
    names = {e["name"]: key for key, e in dw._models.items()}
    if "drunet_microscopy" in names:  # the microscopy network (ffdnet_microscopy retired)
        dw.method.value = names["drunet_microscopy"]
    worker = dw.run()
    if worker is None:
        print("the Denoise run did not start", file=sys.stderr)
        return 1
    wait(lambda: dw.is_running, args.timeout)
    viewer.grid.enabled = True
    from napari_denoise._widgets.denoise_dock import raise_dock

    raise_dock(nm)  # the Noise map panel (Use in Denoise brought Denoise to the front)
    wait(lambda: False, 5)
    viewer.screenshot(args.out, canvas_only=False)
    print(f"{nm.status.value}\n{dw.status.value}\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
