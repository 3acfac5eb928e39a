"""What the Compare panel does, as plain data (no Qt, no napari).

The panel runs several methods on one plane of its input (the slice shown; its
visible region when the plane is larger than :data:`COMPARE_MAX_PIXELS`) with
:func:`compare_iter`, a generator that yields :class:`Progress` and returns one
:class:`MethodResult` per method: the result, the residual (input minus result,
which should look like noise), the ground-truth-free score of
:func:`napari_denoise.score` and, when the user picks a reference layer (a clean
image of the same scene), PSNR and SSIM against the same plane of it.
:func:`table` turns them into the panel's table, and :func:`side_by_side` says
where each result and residual goes on the canvas (a row of results to the right
of the input, their residuals under them).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from ..core.progress import Cancelled, Progress
from .run_record import method_name

#: the methods ticked when the panel opens (those the list has)
DEFAULT_METHODS = ("auto", "bm3d", "nlm")
#: planes with more pixels are compared on their visible region (like the preview)
COMPARE_MAX_PIXELS = 512 * 512
#: the gap between the tiles of the side-by-side view, as a fraction of the plane
GAP = 0.05
#: the table's columns: with a reference, PSNR and SSIM come after the score
COLUMNS = ("Method", "Score", "Removed", "Time")
REF_COLUMNS = ("PSNR (dB)", "SSIM")
SCORE_TIP = ("Score: Noise2Self's self-supervised error (hidden pixels predicted from "
             "their neighbours, data units squared): lower is better, no clean image "
             "needed. Removed: what the residual looks like. PSNR and SSIM: against the "
             "reference layer, data range = the reference plane's max - min")


@dataclass
class MethodResult:
    """One method's run on the plane."""

    method: str                      # what the user chose (a model key)
    label: str                       # its name in the list
    model: str = ""                  # the model that ran (Automatic's choice)
    output: np.ndarray | None = None
    residual: np.ndarray | None = None  # input - output, float32
    seconds: float = 0.0
    score: float | None = None       # self-supervised error (lower is better)
    removed: str = ""                # the residual check in a few words
    psnr: float | None = None
    ssim: float | None = None
    error: str = ""                  # why it failed (one line), "" when it ran


def check_reference(ref_shape, shape) -> None:
    """A reference must be an image of the input's shape (a ValueError says why not)."""
    if tuple(ref_shape) != tuple(shape):
        raise ValueError(f"the reference's shape {tuple(ref_shape)} differs from the "
                         f"image's {tuple(shape)}: pick a clean image of the same scene")


