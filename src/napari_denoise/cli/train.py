"""``napari-denoise train IN``: train a denoiser on the user's own noisy data."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from ._common import (PROG, CLIError, HelpFormatter, axes_arg, axes_override, distance_arg,
                      err, fmt_seconds, positive_float, positive_int)


def add_train(sub) -> None:
    p = sub.add_parser(
        "train", help="train a denoiser on your own noisy data (no clean images)",
        description="Train a denoiser on your noisy data alone (self-supervised). By default\n"
                    "(--pairs auto) the pairs follow the data: two captures (--target) are\n"
                    "paired; a stack of captures of a still scene (a plain TIFF stack is read\n"
                    "as frames) trains each frame against the mean of the others; a single\n"
                    "image, or a stack whose planes differ, trains a blind spot (Noise2Void)\n"
                    "network. --pairs neighbors / subsample / ... overrides. Writes the model\n"
                    "with its model card; denoise with it through --model. Ctrl-C stops early\n"
                    "and saves the best model so far.",
        epilog="examples:\n"
               f"  {PROG} train timelapse.tif --minutes 10 -o mine.safetensors\n"
               f"  {PROG} denoise timelapse.tif -o clean.tif --model mine.safetensors\n"
               f"  {PROG} train a.tif --target b.tif --steps 3000 --name scope1\n"
               f"  {PROG} train photo.png --pairs subsample --minutes 5 -o photo.safetensors\n"
               f"  {PROG} train still_frames.tif --pairs others --minutes 5",
        formatter_class=HelpFormatter)
    _add_data_options(p)
    _add_network_options(p)
    _add_schedule_options(p)
    p.set_defaults(func=_run_train)


def _add_data_options(p) -> None:
    """IN, -o, --name, --target, --pairs, --axis, --distance, --axes."""
    p.add_argument("input", metavar="IN", help="noisy image file (a stack for --pairs neighbors "
                                               "or others)")
    p.add_argument("-o", "--output", metavar="MODEL.safetensors", default=None,
                   help="where to write the model (default: your models folder, as --name, "
                        "listed by 'napari-denoise models')")
    p.add_argument("--name", default=None,
                   help="model name (default: the output's file name, else IN's name + _n2n)")
    p.add_argument("--target", metavar="SECOND", default=None,
                   help="a second capture of the same scene (same shape): trains on the pair")
    p.add_argument("--pairs", choices=("auto", "neighbors", "others", "two", "subsample",
                                       "blindspot"),
                   default="auto",
                   help="auto: chosen from the data (default; see above); neighbors: adjacent "
                        "frames along --axis; others: each frame of a still stack against "
                        "the mean of the other frames; two: IN and --target; subsample: "
                        "Neighbor2Neighbor on single images; blindspot: Noise2Void on single "
                        "images")
    p.add_argument("--axis", default=None, metavar="T|Z|N",
                   help="stack axis for neighbors and others: a letter of the axes or an index "
                        "(default: T, else Z, else the first)")
    p.add_argument("--distance", type=distance_arg, default=1, metavar="N|any",
                   help="neighbors: pair frames up to N apart; 'any' for a still sample "
                        "filmed over time (default: 1)")
    p.add_argument("--axes", type=axes_arg, default=None, metavar="AXES",
                   help="axes of the data such as YX, ZYX, TYX, TZYX (default: from the "
                        "file, else guessed from the shape)")


def _add_network_options(p) -> None:
    """--dims, --voxel-size, --model, --features, --levels, --init."""
    p.add_argument("--dims", type=int, choices=(2, 3), default=None,
                   help="2: a 2-D network on planes (default); 3: a 3-D network on volumes")
    p.add_argument("--voxel-size", type=positive_float, nargs=3, default=None,
                   metavar=("Z", "Y", "X"),
                   help="--dims 3: the voxel size in any one unit (default: from the file; "
                        "cubic when it has none). Patches are then as deep as they are wide "
                        "in that unit and thick slices are pooled in-plane only")
    p.add_argument("--model", choices=("unet", "dncnn"), default=None,
                   help="architecture trained from scratch (default: unet, when --init "
                        "finds nothing to fine-tune or is none)")
    p.add_argument("--features", type=positive_int, default=None, metavar="F",
                   help="network width (default: 32 for the U-Net)")
    p.add_argument("--levels", type=positive_int, default=None, metavar="L",
                   help="U-Net depth (default: 3)")
    p.add_argument("--init", metavar="auto|none|NAME|PATH", default="auto",
                   help="the network to fine-tune: auto (default) the shipped one for the "
                        "data's noise (2-D training without --model/--features/--levels), "
                        "none: from scratch, or a pretrained or saved model")


def _add_schedule_options(p) -> None:
    """--minutes, --steps, --patch, --batch, --lr, --loss, --val-fraction, --device, --seed,
    --checkpoint, --resume, --quiet."""
    p.add_argument("--minutes", type=positive_float, default=None, metavar="M",
                   help="time limit; alone, the schedule is fitted to it")
    p.add_argument("--steps", type=positive_int, default=None, metavar="S",
                   help="training steps (default: 400 fine-tuning, 2000 from scratch)")
    p.add_argument("--patch", type=positive_int, default=None, metavar="P",
                   help="patch side in pixels (default: 64; 32 for --dims 3)")
    p.add_argument("--batch", type=positive_int, default=8, metavar="B",
                   help="patches per step (default: 8)")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="peak learning rate (default: 2e-4 fine-tuning, 1e-3 from scratch)")
    p.add_argument("--loss", choices=("l2", "l1", "charbonnier"), default="l2",
                   help="training loss (default: l2). Only pixel-wise losses: against a noisy "
                        "target they are minimised by the clean image (l2: its mean, l1: its "
                        "median); SSIM-type losses are not, so they are for supervised recipes")
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
            parts.append(f"{fmt_seconds(info['eta'])} left")
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
    from ..io import read_image

    try:
        return read_image(Path(path))
    except FileNotFoundError:
        raise CLIError(f"{what} file not found: {path}", 2) from None


def _run_train(args) -> int:
    from ..core.training.n2n import Noise2NoiseConfig, Noise2NoiseTrainer

    src = Path(args.input)
    out = _model_path(args.output)
    data, meta = _read_for_training(src, "input")
    axes = meta.axes
    if args.axes:
        axes = axes_override(args.axes, data)
    target = None
    if args.target:
        target, _ = _read_for_training(args.target, "--target")
        if target.shape != data.shape:
            raise CLIError(f"--target has shape {tuple(target.shape)} but {src.name} has "
                           f"{tuple(data.shape)}: the two captures must match", 2)
    voxel_size, voxel_from = _voxel_size(args, meta)
    axis = _stack_axis(args.axis, data, axes)
    pairs = args.pairs
    if pairs == "auto":
        from ..core.training.strategy import choose_pairs

        try:
            pairs, why = choose_pairs(data, axes, target=target, axis=axis,
                                     dims=args.dims or 2)
        except ValueError as exc:
            raise CLIError(str(exc), 2) from None
        if not args.quiet:
            print(f"pairs: {pairs}: {why} (--pairs overrides)", file=sys.stderr, flush=True)
    arch_args = _arch_args(args)
    name = args.name or (out.stem if out else f"{src.stem}_n2n")
    config = Noise2NoiseConfig(
        pairs=pairs, axis=axis, axes=axes, model=args.model, arch_args=arch_args or None,
        init=_init(args), steps=args.steps, minutes=args.minutes, patch=args.patch,
        batch=args.batch, lr=args.lr, loss=args.loss, dims=args.dims, voxel_size=voxel_size,
        device=args.device, seed=args.seed, val_fraction=args.val_fraction, name=name, distance=args.distance,
        checkpoint=args.checkpoint)
    trainer = Noise2NoiseTrainer(data, config, target=target, resume=args.resume)
    if not args.quiet and config.init == "auto":
        what = (f"fine-tuning {trainer.init_name}, the shipped network for this noise"
                if trainer.init_name else f"from scratch ({trainer.arch}: no shipped network "
                                          f"fits a {trainer.dims}-D training)")
        print(f"network: {what} (--init none trains from scratch)", file=sys.stderr,
              flush=True)
    if not args.quiet and trainer.dims == 3:
        patch = "x".join(str(v) for v in trainer.sampler.train_patch)
        vox = ("cubic voxels (the file gives no voxel size; --voxel-size Z Y X sets it)"
               if voxel_size is None else
               f"voxels {' x '.join(f'{v:g}' for v in voxel_size)} (Z Y X, {voxel_from})")
        print(f"volume: {vox}; patches of {patch} (Z, Y, X)", file=sys.stderr, flush=True)
    trained, interrupted = _drive(trainer, TrainLine(sys.stderr, enabled=not args.quiet))
    path = trained.save(out)
    m = trained.card["metrics"]
    if interrupted:
        err(f"interrupted at step {trainer.step}; saved the best model so far (step "
             f"{m.get('best_step')}) to {path}")
        return 130
    if not args.quiet:
        _report(trainer, trained, path, path if out is not None else trained.name)
    return 0


def _model_path(output):
    """-o as a Path (None: the user's models folder), checked to be a .safetensors file."""
    out = Path(output).expanduser() if output else None
    if out is not None:
        if out.suffix.lower() != ".safetensors":
            raise CLIError(f"the model file must end in .safetensors, not {out.name!r}", 2)
        if out.is_dir():
            raise CLIError(f"cannot write {out}: it is a folder", 2)
    return out


def _stack_axis(axis, data, axes):
    """--axis as an index (in range) or an upper-case letter of the data's axes."""
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
    return axis


def _voxel_size(args, meta):
    """(voxel size or None, where it came from): --voxel-size, else the file's pixel
    sizes for a 3-D training of a file whose axes were read from it."""
    if args.voxel_size is not None:
        if args.dims != 3:
            raise CLIError("--voxel-size is for 3-D training: add --dims 3", 2)
        return tuple(args.voxel_size), "--voxel-size"
    if args.dims != 3 or args.axes:
        return None, ""
    from ..core.training.n2n_config import voxel_size_from_scale

    vs = voxel_size_from_scale(meta.axes, meta.scale)
    return vs, ("from the file" if vs is not None else "")


def _init(args):
    """--init as the trainer takes it: None for none, "auto", or a model."""
    value = (args.init or "none").strip()
    return None if value.lower() in ("none", "scratch") else value


def _arch_args(args) -> dict:
    """--features / --levels for a network trained from scratch."""
    arch_args = {}
    tuned = _init(args) not in (None, "auto")  # a named model: its architecture
    if args.features:
        arch_args["features"] = args.features
    if args.levels:
        if (args.model or "unet") != "unet" or tuned:
            raise CLIError("--levels applies to a U-Net trained from scratch", 2)
        arch_args["levels"] = args.levels
    if arch_args and tuned:
        raise CLIError("--features/--levels cannot change the architecture of --init", 2)
    return arch_args


def _drive(trainer, line):
    """Run the training to its end, or to Ctrl-C: (trained model, interrupted). After an
    interrupt the model is the best validated so far; before the first step it re-raises."""
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
    return trained, interrupted


def _report(trainer, trained, path, use_as) -> None:
    m = trained.card["metrics"]
    from ..core.training.n2n_model import choice_words

    val = choice_words(trained.card)
    if m.get("val_psnr") is not None:
        val += f" ({m['val_psnr']:.2f} dB)"
    print(f"trained {trained.name}: {m.get('steps')} steps ({trainer.pairs} pairs, "
          f"validation on {m.get('validation')}) in {fmt_seconds(trainer.seconds)} on "
          f"{trainer.device}; {val}")
    print(f"saved {path}")
    print(f"denoise with: {PROG} denoise IN -o OUT --model {use_as}")
