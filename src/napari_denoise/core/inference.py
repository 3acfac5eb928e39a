"""The inference engine: a generator that yields progress per tile and returns the result.

``denoise_iter(...)`` does the work; iterate it to drive it (a napari worker
does), close it to cancel (takes effect at the next tile). ``denoise(...)`` in
the public API simply runs it to the end.

Data flow: array -> axes (T, Z, C, Y, X view) -> normalisation to [0, 1] by the
data range -> per plane or volume, per channel group: tiles -> denoiser ->
blended accumulation -> back to the input's range and dtype.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from .axes import AxesError, guess_axes, normalize_axes, to_canonical, yx_ordered
from .errors import DenoiseError
from .guard import ResidualGuard
from .models import DEFAULT_MODEL, Denoiser, resolve_denoiser
from .limits import alias_note, check_sigma
from .normalise import (check_finite, estimate_range, output_bounds, sample_planes,  # noqa: F401
                        sample_values, to_dtype)
from .tiling import TilePlan, auto_tile, default_overlap, is_oom, release  # noqa: F401

MIN_SIDE = 4


class Cancelled(Exception):
    """Raised by :func:`run_to_end` when the progress callback asks to stop."""


@dataclass
class Progress:
    done: int
    total: int
    message: str = ""
    elapsed: float = 0.0

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def eta(self) -> float | None:
        if not self.done or not self.total:
            return None
        return self.elapsed * (self.total - self.done) / self.done


@dataclass
class DenoiseResult:
    image: np.ndarray
    info: dict = field(default_factory=dict)


# -- input checks and normalisation -----------------------------------------

def check_image(image):
    if not hasattr(image, "shape") or not hasattr(image, "dtype"):
        image = np.asarray(image)
    dt = np.dtype(image.dtype)
    if dt.kind not in "uif":
        raise DenoiseError(f"unsupported data type {dt}: use an integer or floating-point image")
    if int(np.prod(image.shape)) == 0:
        raise DenoiseError(f"the image is empty (shape {tuple(image.shape)})")
    if image.ndim < 2:
        raise DenoiseError(f"need at least a 2-D image, got shape {tuple(image.shape)}")
    return image


# -- the engine ----------------------------------------------------------------

NOISE_MODELS = ("auto", "gaussian", "poisson-gaussian", "rician")


def denoise_iter(image, model="auto", *, sigma=None, axes=None, **kwargs):
    """Generator: yields :class:`Progress` per tile, returns a :class:`DenoiseResult`.

    See :func:`napari_denoise.denoise` for the parameters. Data stored X before Y
    (``axes="XY"``) are denoised as a transposed view and come back in their order.
    """
    image = check_image(image)
    shape = tuple(image.shape)
    if axes is None:
        axes = guess_axes(shape)
    try:
        axes = normalize_axes(axes, image.ndim)
    except AxesError as exc:
        raise DenoiseError(f"{exc} (shape {shape})") from None
    yx_axes, perm = yx_ordered(axes)
    if perm is None:
        return (yield from _denoise_iter(image, model, sigma=sigma, axes=axes, **kwargs))
    if sigma is not None and not np.isscalar(sigma) and hasattr(sigma, "shape"):
        if tuple(sigma.shape) != shape:
            raise DenoiseError(f"noise map shape {tuple(sigma.shape)} differs from the "
                               f"image's {shape}")
        sigma = sigma.transpose(perm)
    res = yield from _denoise_iter(image.transpose(perm), model, sigma=sigma, axes=yx_axes,
                                   **kwargs)
    res.image = np.ascontiguousarray(res.image.transpose(perm))
    res.info["axes"] = axes
    return res


def _denoise_iter(image, model="auto", *, sigma=None, axes=None, mode="auto", device="auto",
                  tile=None, overlap=None, data_range=None, noise="auto", strength=1.0,
                  destripe=False):
    t_start = time.perf_counter()
    shape = tuple(image.shape)
    sp2 = [shape[axes.index(a)] for a in "YX"]
    if min(sp2) < MIN_SIDE:
        raise DenoiseError(f"image too small to denoise: {sp2[0]}x{sp2[1]} pixels "
                           f"(at least {MIN_SIDE}x{MIN_SIDE}); check the axes ({axes})")

    auto_model = model is None or (isinstance(model, str) and model.lower() == "auto")
    try:
        den = resolve_denoiser(model, device)
    except DenoiseError:
        raise
    except ValueError as exc:  # an unavailable device
        raise DenoiseError(str(exc)) from None
    view = to_canonical(image, axes)  # (T, Z, C, Y, X)
    T, Z, C, H, W = view.shape

    # 2D plane by plane, or volumes
    mode = (mode or "auto").lower()
    if mode not in ("auto", "2d", "3d"):
        raise DenoiseError(f"mode must be 'auto', '2d' or '3d', not {mode!r}")
    if mode == "auto":
        mode = "3d" if (3 in den.dims and 2 not in den.dims and Z > 1) else "2d"
    if mode == "3d":
        if 3 not in den.dims:
            raise DenoiseError(f"model {den.name!r} is 2-D: use mode='2d' (slice by slice)")
        if Z < MIN_SIDE:
            raise DenoiseError(f"3-D mode needs a Z axis of at least {MIN_SIDE} slices "
                               f"(axes {axes}, shape {shape})")
    elif 2 not in den.dims:
        raise DenoiseError(f"model {den.name!r} is 3-D: use mode='3d' on a Z stack")
    nd = 3 if mode == "3d" else 2

    # channels: jointly when the model takes them all, else one at a time;
    # an alpha channel (RGBA) is passed through untouched
    alpha = axes.endswith("C") and C == 4
    colour = 3 if alpha else C
    if den.in_channels > 1 and den.in_channels == colour:
        groups = [list(range(colour))]
    elif den.in_channels == 1:
        groups = [[c] for c in range(colour)]
    else:
        raise DenoiseError(f"model {den.name!r} takes {den.in_channels} channels; the data has "
                           f"{C} (axes {axes})")

    if data_range is not None:
        lo, hi = (float(v) for v in data_range)
        if not hi > lo:
            raise DenoiseError(f"data_range must be (low, high) with high > low, not {data_range}")
    else:
        lo, hi = estimate_range(image)
    scale = hi - lo
    dt = np.dtype(image.dtype)
    lazy_float = dt.kind == "f" and not isinstance(image, np.ndarray)
    if not lazy_float:
        check_finite(image)
    bounds = output_bounds(image, dt)

    # noise model and level ------------------------------------------------------
    from .noise import NoiseEstimate

    noise = (noise or "auto").lower().replace("_", "-") if isinstance(noise, str) else noise
    if noise not in NOISE_MODELS:
        raise DenoiseError(f"noise must be one of {', '.join(NOISE_MODELS)}, not {noise!r}")
    try:
        strength = float(strength)
    except (TypeError, ValueError):
        raise DenoiseError(f"strength must be a positive number, not {strength!r}") from None
    if not (math.isfinite(strength) and strength > 0):
        raise DenoiseError(f"strength must be a positive number, not {strength}")
    sigma_info = None
    estimated = False   # the noise level came from an estimate (not a number the user gave)
    sigma_norm = None
    sigma_map_c = None  # canonical view of a per-pixel map
    est = None          # a Poisson-Gaussian model: per-plane maps or the GAT
    vst = None          # the GAT, for denoisers that take no map
    rician_sigma = None  # data units; the result is bias-corrected
    noise_info = None
    if isinstance(sigma, NoiseEstimate):
        est, sigma, estimated = sigma, None, True
        if est.model != "poisson-gaussian":
            sigma = float(est.sigma)
    elif isinstance(sigma, str) and sigma.lower() == "auto":
        sigma = "auto"
    elif sigma is not None and not np.isscalar(sigma):
        smap = np.asarray(sigma, dtype=np.float32)
        if smap.shape != shape:
            raise DenoiseError(f"noise map shape {smap.shape} differs from the image's {shape}")
        if not np.all(np.isfinite(smap)) or smap.min() < 0:
            raise DenoiseError("the noise map must be finite and non-negative")
        if strength != 1.0:
            smap = smap * np.float32(strength)
        sigma_map_c = to_canonical(smap, axes)
        sigma_info = f"per-pixel map (mean {float(smap.mean()):.4g})"
        noise_info = "user map"
        sigma = None
    if isinstance(sigma, str) and sigma != "auto":
        try:
            sigma = float(sigma)
        except ValueError:
            raise DenoiseError(f"sigma must be a number, 'auto' or an array, not {sigma!r}") from None
    if sigma is None and est is None and sigma_map_c is None and (den.needs_sigma or noise != "gaussian"):
        sigma = "auto"

    if isinstance(sigma, str) and sigma == "auto":
        sample = image if isinstance(image, np.ndarray) else sample_planes(image, axes)
        yield Progress(0, 1, "estimating the noise", time.perf_counter() - t_start)
        sigma, estimated = None, True
        if noise == "rician":
            from .rician import estimate_rician_sigma

            r = estimate_rician_sigma(sample)
            rician_sigma = float(r.sigma)
            noise_info = f"Rician, sigma {rician_sigma:.4g} from the background" + \
                (f" ({r.message})" if r.message else "")
        else:  # gaussian, poisson-gaussian, or auto: the fit decides
            from .noise import estimate_noise

            try:
                e = estimate_noise(sample, axes=axes, model=noise)
            except ValueError as exc:
                raise DenoiseError(str(exc)) from None
            if e.model == "poisson-gaussian":
                est = e
                # photos (RGB) keep the natural-image model; microscopy is single-channel
                if auto_model and den.name == DEFAULT_MODEL and mode == "2d" and not axes.endswith("C"):
                    den = _auto_poisson_model(den, device)
            elif den.needs_sigma:
                sigma = float(e.sigma)
                sigma_info = f"{sigma:.4g} (estimated)"
            if noise != "gaussian":
                noise_info = str(e)
        if sigma is None and est is None and rician_sigma is None:
            sigma_info = "not needed (blind model)"
    elif sigma is not None and noise == "rician" and sigma_map_c is None:
        rician_sigma = float(sigma)
        noise_info = f"Rician, sigma {rician_sigma:.4g}"
    if rician_sigma is not None:
        if not (math.isfinite(rician_sigma) and rician_sigma >= 0):
            raise DenoiseError(f"sigma must be a finite non-negative number, not {rician_sigma}")
        sigma = rician_sigma
    if est is not None:
        if est.gain <= 0:
            raise DenoiseError("a Poisson-Gaussian noise model needs a positive gain")
        if den.takes_map:
            sigma_info = f"Poisson-Gaussian map, variance = {est.a:.4g} * signal {est.b:+.4g}" + \
                (f", strength {strength:g}" if strength != 1.0 else "")
        else:
            from .vst import GAT

            vst = GAT(est.a, est.b)
            sigma_info = (f"GAT (variance = {est.a:.4g} * signal {est.b:+.4g}), then "
                          f"{'blind' if not den.needs_sigma else 'sigma 1'} in the stabilised domain")
        noise_info = noise_info or str(est)
    if sigma_map_c is None and est is None and sigma is not None:
        sigma = float(sigma)
        if not math.isfinite(sigma) or sigma < 0:
            raise DenoiseError(f"sigma must be a finite non-negative number, not {sigma}")
        sigma = sigma * strength
        sigma_norm = sigma / scale if scale > 0 else 0.0
        if sigma_info is None:
            sigma_info = f"{sigma:.4g}" + ("" if den.needs_sigma else " (ignored: blind model)")
    # the networks see [0, 1]: for the GAT route, the stabilised range
    net_lo, net_scale = lo, scale
    if vst is not None and scale > 0:
        f_lo, f_hi = (float(v) for v in vst.forward(np.array([lo, hi])))
        net_lo, net_scale = f_lo, max(f_hi - f_lo, 1e-12)
        sigma_norm = strength / net_scale
    warnings_ = _sigma_warnings(den, sigma_norm, sigma_map_c, est, vst, scale, strength,
                                view if isinstance(image, np.ndarray) else None)
    unit_axes = "CZYX" if nd == 3 else "CYX"  # the layout of one unit of work
    map_fn = None
    if est is not None and vst is None:
        def map_fn(src):  # per-pixel std from this unit's own signal, normalised
            m = est.sigma_map(src.mean(0, keepdims=True, dtype=np.float64), axes=unit_axes,
                              strength=strength)
            return m / np.float32(scale)
    stripes_fn = None
    if destripe:
        from .stripes import remove_stripes

        def stripes_fn(src):  # every 2D plane of every channel on its own
            return remove_stripes(src.astype(np.float32), axes=unit_axes)
    post_fn = None  # data units -> data units, after the denoiser
    if vst is not None:
        post_fn = vst.inverse  # exact unbiased inverse of the GAT
    elif rician_sigma is not None and rician_sigma > 0:
        from .rician import rician_bias_correct

        def post_fn(res):
            return rician_bias_correct(res, rician_sigma)

    out = np.empty(shape, dtype=dt)
    out_c = to_canonical(out, axes)
    info = {"model": den.name, "kind": den.kind, "axes": axes, "mode": mode,
            "device": str(den.device), "sigma": sigma_info, "range": (lo, hi),
            "noise": noise_info or ("gaussian" if sigma is not None or sigma_map_c is not None
                                    else "not estimated (blind model)"),
            "noise_model": est, "strength": strength, "destripe": bool(destripe),
            "warnings": warnings_, "notes": [n for n in [alias_note(model, den.name)] if n]}
    guard = ResidualGuard()

    if scale <= 0:  # constant image: nothing to denoise
        out_c[...] = view
        info.update(tile=None, tiles=0, seconds=time.perf_counter() - t_start)
        yield Progress(1, 1, "constant image: returned unchanged", time.perf_counter() - t_start)
        return DenoiseResult(out, info)

    # the units of work: (t, z or None, channel group)
    # channel groups are contiguous: index with slices so numpy gives views, not copies
    groups = [slice(g[0], g[-1] + 1) for g in groups]
    units = [(t, z, g) for t in range(T) for z in (range(Z) if nd == 2 else [None]) for g in groups]
    spatial = (Z, H, W) if nd == 3 else (H, W)
    tile_side = int(tile) if tile else auto_tile(den, nd)
    if tile_side < 16:
        raise DenoiseError(f"tile must be at least 16 pixels, not {tile_side}")
    ov = int(overlap) if overlap is not None else default_overlap(den)
    margin = min(den.rf_radius, ov // 2)

    def make_plan(side):
        # below twice the overlap a tile mostly recomputes its neighbours' pixels
        t_ = max(side, 2 * ov + 2 * den.size_multiple)
        return TilePlan(spatial, t_, ov, margin, den.size_multiple)

    plan = make_plan(tile_side)
    total = len(units) * len(plan)
    t_tiles = time.perf_counter()  # ETA counts from here: setup time says nothing of the rest
    done = 0
    tiles_retried = 0
    info_msg = f"{den.name} on {len(units)} {'volume' if nd == 3 else 'plane'}(s)"
    yield Progress(0, total, info_msg, 0.0)

    try:
        for ui, (t, z, g) in enumerate(units):
            done_before = done
            while True:
                try:
                    if nd == 3:  # (Z, c, H, W) -> (c, Z, H, W)
                        src = np.asarray(view[t][:, g]).transpose(1, 0, 2, 3)
                    else:        # (c, H, W)
                        src = np.asarray(view[t, z, g])
                    # numpy input was checked whole above; lazy input is checked as it is read
                    if lazy_float:
                        check_finite(src)
                    if stripes_fn is not None:
                        src = stripes_fn(src)
                    smap_u = None
                    if sigma_map_c is not None:
                        sm = sigma_map_c[t, :, g.start] if nd == 3 else sigma_map_c[t, z, g.start]
                        smap_u = (np.asarray(sm, np.float32) / np.float32(scale))[None]
                    elif map_fn is not None:
                        smap_u = map_fn(src)
                    raw = src  # data units, for the residual check
                    if vst is not None:
                        src = vst.forward(src).astype(np.float32)
                    acc = np.zeros((g.stop - g.start,) + spatial, np.float32)
                    for tl in plan:
                        sl = (slice(None),) + tl.slices
                        x = (src[sl].astype(np.float32) - np.float32(net_lo)) / np.float32(net_scale)
                        y = den.run(x, None if smap_u is None else smap_u[sl], sigma_norm)
                        acc[sl] += y * tl.weight
                        done += 1
                        yield Progress(done, total, info_msg, time.perf_counter() - t_tiles)
                    break
                except Exception as exc:  # noqa: BLE001 - only out-of-memory is retried
                    if not is_oom(exc):
                        raise
                    release(den.device)
                    new_side = max(plan.tile) // 2
                    if new_side < (64 if nd == 2 else 32):
                        raise DenoiseError("out of memory even with small tiles; try device='cpu' "
                                           "or free memory") from None
                    plan = make_plan(new_side)
                    tiles_retried += 1
                    done = done_before
                    total = done + (len(units) - ui) * len(plan)
            # back to the data's units, in place: no full-size temporaries
            res = acc
            res *= np.float32(net_scale)
            res += np.float32(net_lo)
            if post_fn is not None:
                res = post_fn(res).astype(np.float32)
            to_dtype(bounds.apply(res), dt)
            if not guard.full:
                guard.add(raw, res, _guard_sigma(raw, smap_u, scale, sigma_norm, vst, est,
                                                 strength, unit_axes, rician_sigma,
                                                 estimated or sigma_map_c is not None))
            if nd == 3:
                out_c[t][:, g] = res.transpose(1, 0, 2, 3)
            else:
                out_c[t, z, g] = res
    finally:
        # also on cancel (GeneratorExit) or failure: free GPU memory for the next run
        release(den.device)
    if alpha:
        out_c[:, :, 3] = view[:, :, 3]
    warnings_ += guard.warnings()
    info.update(tile=max(plan.tile) if not plan.single else None, tiles=done,
                oom_retries=tiles_retried, seconds=time.perf_counter() - t_start,
                residual={"variance_ratio": guard.variance_ratio,
                          "edge_correlation": guard.edge_correlation})
    return DenoiseResult(out, info)


def _sigma_warnings(den, sigma_norm, sigma_map_c, est, vst, scale, strength, view):
    """Noise levels outside the model's trained range (warnings) or beyond sense (an error)."""
    if not den.needs_sigma or scale <= 0 or vst is not None:
        return []
    level = sigma_norm
    if sigma_map_c is not None:
        level = float(np.median(np.asarray(sigma_map_c[0, 0, 0]))) / scale
    elif est is not None:
        mid = float(np.median(view[0, 0, 0])) if view is not None else est.b
        level = float(est.sigma_map(np.array([[mid]]), strength=strength).ravel()[0]) / scale
    return check_sigma(level, den.name, den.card, scale,
                       what="the noise map's typical level" if sigma_map_c is not None else "sigma")