def metrics(output: np.ndarray, reference: np.ndarray) -> tuple[float, float | None]:
    """(PSNR in dB, SSIM) of ``output`` against ``reference`` (2-D, or Y, X, C colour),
    data range = the reference's max - min; SSIM is None for planes under 7 pixels a
    side."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    ref = np.asarray(reference, dtype=np.float64)
    out = np.asarray(output, dtype=np.float64)
    rng = float(ref.max() - ref.min()) or 1.0
    psnr = float(peak_signal_noise_ratio(ref, out, data_range=rng))
    try:
        ssim = float(structural_similarity(ref, out, data_range=rng,
                                           channel_axis=-1 if ref.ndim == 3 else None))
    except ValueError:  # too small for the 7x7 window
        ssim = None
    return psnr, ssim


def _removed_words(stats) -> str:
    if stats.structure:
        return "image detail"
    return "more than noise" if stats.variance_ratio > 2.5 else "noise"


def compare_iter(plane: np.ndarray, methods: list[tuple[str, str]], *, rgb: bool = False,
                 reference: np.ndarray | None = None, score: bool = True,
                 device: str = "auto", cancel: threading.Event | None = None):
    """Run each ``(method, label)`` on ``plane`` (Y, X; Y, X, C when ``rgb``), noise level
    estimated. Yields :class:`Progress` (steps: methods x (run + score)); returns a list
    of :class:`MethodResult`. Raises :class:`Cancelled` when ``cancel`` is set."""
    from ..core.inference import denoise_iter
    from ..core.score import score as score_fn

    axes = "YXC" if rgb else "YX"
    plane = np.asarray(plane)
    per = 2 if score else 1
    total = per * len(methods)
    t0 = time.perf_counter()
    out: list[MethodResult] = []

    def stop():
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")

    for i, (method, label) in enumerate(methods):
        res = MethodResult(method, label)
        step = per * i
        try:
            yield Progress(step, total, f"{label}: denoising", time.perf_counter() - t0)
            t1 = time.perf_counter()
            gen = denoise_iter(plane, method, sigma="auto", axes=axes, device=device)
            try:
                while True:
                    stop()
                    p = next(gen)
                    yield Progress(step, total, f"{label}: {p.message or 'denoising'}",
                                   time.perf_counter() - t0)
            except StopIteration as done:
                result = done.value
            finally:
                gen.close()
            res.seconds = time.perf_counter() - t1
            res.model = result.info.model
            res.output = result.image
            res.residual = plane.astype(np.float32) - result.image.astype(np.float32)
            if reference is not None:
                res.psnr, res.ssim = metrics(result.image, reference)
            if score:
                stop()
                yield Progress(step + 1, total, f"{label}: scoring without a clean image",
                               time.perf_counter() - t0)
                s = score_fn(plane, method, axes=axes, device=device)
                res.score, res.removed = s.loss, _removed_words(s.residual)
        except (Cancelled, GeneratorExit):
            raise
        except (ValueError, RuntimeError, MemoryError) as exc:  # DenoiseError and friends
            text = str(exc).strip().splitlines()
            res.error = text[0] if text else type(exc).__name__
        out.append(res)
    yield Progress(total, total, "done", time.perf_counter() - t0)
    return out


def _num(v, fmt: str) -> str:
    return "--" if v is None else format(v, fmt)


def table(results: list[MethodResult], reference: bool) -> tuple[list[str], list[list[str]]]:
    """(column names, rows of text): one row per method; the lowest score (and, with a
    reference, the highest PSNR) marked with a star."""
    ref = list(REF_COLUMNS) if reference else []
    cols = list(COLUMNS[:2]) + ref + list(COLUMNS[2:])
    scores = [r.score for r in results if r.score is not None]
    psnrs = [r.psnr for r in results if r.psnr is not None]
    rows = []
    for r in results:
        name = method_name(r.method)  # short: the table is narrow (the layers say the rest)
        if r.model and r.model != r.method:
            name += f" ({r.model})"
        if r.error:
            rows.append([name, "failed"] + ["--"] * len(ref) + [r.error, "--"])
            continue
        star = " *" if len(scores) > 1 and r.score == min(scores) else ""
        row = [name, _num(r.score, ".4g") + star]
        if reference:
            pstar = " *" if len(psnrs) > 1 and r.psnr == max(psnrs) else ""
            row += [_num(r.psnr, ".2f") + pstar, _num(r.ssim, ".3f")]
        rows.append(row + [r.removed or "--", f"{r.seconds:.1f} s"])
    return cols, rows


def side_by_side(k: int, shape: tuple[int, int], scale: tuple[float, float],
                 translate: tuple[float, float]) -> tuple[tuple, tuple]:
    """(translate of result ``k``, translate of its residual) in world units: result
    ``k`` in column ``k + 1`` of the input's row (the input is column 0), its residual
    under it."""
    h, w = (n * s for n, s in zip(shape, scale))
    dx = (k + 1) * w * (1 + GAP)
    return ((translate[0], translate[1] + dx), (translate[0] + h * (1 + GAP), translate[1] + dx))


def residual_limits(residual: np.ndarray) -> tuple[float, float]:
    """Symmetric contrast limits for a residual: +-3 robust standard deviations."""
    r = np.asarray(residual, dtype=np.float64)
    mad = float(np.median(np.abs(r - np.median(r)))) * 1.4826
    m = 3 * (mad or float(r.std()) or 1.0)
    return -m, m


__all__ = ["COLUMNS", "COMPARE_MAX_PIXELS", "DEFAULT_METHODS", "MethodResult", "REF_COLUMNS",
           "SCORE_TIP", "check_reference", "compare_iter", "metrics", "residual_limits",
           "side_by_side", "table"]
