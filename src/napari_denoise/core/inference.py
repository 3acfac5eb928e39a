"""The inference engine: a generator that yields progress per tile and returns the result.

``denoise_iter(...)`` does the work; iterate it to drive it (a napari worker
does), close it to cancel (takes effect at the next tile). ``denoise(...)`` in
the public API simply runs it to the end.

The data path, one module per stage:

1. input checks and axes (here, :mod:`.axes`);
2. the denoiser (:mod:`.models`) and the units of work: planes or volumes, channel
   groups (:mod:`.layout`);
3. normalisation: the value range the networks see, the bounds a result keeps
   (:mod:`.normalise`);
4. the noise plan: sigma, map, transform and its inverse (:mod:`.noise_plan`);
5. the denoiser over tiles, back to the data's units and dtype (:mod:`.runner`);
6. what happened, as a :class:`DenoiseInfo` (:mod:`.info`), with the residual
   check's warnings (:mod:`.guard`) and the noise-level limits (:mod:`.limits`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .colour import OpponentDenoiser, check_colour_space, opponent, wants_opponent
from .axes import AxesError, resolve_axes, to_canonical, yx_ordered
from .errors import DenoiseError
from .info import DenoiseInfo
from .layout import MIN_SIDE, plan_layout  # noqa: F401 - MIN_SIDE is public
from .limits import alias_note
from .models import DEFAULT_MODEL, Denoiser, configure, resolve_denoiser
from .noise_plan import NOISE_MODELS, POISSON_MODEL, plan_noise  # noqa: F401
from .normalise import (check_finite, estimate_range, output_bounds, sample_planes,  # noqa: F401
                        sample_values)
from .progress import Cancelled, Progress, run_to_end  # noqa: F401 - public names
from .runner import ArraySink, RunStats, run_units
from .tiling import auto_tile, default_overlap  # noqa: F401 - public names


@dataclass
class DenoiseResult:
    image: np.ndarray
    info: DenoiseInfo = field(default_factory=DenoiseInfo)


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


def image_axes(image, axes: str | None) -> str:
    """The axes of ``image``: checked when given, guessed from its shape otherwise; a
    DenoiseError naming the shape when they do not fit."""
    try:
        return resolve_axes(tuple(image.shape), axes)
    except AxesError as exc:
        raise DenoiseError(f"{exc} (shape {tuple(image.shape)})") from None


def denoise_iter(image, model="auto", *, sigma=None, axes=None, tune=False, auto=None,
                 **kwargs):
    """Generator: yields :class:`Progress` per tile, returns a :class:`DenoiseResult`.

    See :func:`napari_denoise.denoise` for the parameters. Data stored X before Y
    (``axes="XY"``) are denoised as a transposed view and come back in their order.
    """
    image = check_image(image)
    shape = tuple(image.shape)
    axes = image_axes(image, axes)
    if auto is not None or (tune is not False and tune is not None):
        from .tune import check_auto, tuned_choice, tuned_strength

        try:
            if auto is not None:  # auto="tuned": method and strength chosen on the image
                check_auto(auto, model)
                model, kwargs["strength"], note = yield from tuned_choice(
                    image, sigma, axes, tune, kwargs)
            else:  # the strength chosen on the image
                kwargs["strength"], note = yield from tuned_strength(
                    image, model, sigma, axes, tune, kwargs)
        except ValueError as exc:
            raise DenoiseError(str(exc)) from None
        res = yield from denoise_iter(image, model, sigma=sigma, axes=axes, **kwargs)
        res.info.notes.append(note)
        return res
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
    res.info.axes = axes
    return res


def _resolve(model, device, precision="auto", quality="fast", backend="auto") -> Denoiser:
    try:
        return configure(resolve_denoiser(model, device), precision=precision, quality=quality,
                         backend=backend)
    except DenoiseError:
        raise
    except ValueError as exc:  # an unavailable device, an unknown precision, quality, backend
        raise DenoiseError(str(exc)) from None


def _value_range(image, data_range) -> tuple[float, float]:
    if data_range is None:
        return estimate_range(image)
    lo, hi = (float(v) for v in data_range)
    if not hi > lo:
        raise DenoiseError(f"data_range must be (low, high) with high > low, not {data_range}")
    return lo, hi


def _denoise_iter(image, model="auto", *, sigma=None, axes=None, mode="auto", device="auto",
                  tile=None, overlap=None, data_range=None, noise="auto", strength=1.0,
                  destripe=False, precision="auto", quality="fast", colour_space="opponent",
                  sink=None, bounds=None, backend="auto"):
    """``sink``: where finished units go (:class:`.runner.ArraySink`); out-of-core runs
    give their own, and the result's ``image`` is then None. ``bounds``: the :class:`OutputBounds` of the whole
    data when ``image`` is one block of it (lazy runs)."""
    t_start = time.perf_counter()
    auto_model = model is None or (isinstance(model, str) and model.lower() == "auto")
    den = _resolve(model, device, precision, quality, backend)
    try:
        colour_space = check_colour_space(colour_space)
    except ValueError as exc:
        raise DenoiseError(str(exc)) from None
    layout = plan_layout(image, axes, den, mode)
    lo, hi = _value_range(image, data_range)
    dt = np.dtype(image.dtype)
    lazy_float = dt.kind == "f" and not isinstance(image, np.ndarray)
    if bounds is None:  # also refuses NaN/inf in numpy input (lazy: per unit)
        bounds = output_bounds(image, dt)
    elif isinstance(image, np.ndarray):
        check_finite(image)  # a block of lazy data: all of it

    switch = None
    if auto_model and den.name == DEFAULT_MODEL and layout.mode == "2d" \
            and not axes.endswith("C"):  # photos (RGB) keep the natural-image model
        switch = lambda d: configure(_auto_poisson_model(d, device),  # noqa: E731
                                     precision=precision, quality=quality, backend=backend)
    plan = yield from plan_noise(image, axes, den, sigma=sigma, noise=noise, strength=strength,
                                 lo=lo, hi=hi, switch_model=switch, t_start=t_start)
    if hasattr(plan.den, "bind"):  # an imported model package: its statistics, once
        plan.den = plan.den.bind(image, axes, plan.net_lo, plan.net_scale)
    if wants_opponent(colour_space, axes, layout.view.shape[2], plan.den):
        plan.den = opponent(plan.den)  # RGB photos: luminance and colour differences
        layout = plan_layout(image, axes, plan.den, mode)
    info = _info(plan, layout, lo, hi, destripe, model, quality)
    info.warnings += plan.warnings(hi - lo, layout.view if isinstance(image, np.ndarray)
                                   else None)
    out = out_c = None
    if sink is None:
        out = np.empty(image.shape, dtype=dt)
        out_c = to_canonical(out, axes)
        sink = ArraySink(layout, out_c)
    if hi - lo <= 0:  # constant image: nothing to denoise
        for ui, (t, z, g) in enumerate(layout.units()):
            if ui not in sink.skip:
                sink.write(ui, t, z, g, np.asarray(layout.read(layout.view, t, z, g)))
        _copy_alpha(layout, out_c)
        info.seconds = time.perf_counter() - t_start
        yield Progress(1, 1, "constant image: returned unchanged", info.seconds)
        return DenoiseResult(out, info)

    stats = RunStats()
    yield from run_units(layout, plan, sink, scale=hi - lo, bounds=bounds, dtype=dt, tile=tile,
                         overlap=overlap, lazy_float=lazy_float, destripe=destripe, stats=stats)
    _copy_alpha(layout, out_c)
    info.warnings += stats.guard.warnings()
    info.update(tile=stats.tile, tiles=stats.tiles, oom_retries=stats.oom_retries,
                seconds=time.perf_counter() - t_start,
                residual={"variance_ratio": stats.guard.variance_ratio,
                          "edge_correlation": stats.guard.edge_correlation})
    return DenoiseResult(out, info)


def _copy_alpha(layout, out_c) -> None:
    """An alpha channel is passed through unchanged (in-memory runs)."""
    if layout.alpha and out_c is not None:
        out_c[:, :, 3] = layout.view[:, :, 3]


def _info(plan, layout, lo, hi, destripe, model, quality) -> DenoiseInfo:
    den = plan.den
    notes = [alias_note(model, den.name)]
    if str(quality).lower() == "best" and not den.ensemble:
        notes.append(f"quality='best' (the flips-and-rotations ensemble) is for networks; "
                     f"{den.name} ran once")
    return DenoiseInfo(
        model=den.name, kind=den.kind, axes=layout.axes, mode=layout.mode,
        device=str(den.device), precision=den.precision_name, backend=den.backend_name,
        colour_space="opponent" if isinstance(den, OpponentDenoiser) else None,
        quality="best" if den.ensemble else "fast", noise_kind=plan.kind, sigma_value=plan.sigma,
        estimated=plan.estimated, transform="gat" if plan.vst is not None else None,
        sigma=plan.text, noise=plan.noise_text, noise_model=plan.est, strength=plan.strength,
        destripe=bool(destripe), range=(lo, hi),
        notes=[n for n in notes if n])


def _auto_poisson_model(den: Denoiser, device) -> Denoiser:
    """The shipped Poisson-Gaussian model in place of the default, if it is there and fits."""
    from .registry import pretrained_entries

    if POISSON_MODEL not in pretrained_entries():
        return den
    alt = resolve_denoiser(POISSON_MODEL, device)
    same = (alt.in_channels == den.in_channels and alt.dims == den.dims and alt.takes_map)
    return alt if same else den
