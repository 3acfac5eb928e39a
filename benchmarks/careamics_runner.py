"""Train CAREamics (Noise2Noise or Noise2Void) on a small static stack within a wall-clock
budget and denoise one frame: the peer side of ``n2n_peers.py``.

Runs in CAREamics' own environment, not the project's (default ``/tmp/care/bin/python``,
CAREamics 0.3.5 over a CPU torch)::

    /tmp/care/bin/python benchmarks/careamics_runner.py --input in.npz --mode n2n \\
        --seconds 60 --frame 1 --threads 2 --output out.npz

in.npz: ``stack`` float32 (T, Y, X), independent noisy captures of a still scene.
out.npz: ``denoised`` float32 (Y, X) (frame ``--frame``, in the input's intensity units),
``train_seconds`` (from the end of the imports to the end of training),
``import_seconds``, ``steps`` (optimiser steps), ``epochs``, ``careamics_version``.

Setup as a user following CAREamics' documentation: ``create_advanced_n2n_config`` /
``create_advanced_n2v_config`` with 64x64 patches, batch 16, default augmentations
(flips, 90 degree rotations), default UNet, optimiser, scheduler, normalisation
(mean/std, undone by CAREamics in ``predict``) and data-loader workers, seed 1 (it must
be > 0), on the CPU (``accelerator="cpu"``, ``--threads`` torch threads); the time limit is
Lightning's ``max_time`` in ``trainer_params`` with an epoch count too large to matter.
The budget starts once CAREamics is imported, so its setup (configuration, data
statistics, data module, Lightning trainer, sanity validation) counts against it: a
callback stops training at that deadline (``max_time`` alone starts its clock only when
Lightning's training loop starts). The imports (a one-off per session for a user, like
napari_denoise's own import in the calling process) do not count; ``import_seconds``
reports them. N2N trains on every ordered pair of different frames (input frame i,
target frame j); N2V on all frames. Prediction is on the whole frame, no tiling, passed
as a one-sample "SYX" array (CAREamics refuses "YX" data after "SYX" training), with
the weights at the end of training (saved by the trainer and passed as ``checkpoint``;
the default "last" checkpoint may be from the end of the previous epoch).

Why the torchvision stub: CAREamics 0.3.5 depends on torchvision<=0.26, which does not
load against the CPU torch of this environment. Its N2N / N2V code paths never use
torchvision; only its LVAE modules import ``torchvision.transforms.functional`` and
``careamics/model_io/bioimage/bioimage_utils.py`` reads ``torchvision.__version__``, at
import time. Empty stand-in modules (and ``find_spec`` reporting torchvision absent, so
libraries that probe for it do not try to use it) let ``import careamics`` succeed.
"""

from __future__ import annotations

import time

T_START = time.monotonic()

import argparse  # noqa: E402
import os  # noqa: E402
import importlib.util  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import types  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

# this folder holds scripts named like modules (common, memory, export ...): keep it off
# the import path of CAREamics and its dependencies
sys.path[:] = [q for q in sys.path if Path(q or ".").resolve() != Path(__file__).resolve().parent]


def stub_torchvision() -> None:
    """Stand-in torchvision modules (see the module docstring)."""
    for name in ("torchvision", "torchvision.transforms", "torchvision.transforms.functional"):
        m = types.ModuleType(name)
        m.__version__ = "stub"
        m.__spec__ = None
        sys.modules[name] = m
    sys.modules["torchvision"].transforms = sys.modules["torchvision.transforms"]
    tv = sys.modules["torchvision.transforms"]
    tv.functional = sys.modules["torchvision.transforms.functional"]
    real_find_spec = importlib.util.find_spec

    def find_spec(name, package=None):
        if name.split(".")[0] == "torchvision":
            return None
        return real_find_spec(name, package)

    importlib.util.find_spec = find_spec


def quiet() -> None:
    os.environ.setdefault("TQDM_DISABLE", "1")  # CAREamics' statistics progress bar
    warnings.filterwarnings("ignore")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning",
                 "careamics"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", type=Path, required=True)
    p.add_argument("--mode", choices=["n2n", "n2v"], required=True)
    p.add_argument("--seconds", type=float, required=True,
                   help="wall-clock training budget, counted from the end of the imports")
    p.add_argument("--frame", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--output", type=Path, required=True)
    p.add_argument("--patch", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seed", type=int, default=1, help="CAREamics requires > 0")
    a = p.parse_args(argv)

    stub_torchvision()
    quiet()
    import torch
    from lightning.pytorch import Callback

    import careamics
    from careamics import CAREamist
    from careamics.config.factories.care_n2n_factory import create_advanced_n2n_config
    from careamics.config.factories.n2v_factory import create_advanced_n2v_config

    quiet()  # careamics' get_logger may have reset levels
    t0 = time.monotonic()
    deadline = t0 + a.seconds
    torch.set_num_threads(a.threads)
    stack = np.load(a.input)["stack"].astype(np.float32)
    if stack.ndim != 3:
        raise SystemExit(f"stack must be (T, Y, X), got {stack.shape}")

    class Deadline(Callback):
        """Stop at the deadline (end of the imports + budget)."""

        def on_train_batch_end(self, trainer, *args, **kwargs):
            if time.monotonic() >= deadline:
                trainer.should_stop = True

    left = max(1.0, deadline - time.monotonic())
    common = dict(
        experiment_name=f"bench_{a.mode}", data_type="array", axes="SYX",
        patch_size=[a.patch, a.patch], batch_size=a.batch, num_epochs=100_000,
        trainer_params={"max_time": {"seconds": int(np.ceil(left))},
                        "enable_model_summary": False, "accelerator": "cpu"},
        seed=a.seed)
    if a.mode == "n2n":
        ii, jj = np.nonzero(~np.eye(len(stack), dtype=bool))  # all ordered pairs i != j
        train, target = stack[ii], stack[jj]
        config = create_advanced_n2n_config(**common)
    else:
        train, target = stack, None
        config = create_advanced_n2v_config(**common)

    work = Path(tempfile.mkdtemp(prefix="careamics_bench_"))
    try:
        cm = CAREamist(config, work_dir=work, callbacks=[Deadline()], enable_progress_bar=False)
        quiet()
        if target is None:
            cm.train(train_data=train)
        else:
            cm.train(train_data=train, train_data_target=target)
        train_seconds = time.monotonic() - t0
        steps, epochs = int(cm.trainer.global_step), int(cm.trainer.current_epoch)
        final = work / "final.ckpt"
        cm.trainer.save_checkpoint(final)
        # axes "YX" is refused: prediction axes must keep the training data's sample axis
        pred, _ = cm.predict(stack[a.frame][None], axes="SYX", data_type="array",
                             checkpoint=final)
        out = np.squeeze(np.asarray(pred[0], dtype=np.float32))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if out.shape != stack.shape[1:]:
        raise SystemExit(f"prediction shape {out.shape} != frame shape {stack.shape[1:]}")
    np.savez(a.output, denoised=out, train_seconds=train_seconds, steps=steps, epochs=epochs,
             import_seconds=t0 - T_START, careamics_version=careamics.__version__)
    print(f"careamics {careamics.__version__} {a.mode}: imports {t0 - T_START:.1f} s, "
          f"{steps} steps, {epochs} epochs in {train_seconds:.1f} s, "
          f"{time.monotonic() - T_START:.1f} s total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
