"""Supervised training on clean images with synthetic noise, driven by a recipe.

A recipe is a JSON file (see ``recipes/`` in the repository) naming the
architecture, the noise to synthesise, patches, optimiser and schedule. One
command reproduces a shipped weight::

    python -m napari_denoise.core.training.supervised recipes/ffdnet_gray.json \
        --data ../shared/data -o weights/

Checkpoints (``<out>/<name>.ckpt``, loaded with ``weights_only=True``) are
written every ``ckpt_every`` steps and training resumes from them exactly.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ..precision import autocast, autocast_dtype
from .data import PatchSampler, add_noise, load_folder, load_pairs
from .metrics import psnr
from .recipe import Recipe  # noqa: F401 - public name
from .schedule import warmup_cosine


def _ssim(x, ref) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(ref, x, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False))


def _scores(y, ref) -> tuple[float, float]:
    """PSNR and SSIM of an output clipped and rounded to 8 bits (the benchmark protocol)."""
    y = (np.round(np.clip(y, 0, 1) * 255) / 255).astype(np.float64)
    return psnr(y, ref), _ssim(y, np.asarray(ref, np.float64))


def _affine_scores(y, ref) -> tuple[float, float]:
    """PSNR and SSIM after the least-squares gain and offset fit (real pairs)."""
    from .data import affine_match

    m = np.asarray(affine_match(y, ref), np.float64)
    return psnr(m, ref), _ssim(m, np.asarray(ref, np.float64))


def affine_psnr(out: np.ndarray, ref: np.ndarray, data_range: float = 1.0) -> float:
    """PSNR after the least-squares gain and offset fit of ``out`` onto ``ref`` (real data)."""
    from .data import affine_match

    return psnr(affine_match(out, ref), ref, data_range)


def lr_at(step: int, r: Recipe) -> float:
    """The recipe's learning rate at ``step`` (:func:`.schedule.warmup_cosine`)."""
    return warmup_cosine(step, r.lr, r.warmup, r.steps, r.min_lr_ratio)


