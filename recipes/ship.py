"""Turn a finished training stage into a shipped weight in weights/.

Re-saves the stage's weights (float16 storage, as the trainer writes them; loaded as
float32) under the shipped name, with a card that keeps the stage's card and adds the
whole command history, the models it replaces (their names become aliases of it) and an
empty ``metrics`` for ``benchmarks/update_cards.py`` and ``benchmarks/precision.py`` to
fill::

    python recipes/ship.py stages/drunet_gray_stage3.safetensors --name drunet_gray \\
        --recipe "..." --replaces ffdnet_gray dncnn_blind
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INT8_STORAGE = "int8 weight arrays with a float32 scale per output channel (restored to float32)"


def main(argv=None) -> int:
    from napari_denoise.core.weights import load_model, save_model

    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", type=Path, help="the stage's .safetensors (card embedded)")
    p.add_argument("--name", required=True, help="the shipped name")
    p.add_argument("--recipe", required=True, help="every command that made it, in order")
    p.add_argument("--description", default=None)
    p.add_argument("--limitations", default=None)
    p.add_argument("--replaces", nargs="*", default=[])
    p.add_argument("--to", type=Path, default=ROOT / "weights")
    p.add_argument("--int8", action="store_true",
                   help="store the weight arrays as int8 with per-channel scales (half the size)")
    a = p.parse_args(argv)
    model, card = load_model(a.stage)
    card = {k: v for k, v in card.items() if k not in ("sha256", "file_size", "parameters")}
    card.update(name=a.name, recipe=a.recipe, metrics={})
    if a.description:
        card["description"] = a.description
    if a.limitations:
        card["limitations"] = a.limitations
    if a.replaces:
        card["replaces"] = list(a.replaces)
    if a.int8:
        card["storage"] = INT8_STORAGE
    path = save_model(model, a.to / f"{a.name}.safetensors", card, half=True, int8=a.int8,
                      write_card_json=True)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.2f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
