"""Choose a method and strength on the user's own image, without a clean image.

:func:`tune` scores every (method, strength) pair with the self-supervised error of
:mod:`.score` on the same crop, with one noise estimate shared by all, and ranks them.
``denoise(..., tune=True)`` and ``napari-denoise denoise --tune`` use it to pick the
strength of the chosen model before the full run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .progress import Progress, run_to_end
from .score import Score, plane_noise, representative_plane, score

#: strengths tried by default: the noise level the estimate gives, times these
DEFAULT_STRENGTHS = (0.6, 0.8, 1.0, 1.25, 1.6)


@dataclass
class Tuned:
    """Every scored (method, strength), best (lowest self-supervised error) first."""

    scores: list[Score]

    @property
    def best(self) -> Score:
        return self.scores[0]

    def table(self) -> str:
        """A plain-text table: method, strength, the self-supervised error (and in dB
        against the best), and how much was removed against the noise level."""
        best = self.best.loss
        rows = ["method             strength  self-supervised error  vs best  removed"]
        for s in self.scores:
            flag = "image structure" if s.residual.structure else \
                f"{np.sqrt(s.residual.variance_ratio):.2f}x the noise"
            rel = f"{100 * (s.loss / best - 1):+.1f}%" if best > 0 else "-"
            rows.append(f"{s.model:<18} {s.strength:8.2f}  {s.loss:21.4g}  {rel:>7}  {flag}")
        return "\n".join(rows)


def _check_strengths(strengths) -> list[float]:
    try:
        out = [float(s) for s in strengths]
    except (TypeError, ValueError):
        raise ValueError(f"strengths must be numbers, not {strengths!r}") from None
    if not out or not all(np.isfinite(s) and s > 0 for s in out):
        raise ValueError(f"strengths must be positive numbers, not {strengths!r}")
    return out


def tune(image, models=("auto",), strengths=DEFAULT_STRENGTHS, *, progress=None,
         **kwargs) -> Tuned:
    """Rank ``models`` x ``strengths`` on ``image`` by the self-supervised error.

    ``progress(p)`` gets a :class:`Progress` before each pair; returning False cancels
    (:class:`Cancelled`). Keywords: see :func:`tune_iter`."""
    return run_to_end(tune_iter(image, models, strengths, **kwargs), progress)


def tune_iter(image, models=("auto",), strengths=DEFAULT_STRENGTHS, *, sigma=None,
              noise: str = "auto", axes: str | None = None, crop: int | None = 256,
              **kwargs):
    """Generator form of :func:`tune`: yields :class:`Progress`, returns :class:`Tuned`.
    ``sigma``: a number or a :class:`NoiseEstimate` shared by every run (estimated once
    when omitted); ``crop``: the side of the central part scored; other keywords go to
    :func:`.score.score` and the denoiser."""
    import time

    if isinstance(models, str):
        models = [models]
    models = list(models)
    if not models:
        raise ValueError("give at least one method to tune")
    strengths = _check_strengths(strengths)
    plane, keep = representative_plane(image, axes, crop)
    sigma = plane_noise(plane, sigma, noise)  # once, shared by every pair
    if np.ndim(sigma) > 0 and not hasattr(sigma, "variance"):
        raise ValueError("tuning needs one noise level or a fitted noise model, not a "
                         "per-pixel map: with a painted map, set the strength by hand")
    pairs = [(m, s) for m in models for s in strengths]
    scores = []
    t0 = time.perf_counter()
    for i, (m, s) in enumerate(pairs):
        yield Progress(i, len(pairs), f"scoring {m} at strength {s:g}",
                       time.perf_counter() - t0)
        scores.append(score(plane, m, strength=s, sigma=sigma, noise=noise, axes=keep,
                            crop=None, **kwargs))
    yield Progress(len(pairs), len(pairs), "scored", time.perf_counter() - t0)
    return Tuned(sorted(scores, key=lambda sc: sc.loss))


def tuned_strength(image, model, sigma, axes, strengths, kwargs):
    """Generator for the engine: the best of ``strengths`` (True: the defaults) for
    ``model`` on ``image``, and a note saying how it was chosen."""
    strengths = DEFAULT_STRENGTHS if strengths is True else strengths
    # scored on one plane: the mode (2-D / 3-D) is not passed on
    keep = {k: kwargs[k] for k in ("noise", "device", "precision", "colour_space",
                                   "data_range", "backend") if k in kwargs}
    tuned = yield from tune_iter(image, [model], strengths, sigma=sigma, axes=axes, **keep)
    tried = ", ".join(f"{s.strength:g}" for s in sorted(tuned.scores, key=lambda s: s.strength))
    return tuned.best.strength, (f"strength {tuned.best.strength:g} chosen on this image by the "
                                 f"self-supervised error (tried {tried})")


#: What ``model="auto", auto="tuned"`` ranks: the automatic network and the strongest
#: classical method, each at the strengths tried.
TUNED_MODELS = ("auto", "bm3d")
AUTO_CHOICES = ("tuned",)


def check_auto(auto, model) -> None:
    """``auto`` must be "tuned" (or None), and only with the automatic model."""
    if auto is None:
        return
    if not isinstance(auto, str) or auto.lower() not in AUTO_CHOICES:
        raise ValueError(f"auto must be 'tuned' or None, not {auto!r}")
    if not (model is None or (isinstance(model, str) and model.lower() == "auto")):
        raise ValueError(f"auto='tuned' chooses the method itself: use it with model='auto', "
                         f"not {model!r} (for one model's strength: tune=True)")


def tuned_choice(image, sigma, axes, strengths, kwargs):
    """Generator for the engine: the best (method, strength) of :data:`TUNED_MODELS` x
    ``strengths`` (True / False: the defaults) on ``image``, and a note saying so."""
    strengths = DEFAULT_STRENGTHS if strengths in (True, False, None) else strengths
    keep = {k: kwargs[k] for k in ("noise", "device", "precision", "colour_space",
                                   "data_range", "backend") if k in kwargs}
    tuned = yield from tune_iter(image, list(TUNED_MODELS), strengths, sigma=sigma, axes=axes,
                                 **keep)
    best = tuned.best
    runner_up = next((s for s in tuned.scores if s.model != best.model), None)
    vs = (f"; best {runner_up.model} {100 * (runner_up.loss / best.loss - 1):+.1f}% error"
          if runner_up is not None and best.loss > 0 else "")
    return best.model, best.strength, (
        f"{best.model} at strength {best.strength:g} chosen on this image by the "
        f"self-supervised error among {', '.join(TUNED_MODELS)}{vs}")
