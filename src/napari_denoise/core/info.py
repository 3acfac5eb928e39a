"""What a denoising run did, as data: the engine fills a :class:`DenoiseInfo`, the command
line, the widgets and the API format it. It also reads like the dict it used to be
(``info["model"]``, ``info.get("sigma")``, ``dict(info)``) so old scripts keep working.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

#: ``noise_kind`` values: how the noise level reached the denoiser
NOISE_KINDS = ("gaussian", "poisson-gaussian", "rician", "map", "none")


@dataclass
class DenoiseInfo(Mapping):
    model: str = ""
    kind: str = ""                 # "network" or "classical"
    axes: str = ""
    mode: str = "2d"
    device: str = "cpu"
    precision: str | None = None   # "fp32", "bf16", "fp16" or "int8" (networks); None: classical
    backend: str | None = None     # "torch" or "onnxruntime" (networks); None: classical
    quality: str = "fast"          # "best": the x8 self-ensemble ran
    colour_space: str | None = None  # "opponent": RGB denoised as luminance + colour differences
    noise_kind: str = "none"       # one of NOISE_KINDS
    sigma_value: float | None = None  # one noise std in data units (with strength), if any
    estimated: bool = False        # the noise level came from an estimate
    transform: str | None = None   # "gat" when the denoiser ran on the Anscombe transform
    sigma: str | None = None       # the noise level in words, for people
    noise: str = ""                # the noise model in words, for people
    noise_model: Any = None        # the NoiseEstimate used (Poisson-Gaussian), if any
    strength: float = 1.0
    destripe: bool = False
    range: tuple[float, float] = (0.0, 1.0)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tile: int | None = None
    tiles: int = 0
    oom_retries: int = 0
    seconds: float = 0.0
    residual: dict = field(default_factory=dict)

    # -- the dict view ------------------------------------------------------------
    def __getitem__(self, key: str):
        if key not in self._names():
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value) -> None:
        if key not in self._names():
            raise KeyError(key)
        setattr(self, key, value)

    def __iter__(self):
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def update(self, **kw) -> None:
        for k, v in kw.items():
            self[k] = v

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def __eq__(self, other) -> bool:  # Mapping's __eq__ would compare to dicts only
        return isinstance(other, DenoiseInfo) and dict(self) == dict(other)

    __hash__ = None  # mutable
