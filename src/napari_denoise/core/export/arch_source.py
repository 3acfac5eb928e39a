"""The architecture of a network as one self-contained Python file.

A BioImage Model Zoo package with ``pytorch_state_dict`` weights carries the source of
the network's class. The architectures here are short files (``core/archs/``) that
import two things from this package: their shared building blocks (``_layers.py``) and
the registry decorator. The file written into a package is ``_layers.py`` followed by
the architecture's file with those two imports replaced (the decorator by one that does
nothing), so it runs with torch alone.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

_FUTURE = "from __future__ import annotations\n"
_STUB = ("\n\ndef register_arch(*args, **kwargs):  # the package's registry: not needed here\n"
         "    return lambda factory: factory\n\n\n")
_LOCAL_IMPORT = re.compile(r"^from \.(\.registry|_layers) import [^\n(]+\n", re.M)


def arch_factory(card: dict):
    """The class or function registered for ``card["arch"]``, or None."""
    from ..registry import _ARCHS, _register_builtin

    _register_builtin()
    return _ARCHS.get(str(card.get("arch", "")).lower())


def standalone_source(card: dict) -> tuple[str, str] | None:
    """(source text, callable name) of the card's architecture as one file, or None when
    it is not one of this package's architecture files (a network a user registered from
    their own code: the package then carries TorchScript and ONNX weights only)."""
    factory = arch_factory(card)
    if factory is None:
        return None
    try:
        src_path = Path(inspect.getsourcefile(factory))
    except (TypeError, OSError):
        return None
    archs = Path(__file__).resolve().parent.parent / "archs"
    if src_path.resolve().parent != archs or src_path.name.startswith("_"):
        return None
    text = src_path.read_text(encoding="utf-8")
    layers = (archs / "_layers.py").read_text(encoding="utf-8")
    if re.search(r"^from \.", _LOCAL_IMPORT.sub("", text), re.M):
        return None  # imports something else of this package: not self-contained
    body = _LOCAL_IMPORT.sub("", text).replace(_FUTURE, "")
    head = (f'"""{factory.__name__} from napari-denoise (core/archs/{src_path.name}), with '
            f'its building blocks (core/archs/_layers.py), as one file."""\n\n')
    layers = re.sub(r'^""".*?"""\n', "", layers, count=1, flags=re.S).replace(_FUTURE, "")
    return head + _FUTURE + layers + _STUB + body, factory.__name__
