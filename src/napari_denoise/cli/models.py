"""``napari-denoise models``: list the available denoisers."""

from __future__ import annotations

import json
import shutil
import textwrap

from ._common import PROG, alias_text, auto_text

_KIND_TITLES = {"pretrained": "Pretrained networks", "classical": "Classical methods",
                "user": "Your models"}


def add_models(sub) -> None:
    p = sub.add_parser("models", help="list the available denoisers",
                       description="List every denoiser: pretrained networks, classical "
                                   "methods and your saved models.")
    p.add_argument("--json", action="store_true",
                   help="print the full list, model cards included, as JSON")
    p.set_defaults(func=_run_models)


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
    from ..api import list_models

    models = list_models()
    if args.json:
        print(json.dumps(models, indent=2, default=str, ensure_ascii=False))
        return 0
    if not models:
        print("no denoisers available")
        return 0
    width = shutil.get_terminal_size((100, 20)).columns
    name_w = min(max(len(m["name"]) for m in models) + 2, 24)
    for kind in ("pretrained", "classical", "user"):
        _print_group(kind, [m for m in models if m["kind"] == kind], name_w, width)
    print(f"Aliases: {alias_text()}")
    print(f"auto (the default) picks {auto_text()}")
    print(f"Use one with: {PROG} denoise IN -o OUT --model NAME")
    return 0


def _print_group(kind: str, group: list, name_w: int, width: int) -> None:
    """One kind of denoiser: a title, then each name with its description and card facts."""
    from ..core.weights import card_for_display

    indent = " " * (2 + name_w)
    title = _KIND_TITLES[kind]
    if kind == "user":
        from ..core.models import user_models_dir

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
