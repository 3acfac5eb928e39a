"""``napari-denoise demo``: denoise a bundled noisy sample, score it and show it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..core.models import DEFAULT_MODEL
from ._common import CLIError, denoise_with_hint, fmt_seconds

DEMO_DIR = "napari-denoise-demo"


def add_demo(sub) -> None:
    p = sub.add_parser(
        "demo", help="denoise a bundled noisy sample and show the result",
        description="Denoise the 'camera' image with Gaussian noise of sigma 25, report the "
                    "estimated noise level and the PSNR before and after, write the images "
                    "as PNG and open them in napari when a display is available.")
    p.add_argument("--out", default=DEMO_DIR, metavar="DIR",
                   help=f"folder for noisy.png, denoised.png and clean.png (default: ./{DEMO_DIR})")
    p.add_argument("--no-viewer", action="store_true", help="do not open napari")
    p.add_argument("--model", "-m", default="auto", metavar="NAME|PATH",
                   help=f"denoiser to use (default: auto = {DEFAULT_MODEL})")
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda|mps",
                   help="where to compute (default: auto)")
    p.set_defaults(func=_run_demo)


def has_display() -> bool:
    """Whether a GUI window can open: always on macOS/Windows, X11/Wayland on Linux."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _run_demo(args) -> int:
    from skimage.metrics import peak_signal_noise_ratio

    from .._sample_data import noisy_camera
    from ..core.inference import denoise_iter
    from ..core.noise import estimate_noise
    from ..io import write_image

    noisy, clean, true_sigma = noisy_camera(sigma=25, seed=0)
    print(f"demo image: camera, {noisy.shape[1]}x{noisy.shape[0]} uint8, Gaussian noise of "
          f"sigma {true_sigma:g}", flush=True)
    est = float(estimate_noise(noisy).sigma)
    gen = denoise_iter(noisy, args.model, sigma="auto", device=args.device)
    result = denoise_with_hint(gen, args.model, quiet=False)
    den, info = result.image, result.info
    p0 = peak_signal_noise_ratio(clean, noisy, data_range=255)
    p1 = peak_signal_noise_ratio(clean, den, data_range=255)
    used = info.get("sigma") or "n/a"
    print(f"model: {info.get('model')} ({info.get('kind')})")
    print(f"noise sigma: estimated {est:.2f} (true {true_sigma:g}); model used: {used}")
    print(f"PSNR: noisy {p0:.2f} dB -> denoised {p1:.2f} dB ({p1 - p0:+.2f} dB)")
    prec = f" ({info.get('precision')})" if info.get("precision") else ""
    print(f"time: {fmt_seconds(info.get('seconds'))} on {info.get('device')}{prec}")

    out = Path(args.out).expanduser()
    paths = [write_image(out / "noisy.png", noisy), write_image(out / "denoised.png", den),
             write_image(out / "clean.png", clean)]
    print("wrote: " + ", ".join(str(p) for p in paths))

    if args.no_viewer:
        print("viewer: skipped (--no-viewer)")
        return 0
    if not has_display():
        print("viewer: skipped (no display: DISPLAY / WAYLAND_DISPLAY not set)")
        return 0
    _show(out, clean, noisy, den, true_sigma, p0, p1, info.get("model"))
    return 0


def _show(out, clean, noisy, den, true_sigma, p0, p1, model) -> None:
    """The three images in napari, until the window is closed."""
    print("viewer: opening napari (close the window to finish)", flush=True)
    try:
        import napari
    except ImportError as exc:
        raise CLIError(f"cannot open the viewer: napari is not importable ({exc}); the "
                       f"images are in {out}", 1) from None
    viewer = napari.Viewer(title="napari-denoise demo")
    viewer.add_image(clean, name="clean", visible=False, contrast_limits=(0, 255))
    viewer.add_image(noisy, name=f"noisy (sigma {true_sigma:g}, PSNR {p0:.1f} dB)",
                     contrast_limits=(0, 255))
    viewer.add_image(den, name=f"denoised: {model} (PSNR {p1:.1f} dB)",
                     contrast_limits=(0, 255))
    napari.run()
