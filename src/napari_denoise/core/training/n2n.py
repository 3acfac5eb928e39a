"""Self-supervised training on the user's own noisy data: no clean images needed.

>>> from napari_denoise import denoise, train_noise2noise
>>> trained = train_noise2noise(stack, minutes=5)      # neighbouring frames as pairs
>>> clean = denoise(stack, model=trained)
>>> trained.save()                                    # user models folder, as trained.name
>>> clean = denoise(other_stack, model=trained.name)

Pairs (``pairs=``), from :mod:`.pairs`:

``"neighbors"``  (default) frame i and a neighbouring frame along ``axis`` of a stack
                 (Noise2Noise; the signal must be the same in both)
``"others"``     frame i against the mean of the other frames of a still stack
``"two"``        two captures of the same scene (automatic when ``target=`` is given)
``"subsample"``  Neighbor2Neighbor on single images (two sub-images of the 2x2 cells,
                 with its regulariser)
``"blindspot"``  Noise2Void on single images (masked pixels predicted from their
                 surroundings)

The data are scaled to [0, 1] by their range (robust percentiles, or the dtype's
range for uint8 and [0, 1] floats, the rule of
:func:`..normalise.estimate_range`), which the inference engine applies again at
denoise time, so a trained model's output comes back in the data's units.

Training: AdamW, linear warm-up then cosine decay over ``steps`` (or over the steps
that fit in ``minutes``, measured on the first steps), bf16 autocast on CUDA and on
CPUs with native bf16 (AMX / AVX512-BF16). A held-apart part of the data (see
:class:`.pairs.PairSampler`) gives a validation loss every ``val_every`` steps
(plus a PSNR when clean ``reference`` data are given); the model with the lowest
validation loss is kept. Checkpoints (``checkpoint=``, ``torch.save``, loaded
with ``weights_only=True``) let training continue exactly where it stopped
(``resume=``).

The generator form :func:`train_noise2noise_iter` (or
:meth:`Noise2NoiseTrainer.run`) yields a progress dict after every step and
returns the :class:`TrainedModel`; a napari worker drives it and, when the user
aborts (the generator is closed), asks the trainer for the best model so far
(:meth:`Noise2NoiseTrainer.best_so_far`).

The settings are one :class:`Noise2NoiseConfig` (:mod:`.n2n_config`); the trainer,
``train_noise2noise`` and ``train_noise2noise_iter`` take it, or its fields as keywords.
Layout: :mod:`.n2n_config` (settings), :mod:`.n2n_setup` (data, network, loss),
:mod:`.n2n_checkpoint`, :mod:`.n2n_model` (the result and its card),
:mod:`.n2n_trainer` (the training loop), this module (the public functions).
"""

from __future__ import annotations

from .n2n_config import LOSSES, Noise2NoiseConfig  # noqa: F401 - public names
from .n2n_model import LIMITATIONS, TrainedModel  # noqa: F401 - public names
from .n2n_trainer import Noise2NoiseTrainer

__all__ = ["Noise2NoiseConfig", "Noise2NoiseTrainer", "TrainedModel", "train_noise2noise",
           "train_noise2noise_iter"]


# -- public functions --------------------------------------------------------------------------

def train_noise2noise_iter(data, config: Noise2NoiseConfig | None = None, *, stop=None,
                           **options):
    """Generator form of :func:`train_noise2noise` (same options): yields a progress dict
    after every step, returns the :class:`TrainedModel`. Send it a true value, or make
    ``stop()`` return True, to end early with the best model so far."""
    trainer = Noise2NoiseTrainer(data, config, **options)
    return (yield from trainer.run(stop=stop))


