"""Validation of a self-supervised training (:class:`Validation`, a part of
:class:`.n2n_trainer.Noise2NoiseTrainer`): the fixed validation patches scored after
every ``val_every`` steps, and the best weights kept.

Stack strategies score the output against an independent capture (an unbiased target);
single-image ones (blind spot, sub-sampling) by SURE of the unmasked output
(:mod:`.sure`), their own masked loss kept for display.
"""

from __future__ import annotations

import numpy as np

from .metrics import psnr
from .sure import mc_sure, variance_map


class Validation:
    """Needs the trainer's ``model``, ``sampler``, ``device``, ``batch_size``, ``pairs``,
    ``_pw``, ``_tensor``, ``_autocast``, ``sure_noise``, ``reference`` and the
    bookkeeping fields set by ``_start_optimisation``."""

    def _forward_chunks(self, a, exact: bool = False):
        """The network on the patches ``a`` in eval mode (in chunks of a batch);
        ``exact``: in float32 also on CUDA (finite differences need it)."""
        import torch

        outs = []
        with torch.inference_mode():
            for i in range(0, a.shape[0], self.batch_size):
                x = self._tensor(np.ascontiguousarray(a[i:i + self.batch_size]))
                if self.device.type == "cuda" and not exact:  # as the inference engine
                    with self._autocast():
                        y = self.model(x)
                else:
                    y = self.model(x)
                outs.append(y.float().cpu().numpy())
        return np.concatenate(outs)

    def validate(self) -> tuple[float | None, float | None]:
        """(validation loss, validation PSNR in dB or None) of the current model; for
        single-image strategies with a noise model the loss is SURE's estimate of the
        output's mean squared error (:mod:`.sure`), the masked loss is kept in
        ``self.last_masked``."""
        import torch

        vb = self.sampler.val_batch()
        if vb is None:
            return None, None
        self.model.eval()
        out = torch.from_numpy(self._forward_chunks(vb.input))
        d = out - torch.from_numpy(vb.target)
        if self.pairs == "blindspot":
            m = torch.from_numpy(vb.mask)
            val = float((self._pw(d) * m).sum() / m.sum().clamp_min(1.0))
        else:
            val = float(self._pw(d).mean())
        self.last_masked = val
        den = None  # the output on the noisy patches, run once for SURE and the PSNR
        if self.sure_noise is not None:
            if self._sure_v is None:
                self._sure_v = variance_map(vb.noisy, self.sure_noise)
            den = self._forward_chunks(vb.noisy, exact=True)
            val = mc_sure(lambda a: self._forward_chunks(a, exact=True), vb.noisy,
                          self._sure_v, seed=self.seed, out=den)
        score = None
        if self.reference is not None:
            if self._val_ref is None:
                self._val_ref = self.sampler.reference_patches(self.reference, vb)
                self.noisy_psnr = psnr(vb.noisy, self._val_ref)
            if den is None or self.device.type == "cuda":  # CUDA scores as it infers
                den = self._forward_chunks(vb.noisy)
            score = psnr(den, self._val_ref)
        return val, score

    def _record_validation(self, elapsed: float) -> None:
        val, score = self.validate()
        self.last_val_step = self.step
        if val is None:
            return
        self.last_val, self.last_psnr = val, score
        n = len(self.losses)
        entry = {"step": self.step,
                 "loss": float(np.mean(self.losses[-self.val_every:])) if n else None,
                 "val_loss": val, "val_psnr": score,
                 **({"val_masked": self.last_masked} if self.sure_noise is not None
                    else {}),
                 "lr": self.lr_at(max(0, self.step - 1)),
                 "elapsed": round(self.seconds + elapsed, 3)}
        self.history.append(entry)
        if val < self.best_val:
            self.best_val, self.best_step = val, self.step
            self.best_state = {k: v.detach().to("cpu", copy=True)
                               for k, v in self.model.state_dict().items()}
