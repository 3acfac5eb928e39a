"""Every measurement a finished training stage of a shipped network goes through, in order.

Stages 6-8 of drunet_gray were measured by the same eight commands typed from a shell
script outside the repository; this is that sequence, so a stage is measured the same way
each time and the commands in its closing note are the ones that ran:

1. ``heldapart``: the shipped network against the new stage on the 20 held-apart Train400
   images (the only comparison that may decide whether the stage ships);
2. ``ship``: ``recipes/ship.py`` turns the stage into ``weights/<name>.safetensors``;
3. ``precision``: what bf16 costs and the x8 ensemble buys, into the card;
4. ``quality``: Set12 and BSD68 at sigma 15 / 25 / 50 (reported, never used to choose);
5. ``unseen``: the 14 photos nobody trained or tuned on, plain and ``@best``;
6. ``colour``: CBSD68 and Kodak24 through the opponent colour space (gray networks);
7. ``cards``: ``update_cards.py`` writes the measured metrics into the card;
8. ``backends``: speed and PSNR per backend, and the backend the engine picks, into the card.

    python benchmarks/after_stage.py runs/stage9/drunet_gray_stage9.safetensors \\
        --name drunet_gray --replaces dncnn_biasfree --int8 \\
        --recipe "python -m napari_denoise.core.training.supervised ..."
    python benchmarks/after_stage.py STAGE --name drunet_gray --recipe "..." --dry-run
    python benchmarks/after_stage.py STAGE --name drunet_gray --recipe "..." --from unseen

It stops at the first command that fails (its exit status is this script's). Nothing
runs before ``ship`` that writes weights; ``--only heldapart`` decides whether to ship.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("heldapart", "ship", "precision", "quality", "unseen", "colour", "cards", "backends")


def commands(a: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """(step, argv) for every step of the sequence, in order."""
    py, b, n = sys.executable, "benchmarks/", a.name
    ship = [py, "recipes/ship.py", str(a.stage), "--name", n, "--recipe", a.recipe or ""]
    if a.replaces:
        ship += ["--replaces", *a.replaces]
    if a.int8:
        ship.append("--int8")
    return [
        ("heldapart", [py, b + "heldapart.py", n, str(a.stage)]),
        ("ship", ship),
        ("precision", [py, b + "precision.py", "--models", n, "--parts", "psnr",
                       "--write-cards", "--force"]),
        ("quality", [py, b + "quality.py", "--methods", n, "--sets", "BSD68", "Set12",
                     "--force", "--tag", n]),
        ("unseen", [py, b + "unseen.py", "--methods", n, n + "@best", "--force"]),
        ("colour", [py, b + "quality.py", "--methods", n, "--sets", "CBSD68", "Kodak24",
                    "--force", "--tag", "colour"]),
        ("cards", [py, b + "update_cards.py", n]),
        ("backends", [py, b + "backends.py", "--models", n, "--write-cards", "--force"]),
    ]


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", type=Path, help="the finished stage's .safetensors")
    ap.add_argument("--name", required=True, help="the shipped name it replaces or becomes")
    ap.add_argument("--recipe",
                    help="every command that made the stage, in order (goes into the card); "
                         "needed when the ship step runs")
    ap.add_argument("--replaces", nargs="*", default=[], help="names it replaces (aliases)")
    ap.add_argument("--int8", action="store_true", help="ship with int8 weight storage")
    ap.add_argument("--from", dest="start", choices=STEPS, default=STEPS[0],
                    help="start at this step (after one that failed)")
    ap.add_argument("--only", nargs="+", choices=STEPS, help="run only these steps")
    ap.add_argument("--skip", nargs="+", choices=STEPS, default=[],
                    help="leave these out (colour for a network not run on photos)")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    a = ap.parse_args(argv)
    if not a.stage.is_file():
        ap.error(f"no such stage file: {a.stage}")
    if a.stage.suffix != ".safetensors":
        ap.error(f"the stage must be a .safetensors file (the trainer's output): {a.stage}")
    if a.recipe is None and "ship" in [s for s, _ in selected(a)]:
        ap.error("--recipe is needed to ship: every command that made the stage, in order")
    return a


def selected(a: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """The steps this call runs: from --from on, --only if given, less --skip."""
    steps = STEPS[STEPS.index(a.start):]
    if a.only:
        steps = [s for s in steps if s in a.only]
    return [(s, cmd) for s, cmd in commands(a) if s in steps and s not in a.skip]


def main(argv=None) -> int:
    a = parse(argv)
    for step, cmd in selected(a):
        print(f"## {step}: {shlex.join(cmd)}", flush=True)
        if a.dry_run:
            continue
        rc = subprocess.run(cmd, cwd=ROOT).returncode
        if rc:
            print(f"after_stage: step {step} failed (exit {rc}); fix it and go on with "
                  f"--from {step}", file=sys.stderr)
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
