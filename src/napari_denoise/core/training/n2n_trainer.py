"""The self-supervised training loop: :class:`Noise2NoiseTrainer` (see :mod:`.n2n`)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from ..errors import DenoiseError
from ..precision import autocast, autocast_dtype
from .n2n_checkpoint import load_checkpoint, save_checkpoint
from .n2n_config import (DEFAULT_FINETUNE_LR, DEFAULT_FINETUNE_STEPS, DEFAULT_LR,
                         DEFAULT_STEPS, Noise2NoiseConfig)
from .n2n_model import TrainedModel, model_card, safe_name, setup_words
from .n2n_setup import (build_network, pointwise_loss, prepare_data, selection_noise,
                        wrap_noise_map)
from .pairs import subsample
from .schedule import warmup_cosine
from .n2n_validation import Validation

MIN_LR_RATIO = 0.01
#: strategies whose own validation loss scores a masked or sub-sampled prediction, not
#: the output: their checkpoints (and the starting network) are chosen by SURE
SINGLE_IMAGE = ("blindspot", "subsample")
PROBE_STEPS = 5  # steps timed to size the schedule when only minutes are given


# -- the trainer ---------------------------------------------------------------------

class Noise2NoiseTrainer(Validation):
    """Model, optimiser, pair sampler and state of one self-supervised training.

    Build it from a :class:`Noise2NoiseConfig` (``config``), or from its fields as
    keywords (they replace the config's), plus the arrays: ``data``, ``target`` (the
    second capture, pairs "two"), ``reference`` (clean data, for a validation PSNR);
    ``resume``: a checkpoint to continue. Iterate :meth:`run` (a generator of progress
    dicts that returns the :class:`TrainedModel`); call :meth:`request_stop` from
    anywhere to end it, and :meth:`best_so_far` after closing the generator early.
    ``save_checkpoint`` / ``resume`` continue a training exactly (same seed, same
    steps: the same result as one uninterrupted run).
    """

    def __init__(self, data, config: Noise2NoiseConfig | None = None, *, target=None,
                 reference=None, resume=None, **options):
        import torch

        from ..devices import resolve_device

        cfg = Noise2NoiseConfig.build(config, **options)
        pairs = cfg.pairs or ("two" if target is not None else "neighbors")
        self.pairs_reason = None
        if pairs == "auto":
            from .strategy import choose_pairs

            pairs, self.pairs_reason = choose_pairs(data, cfg.axes, target=target,
                                                    axis=cfg.axis, dims=cfg.dims or 2)
        if pairs == "two" and target is None:
            raise ValueError("pairs='two' needs the second capture as target=")
        if target is not None and pairs != "two":
            raise ValueError(f"target= is the second capture for pairs='two', not for "
                             f"pairs={pairs!r}")
        self.config = cfg
        self.device = resolve_device(cfg.device)
        self.pairs, self.loss_kind, self.batch_size = pairs, cfg.loss, cfg.batch
        self.seed, self.gamma, self.minutes, self.amp = cfg.seed, cfg.gamma, cfg.minutes, cfg.amp
        self.checkpoint = None if cfg.checkpoint is None else Path(cfg.checkpoint)
        self.checkpoint_every = cfg.checkpoint_every

        net = build_network(cfg, data)
        self.arch, self.arch_args, self.dims = net.arch, net.arch_args, net.dims
        self.init_name, self.init_card = net.init_name, net.init_card
        tuning = net.init_name is not None
        self.lr = cfg.lr if cfg.lr is not None else (DEFAULT_FINETUNE_LR if tuning else DEFAULT_LR)
        if cfg.steps is not None:
            self.total = cfg.steps
        elif cfg.minutes is None:
            self.total = DEFAULT_FINETUNE_STEPS if tuning else DEFAULT_STEPS
        else:
            self.total = None  # estimated from the first steps' speed

        m = net.module
        mults = getattr(m, "size_multiples", None) or (int(getattr(m, "size_multiple", 1)),)
        prepared = prepare_data(cfg, pairs, self.dims, mults[-1], data, target, reference,
                                z_multiple=mults[0],
                                net_anisotropy=float(getattr(m, "anisotropy", 1.0)))
        self.sampler, self.reference = prepared.sampler, prepared.reference
        net = wrap_noise_map(net, data, cfg.axes, self.sampler)
        self.sure_noise = (selection_noise(net, data, cfg.axes, self.sampler)
                           if pairs in SINGLE_IMAGE else None)
        self.arch, self.arch_args = net.arch, net.arch_args
        self.axis_desc, self.axes = prepared.axis_desc, cfg.axes
        self.data_shape, self.data_dtype = prepared.data_shape, prepared.data_dtype
        self._val_ref = None
        self._sure_v = None  # the validation patches' noise variance, for SURE
        self.name = (safe_name(cfg.name) if cfg.name
                     else time.strftime(f"n2n_{pairs}_%Y%m%d_%H%M%S"))
        self._start_optimisation(net.module, torch)
        if resume is not None:
            if self.checkpoint is None:
                self.checkpoint = Path(resume)
            self.resume(resume)

    def _start_optimisation(self, module, torch) -> None:
        self.model = module.to(self.device)
        if self.device.type in ("cpu", "cuda"):  # measured: faster in bf16, 2-D and 3-D
            self.model = self.model.to(memory_format=torch.channels_last if self.dims == 2
                                       else torch.channels_last_3d)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr,
                                     weight_decay=self.config.weight_decay)
        self._pw = pointwise_loss(self.loss_kind)
        self.step = 0
        self.best_val = math.inf
        self.best_step = None
        self.best_state = None
        self.last_val_step = None
        self.last_val = None
        self.last_psnr = None
        self.noisy_psnr = None
        self.history: list[dict] = []
        self.seconds = 0.0  # training time over all runs (resumes included)
        self._stop = False
        self.losses: list[float] = []  # the training loss of every step

    # -- checkpoints (:mod:`.n2n_checkpoint`) -------------------------------------------
    def save_checkpoint(self, path=None):
        """Write everything needed to continue (atomic ``torch.save``); returns the path."""
        return save_checkpoint(self, path or self.checkpoint or f"{self.name}.ckpt")

    def resume(self, path) -> None:
        """Continue from a checkpoint of the same data and settings."""
        load_checkpoint(self, path)

    # -- between runs -----------------------------------------------------------------
    def extend(self, steps: int | None = None, minutes: float | None = None) -> None:
        """The budget of the next :meth:`run`: ``minutes`` (None: no time limit). A
        finished schedule goes on for ``steps`` more steps, else is sized to the
        ``minutes`` on the first steps, else goes on for max(100, steps trained) steps;
        an unfinished one runs to its end."""
        if steps is not None and (isinstance(steps, bool) or int(steps) < 1):
            raise ValueError(f"steps must be a positive integer or None, not {steps!r}")
        if minutes is not None and not float(minutes) > 0:
            raise ValueError(f"minutes must be positive or None, not {minutes!r}")
        self.minutes = None if minutes is None else float(minutes)
        if self.total is not None and self.step >= self.total:
            self.total = (self.step + int(steps) if steps else None if minutes
                          else self.step + max(100, self.step))

    def move_to(self, device) -> None:
        """Move the network and the optimiser's state to ``device`` ("cpu" gives GPU
        memory back between runs; ``self.device`` moves them back for the next run)."""
        import torch

        self.model.to(device)
        for state in self.opt.state.values():
            for k, v in list(state.items()):
                if torch.is_tensor(v) and k != "step":
                    state[k] = v.to(device)

    # -- schedule ---------------------------------------------------------------------
    @property
    def warmup(self) -> int:
        return min(50, max(1, (self.total or 500) // 10))

    def lr_at(self, step: int) -> float:
        return warmup_cosine(step, self.lr, self.warmup, self.total, MIN_LR_RATIO)

    @property
    def val_every(self) -> int:
        if self.config.val_every:
            return self.config.val_every
        return int(min(250, max(10, (self.total or 200) // 20)))

    def _tensor(self, a):
        import torch

        t = torch.from_numpy(a).to(self.device, non_blocking=True)
        if t.ndim in (4, 5) and self.device.type in ("cpu", "cuda"):
            t = t.contiguous(memory_format=torch.channels_last if t.ndim == 4
                             else torch.channels_last_3d)
        return t

    def _autocast(self):
        """Training precision (:mod:`..precision`): bf16 on CUDA where supported and on
        CPUs with native bf16; ``amp`` True / False forces it on or off."""
        return autocast(self.device, autocast_dtype(self.device, training=True,
                                                    fp16_fallback=False, enabled=self.amp))

    def _losses(self, b, x, y, amp: bool):
        """(reconstruction loss, total loss) of the batch ``b`` (inputs ``x``, targets
        ``y``), in the training precision (``amp``) or in float32."""
        import contextlib

        import torch

        cast = self._autocast if amp else contextlib.nullcontext
        with cast():
            out = self.model(x)
        out = out.float()
        if self.pairs == "blindspot":
            m = self._tensor(b.mask)
            rec = (self._pw(out - y) * m).sum() / m.sum().clamp_min(1.0)
            total = rec
        elif self.pairs == "subsample":
            rec = self._pw(out - y).mean()
            with torch.no_grad(), cast():
                fy = self.model(self._tensor(b.full)).float()
            idx1 = torch.from_numpy(b.idx1).to(self.device)
            idx2 = torch.from_numpy(b.idx2).to(self.device)
            diff = subsample(fy, idx1) - subsample(fy, idx2)
            reg = self._pw(out - y - diff).mean()
            # gamma ramps up from 0 over the run, as in the authors' code
            ramp = min(1.0, self.step / max(1, self.total or 1000))
            total = rec + self.gamma * ramp * reg
        else:
            rec = self._pw(out - y).mean()
            total = rec
        return rec, total

    def train_step(self) -> float:
        """One optimisation step on a fresh batch; returns the reconstruction loss."""
        import torch

        b = self.sampler.batch(self.batch_size)
        x, y = self._tensor(b.input), self._tensor(b.target)
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(self.step)
        self.model.train()
        rec, total = self._losses(b, x, y, amp=True)
        if not torch.isfinite(total):  # a bf16 kernel overflowed: this batch in float32
            rec, total = self._losses(b, x, y, amp=False)
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        if torch.isfinite(norm):
            self.opt.step()
        else:  # a non-finite gradient would turn every weight into NaN: not applied
            self.opt.zero_grad(set_to_none=True)
        self.step += 1
        value = float(rec.detach())
        if not math.isfinite(value):
            raise DenoiseError(f"training diverged at step {self.step} (loss {value}); "
                                     f"try a lower lr")
        return value

    def request_stop(self) -> None:
        """Ask :meth:`run` to stop after the current step (thread-safe enough: a flag).

        A request made before :meth:`run` starts, or before its first step, ends that
        run at once (no step is trained); each run uses up the request that ended it."""
        self._stop = True

    def _info(self, phase: str, elapsed: float, rate: float | None, budget) -> dict:
        loss = float(np.mean(self.losses[-20:])) if self.losses else None
        eta = None
        if budget is not None:
            eta = max(0.0, budget - elapsed)
        if rate is not None and self.total is not None:
            left = rate * max(0, self.total - self.step)
            eta = left if eta is None else min(eta, left)
        if phase == "done":
            eta = 0.0
        msg = f"step {self.step}/{self.total if self.total is not None else '?'}"
        if loss is not None:
            msg += f", loss {loss:.4g}"
        if self.last_val is not None:
            msg += f", val {self.last_val:.4g}"
        if self.last_psnr is not None:
            msg += f" ({self.last_psnr:.2f} dB)"
        return {"phase": phase, "step": self.step, "total": self.total, "loss": loss,
                "val_loss": self.last_val, "val_psnr": self.last_psnr,
                "best_val_loss": None if self.best_step is None else self.best_val,
                "best_step": self.best_step, "lr": self.lr_at(max(0, self.step - 1)),
                "elapsed": elapsed, "eta": eta, "message": msg, "setup": setup_words(self),
                "setup_reason": self.pairs_reason}

    def run(self, stop=None):
        """Train; a generator that yields a progress dict after every step (and after
        validations) and returns the :class:`TrainedModel` (best validation loss).

        Stops at ``total`` steps, when ``minutes`` are spent, when ``stop()`` returns
        True, after :meth:`request_stop`, or when a true value is sent into it.
        """
        t0 = time.perf_counter()
        budget = None if self.minutes is None else 60.0 * self.minutes
        start_step = self.step
        rate = None
        t_probe = None
        if self.sampler.val_region is not None and self.step == 0 and not self.history:
            self._record_validation(0.0)  # the starting point competes too
        yield self._info("start", time.perf_counter() - t0, rate, budget)
        while True:
            elapsed = time.perf_counter() - t0
            if self.total is not None and self.step >= self.total:
                break
            if budget is not None and elapsed >= budget:
                break
            if self._stop or (stop is not None and stop()):
                break
            self.losses.append(self.train_step())
            now = time.perf_counter()
            done = self.step - start_step
            if done == 1:
                t_probe = now  # the first step pays for allocation and warm-up
            elif done > 1:
                rate = (now - t_probe) / (done - 1)
            if budget is not None and self.config.steps is None and rate is not None:
                self._fit_schedule(done, now - t0, rate, budget)
            phase = "train"
            if (self.sampler.val_region is not None
                    and self.step - (self.last_val_step or 0) >= self.val_every):
                self._record_validation(now - t0)
                phase = "validate"
            if self.checkpoint is not None and (
                    self.step % self.checkpoint_every == 0 if self.checkpoint_every
                    else phase == "validate"):
                self._save_checkpoint_during(t0)
            try:
                sent = yield self._info(phase, time.perf_counter() - t0, rate, budget)
            except GeneratorExit:  # closed by the consumer: keep the time spent
                self.seconds += time.perf_counter() - t0
                self._stop = False
                raise
            if sent:
                self._stop = True
        result = self._finish(t0)
        yield self._info("done", time.perf_counter() - t0, rate, budget)
        return result

    def _finish(self, t0) -> TrainedModel:
        """The end of a run: last validation, time, checkpoint, the result (saved)."""
        self._stop = False  # this run is over: a stop request is used up
        elapsed = time.perf_counter() - t0
        if self.sampler.val_region is not None and self.last_val_step != self.step:
            self._record_validation(elapsed)
        self.seconds += time.perf_counter() - t0
        if self.checkpoint is not None:
            self.save_checkpoint(self.checkpoint)
        result = self.result()
        save = self.config.save
        if save:
            result.save(None if save is True else save)
        return result

    def _fit_schedule(self, done: int, spent: float, rate: float, budget: float) -> None:
        """With a time budget and no step count: after the probe steps and after every
        validation, size the schedule to the time left (validation time included)."""
        if done == PROBE_STEPS or (self.last_val_step == self.step - 1 and done > PROBE_STEPS):
            avg = spent / done
            self.total = self.step + max(1, int((budget - spent) / max(avg, rate)))

    def _save_checkpoint_during(self, t0):
        spent = time.perf_counter() - t0
        self.seconds += spent
        try:
            self.save_checkpoint(self.checkpoint)
        finally:
            self.seconds -= spent

    def best_so_far(self) -> TrainedModel:
        """After an interruption (a closed :meth:`run`, Ctrl-C): validate the current
        weights if they have not been, so that they compete, then :meth:`result`."""
        if (self.sampler.val_region is not None and self.step > 0
                and self.last_val_step != self.step):
            self._record_validation(0.0)
        return self.result()

    def result(self) -> TrainedModel:
        """The best model so far (lowest validation loss; the current one without
        validation), as a :class:`TrainedModel` on the CPU in eval mode."""
        from ..registry import create_arch

        module = create_arch(self.arch, **self.arch_args)
        state = self.best_state if self.best_state is not None else {
            k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        module.load_state_dict(state)
        module = module.float().eval()
        card = model_card(self, module)
        return TrainedModel(module=module, card=card,
                            history=[dict(h) for h in self.history])
