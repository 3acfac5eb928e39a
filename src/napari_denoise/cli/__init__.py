"""The ``napari-denoise`` command.

    napari-denoise denoise IN -o OUT [--model NAME|PATH] [--sigma auto|S] [--axes ZYX] ...
    napari-denoise train IN [--target SECOND] [--pairs neighbors|two|subsample|blindspot]
                         [--minutes M] [--steps S] [--init MODEL] -o MODEL.safetensors ...
    napari-denoise models [--json]
    napari-denoise demo [--out DIR] [--no-viewer] [--model NAME]
    napari-denoise export MODEL -o OUT [--format bioimageio|onnx|torchscript]
    napari-denoise --version

Errors are one line on stderr, ``napari-denoise: error: ...``, with exit status 2
for bad usage or input and 1 for other failures (130 after Ctrl-C); ``--debug``
shows the Python traceback instead. The output file is written atomically, so an
interrupted or failed run leaves no partial file.

Run as ``python -m napari_denoise.cli`` too. No Qt or napari import unless the demo
opens a viewer.

One module per command (``denoise``, ``train``, ``models``, ``demo``), each with its
``_add_<command>(sub)`` parser builder and ``_run_<command>(args)``; what they share is
in ``_common``. This module builds the parser and turns errors into one-line messages.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
import warnings

from ._common import PROG, CLIError, ProgressLine, UsageError, err, Parser
from .demo import DEMO_DIR, add_demo, has_display
from .denoise import add_denoise, summary_line
from .export import add_export
from .models import add_models
from .train import TrainLine, add_train

__all__ = [
    "CLIError",
    "DEMO_DIR",
    "PROG",
    "ProgressLine",
    "SUBCOMMANDS",
    "TrainLine",
    "UsageError",
    "build_parser",
    "has_display",
    "main",
    "summary_line",
    "to_flags",
]

# Subcommands, in the order 'napari-denoise --help' lists them. A new subcommand is a
# module here with ``_add_<name>(sub)``, which adds its parser and sets
# ``func=_run_<name>``, and one entry below. Nothing else in this module needs to change.
SUBCOMMANDS = [
    ("denoise", add_denoise),
    ("train", add_train),
    ("models", add_models),
    ("demo", add_demo),
    ("export", add_export),
]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Deep-learning and classical image denoising (FFDNet, DnCNN, BM3D, "
                    "NLM ...) from the command line; the same engine as the napari plugin.",
        epilog=f"'{PROG} COMMAND --help' describes a command. --debug (anywhere) shows "
               f"Python tracebacks instead of one-line errors.")
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
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
        from .. import __version__

        return __version__


# -- errors as messages -----------------------------------------------------------------

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


# -- entry point --------------------------------------------------------------------------

def main(argv=None) -> int:
    """Run the command line; returns the exit status (never raises without --debug)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        with _quiet_libraries(debug):
            return _parse_and_run(argv)
    except KeyboardInterrupt:
        with contextlib.suppress(AttributeError, ValueError, OSError):
            if sys.stderr.isatty():
                sys.stderr.write("\n")  # past the ^C the terminal echoed
        err("interrupted; no output written")
        return 130
    except BrokenPipeError:  # e.g. 'napari-denoise models | head'
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the exit flush
        return 0
    except UsageError as exc:
        err(str(exc))
        return exc.code
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into messages
        from ..core.inference import Cancelled

        if debug:
            raise
        if isinstance(exc, Cancelled):
            err("cancelled; no output written")
            return 130
        msg, code = _message(exc)
        err(msg)
        return code


def _parse_and_run(argv: list[str]) -> int:
    """Parse the command line and run its command (errors propagate to main)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help and --version print and "exit"
        code = stop.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    if getattr(args, "func", None) is None:
        err(f"no command given: use one of {', '.join(n for n, _ in SUBCOMMANDS)} "
             f"(see '{PROG} --help')")
        return 2
    return int(args.func(args) or 0)
