"""What every subcommand shares: errors, the parser class, argument types, messages,
the progress line and the checks on --axes."""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time

PROG = "napari-denoise"


class CLIError(Exception):
    """An error with a message for the user and an exit status."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


class UsageError(CLIError):
    """Bad command line (reported by argparse)."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help text wrapped at spaces only: "single-channel" or "--noise-map" is never
    split at its hyphen across two lines."""

    def _split_lines(self, text, width):
        import textwrap

        return textwrap.wrap(self._whitespace_matcher.sub(" ", text).strip(), width,
                             break_on_hyphens=False)


class Parser(argparse.ArgumentParser):
    """argparse, but errors raise (one line, no usage dump) instead of exiting."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')", 2)


# -- argument types ------------------------------------------------------------------

def sigma_arg(text: str):
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


def range_arg(text: str) -> tuple[float, float]:
    parts = text.replace(" ", "").split(",")
    try:
        lo, hi = (float(v) for v in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad value {text!r}: two numbers LOW,HIGH such as "
                                         f"0,4095") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise argparse.ArgumentTypeError(f"bad value {text!r}: need LOW < HIGH")
    return lo, hi


def strengths_arg(text: str) -> tuple[float, ...]:
    """--tune's optional list: positive numbers separated by commas."""
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad value {text!r}: strengths separated by commas "
                                         f"such as 0.5,1,2") from None
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"bad value {text!r}: strengths must be positive")
    return values


def tile_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad value {text!r}: a tile side in pixels, "
                                         f"e.g. 512") from None
    if value < 16:
        raise argparse.ArgumentTypeError(f"bad value {text!r}: tiles are at least 16 pixels")
    return value


def axes_arg(text: str) -> str:
    ax = text.strip().upper()
    if not ax or any(c not in "TZCYXSQ" for c in ax):
        raise argparse.ArgumentTypeError(f"bad axes {text!r}: letters T, Z, C, Y, X such as "
                                         f"YX, ZYX, TYX, YXC or TZCYX")
    return ax


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad value {text!r}: a positive integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"bad value {text!r}: a positive integer")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad value {text!r}: a positive number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"bad value {text!r}: a positive number")
    return value


def distance_arg(text: str):
    if text.strip().lower() == "any":
        return "any"
    return positive_int(text)


def auto_text() -> str:
    """What model="auto" picks, in words."""
    from ..core.models import DEFAULT_MODEL
    from ..core.noise_plan import POISSON_MODEL

    return (f"{POISSON_MODEL} for single-channel data whose noise grows with the signal "
            f"(camera, microscope), {DEFAULT_MODEL} otherwise")


def alias_text() -> str:
    from ..core.models import aliases

    return ", ".join(f"{a} = {b}" for a, b in sorted(aliases().items()) if a != b)


def axes_override(text: str, data) -> str:
    """The --axes value checked against the data, or a one-line CLIError."""
    from ..core.axes import AxesError, normalize_axes

    try:
        return normalize_axes(text, data.ndim)
    except AxesError as exc:
        raise CLIError(f"--axes {text} does not fit the data of shape "
                       f"{tuple(data.shape)}: {exc}", 2) from None


# -- output helpers --------------------------------------------------------------------

def err(message: str) -> None:
    text = " ".join(str(message).split()) or "failed"
    print(f"{PROG}: error: {text}", file=sys.stderr, flush=True)


def fmt_seconds(s: float | None) -> str:
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
            text += f", {fmt_seconds(eta)} left"
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
    from ..core.inference import run_to_end

    line = ProgressLine(sys.stderr, enabled=not quiet)
    try:
        return run_to_end(gen, line)
    finally:
        line.close()
        gen.close()


def _default_model_hint(exc: Exception, model: str) -> Exception:
    """An unknown *default* model means its pretrained weights are not installed."""
    from ..core.models import DEFAULT_MODEL, ModelNotFoundError, known_names

    if isinstance(exc, ModelNotFoundError) and str(model).lower() == "auto":
        try:
            names = ", ".join(known_names())
        except Exception:  # noqa: BLE001 - only a hint
            names = "see 'napari-denoise models'"
        return ModelNotFoundError(
            f"the default model {DEFAULT_MODEL!r} is not available (its pretrained weights "
            f"are not installed); choose one with --model: {names}")
    return exc


def denoise_with_hint(gen, model: str, quiet: bool):
    """Run a denoise_iter generator with the progress line; an unknown default model
    becomes a hint to choose one with --model."""
    try:
        return _run_with_progress(gen, quiet)
    except Exception as exc:
        new = _default_model_hint(exc, model)
        if new is exc:
            raise
        raise new from None