def _guard_sigma(raw, smap_u, scale, sigma_norm, vst, est, strength, unit_axes, rician_sigma,
                 known):
    """The noise std (data units) of this unit as estimated or mapped, before ``strength``;
    None when only the user's number is known (the guard then estimates it itself)."""
    if not known:
        return None
    if rician_sigma is not None:
        return rician_sigma / strength
    if smap_u is not None:
        return smap_u * np.float32(scale / strength)
    if vst is not None:
        return est.sigma_map(raw.mean(0, keepdims=True, dtype=np.float64), axes=unit_axes)
    if sigma_norm is not None and sigma_norm > 0:
        return sigma_norm * scale / strength
    return None


#: The network model="auto" takes for Poisson-Gaussian (camera, microscope) noise.
POISSON_MODEL = "ffdnet_microscopy"


def _auto_poisson_model(den: Denoiser, device) -> Denoiser:
    """The shipped Poisson-Gaussian model in place of the default, if it is there and fits."""
    from .registry import pretrained_entries

    if POISSON_MODEL not in pretrained_entries():
        return den
    alt = resolve_denoiser(POISSON_MODEL, device)
    same = (alt.in_channels == den.in_channels and alt.dims == den.dims and alt.takes_map)
    return alt if same else den


def run_to_end(gen, progress=None):
    """Drive a generator from :func:`denoise_iter`; ``progress(p)`` returning False cancels."""
    try:
        while True:
            p = next(gen)
            if progress is not None and progress(p) is False:
                gen.close()
                raise Cancelled("cancelled")
    except StopIteration as stop:
        return stop.value