def train_noise2noise(data, config: Noise2NoiseConfig | None = None, *, target=None,
                      reference=None, progress=None, stop=None, resume=None,
                      **options) -> TrainedModel:
    """Train a denoiser on noisy data alone and return it as a :class:`TrainedModel`.

    data : the noisy data, spatial axes last (``(T, Y, X)``, ``(Z, Y, X)``, ``(Y, X)``,
        ``(T, Z, Y, X)`` for ``dims=3`` ...) unless ``axes`` says otherwise.
    config : a :class:`Noise2NoiseConfig`; ``**options`` are its fields as keywords
        (replacing the config's), the main ones:

        pairs : "neighbors" (frames along ``axis``; ``distance=1`` adjacent ones,
            ``distance="any"`` every two frames of a still sample; the default), "others"
            (a still stack of independent captures: each frame against the mean of the
            other frames), "two" (with ``target``; its default), "subsample"
            (Neighbor2Neighbor) or "blindspot" (Noise2Void) for single images, or "auto"
            (chosen from the data by :func:`.strategy.choose_pairs`: "two" with a
            target, "others" for a still stack, else "blindspot").
        axis, axes : the stack axis (default 0; with ``axes``, T, else Z) and the
            axes of ``data`` ("TYX", "ZYX", "TZYX", "YXC"): spatial ones go last.
        model, arch_args : "unet" or "dncnn", a blind architecture trained from scratch,
            and its arguments (U-Net: features 32, levels 3; the architecture when
            ``init`` finds nothing to fine-tune).
        init : "auto" (default): fine-tune the shipped network for the data's noise
            (``drunet_microscopy`` for camera noise that grows with brightness,
            ``drunet_gray`` otherwise; its noise map is computed from a noise model fitted
            on the data) when the training is 2-D and ``model``/``arch_args`` are not
            given; a model name, path or TrainedModel to fine-tune; None: from scratch.
            Fine-tuning defaults: ``lr`` 2e-4 and 400 steps.
        steps, minutes : total steps (default 2000); a time limit; with ``minutes``
            alone the cosine schedule is sized to the steps that fit, measured on the
            first steps (so not reproducible across machines).
        patch, batch, lr, loss : crop side (default 64, 32 in 3-D; subsample: the
            full-resolution crop),
            patches per step, peak learning rate (AdamW; warm-up then cosine decay),
            "l2" (default), "l1" or "charbonnier".
        dims, device, seed : 2 or 3; "auto", "cpu", "cuda[:N]", "mps"; random seed.
        voxel_size : 3-D: the (Z, Y, X) voxel size (any one unit, e.g. a layer's
            ``scale``): patches as deep in that unit as wide, thick slices pooled
            in-plane first by the U-Net (default: cubic voxels).
        val_fraction : share held apart for validation (0: none; the last model).
        name, save : the model's name (default ``n2n_<pairs>_<date>_<time>``); True
            (the user models folder) or a path to save the result.
        checkpoint : write the training state there at every validation and at the end.
        domain : "raw" (default) or "gat": train on the Anscombe transform of a
            Poisson-Gaussian fit of the data; the card records it, and denoising always
            applies the model in that domain.
        Further: ``distance``, ``val_every``, ``val_patches``, ``gamma``,
        ``mask_fraction``, ``weight_decay``, ``amp``, ``augment``,
        ``checkpoint_every``, ``swap_captures`` (see :class:`Noise2NoiseConfig`).
    target : a second capture of the same scene, same shape: ``pairs="two"``.
    reference : clean data (the data's shape, or one image broadcast to it): adds the
        validation PSNR in dB (relative to the data range).
    progress : called with a dict after every step (phase, step, total, loss, val_loss,
        val_psnr, best_val_loss, best_step, lr, elapsed, eta, message); returning
        False stops the training (like ``stop``).
    stop : checked before every step; True ends training with the best model so far.
    resume : continue from a checkpoint (then also the default ``checkpoint``).
    """
    gen = train_noise2noise_iter(data, config, stop=stop, target=target, reference=reference,
                                 resume=resume, **options)
    try:
        info = next(gen)
        while True:
            ask_stop = progress is not None and progress(info) is False
            info = gen.send(True if ask_stop else None)
    except StopIteration as done:
        return done.value
