"""The ``napari-denoise`` command.

    napari-denoise denoise IN -o OUT [--model NAME|PATH] [--sigma auto|S] [--axes ZYX] ...
    napari-denoise train IN [--target SECOND] [--pairs neighbors|two|subsample|blindspot]
                         [--minutes M] [--steps S] [--init MODEL] -o MODEL.safetensors ...
    napari-denoise models [--json]
    napari-denoise demo [--out DIR] [--no-viewer] [--model NAME]
    napari-denoise --version

Errors are one line on stderr, ``napari-denoise: error: ...``, with exit status 2
for bad usage or input and 1 for other failures (130 after Ctrl-C); ``--debug``
shows the Python traceback instead. The output file is written atomically, so an
interrupted or failed run leaves no partial file.

Run as ``python -m napari_denoise.cli`` too. No Qt or napari import unless the demo
opens a viewer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import re
import shutil
import sys
import textwrap
import time
import warnings
from pathlib import Path

PROG = "napari-denoise"
DEMO_DIR = "napari-denoise-demo"


class CLIError(Exception):
    """An error with a message for the user and an exit status."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


class UsageError(CLIError):
    """Bad command line (reported by argparse)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but errors raise (one line, no usage dump) instead of exiting."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')", 2)


# -- argument types ------------------------------------------------------------------

def _sigma_arg(text: str):
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bad value {text!r}: use 'auto' or a number in the data's units "
            f"(e.g. 25 for noise of std 25 on 0-255 data)") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"bad value {text!r}: the noise level must be a "
                                         f"finite number >= 0")
    return value


def _range_arg(text: str) -> tuple[float, float]:
    parts = text.replace(" ", "").split(",")
    try:
        lo, hi = (float(v) for v in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad value {text!r}: two numbers LOW,HIGH such as "
                                         f"0,4095") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise argparse.ArgumentTypeError(f"bad value {text!r}: need LOW < HIGH")
    return lo, hi


def _alias_text() -> str:
    from .core.models import ALIASES

    return ", ".join(f"{a} = {b}" for a, b in sorted(ALIASES.items()) if a != b)


def _tile_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad value {text!r}: a tile side in pixels, "
                                         f"e.g. 512") from None
    if value < 16:
        raise argparse.ArgumentTypeError(f"bad value {text!r}: tiles are at least 16 pixels")
    return value


def _axes_arg(text: str) -> str:
    ax = text.strip().upper()
    if not ax or any(c not in "TZCYXSQ" for c in ax):
        raise argparse.ArgumentTypeError(f"bad axes {text!r}: letters T, Z, C, Y, X such as "
                                         f"YX, ZYX, TYX, YXC or TZCYX")
    return ax


# -- the parser ---------------------------------------------------------------------

def _add_denoise(sub) -> None:
    p = sub.add_parser(
        "denoise", help="denoise an image file",
        description="Denoise an image file (TIFF, PNG, JPEG, .npy ...) and write the result\n"
                    "with the input's axes, data type, pixel size and unit.",
        epilog="examples:\n"
               f"  {PROG} denoise noisy.tif -o clean.tif\n"
               f"  {PROG} denoise stack.tif -o out.tif --model dncnn_blind --axes ZYX\n"
               f"  {PROG} denoise photo.png -o out.png --model bm3d --sigma 20",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN", help="image file to denoise")
    p.add_argument("-o", "--output", metavar="OUT", required=True,
                   help="output file (format from the extension); never the input file; an "
                        "existing file is replaced only if an earlier run wrote it, or with "
                        "--overwrite")
    p.add_argument("--overwrite", action="store_true",
                   help="replace OUT even if napari-denoise did not write it (never IN itself)")
    p.add_argument("--model", "-m", default="auto", metavar="NAME|PATH",
                   help="denoiser: a name from 'napari-denoise models' or a .safetensors file. "
                        "auto (default): ffdnet_microscopy for single-channel data whose noise "
                        "grows with the signal (camera, microscope), ffdnet_gray otherwise. "
                        f"Aliases: {_alias_text()}")
    p.add_argument("--sigma", "-s", type=_sigma_arg, default=None, metavar="auto|S",
                   help="noise standard deviation in the data's units, or 'auto' to estimate "
                        "it (default: estimated for models that need it)")
    p.add_argument("--noise", choices=("auto", "gaussian", "poisson-gaussian", "rician"),
                   default="auto",
                   help="noise model: auto (Gaussian or Poisson-Gaussian, chosen from the "
                        "data), gaussian, poisson-gaussian (camera shot + read noise: a "
                        "per-pixel map for FFDNet-style models, the Anscombe transform for the "
                        "others) or rician (magnitude MRI, bias-corrected) (default: auto)")
    p.add_argument("--noise-map", metavar="FILE", default=None,
                   help="per-pixel noise std (same shape as IN, data units) from an image file")
    p.add_argument("--data-range", type=_range_arg, default=None, metavar="LOW,HIGH",
                   help="values mapped to black and white for the networks (default: robust "
                        "percentiles of the data; e.g. 0,4095 for 12-bit data)")
    p.add_argument("--strength", type=float, default=1.0, metavar="F",
                   help="multiplies the noise level: above 1 smooths more, below 1 keeps more "
                        "detail (default: 1)")
    p.add_argument("--destripe", action="store_true",
                   help="remove row/column fixed-pattern (stripe) noise first (thermal cameras)")
    p.add_argument("--axes", type=_axes_arg, default=None, metavar="AXES",
                   help="axes of the data such as YX, ZYX, TYX, YXC, TZCYX (default: from the "
                        "file, else guessed from the shape)")
    p.add_argument("--mode", choices=("auto", "2d", "3d"), default="auto",
                   help="2d: plane by plane; 3d: whole volumes with a 3-D model (default: auto)")
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda|mps",
                   help="where to compute (default: auto = GPU if available)")
    p.add_argument("--tile", type=_tile_arg, default=None, metavar="N",
                   help="tile side in pixels (default: from the memory available)")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="print nothing but errors")
    p.set_defaults(func=_run_denoise)


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list the available denoisers",
                       description="List every denoiser: pretrained networks, classical "
                                   "methods and your saved models.")
    p.add_argument("--json", action="store_true",
                   help="print the full list, model cards included, as JSON")
    p.set_defaults(func=_run_models)


def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo", help="denoise a bundled noisy sample and show the result",
        description="Denoise the 'camera' image with Gaussian noise of sigma 25, report the "
                    "estimated noise level and the PSNR before and after, write the images "
                    "as PNG and open them in napari when a display is available.")
    p.add_argument("--out", default=DEMO_DIR, metavar="DIR",
                   help=f"folder for noisy.png, denoised.png and clean.png (default: ./{DEMO_DIR})")
    p.add_argument("--no-viewer", action="store_true", help="do not open napari")
    p.add_argument("--model", "-m", default="auto", metavar="NAME|PATH",
                   help="denoiser to use (default: auto = ffdnet_gray)")
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda|mps",
                   help="where to compute (default: auto)")
    p.set_defaults(func=_run_demo)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad value {text!r}: a positive integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"bad value {text!r}: a positive integer")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad value {text!r}: a positive number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"bad value {text!r}: a positive number")
    return value


def _distance_arg(text: str):
    if text.strip().lower() == "any":
        return "any"
    return _positive_int(text)


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train", help="train a denoiser on your own noisy data (no clean images)",
        description="Train a denoiser on your noisy data alone (self-supervised): Noise2Noise\n"
                    "on neighbouring frames or slices of a stack (default) or on two captures\n"
                    "of the same scene (--target); Neighbor2Neighbor (--pairs subsample) or\n"
                    "Noise2Void (--pairs blindspot) on single images. Writes the model with its\n"
                    "model card; denoise with it through --model. Ctrl-C stops early and saves\n"
                    "the best model so far.",
        epilog="examples:\n"
               f"  {PROG} train timelapse.tif --minutes 10 -o mine.safetensors\n"
               f"  {PROG} denoise timelapse.tif -o clean.tif --model mine.safetensors\n"
               f"  {PROG} train a.tif --target b.tif --steps 3000 --name scope1\n"
               f"  {PROG} train photo.png --pairs subsample --minutes 5 -o photo.safetensors",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN", help="noisy image file (a stack for --pairs neighbors)")
    p.add_argument("-o", "--output", metavar="MODEL.safetensors", default=None,
                   help="where to write the model (default: your models folder, as --name, "
                        "listed by 'napari-denoise models')")
    p.add_argument("--name", default=None,
                   help="model name (default: the output's file name, else IN's name + _n2n)")
    p.add_argument("--target", metavar="SECOND", default=None,
                   help="a second capture of the same scene (same shape): trains on the pair")
    p.add_argument("--pairs", choices=("neighbors", "two", "subsample", "blindspot"),
                   default=None,
                   help="neighbors: adjacent frames along --axis (default); two: IN and "
                        "--target (default with --target); subsample: Neighbor2Neighbor on "
                        "single images; blindspot: Noise2Void on single images")
    p.add_argument("--axis", default=None, metavar="T|Z|N",
                   help="stack axis for neighbors: a letter of the axes or an index "
                        "(default: T, else Z, else the first)")
    p.add_argument("--distance", type=_distance_arg, default=1, metavar="N|any",
                   help="neighbors: pair frames up to N apart; 'any' for a still sample "
                        "filmed over time (default: 1)")
    p.add_argument("--axes", type=_axes_arg, default=None, metavar="AXES",
                   help="axes of the data such as YX, ZYX, TYX, TZYX (default: from the "
                        "file, else guessed from the shape)")
    p.add_argument("--dims", type=int, choices=(2, 3), default=None,
                   help="2: a 2-D network on planes (default); 3: a 3-D network on volumes")
    p.add_argument("--model", choices=("unet", "dncnn"), default=None,
                   help="architecture trained from scratch (default: unet)")
    p.add_argument("--features", type=_positive_int, default=None, metavar="F",
                   help="network width (default: 32 for the U-Net)")
    p.add_argument("--levels", type=_positive_int, default=None, metavar="L",
                   help="U-Net depth (default: 3)")
    p.add_argument("--init", metavar="NAME|PATH", default=None,
                   help="fine-tune a pretrained or saved blind model (e.g. dncnn_blind) "
                        "instead of starting from scratch")
    p.add_argument("--minutes", type=_positive_float, default=None, metavar="M",
                   help="time limit; alone, the schedule is fitted to it")
    p.add_argument("--steps", type=_positive_int, default=None, metavar="S",
                   help="training steps (default: 2000, 400 with --init)")
    p.add_argument("--patch", type=_positive_int, default=64, metavar="P",
                   help="patch side in pixels (default: 64)")
    p.add_argument("--batch", type=_positive_int, default=8, metavar="B",
                   help="patches per step (default: 8)")
    p.add_argument("--lr", type=_positive_float, default=None,
                   help="peak learning rate (default: 1e-3, 2e-4 with --init)")
    p.add_argument("--loss", choices=("l2", "l1", "charbonnier"), default="l2",
                   help="training loss (default: l2)")
    p.add_argument("--val-fraction", type=float, default=0.1, metavar="F",
                   help="share of the data held apart for validation (default: 0.1)")
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda|mps",
                   help="where to compute (default: auto = GPU if available)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--checkpoint", metavar="CKPT", default=None,
                   help="write the training state there at every validation")
    p.add_argument("--resume", metavar="CKPT", default=None,
                   help="continue a training from its checkpoint")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.set_defaults(func=_run_train)


# Subcommands, in the order 'napari-denoise --help' lists them. A ``train``
# subcommand goes here: write ``_add_train(sub)`` that adds its parser (data
# folder, recipe, output model path ...) and sets ``func=_run_train``, then add
# ("train", _add_train) below. Nothing else in this module needs to change.
SUBCOMMANDS = [
    ("denoise", _add_denoise),
    ("train", _add_train),
    ("models", _add_models),
    ("demo", _add_demo),
]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Deep-learning and classical image denoising (FFDNet, DnCNN, BM3D, "
                    "NLM ...) from the command line; the same engine as the napari plugin.",
        epilog=f"'{PROG} COMMAND --help' describes a command. --debug (anywhere) shows "
               f"Python tracebacks instead of one-line errors.")
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for _name, add in SUBCOMMANDS:
        add(sub)
    # every subcommand also takes --debug (main() looks for it before parsing)
    for p in sub.choices.values():
        p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return parser


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("napari-denoise")
    except (ImportError, PackageNotFoundError):
        from . import __version__

        return __version__


# -- output helpers --------------------------------------------------------------------

def _err(message: str) -> None:
    text = " ".join(str(message).split()) or "failed"
    print(f"{PROG}: error: {text}", file=sys.stderr, flush=True)


def _fmt_seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "?"
    s = max(0.0, s)
    if s < 60:
        return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


class ProgressLine:
    """One status line on a terminal, rewritten in place with \\r; silent when the
    stream is not a terminal (logs and pipes get no per-tile output)."""

    def __init__(self, stream=None, enabled: bool = True, min_interval: float = 0.1):
        self.stream = stream if stream is not None else sys.stderr
        try:
            tty = self.stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        self.active = bool(enabled and tty)
        self.min_interval = min_interval
        self._last = 0.0
        self._width = 0
        self._phase = None  # (message, total) of the current phase, its start time and count
        self._t0 = 0.0
        self._d0 = 0

    def eta(self, p, now: float) -> float | None:
        """Seconds left, from the tile rate of the current phase only (Progress.eta also
        counts model loading and noise estimation, which overestimates at first)."""
        if (p.message, p.total) != self._phase:
            self._phase, self._t0, self._d0 = (p.message, p.total), now, p.done
            return None
        if p.done <= self._d0 or p.done >= p.total:
            return None
        return (now - self._t0) / (p.done - self._d0) * (p.total - p.done)

    def __call__(self, p) -> None:
        if not self.active:
            return
        now = time.monotonic()
        eta = self.eta(p, now)
        if p.done < p.total and now - self._last < self.min_interval:
            return
        self._last = now
        if p.total <= 1 and p.done == 0:
            text = f"{p.message} ..."
        else:
            text = f"{p.message}: {100.0 * p.fraction:3.0f}%"
        if p.total > 1:
            text += f" ({p.done}/{p.total} tiles)"
        if eta is not None:
            text += f", {_fmt_seconds(eta)} left"
        cols = shutil.get_terminal_size((80, 20)).columns
        text = text[: max(10, cols - 1)]
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        if self.active and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


def _run_with_progress(gen, quiet: bool):
    from .core.inference import run_to_end

    line = ProgressLine(sys.stderr, enabled=not quiet)
    try:
        return run_to_end(gen, line)
    finally:
        line.close()
        gen.close()


def _default_model_hint(exc: Exception, model: str) -> Exception:
    """An unknown *default* model means its pretrained weights are not installed."""
    from .core.models import DEFAULT_MODEL, ModelNotFoundError, known_names

    if isinstance(exc, ModelNotFoundError) and str(model).lower() == "auto":
        try:
            names = ", ".join(known_names())
        except Exception:  # noqa: BLE001 - only a hint
            names = "see 'napari-denoise models'"
        return ModelNotFoundError(
            f"the default model {DEFAULT_MODEL!r} is not available (its pretrained weights "
            f"are not installed); choose one with --model: {names}")
    return exc


# -- denoise ------------------------------------------------------------------------------

def _run_denoise(args) -> int:
    from .core.inference import denoise_iter
    from .io import check_writable, read_image, write_image

    src, dst = Path(args.input), Path(args.output)
    check_writable(dst)  # extension / folder problems before reading anything
    _check_output(src, dst, args.overwrite)
    try:
        data, meta = read_image(src)
    except FileNotFoundError:
        raise CLIError(f"input file not found: {src}", 2) from None
    check_writable(dst, data.dtype, data.shape)

    axes = meta.axes
    if args.axes:
        axes = _axes_override(args.axes, data)
        if meta.format != "tiff":  # nothing in the file to keep: write the user's axes
            meta.axes = axes

    sigma = args.sigma
    if args.noise_map:
        if sigma is not None:
            raise CLIError("give either --sigma or --noise-map, not both", 2)
        try:
            sigma, _ = read_image(Path(args.noise_map))
        except FileNotFoundError:
            raise CLIError(f"noise map file not found: {args.noise_map}", 2) from None
        if tuple(sigma.shape) != tuple(data.shape):
            raise CLIError(f"the noise map's shape {tuple(sigma.shape)} differs from the "
                           f"image's {tuple(data.shape)}", 2)
    if not (args.strength > 0):
        raise CLIError(f"--strength must be positive, not {args.strength}", 2)
    gen = denoise_iter(data, args.model, sigma=sigma, axes=axes, mode=args.mode,
                       device=args.device, tile=args.tile, noise=args.noise,
                       strength=args.strength, destripe=args.destripe,
                       data_range=args.data_range)
    try:
        result = _run_with_progress(gen, args.quiet)
    except Exception as exc:
        new = _default_model_hint(exc, args.model)
        if new is exc:
            raise
        raise new from None
    write_image(dst, result.image, meta)
    info = result.info
    for text in info.get("notes", []) if not args.quiet else []:
        print(f"{PROG}: note: {text}", file=sys.stderr)
    for text in info.get("warnings", []):  # even with --quiet: the result may be poor
        print(f"{PROG}: warning: {text}", file=sys.stderr)
    if not args.quiet:
        noise = str(info.get("noise") or "")
        # the noise model is news only when it is not plain Gaussian
        plain = noise.lower().startswith(("gaussian", "not estimated"))
        said = "variance =" in str(info.get("sigma") or "")  # the map or GAT already says it
        extra = "" if plain or said else f", noise: {noise}"
        print(f"wrote {dst}: {info.get('model')} ({info.get('kind')}), sigma "
              f"{info.get('sigma') or 'n/a'}, axes {info.get('axes')} ({info.get('mode')}), "
              f"{info.get('device')}, {_fmt_seconds(info.get('seconds'))}{extra}")
    return 0


def _check_output(src: Path, dst: Path, overwrite: bool) -> None:
    """Never write over the input; replace other files only if we wrote them or when told."""
    from .io import written_by_napari_denoise

    if not dst.exists():
        return
    try:
        same = src.exists() and dst.samefile(src)
    except OSError:
        same = False
    if same:
        raise CLIError(f"the output {dst} is the input file: choose another -o (the input is "
                       f"never overwritten)", 2)
    if not overwrite and not written_by_napari_denoise(dst):
        raise CLIError(f"{dst} exists and was not written by {PROG}: pass --overwrite to "
                       f"replace it, or choose another -o", 2)


# -- train --------------------------------------------------------------------------------

class TrainLine:
    """Training progress on stderr: one line rewritten in place on a terminal; one line
    per validation otherwise (logs), nothing when disabled."""

    def __init__(self, stream=None, enabled: bool = True, min_interval: float = 0.2):
        self.stream = stream if stream is not None else sys.stderr
        try:
            self.tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            self.tty = False
        self.enabled = enabled
        self.min_interval = min_interval
        self._last = 0.0
        self._width = 0

    @staticmethod
    def text(info: dict) -> str:
        total = info.get("total")
        step = info.get("step", 0)
        head = f"step {step}/{total if total else '?'}"
        if total:
            head += f" ({100.0 * min(step, total) / total:.0f}%)"
        parts = [head]
        if info.get("loss") is not None:
            parts.append(f"loss {info['loss']:.4g}")
        if info.get("val_loss") is not None:
            val = f"val {info['val_loss']:.4g}"
            if info.get("val_psnr") is not None:
                val += f" ({info['val_psnr']:.2f} dB)"
            parts.append(val)
        if info.get("eta") is not None and info.get("phase") != "done":
            parts.append(f"{_fmt_seconds(info['eta'])} left")
        return ", ".join(parts)

    def __call__(self, info: dict) -> None:
        if not self.enabled:
            return
        if not self.tty:
            if info.get("phase") == "validate":
                print(self.text(info), file=self.stream, flush=True)
            return
        now = time.monotonic()
        if info.get("phase") not in ("validate", "done") and now - self._last < self.min_interval:
            return
        self._last = now
        cols = shutil.get_terminal_size((80, 20)).columns
        text = self.text(info)[: max(10, cols - 1)]
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        if self.enabled and self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


def _read_for_training(path, what: str):
    from .io import read_image

    try:
        return read_image(Path(path))
    except FileNotFoundError:
        raise CLIError(f"{what} file not found: {path}", 2) from None


def _run_train(args) -> int:
    from .core.training.n2n import Noise2NoiseTrainer

    src = Path(args.input)
    out = Path(args.output).expanduser() if args.output else None
    if out is not None:
        if out.suffix.lower() != ".safetensors":
            raise CLIError(f"the model file must end in .safetensors, not {out.name!r}", 2)
        if out.is_dir():
            raise CLIError(f"cannot write {out}: it is a folder", 2)
    data, meta = _read_for_training(src, "input")
    axes = meta.axes
    if args.axes:
        axes = _axes_override(args.axes, data)
    target = None
    if args.target:
        target, _ = _read_for_training(args.target, "--target")
        if target.shape != data.shape:
            raise CLIError(f"--target has shape {tuple(target.shape)} but {src.name} has "
                           f"{tuple(data.shape)}: the two captures must match", 2)
    axis = args.axis
    if axis is not None:
        axis = axis.strip()
        if axis.lstrip("-").isdigit():
            axis = int(axis)
            if not -data.ndim <= axis < data.ndim:
                raise CLIError(f"--axis {axis} is out of range for {data.ndim}-D data", 2)
        else:
            axis = axis.upper()
            if axis not in axes:
                raise CLIError(f"--axis {axis} is not one of the data's axes ({axes})", 2)
    arch_args = {}
    if args.features:
        arch_args["features"] = args.features
    if args.levels:
        if (args.model or "unet") != "unet" or args.init:
            raise CLIError("--levels applies to a U-Net trained from scratch", 2)
        arch_args["levels"] = args.levels
    if arch_args and args.init:
        raise CLIError("--features/--levels cannot change the architecture of --init", 2)
    name = args.name or (out.stem if out else f"{src.stem}_n2n")

    trainer = Noise2NoiseTrainer(
        data, target=target, pairs=args.pairs, axis=axis, axes=axes, model=args.model,
        arch_args=arch_args or None, init=args.init, steps=args.steps, minutes=args.minutes,
        patch=args.patch, batch=args.batch, lr=args.lr, loss=args.loss, dims=args.dims,
        device=args.device, seed=args.seed, val_fraction=args.val_fraction, name=name,
        distance=args.distance, checkpoint=args.checkpoint, resume=args.resume)
    line = TrainLine(sys.stderr, enabled=not args.quiet)
    gen = trainer.run()
    interrupted = False
    try:
        try:
            while True:
                line(next(gen))
        except StopIteration as done:
            trained = done.value
    except KeyboardInterrupt:
        # stop early: keep the best model validated so far, if any
        interrupted = True
        gen.close()
        line.close()
        if trainer.step == 0:
            raise
        trained = trainer.best_so_far()
    finally:
        line.close()
    path = trained.save(out)
    m = trained.card["metrics"]
    if interrupted:
        _err(f"interrupted at step {trainer.step}; saved the best model so far (step "
             f"{m.get('best_step')}) to {path}")
        return 130
    if not args.quiet:
        best = m.get("val_loss")
        val = (f"best val loss {best:.4g} at step {m.get('best_step')}" if best is not None
               else "no validation")
        if m.get("val_psnr") is not None:
            val += f" ({m['val_psnr']:.2f} dB)"
        print(f"trained {trained.name}: {m.get('steps')} steps ({trainer.pairs} pairs, "
              f"validation on {m.get('validation')}) in {_fmt_seconds(trainer.seconds)} on "
              f"{trainer.device}; {val}")
        print(f"saved {path}")
        print(f"denoise with: {PROG} denoise IN -o OUT --model "
              f"{path if out is not None else trained.name}")
    return 0


# -- models -------------------------------------------------------------------------------

_KIND_TITLES = {"pretrained": "Pretrained networks", "classical": "Classical methods",
                "user": "Your models"}


def _flatten(d, prefix=""):
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += _flatten(v, key + " ")
        elif isinstance(v, float):  # small values (losses) keep their digits
            out.append(f"{key} {v:.2f}" if v == 0 or abs(v) >= 1 else f"{key} {v:.3g}")
        else:
            out.append(f"{key} {v}")
    return out


def _card_facts(card: dict) -> str:
    if not card:
        return ""
    if "error" in card:
        return f"unusable: {card['error']}"
    facts = []
    if card.get("noise_model"):
        facts.append(f"noise: {card['noise_model']}")
    sr = card.get("sigma_range")
    if isinstance(sr, (list, tuple)) and len(sr) == 2 and any(sr):
        facts.append(f"sigma {sr[0]:g}-{sr[1]:g} (0-255 units)")
    if card.get("dims"):
        facts.append(f"{card['dims']}-D")
    metrics = card.get("metrics") or {}
    if isinstance(metrics, dict) and metrics:
        items = _flatten(metrics)
        more = f" (+{len(items) - 6} more)" if len(items) > 6 else ""
        facts.append("metrics: " + ", ".join(items[:6]) + more)
    return "; ".join(facts)


def _run_models(args) -> int:
    from .api import list_models
    from .core.weights import card_for_display

    models = list_models()
    if args.json:
        print(json.dumps(models, indent=2, default=str, ensure_ascii=False))
        return 0
    if not models:
        print("no denoisers available")
        return 0
    width = shutil.get_terminal_size((100, 20)).columns
    name_w = min(max(len(m["name"]) for m in models) + 2, 24)
    indent = " " * (2 + name_w)
    for kind in ("pretrained", "classical", "user"):
        group = [m for m in models if m["kind"] == kind]
        title = _KIND_TITLES[kind]
        if kind == "user":
            from .core.models import user_models_dir

            title += f" ({user_models_dir()})"
        print(f"{title}:")
        if not group:
            print(f"  (none{'; pretrained weights not installed' if kind == 'pretrained' else ''})")
        for m in group:
            desc = m.get("description") or ""
            lines = textwrap.wrap(desc, max(30, width - len(indent))) or [""]
            print(f"  {m['name']:<{name_w}}{lines[0]}")
            for ln in lines[1:]:
                print(indent + ln)
            facts = _card_facts(card_for_display(m.get("card") or {})) \
                if kind != "classical" else ""
            for ln in textwrap.wrap(facts, max(30, width - len(indent))):
                print(indent + ln)
        print()
    print(f"Aliases: {_alias_text()}")
    print("auto (the default) picks ffdnet_microscopy for single-channel data whose noise "
          "grows with the signal, ffdnet_gray otherwise")
    print(f"Use one with: {PROG} denoise IN -o OUT --model NAME")
    return 0


def _axes_override(text: str, data) -> str:
    """The --axes value checked against the data, or a one-line CLIError."""
    from .core.axes import AxesError, normalize_axes

    try:
        return normalize_axes(text, data.ndim)
    except AxesError as exc:
        raise CLIError(f"--axes {text} does not fit the data of shape "
                       f"{tuple(data.shape)}: {exc}", 2) from None


# -- demo ---------------------------------------------------------------------------------

def has_display() -> bool:
    """Whether a GUI window can open: always on macOS/Windows, X11/Wayland on Linux."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _run_demo(args) -> int:
    from skimage.metrics import peak_signal_noise_ratio

    from ._sample_data import noisy_camera
    from .core.inference import denoise_iter
    from .core.noise import estimate_noise
    from .io import write_image

    noisy, clean, true_sigma = noisy_camera(sigma=25, seed=0)
    print(f"demo image: camera, {noisy.shape[1]}x{noisy.shape[0]} uint8, Gaussian noise of "
          f"sigma {true_sigma:g}", flush=True)
    est = float(estimate_noise(noisy).sigma)
    gen = denoise_iter(noisy, args.model, sigma="auto", device=args.device)
    try:
        result = _run_with_progress(gen, quiet=False)
    except Exception as exc:
        new = _default_model_hint(exc, args.model)
        if new is exc:
            raise
        raise new from None
    den, info = result.image, result.info
    p0 = peak_signal_noise_ratio(clean, noisy, data_range=255)
    p1 = peak_signal_noise_ratio(clean, den, data_range=255)
    used = info.get("sigma") or "n/a"
    print(f"model: {info.get('model')} ({info.get('kind')})")
    print(f"noise sigma: estimated {est:.2f} (true {true_sigma:g}); model used: {used}")
    print(f"PSNR: noisy {p0:.2f} dB -> denoised {p1:.2f} dB ({p1 - p0:+.2f} dB)")
    print(f"time: {_fmt_seconds(info.get('seconds'))} on {info.get('device')}")

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
    viewer.add_image(den, name=f"denoised: {info.get('model')} (PSNR {p1:.1f} dB)",
                     contrast_limits=(0, 255))
    napari.run()
    return 0


