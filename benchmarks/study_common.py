"""Helpers of benchmarks/architectures.py: the study's recipe, one training run for a
CPU-time budget with exact resume, the protocol evaluation of its best weights and
the inference speed.

Training time counts only the training steps (sampling, noise, forward, backward,
update), not the validations and checkpoints, and it is the process's CPU time divided
by torch's thread count (:func:`train_clock`): on an idle machine that is the wall
time, and a run that shares the CPU with other work gets the same amount of
computation, not fewer steps (wall time would make the ranking depend on what else
ran). OpenMP threads wait passively (architectures.py sets ``OMP_WAIT_POLICY``) so
that spinning at barriers is not counted as work. The learning rate warms up for
``WARMUP`` steps, then follows a cosine over the *time* budget: before each step the
recipe's ``steps`` is set so that the cosine's progress equals the fraction of the
budget spent, so every architecture ends its budget annealed whatever its speed.
Checkpoints are written right after each validation, so a resumed run restarts at the
last point of its validation curve with the training seconds it had spent.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from common import load_set, noisy_version, score

ROOT = Path(__file__).resolve().parents[1]
BASE_RECIPE = ROOT / "recipes" / "drunet_gray.json"
WARMUP = 50          # steps of linear warm-up, the same for every architecture
PATCH, BATCH = 64, 16


def base_arch_args(arch: str) -> dict:
    """The base recipe's arch_args when ``arch`` is its architecture, else {} (defaults)."""
    d = json.loads(BASE_RECIPE.read_text())
    return dict(d["arch_args"]) if d["arch"] == arch else {}


