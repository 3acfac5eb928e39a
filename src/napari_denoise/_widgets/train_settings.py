"""What the Train widget's controls say, as plain data (no Qt, no napari).

The widget copies its controls, and what it knows of the chosen layers (a
:class:`LayerInfo` each), into a :class:`TrainSettings`; :meth:`TrainSettings.to_config`
checks them (a :class:`DenoiseError` for settings that cannot work, before any worker
starts) and turns them into the trainer's :class:`Noise2NoiseConfig`;
:meth:`TrainSettings.budget` is what Resume gives ``Noise2NoiseTrainer.extend``. The
choices the controls offer (:data:`PAIRS`, :data:`SIZES`, ...) and the stack axes a
layer offers (:func:`stack_axis_choices`) live here too, tested without a display.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import DenoiseError
from ..core.training.n2n_config import LOSSES, Noise2NoiseConfig, voxel_size_from_scale

PAIRS = [("automatic (from the data)", "auto"),
         ("neighbouring frames (Noise2Noise)", "neighbors"),
         ("mean of the other frames (still stack)", "others"),
         ("two captures (Noise2Noise)", "two"),
         ("sub-sampled pixels (Neighbor2Neighbor)", "subsample"),
         ("blind spot (Noise2Void)", "blindspot")]
PAIR_HELP = {
    "auto": "Chosen from the data when training starts: a second capture if you pick one, "
            "each frame against the mean of the other frames for a stack of captures of a "
            "still scene, else blind spot (Noise2Void) on every image.",
    "neighbors": "Pairs each frame (or slice) of a stack with a neighbouring one: for time "
                 "series of a still or slowly moving sample and finely spaced Z stacks. "
                 "'any' distance pairs every two frames: only for a sample that does not "
                 "move. What changes between frames is treated as noise and blurred away.",
    "others": "For a stack of captures of a still scene: each frame is trained against the "
              "mean of the other frames, a target with the same clean image and less noise "
              "than one other frame. Anything that moves between frames is blurred away.",
    "two": "Two captures of the same scene (pick the second one as 'Second capture', same "
           "shape): the best choice when you can image the sample twice.",
    "subsample": "Neighbor2Neighbor: pairs sub-images of one noisy image. For single "
                 "images, or stacks whose frames differ (moving samples, coarse Z steps). "
                 "Assumes pixel-independent noise.",
    "blindspot": "Noise2Void: predicts masked pixels from their surroundings. Also for "
                 "single images; assumes pixel-independent noise; often a little blurrier "
                 "than sub-sampled pairs.",
}
ARCHS = [("U-Net", "unet"), ("DnCNN", "dncnn")]
SIZES = [("tiny (quick trials)", "tiny"), ("small", "small"), ("standard", "standard"),
         ("large", "large")]
#: architecture arguments per network size (None: the core's defaults)
ARCH_ARGS = {
    "unet": {"tiny": {"features": 8, "levels": 2}, "small": {"features": 16, "levels": 3},
             "standard": None, "large": {"features": 48, "levels": 4}},
    "dncnn": {"tiny": {"depth": 5, "features": 16}, "small": {"depth": 10, "features": 32},
              "standard": None, "large": {"depth": 20, "features": 64}},
}
DISTANCES = [("1 (adjacent frames)", 1), ("any (still sample)", "any")]
DIMS = [("planes (2-D)", 2), ("volumes (3-D)", 3)]
#: the "Start from" choice of random weights
NO_INIT = "__none__"
#: the "Start from" choice of the shipped network for the data's noise
AUTO_INIT = "auto"
__all__ = ["ARCHS", "ARCH_ARGS", "AUTO_INIT", "DISTANCES", "LOSSES", "LayerInfo", "NO_INIT", "PAIRS",
           "PAIR_HELP", "SIZES", "TrainSettings", "stack_axis_choices"]


@dataclass(frozen=True)
class LayerInfo:
    """What the settings need of an image layer (not its array)."""

    name: str
    shape: tuple
    dtype: str = "float32"
    axes: str = ""                 # the layer's axes ("" when unknown)
    rgb: bool = False
    multiscale: bool = False
    axis_labels: tuple = ()
    scale: tuple = ()              # the layer's scale, one per axis (voxel sizes)

    @property
    def ndim(self) -> int:
        """Dimensions without the RGB axis (as napari counts them)."""
        return len(self.shape) - (1 if self.rgb else 0)


def stack_axis_choices(info: LayerInfo | None) -> list[tuple[str, int]]:
    """(label, index) of the non-spatial axes of a layer, the likely stack axis first
    (T, then Z, then others, channels last); none for a multiscale layer."""
    if info is None or info.multiscale:
        return []
    shape = tuple(info.shape)
    axes = info.axes if len(info.axes) == len(shape) else ""
    labels = list(info.axis_labels) + ["C"] * (len(shape) - len(info.axis_labels))
    out = []
    for i, n in enumerate(shape):
        letter = axes[i] if axes else None
        if letter in ("Y", "X") or (not axes and i >= len(shape) - (3 if info.rgb else 2)):
            continue
        name = letter or f"axis {i}"
        lab = str(labels[i])
        if lab == str(i - info.ndim):  # napari's default labels: -3, -2, -1
            lab = ""
        desc = f"{name} ({n} {'frame' if n == 1 else 'frames'}"
        desc += f", '{lab}')" if lab and lab.upper() != name.upper() else ")"
        out.append((desc, i, letter))
    pref = {"T": 0, "Z": 1}
    out.sort(key=lambda t: (pref.get(t[2], 2 if t[2] != "C" else 3), t[1]))
    return [(d, i) for d, i, _ in out]


@dataclass
class TrainSettings:
    """The Train widget's settings for one training, and the layers it uses."""

    pairs: str = "auto"            # one of PAIRS' values
    axis: int | None = None        # the stack axis; None: the likely one
    distance: int | str = 1        # neighbour distance, or "any"
    model: str = "unet"            # one of ARCHS' values
    size: str = "standard"         # one of SIZES' values
    init: str | None = AUTO_INIT   # a model to fine-tune ("auto": the shipped one for the
    #                                data's noise); None or NO_INIT: random weights
    patch: int = 64
    batch: int = 8
    dims: int = 2                  # 3: a 3-D network on the layer's Z, Y, X volumes
    lr: float = 0.0                # 0: the trainer's default
    loss: str = "l2"
    minutes: float = 5.0           # 0: no time limit
    steps: int = 0                 # 0: by time (both 0: the trainer's default)
    device: str = "auto"
    name: str = ""                 # "": n2n_<data name>
    data: LayerInfo | None = None
    target: LayerInfo | None = None      # the second capture (pairs "two")
    reference: LayerInfo | None = None   # clean data, for the validation PSNR

    @property
    def fine_tune(self) -> bool:
        return self.init not in (None, NO_INIT)

    def model_name(self) -> str:
        """The name the model is trained (and saved) under."""
        default = f"n2n_{self.data.name}" if self.data is not None else ""
        return self.name.strip() or default

    def budget(self) -> tuple[int | None, float | None]:
        """(steps, minutes) of the schedule; None where the control says 0."""
        steps, minutes = int(self.steps), float(self.minutes)
        return (steps if steps > 0 else None), (minutes if minutes > 0 else None)

    def check(self) -> None:
        """A :class:`DenoiseError` for settings that cannot work (before any worker)."""
        self._check_data()
        if self.pairs in ("neighbors", "others"):
            self.stack_axis()
        elif self.pairs == "two" or (self.pairs == "auto" and self.target is not None):
            self._check_target()
        self._check_reference()

    def to_config(self) -> Noise2NoiseConfig:
        """The trainer's configuration (checked first; the config checks its values)."""
        self.check()
        data = self.data
        opts: dict = dict(pairs=self.pairs, axes=data.axes or None, loss=self.loss,
                          patch=int(self.patch), batch=int(self.batch),
                          device=self.device or "auto", name=self.model_name())
        if self.pairs == "neighbors":
            opts.update(axis=self.stack_axis(), distance=self.distance)
        elif self.pairs == "others":
            opts["axis"] = self.stack_axis()
        elif self.pairs == "auto" and stack_axis_choices(data):
            opts["axis"] = self.axis if self.axis is not None else stack_axis_choices(data)[0][1]
        if self.fine_tune:
            opts["init"] = self.init
        else:
            opts["model"] = self.model
            args = ARCH_ARGS.get(self.model, {}).get(self.size)
            if args:
                opts["arch_args"] = dict(args)
        if int(self.dims) == 3:
            opts.update(self._volume_options(opts))
        if float(self.lr) > 0:
            opts["lr"] = float(self.lr)
        opts["steps"], opts["minutes"] = self.budget()
        return Noise2NoiseConfig(**opts)

    def _volume_options(self, opts: dict) -> dict:
        """dims=3, the voxel size from the layer's scale; the stack axis only outside the
        volume (T of TZYX)."""
        data = self.data
        axes = data.axes if len(data.axes) == len(data.shape) else ""
        if "Z" not in axes or data.rgb:
            raise DenoiseError(f"'{data.name}' has no Z axis (axes {axes or 'unknown'}): a "
                               f"3-D network trains on volumes; choose 'planes (2-D)'")
        if self.fine_tune and self.init != AUTO_INIT:
            raise DenoiseError("the networks to start from are 2-D: for a 3-D network "
                               "choose 'automatic' or 'none' under 'Start from'")
        out: dict = {"dims": 3}
        if opts.get("axis") is not None and axes[int(opts["axis"])] == "Z":
            out["axis"] = axes.index("T") if "T" in axes else None
        vs = voxel_size_from_scale(axes, data.scale)
        if vs is not None:
            out["voxel_size"] = vs
        return out

    def stack_axis(self) -> int:
        """The stack axis of neighbouring-frame pairs (it must hold two frames)."""
        data = self.data
        shape = tuple(data.shape)
        choices = stack_axis_choices(data)
        if not choices:
            raise DenoiseError(
                f"'{data.name}' is a single image (shape {shape}): neighbouring-frame "
                f"pairs need a stack. Use 'subsample' (Neighbor2Neighbor) or 'blind "
                f"spot' (Noise2Void) pairs for single images, or 'two captures'")
        axis = self.axis if self.axis is not None else choices[0][1]
        if shape[axis] < 2:
            raise DenoiseError(
                f"'{data.name}' has only one frame along the stack axis (shape "
                f"{shape}): neighbouring-frame pairs need at least two. Use 'subsample' "
                f"(Neighbor2Neighbor) or 'blind spot' (Noise2Void) pairs for a single "
                f"image")
        return int(axis)

    def _check_data(self) -> None:
        data = self.data
        if data is None:
            raise DenoiseError("add or choose an image layer with your noisy data")
        if data.multiscale:
            raise DenoiseError(f"'{data.name}' is a multiscale (pyramid) layer; train on "
                               "its full-resolution array from Python "
                               "(napari_denoise.train_noise2noise)")
        if np.dtype(data.dtype).kind not in "uif":
            raise DenoiseError(f"'{data.name}' has data type {data.dtype}; use an integer "
                               "or floating-point image")
        if int(np.prod(data.shape)) == 0:
            raise DenoiseError(f"'{data.name}' is empty (shape {tuple(data.shape)})")

    def _check_target(self) -> None:
        target, shape = self.target, tuple(self.data.shape)
        if target is None:
            raise DenoiseError("choose the second capture of the same scene "
                               "('Second capture'), or another kind of pairs")
        if tuple(target.shape) != shape:
            raise DenoiseError(f"the second capture '{target.name}' has shape "
                               f"{tuple(target.shape)}, the data {shape}: they must match")

    def _check_reference(self) -> None:
        ref, shape = self.reference, tuple(self.data.shape)
        if ref is None:
            return
        rshape = tuple(ref.shape)
        if rshape != shape and rshape != shape[-3 if self.data.rgb else -2:]:
            raise DenoiseError(f"the reference '{ref.name}' has shape {rshape}: it must "
                               f"have the data's shape {shape} or be one image of it")