class Trainer:
    """Holds model, optimiser and state; ``run()`` trains, validates, checkpoints."""

    def __init__(self, recipe: Recipe, data_root: str | Path, out_dir: str | Path,
                 device: str = "auto", images=None, val_images=None, log=print):
        import torch

        from ..devices import resolve_device
        from ..registry import create_arch

        self.r = recipe
        self.log = log
        self.device = resolve_device(device)
        self.out_dir = Path(out_dir)
        root = Path(data_root)
        self.pairs = None
        if recipe.train_pairs:
            self.pairs = load_pairs(root / recipe.train_pairs.root, recipe.train_pairs.fields)
            self.images = self.pairs
        else:
            self.images = images if images is not None else load_folder(
                root / recipe.train_data, exclude=recipe.val_holdout or ())
        self.val_pairs = None
        if recipe.val_pairs:
            self.val_pairs = load_pairs(root / recipe.val_pairs.root, recipe.val_pairs.fields)
            self.val_images = []
        else:
            if val_images is not None:
                self.val_images = val_images
            elif recipe.val_holdout:
                self.val_images = load_folder(root / recipe.train_data, only=recipe.val_holdout)
            else:
                self.val_images = load_folder(root / recipe.val_data) if recipe.val_data else []
        self.sampler = PatchSampler(self.images, recipe.patch, seed=recipe.seed)
        self.synth_sampler = None
        if self.pairs is not None and recipe.synthetic_share > 0:
            clean = load_folder(root / recipe.train_data, exclude=recipe.val_holdout or ())
            clean += [p[1] for p in self.pairs]
            self.synth_sampler = PatchSampler(clean, recipe.patch, seed=recipe.seed + 2)
        from .losses import get_loss

        self.loss_fn = get_loss(recipe.loss)
        with torch.random.fork_rng(devices=[]):  # seed the init without touching the caller's RNG
            torch.manual_seed(recipe.seed)
            self.model = create_arch(recipe.arch, **recipe.arch_args)
        self.model = self.model.to(self.device)
        self.model = self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=recipe.lr,
                                     weight_decay=recipe.weight_decay)
        self.gen = torch.Generator().manual_seed(recipe.seed + 1)
        self.step = 0
        self.best = -float("inf")
        self.best_state = None
        self.bad_vals = 0
        self.history: list[dict] = []

    # -- checkpoints -------------------------------------------------------
    @property
    def ckpt_path(self) -> Path:
        return self.out_dir / f"{self.r.name}.ckpt"

    def save_checkpoint(self, path: Path | None = None) -> Path:
        import torch

        path = path or self.ckpt_path
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "step": self.step,
            "best": self.best,
            "bad_vals": self.bad_vals,
            "best_state": self.best_state or {},
            "torch_gen": self.gen.get_state(),
            "np_rng": json.dumps(self.sampler.rng.bit_generator.state),
            "np_rng_synth": json.dumps(self.synth_sampler.rng.bit_generator.state
                                       if self.synth_sampler is not None else None),
            "history": json.dumps(self.history),
        }
        tmp = path.with_name(path.name + ".part")
        torch.save(state, tmp)
        tmp.replace(path)
        return path

    def load_checkpoint(self, path: Path | None = None) -> None:
        import torch

        path = path or self.ckpt_path
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.step = int(state["step"])
        self.best = float(state["best"])
        self.bad_vals = int(state["bad_vals"])
        self.best_state = state["best_state"] or None
        self.gen.set_state(state["torch_gen"])
        self.sampler.rng.bit_generator.state = json.loads(state["np_rng"])
        synth = json.loads(state.get("np_rng_synth", "null"))
        if self.synth_sampler is not None and synth is not None:
            self.synth_sampler.rng.bit_generator.state = synth
        self.history = json.loads(state["history"])
        self.log(f"resumed {self.r.name} at step {self.step}")

    def init_from(self, path) -> None:
        """Start from saved weights (fresh optimiser and schedule): continued training."""
        from ..weights import load_state

        state = {k: v.float() for k, v in load_state(path).items()}
        own = set(self.model.state_dict())
        if set(state) != own and hasattr(self.model, "adapt_state"):
            state = self.model.adapt_state(state)  # e.g. fewer blocks per level
        self.model.load_state_dict(state)
        self.log(f"initialised {self.r.name} from {path}")

    # -- training ----------------------------------------------------------
    def train_step(self) -> float:
        import torch

        n_syn = 0 if self.synth_sampler is None else round(self.r.synthetic_share * self.r.batch)
        batch = torch.from_numpy(self.sampler.batch(self.r.batch - n_syn)).to(self.device)
        batch = batch.contiguous(memory_format=torch.channels_last)
        if self.pairs is not None:  # real pairs: noisy, matched clean, estimated map
            noisy, clean, smap = batch[:, 0:1], batch[:, 1:2], batch[:, 2:3]
            if n_syn:
                c2 = torch.from_numpy(self.synth_sampler.batch(n_syn)).to(self.device)
                n2, m2 = add_noise(c2, self.r.noise.as_dict(), self.gen)
                noisy, clean = torch.cat([noisy, n2]), torch.cat([clean, c2])
                smap = torch.cat([smap, m2[:, :1]])
        else:
            clean = batch
            noisy, smap = add_noise(clean, self.r.noise.as_dict(), self.gen)
        for g in self.opt.param_groups:
            g["lr"] = lr_at(self.step, self.r)
        self.model.train()
        with autocast(self.device, autocast_dtype(self.device, training=True)):
            out = self.model(noisy, smap[:, :1])
        loss = self.loss_fn(out.float(), clean)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        return float(loss.detach())

    def validate(self) -> float:
        """Mean validation PSNR (see :meth:`validate_all`)."""
        return self.validate_all()["psnr"]

    def validate_all(self) -> dict:
        """Mean validation PSNR and SSIM: Gaussian noise at ``val_sigmas`` with fixed seeds
        (clipped, rounded output), or after the affine fit on real ``val_pairs``."""
        import torch

        cases = list(self._val_cases())
        if not cases:
            return {"psnr": float("nan"), "ssim": float("nan")}
        self.model.eval()
        scores = []
        with torch.inference_mode():
            for x, smap, ref, score in cases:
                y = self.model(torch.from_numpy(x)[None, None].to(self.device),
                               smap.to(self.device))[0, 0].float().cpu().numpy()
                scores.append(score(y, ref))
        return {"psnr": float(np.mean([p for p, _ in scores])),
                "ssim": float(np.mean([q for _, q in scores]))}

    def _val_cases(self):
        """(noisy image, noise map tensor, reference, scorer) for every validation case."""
        import torch

        if self.val_pairs is not None:
            for p in self.val_pairs:
                yield p[0], torch.from_numpy(p[2])[None, None], p[1], _affine_scores
        refs = [p[1] for p in self.val_pairs or []] + list(self.val_images)
        for gain in self.r.val_pg_gains or ():
            for i, ref in enumerate(refs):
                t = torch.from_numpy(np.ascontiguousarray(ref, np.float32))[None, None]
                g = torch.Generator().manual_seed(1000 + i)
                noise = {"type": "poisson-gaussian", "a": float(gain), "b": 0.02 * float(gain),
                         "map": "noisy"}
                noisy, smap = add_noise(t, noise, g)
                yield noisy[0, 0].numpy(), smap[:, :1], ref, _scores
        if self.val_pairs is not None:
            return
        for i, im in enumerate(self.val_images):
            noise = np.random.default_rng(i).standard_normal(im.shape).astype(np.float32)
            for s in self.r.val_sigmas:
                yield im + noise * s / 255.0, torch.full((1,), s / 255.0), im, _scores

    def run(self, minutes: float | None = None, stop=None) -> dict:
        t0 = time.time()
        losses = []
        while self.step < self.r.steps:
            losses.append(self.train_step())
            if self.step % 50 == 0:
                self.log(f"step {self.step} loss {np.mean(losses[-50:]):.3e} "
                         f"lr {lr_at(self.step, self.r):.2e} {time.time() - t0:.0f}s")
            last = self.step == self.r.steps
            if self.step % self.r.val_every == 0 or last:
                scores = self.validate_all()
                v = scores[self.r.select_by]
                self.history.append({"step": self.step, "val_psnr": scores["psnr"],
                                     "val_ssim": scores["ssim"],
                                     "loss": float(np.mean(losses[-self.r.val_every:]))})
                if v > self.best:
                    self.best, self.bad_vals = v, 0
                    self.best_state = {k: t.detach().clone()
                                       for k, t in self.model.state_dict().items()}
                else:
                    self.bad_vals += 1
                self.log(f"step {self.step} val PSNR {scores['psnr']:.3f} dB, SSIM "
                         f"{scores['ssim']:.4f} (best {self.r.select_by} {self.best:.4f})")
                if self.r.patience and self.bad_vals >= self.r.patience:
                    self.log("early stop: validation stopped improving")
                    break
            if self.step % self.r.ckpt_every == 0 or last:
                self.save_checkpoint()
            if minutes is not None and time.time() - t0 > 60 * minutes:
                self.log("time budget reached")
                self.save_checkpoint()
                break
            if stop is not None and stop():
                self.save_checkpoint()
                break
        psnrs = [h["val_psnr"] for h in self.history if "val_psnr" in h]
        return {"step": self.step, "best": self.best, "select_by": self.r.select_by,
                "best_val_psnr": self.best if self.r.select_by == "psnr" else
                (max(psnrs) if psnrs else float("nan"))}

    def export(self, out: Path, metrics: dict | None = None, command: str = "") -> Path:
        """Write the best weights as fp16 safetensors plus model card JSON."""
        from ..weights import save_model
        from ..registry import create_arch

        model = create_arch(self.r.arch, **self.r.arch_args)
        model.load_state_dict(self.best_state or self.model.state_dict())
        card = {
            "name": self.r.name,
            "description": self.r.description,
            "arch": self.r.arch,
            "arch_args": self.r.arch_args,
            "dims": int(getattr(model, "dims", 2)),
            "channels": int(model.in_channels),
            "noise_model": self.r.noise_model,
            "sigma_range": list(self.r.sigma_range),
            "normalisation": "input scaled to [0, 1] by the data range; sigma in the same units",
            "training_data": self.r.training_data_note or self.r.train_data,
            "recipe": command or f"python -m napari_denoise.core.training.supervised "
                                 f"recipes/{self.r.name}.json --data ../shared/data -o weights/",
            "metrics": metrics or {},
            "training": {"steps": self.step,
                         ("val_psnr_w2s_real_and_synthetic" if self.val_pairs is not None
                          and self.r.val_pg_gains else
                          "val_affine_psnr_w2s" if self.val_pairs is not None else
                          "val_psnr_holdout" if self.r.val_holdout else "val_psnr"):
                             round(self.best, 3),
                         "recipe": self.r.as_dict()},
            "licence": self.r.licence,
            "limitations": self.r.limitations,
        }
        return save_model(model, out / f"{self.r.name}.safetensors", card, half=True,
                          write_card_json=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe")
    p.add_argument("--data", default="../shared/data")
    p.add_argument("-o", "--out", default="weights")
    p.add_argument("--device", default="auto")
    p.add_argument("--minutes", type=float, default=None, help="stop after this many minutes")
    p.add_argument("--steps", type=int, default=None, help="override the recipe's step count")
    p.add_argument("--resume", action="store_true", help="continue from <out>/<name>.ckpt")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--name", default=None, help="name of the exported model (default: the recipe's)")
    p.add_argument("--init", default=None,
                   help="start from these weights (.safetensors of the same architecture), "
                        "e.g. to continue a shipped model with a fresh schedule")
    a = p.parse_args(argv)
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    r = Recipe.load(a.recipe)
    if a.steps:
        r.steps = a.steps
    if a.name:
        r.name = a.name
    tr = Trainer(r, a.data, a.out, device=a.device,
                 log=lambda m: print(m, flush=True))
    if a.resume and tr.ckpt_path.exists():
        tr.load_checkpoint()
    elif a.init:
        tr.init_from(a.init)
    res = tr.run(minutes=a.minutes)
    path = tr.export(Path(a.out), metrics={})
    print(f"wrote {path} after {res['step']} steps, best val PSNR {res['best_val_psnr']:.3f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