# -- entry point --------------------------------------------------------------------------

@contextlib.contextmanager
def _quiet_libraries(debug: bool):
    """Keep library chatter off stderr: warnings become one line, tifffile's log is muted."""
    if debug:
        yield
        return
    tlog = logging.getLogger("tifffile")
    old_level = tlog.level
    old_show = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{PROG}: warning: {' '.join(str(message).split())}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.showwarning = show
        tlog.setLevel(logging.ERROR)
        try:
            yield
        finally:
            tlog.setLevel(old_level)
            warnings.showwarning = old_show


_PY_PARAM = re.compile(r"\b(pairs|axis|axes|target|sigma|strength|noise|mode|tile|data_range|"
                       r"model|init|minutes|steps|device)=(?:'([^']*)'|([\w.-]+))?")


def to_flags(text: str) -> str:
    """Python keyword syntax in a message (``pairs='subsample'``, ``target=``) -> the
    command line's flags (``--pairs subsample``, ``--target``)."""
    def sub(m):
        flag = "--" + m.group(1).replace("_", "-")
        value = m.group(2) if m.group(2) is not None else m.group(3)
        return f"{flag} {value}" if value else flag

    return _PY_PARAM.sub(sub, text)


def _message(exc: BaseException) -> tuple[str, int]:
    """(one-line message, exit status) for an exception, in the command line's words."""
    msg, code = _message_raw(exc)
    return to_flags(msg), code


