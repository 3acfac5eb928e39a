"""The noise plan: from what the user gave (a sigma, "auto", a map, a fitted model) and
the noise model, what the denoiser is told and how its result comes back.

- Gaussian: one sigma, normalised to the range the networks see.
- Poisson-Gaussian: a per-pixel map ``sqrt(a * signal + b)`` for models that take
  one; for the others the Generalized Anscombe Transform before and its exact
  unbiased inverse after (the denoiser then sees unit-variance noise).
- Rician (magnitude MRI): one sigma, and the result is bias-corrected.
- A user map: per pixel, as given.

:func:`plan_noise` is a generator (it yields one :class:`Progress` before a noise
estimate, which can take a moment) returning a :class:`NoisePlan`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .axes import to_canonical
from .errors import DenoiseError
from .limits import check_sigma
from .normalise import sample_planes
from .progress import Progress

NOISE_MODELS = ("auto", "gaussian", "poisson-gaussian", "rician")

#: The network model="auto" takes for Poisson-Gaussian (camera, microscope) noise.
POISSON_MODEL = "drunet_microscopy"


@dataclass
class NoisePlan:
    kind: str = "none"          # gaussian, poisson-gaussian, rician, map, none
    strength: float = 1.0
    estimated: bool = False
    sigma: float | None = None  # data units, strength applied (gaussian, rician)
    rician_sigma: float | None = None  # data units, no strength: the bias correction's
    sigma_norm: float | None = None  # what the denoiser is told, normalised
    sigma_map_c: Any = None     # a user map, canonical (T, Z, C, Y, X) view, strength applied
    est: Any = None             # NoiseEstimate of a Poisson-Gaussian model
    vst: Any = None             # the GAT, for denoisers that take no map
    net_lo: float = 0.0         # the values that map to 0 and 1 for the denoiser
    net_scale: float = 1.0
    text: str | None = None     # the noise level in words
    noise_text: str = ""        # the noise model in words
    den: Any = None             # the denoiser (a model switch may happen here)

    # -- per unit of work -------------------------------------------------------------
    def unit_map(self, src, t, z, g, nd, scale, unit_axes):
        """The normalised per-pixel map for one unit ``src`` (c, *spatial), or None."""
        if self.sigma_map_c is not None:
            sm = self.sigma_map_c[t, :, g.start] if nd == 3 else self.sigma_map_c[t, z, g.start]
            return (np.asarray(sm, np.float32) / np.float32(scale))[None]
        if self.est is not None and self.vst is None:
            m = self.est.sigma_map(src.mean(0, keepdims=True, dtype=np.float64), axes=unit_axes,
                                   strength=self.strength)
            return m / np.float32(scale)
        return None

    def post(self, res):
        """Data units -> data units after the denoiser: the GAT's inverse, or the Rician
        bias correction."""
        if self.vst is not None:
            return self.vst.inverse(res).astype(np.float32)
        if self.kind == "rician" and self.rician_sigma:
            from .rician import rician_bias_correct

            return rician_bias_correct(res, self.rician_sigma).astype(np.float32)
        return res

    def noise_std(self, raw, smap_u, scale, unit_axes):
        """The noise std (data units) of a unit as estimated or mapped, before ``strength``
        (what the residual check compares with); None when only a number the user gave
        is known: the check then estimates it itself."""
        s = self.strength
        if not (self.estimated or self.sigma_map_c is not None):
            return None
        if self.kind == "rician":
            return self.rician_sigma
        if smap_u is not None:
            return smap_u * np.float32(scale / s)
        if self.vst is not None:
            return self.est.sigma_map(raw.mean(0, keepdims=True, dtype=np.float64),
                                      axes=unit_axes)
        if self.sigma_norm:
            return self.sigma_norm * scale / s
        return None

    def warnings(self, scale, view):
        """Noise levels outside the model's trained range (a warning) or beyond any sense
        (a DenoiseError)."""
        den = self.den
        if not den.needs_sigma or scale <= 0 or self.vst is not None:
            return []
        level = self.sigma_norm
        if self.sigma_map_c is not None:
            level = float(np.median(np.asarray(self.sigma_map_c[0, 0, 0]))) / scale
        elif self.est is not None:
            mid = float(np.median(view[0, 0, 0])) if view is not None else self.est.b
            level = float(self.est.sigma_map(np.array([[mid]]), strength=self.strength)
                          .ravel()[0]) / scale
        what = "the noise map's typical level" if self.sigma_map_c is not None else "sigma"
        return check_sigma(level, den.name, den.card, scale, what=what)


def check_strength(strength) -> float:
    try:
        strength = float(strength)
    except (TypeError, ValueError):
        raise DenoiseError(f"strength must be a positive number, not {strength!r}") from None
    if not (math.isfinite(strength) and strength > 0):
        raise DenoiseError(f"strength must be a positive number, not {strength}")
    return strength


def check_noise_model(noise) -> str:
    noise = (noise or "auto").lower().replace("_", "-") if isinstance(noise, str) else noise
    if noise not in NOISE_MODELS:
        raise DenoiseError(f"noise must be one of {', '.join(NOISE_MODELS)}, not {noise!r}")
    return noise


def _from_user(plan: NoisePlan, sigma, noise, shape, axes):
    """Take what the user gave as ``sigma``; returns the sigma still to resolve."""
    from .noise import NoiseEstimate
    from .rician import RicianEstimate

    if isinstance(sigma, NoiseEstimate):
        plan.estimated = True
        if sigma.model == "poisson-gaussian":
            plan.est = sigma
            return None
        return float(sigma.sigma)
    if isinstance(sigma, RicianEstimate):  # from estimate_noise(model="rician")
        plan.estimated = True
        return float(sigma.sigma)
    if isinstance(sigma, str):
        if sigma.lower() == "auto":
            return "auto"
        try:
            return float(sigma)
        except ValueError:
            raise DenoiseError(f"sigma must be a number, 'auto' or an array, not {sigma!r}") \
                from None
    if sigma is not None and not np.isscalar(sigma):
        smap = np.asarray(sigma, dtype=np.float32)
        if smap.shape != shape:
            raise DenoiseError(f"noise map shape {smap.shape} differs from the image's {shape}")
        if not np.all(np.isfinite(smap)) or smap.min() < 0:
            raise DenoiseError("the noise map must be finite and non-negative")
        if plan.strength != 1.0:
            smap = smap * np.float32(plan.strength)
        plan.sigma_map_c = to_canonical(smap, axes)
        plan.kind, plan.noise_text = "map", "user map"
        plan.text = f"per-pixel map (mean {float(smap.mean()):.4g})"
        return None
    return sigma


def estimate_for_run(image, axes: str, noise: str):
    """The noise estimate a run with ``sigma="auto"`` makes of ``image`` (read with
    ``axes``) for the noise model ``noise``: a :class:`~.noise.NoiseEstimate` (Gaussian
    or Poisson-Gaussian, decided here for ``"auto"``) or, for ``"rician"``, a
    :class:`~.rician_estimate.RicianEstimate`. All of a numpy image, a few planes of lazy
    data. The engine and the Denoise panel's "Noise level: auto" line both call this,
    so the panel shows the decision the run takes."""
    noise = check_noise_model(noise)
    sample = image if isinstance(image, np.ndarray) else sample_planes(image, axes)
    if noise == "rician":
        from .rician import estimate_rician_sigma

        return estimate_rician_sigma(sample, axes=axes)
    from .noise import estimate_noise

    try:
        return estimate_noise(sample, axes=axes, model=noise)
    except ValueError as exc:
        raise DenoiseError(str(exc)) from None


def estimate_words(est) -> str:
    """A noise estimate of :func:`estimate_for_run` as the panel says it."""
    from .noise import NoiseEstimate

    if not isinstance(est, NoiseEstimate):  # Rician
        return f"Estimated noise: Rician (magnitude MRI), sigma {float(est.sigma):.4g} " \
               f"from the background, the same everywhere"
    if est.model == "poisson-gaussian":
        text = f"Estimated noise grows with brightness ({variance_words(est)}): a " \
               f"per-pixel noise level is used"
    else:
        text = f"Estimated noise: sigma {est.sigma:.4g} (data units), the same everywhere"
    msg = est.message
    return text + (f". {msg[:1].upper()}{msg[1:]}" if msg else "")


def _estimate(plan: NoisePlan, image, axes, noise, switch_model):
    """Estimate the noise of ``image`` with the model ``noise``; fills ``plan``."""
    plan.estimated = True
    e = estimate_for_run(image, axes, noise)
    if noise == "rician":
        plan.noise_text = f"Rician, sigma {float(e.sigma):.4g} from the background" + \
            (f" ({e.message})" if e.message else "")
        return float(e.sigma)
    if noise != "gaussian":
        plan.noise_text = str(e)
    if e.model == "poisson-gaussian":
        plan.est = e
        if switch_model:
            plan.den = switch_model(plan.den)
        return None
    if plan.den.needs_sigma:
        plan.text = f"{float(e.sigma):.4g} (estimated)"
        return float(e.sigma)
    return None


def variance_words(est) -> str:
    """``variance = a * signal + b`` for people: a read-noise term at or below zero (an
    offset the fit cannot separate) is said, not printed as a negative variance."""
    if est.b > 0:
        return f"variance = {est.a:.4g} * signal + {est.b:.4g}"
    return f"variance = {est.a:.4g} * signal, read noise too small to measure"


def model_domain(den) -> str | None:
    """The noise domain a network's card says it was trained in: "raw" (the data's own
    intensities: this project's self-supervised models record it; older ones without
    the key are self-supervised on raw data too), "gat" (with ``noise_transform``), or
    None (no domain of its own: the noise model decides)."""
    card = den.card or {}
    domain = card.get("noise_domain") or (card.get("training") or {}).get("noise_domain")
    if domain:
        return str(domain).lower()
    if den.kind == "network" and card.get("noise_model") == "self-supervised":
        return "raw"
    return None


def trained_on_raw(den) -> bool:
    """True for networks trained on raw intensities with their own noise."""
    return model_domain(den) == "raw"


def _card_gat(plan: NoisePlan) -> bool:
    """A model trained in the GAT domain runs in it, with the transform of its card,
    whatever the noise model or estimate: returns True when it set the plan up so."""
    den = plan.den
    if model_domain(den) != "gat":
        return False
    from .noise import NoiseEstimate
    from .vst import GAT

    t = (den.card or {}).get("noise_transform") or {}
    try:
        plan.vst = GAT(float(t["a"]), float(t["b"]))
    except (KeyError, TypeError, ValueError):
        raise DenoiseError(f"{den.name}'s card says it was trained in the Anscombe domain "
                           f"but gives no valid transform (noise_transform: {t!r})") from None
    own = NoiseEstimate.poisson_gaussian(plan.vst.a, plan.vst.b)
    plan.est = plan.est or own
    plan.kind = "poisson-gaussian"
    words = variance_words(own)
    plan.text = (f"{den.name} was trained in the Anscombe domain ({words}, from its "
                 f"training data): runs there and is transformed back")
    plan.noise_text = plan.noise_text or plan.text
    return True


def _finish(plan: NoisePlan, sigma, noise, lo, hi):
    """Normalise the level for the denoiser and set up the GAT route."""
    scale = hi - lo
    den, s = plan.den, plan.strength
    if noise == "rician" and sigma is not None and plan.sigma_map_c is None:
        plan.kind, plan.rician_sigma = "rician", float(sigma)
        plan.noise_text = plan.noise_text or f"Rician, sigma {float(sigma):.4g}"
    if _card_gat(plan):
        pass
    elif plan.est is not None:
        est = plan.est
        if est.gain <= 0:
            raise DenoiseError("a Poisson-Gaussian noise model needs a positive gain")
        plan.kind = "poisson-gaussian"
        plan.noise_text = plan.noise_text or str(est)
        if den.takes_map:
            plan.text = f"noise grows with brightness: per-pixel level, {variance_words(est)}" + \
                (f", strength {s:g}" if s != 1.0 else "")
        elif trained_on_raw(den):
            # self-trained on the user's own raw intensities: it learnt this noise as it is;
            # the Anscombe transform would show it data unlike what it was trained on
            plan.text = (f"noise grows with brightness ({variance_words(est)}); {den.name} "
                         f"was trained on raw intensities and runs on them")
        else:
            from .vst import GAT

            plan.vst = GAT(est.a, est.b)
            plan.text = (f"noise grows with brightness ({variance_words(est)}): evened out "
                         f"by the Anscombe transform for {den.name}, then transformed back")
    elif plan.sigma_map_c is None and sigma is not None:
        sigma = float(sigma)
        if not math.isfinite(sigma) or sigma < 0:
            raise DenoiseError(f"sigma must be a finite non-negative number, not {sigma}")
        plan.sigma = sigma * s
        plan.sigma_norm = plan.sigma / scale if scale > 0 else 0.0
        if plan.kind == "none":
            plan.kind = "gaussian"
        if plan.text is None:
            plan.text = f"{plan.sigma:.4g}" + ("" if den.needs_sigma else " (ignored: blind model)")
    if plan.text is None and plan.kind == "none" and plan.estimated:
        plan.text = "not needed (blind model)"
    plan.net_lo, plan.net_scale = lo, scale
    if plan.vst is not None and scale > 0:  # the networks see the stabilised range
        f_lo, f_hi = (float(v) for v in plan.vst.forward(np.array([lo, hi])))
        plan.net_lo, plan.net_scale = f_lo, max(f_hi - f_lo, 1e-12)
        plan.sigma_norm = s / plan.net_scale
    plan.noise_text = plan.noise_text or ("gaussian" if plan.kind in ("gaussian", "map")
                                          else "not estimated (blind model)")


def plan_noise(image, axes, den, *, sigma, noise, strength, lo, hi, switch_model=None,
               t_start=None):
    """Generator: yields a Progress before estimating; returns the :class:`NoisePlan`.

    ``switch_model(den)``: called when Poisson-Gaussian noise is found or given (a
    fitted :class:`NoiseEstimate` as ``sigma``), returns the denoiser to use instead
    (the automatic model choice). Given the stack's fit, ``model="auto"`` used to keep
    the natural-image network: 0.26 / 0.44 dB below the microscopy one on two W2S
    fields (benchmarks/n2n_peers.py, "pretrained+map")."""
    plan = NoisePlan(strength=check_strength(strength), den=den)
    noise = check_noise_model(noise)
    sigma = _from_user(plan, sigma, noise, tuple(image.shape), axes)
    if plan.est is not None and switch_model:  # a Poisson-Gaussian fit the caller made:
        plan.den = switch_model(plan.den)      # the same model as for one made here
    if sigma is None and plan.est is None and plan.sigma_map_c is None and \
            (den.needs_sigma or noise != "gaussian"):
        sigma = "auto"
    if sigma == "auto":
        t0 = t_start if t_start is not None else time.perf_counter()
        yield Progress(0, 1, "estimating the noise", time.perf_counter() - t0)
        sigma = _estimate(plan, image, axes, noise, switch_model)
    _finish(plan, sigma, noise, lo, hi)
    return plan