def make_recipe(name: str, arch: str, arch_args: dict, loss: str = "l2", seed: int = 0):
    """The drunet_gray recipe (Train400 less 20 held apart, Gaussian sigma 0-75) with the
    architecture, loss and study's patch (64, rounded up to the net's size_multiple)
    and batch (16) swapped in."""
    from napari_denoise import create_network
    from napari_denoise.core.training.recipe import Recipe

    d = json.loads(BASE_RECIPE.read_text())
    m = int(getattr(create_network(arch, **arch_args), "size_multiple", 1) or 1)
    d.update(name=name, arch=arch, arch_args=arch_args, loss=loss, seed=seed,
             patch=-(-PATCH // m) * m, batch=BATCH, warmup=WARMUP, steps=10 ** 9,
             val_every=10 ** 9, ckpt_every=10 ** 9,
             description=f"architecture study: {arch}, loss {loss}")
    return Recipe.from_dict(d)


def load_images(data: Path):
    """(training images, held-apart validation images) of the base recipe, loaded once."""
    from napari_denoise.core.training.data import load_folder

    d = json.loads(BASE_RECIPE.read_text())
    folder = Path(data) / d["train_data"]
    return (load_folder(folder, exclude=d["val_holdout"]),
            load_folder(folder, only=d["val_holdout"]))


def _set_schedule(tr, frac: float) -> None:
    """Make the recipe's cosine reach ``frac`` of its course at the current step."""
    w = tr.r.warmup
    if tr.step < w or frac <= 0:
        return
    tr.r.steps = max(tr.step + 1, int(round(w + (tr.step - w) / frac)))


def _validate(tr, seconds: float, losses: list, log) -> None:
    s = tr.validate_all()
    tr.history.append({"step": tr.step, "seconds": round(seconds, 3),
                       "val_psnr": s["psnr"], "val_ssim": s["ssim"],
                       "loss": float(np.mean(losses)) if losses else None})
    if s["psnr"] > tr.best:
        tr.best = s["psnr"]
        tr.best_state = {k: v.detach().clone() for k, v in tr.model.state_dict().items()}
    log(f"{tr.r.name}: step {tr.step}, {seconds / 60:.2f} min, val PSNR {s['psnr']:.3f} dB "
        f"SSIM {s['ssim']:.4f} (best {tr.best:.3f})")


def train_clock() -> float:
    """Seconds of this process's CPU time per torch thread (see the module's notes)."""
    import torch

    return time.process_time() / max(1, torch.get_num_threads())


def train_timed(tr, minutes: float, val_every: int, log=print) -> float:
    """Train ``tr`` (a ``Trainer``, maybe resumed) until ``minutes`` of training time,
    the cosine stretched over the time budget; validate every ``val_every`` steps and at
    the end, checkpoint after each validation. Returns the training seconds spent."""
    return _train(tr, val_every, log, budget=60.0 * minutes)


def train_steps(tr, steps: int, val_every: int, log=print) -> float:
    """As :func:`train_timed` to ``steps`` steps, the recipe's cosine over them. For runs
    of one architecture (the loss study), where the same steps are the same compute: a
    CPU-time budget is not, when the machine is shared (a thread that waits for a
    descheduled one spins, and the spinning counts as CPU time). Returns the training
    seconds spent (CPU time, for the record)."""
    tr.r.steps = int(steps)
    return _train(tr, val_every, log, steps=int(steps))


def _train(tr, val_every: int, log, budget: float | None = None,
           steps: int | None = None) -> float:
    """The loop of both budgets: ``budget`` seconds of training time, or ``steps``."""
    spent = float(tr.history[-1].get("seconds", 0.0)) if tr.history else 0.0
    losses: list[float] = []

    def done() -> bool:
        return tr.step >= steps if steps is not None else spent >= budget

    while not done():
        if steps is None:
            _set_schedule(tr, spent / budget)
        t = train_clock()
        losses.append(tr.train_step())
        spent += train_clock() - t
        if tr.step % val_every == 0 or done():
            _validate(tr, spent, losses, log)
            losses = []
            tr.save_checkpoint()
    return spent


def best_network(tr):
    """A fresh fp32 network of ``tr``'s architecture holding its best weights."""
    from napari_denoise import create_network

    net = create_network(tr.r.arch, **tr.r.arch_args)
    net.load_state_dict(tr.best_state or tr.model.state_dict())
    return net.eval()


def evaluate(net, data: Path, sets, sigmas) -> dict:
    """{"SET|SIGMA": {"psnr", "ssim"}} by the protocol of quality.py (unclipped noise from
    default_rng(i), output clipped and rounded, per-image mean); fp32, whole images,
    the true sigma as the map (networks without a map ignore it)."""
    import torch

    out = {}
    for set_name in sets:
        images = load_set(Path(data), set_name)
        for sg in sigmas:
            scores = []
            for i, (_, clean) in enumerate(images):
                x = torch.from_numpy(noisy_version(clean, sg, i).astype(np.float32))[None, None]
                with torch.inference_mode():
                    y = net(x, torch.full((1,), sg / 255.0))[0, 0].float().numpy()
                scores.append(score(y.astype(np.float64), clean))
            out[f"{set_name}|{sg}"] = {"psnr": float(np.mean([p for p, _ in scores])),
                                       "ssim": float(np.mean([s for _, s in scores]))}
    return out


def inference_speed(net, side: int = 512, repeats: int = 7) -> dict:
    """Seconds per megapixel on a ``side`` x ``side`` image, best of ``repeats`` after one
    warm-up call, in fp32 and under bf16 autocast."""
    import torch

    x = torch.rand(1, int(getattr(net, "in_channels", 1)), side, side)
    smap = torch.full((1,), 25 / 255.0)
    out = {}
    for key, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        ctx = torch.autocast("cpu", dtype=dtype) if dtype else torch.autocast("cpu", enabled=False)
        times = []
        with torch.inference_mode(), ctx:
            net(x, smap)
            for _ in range(repeats):
                t = time.perf_counter()
                net(x, smap)
                times.append(time.perf_counter() - t)
        out[f"s_per_mp_{key}"] = min(times) / (side * side / 1e6)
    return out


def arch_costs(arch: str, arch_args: dict) -> dict:
    """Parameters and MACs per pixel: list_architectures() for the default size, else
    counted the same way (FlopCounterMode on a 1x1x64x64 input)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import napari_denoise as nd

    if not arch_args:
        e = next(e for e in nd.list_architectures() if e["name"] == arch)
        return {"parameters": e["parameters"], "macs_per_pixel": e["macs_per_pixel"]}
    net = nd.create_network(arch, **arch_args).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.rand(1, 1, 64, 64), torch.full((1,), 0.1))
    return {"parameters": int(sum(p.numel() for p in net.parameters())),
            "macs_per_pixel": counter.get_total_flops() / 2 / 4096}