def _message_raw(exc: BaseException) -> tuple[str, int]:
    if isinstance(exc, CLIError):
        return str(exc), exc.code
    if isinstance(exc, FileNotFoundError):
        return (str(exc) if not exc.filename else f"file not found: {exc.filename}"), 2
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or exc}", 1
    if isinstance(exc, OSError):
        what = exc.strerror or str(exc) or type(exc).__name__
        return (f"{what}: {exc.filename}" if exc.filename else what), 1
    if isinstance(exc, ValueError):
        return str(exc) or type(exc).__name__, 2
    if isinstance(exc, MemoryError):
        return "out of memory; try a smaller --tile or --device cpu", 1
    if isinstance(exc, ImportError):
        return f"a required package is missing or broken: {exc}", 1
    if isinstance(exc, RuntimeError):
        return str(exc) or type(exc).__name__, 1
    return f"{type(exc).__name__}: {exc} (run with --debug for details)", 1


def main(argv=None) -> int:
    """Run the command line; returns the exit status (never raises without --debug)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        with _quiet_libraries(debug):
            parser = build_parser()
            try:
                args = parser.parse_args(argv)
            except SystemExit as stop:  # --help and --version print and "exit"
                code = stop.code
                return code if isinstance(code, int) else (0 if code is None else 1)
            if getattr(args, "func", None) is None:
                _err(f"no command given: use one of {', '.join(n for n, _ in SUBCOMMANDS)} "
                     f"(see '{PROG} --help')")
                return 2
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        with contextlib.suppress(AttributeError, ValueError, OSError):
            if sys.stderr.isatty():
                sys.stderr.write("\n")  # past the ^C the terminal echoed
        _err("interrupted; no output written")
        return 130
    except BrokenPipeError:  # e.g. 'napari-denoise models | head'
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the exit flush
        return 0
    except UsageError as exc:
        _err(str(exc))
        return exc.code
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into messages
        from .core.inference import Cancelled

        if debug:
            raise
        if isinstance(exc, Cancelled):
            _err("cancelled; no output written")
            return 130
        msg, code = _message(exc)
        _err(msg)
        return code


if __name__ == "__main__":
    sys.exit(main())
