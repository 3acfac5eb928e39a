"""Property-based checks of ``denoise`` over dtypes, shapes, axes layouts, value ranges,
constant images, outliers, NaN/Inf and every shipped denoiser (hypothesis).

Whatever the input, the result has the input's shape and dtype, is finite and stays
within the input's own range (0 for non-negative data), or the call fails with a
one-line DenoiseError: no other exception escapes. The default run draws a bounded
number of examples; ``HYPOTHESIS_EXAMPLES=10000`` runs that many of each (docs/BENCHMARKS.md).
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import napari_denoise as nd
from napari_denoise.core.errors import DenoiseError

DTYPES = [np.uint8, np.uint16, np.uint32, np.int8, np.int16, np.int32,
          np.float16, np.float32, np.float64]
METHODS = ["auto", "drunet_gray", "ffdnet_gray", "dncnn_blind", "dncnn_biasfree", "ffdnet_microscopy",
           "bm3d", "nlm", "tv", "wavelet", "nn3d"]
# axes -> extra leading/trailing sizes around (Y, X)
LAYOUTS = {"YX": ((), ()), "XY": ((), ()), "YXC": ((), (3,)), "ZYX": ((2,), ()),
           "TYX": ((3,), ()), "CYX": ((2,), ()), "ZCYX": ((2, 2), ()), "TZYX": ((2, 2), ())}
WIDTHS = [1e-6, 1e-3, 1.0, 255.0, 4095.0, 1e4, 1e9]
#: a long search (HYPOTHESIS_EXAMPLES=10000) multiplies every test's examples
LONG = int(os.environ.get("HYPOTHESIS_EXAMPLES", "0"))


def _n(default: int) -> int:
    return max(default, LONG)


def _build(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    axes = draw(st.sampled_from(sorted(LAYOUTS)))
    h, w = draw(st.integers(4, 37)), draw(st.integers(4, 37))
    lead, trail = LAYOUTS[axes]
    shape = lead + ((w, h) if axes == "XY" else (h, w)) + trail
    width = draw(st.sampled_from(WIDTHS))
    low = draw(st.sampled_from([0.0, -0.5, 1.0, 100.0, -1e6, 1e8]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = low + width * rng.random(shape)
    kind = draw(st.sampled_from(["noise", "constant", "outliers"]))
    if kind == "constant":
        x[...] = low
    elif kind == "outliers":
        flat = x.reshape(-1)
        idx = rng.integers(0, flat.size, 3)
        flat[idx] = low + width * 1e3 * rng.choice([-1, 1], 3)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        x = np.clip(np.rint(x), info.min, info.max)
    with np.errstate(over="ignore", invalid="ignore"):
        return x.astype(dtype), axes


@st.composite
def images(draw):
    return _build(draw)


def _check(img, axes, model):
    before = img.copy()
    try:
        out = nd.denoise(img, model, axes=axes, device="cpu")
    except DenoiseError as exc:  # a refusal: one line, in the user's terms
        msg = str(exc)
        assert msg and "\n" not in msg
        return
    np.testing.assert_array_equal(img, before)
    assert out.shape == img.shape and out.dtype == img.dtype
    o = out.astype(np.float64)
    x = img.astype(np.float64)
    assert np.all(np.isfinite(o))
    lo = 0.0 if x.min() >= 0 else x.min()
    tol = 1e-6 * max(abs(x.min()), abs(x.max()), 1.0) + (1.0 if img.dtype.kind in "ui" else 0.0)
    if img.dtype == np.float16:
        tol += 1e-3 * max(abs(x.max()), 1.0)
    assert o.min() >= lo - tol and o.max() <= x.max() + tol


@settings(max_examples=_n(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(images(), st.sampled_from(METHODS))
def test_any_input_gives_a_safe_result_or_a_clear_refusal(case, model):
    img, axes = case
    _check(img, axes, model)


@settings(max_examples=_n(20), deadline=None)
@given(st.sampled_from(DTYPES), st.sampled_from([np.nan, np.inf, -np.inf]),
       st.integers(0, 100))
def test_nan_and_inf_are_refused_clearly(dtype, bad, where):
    if np.dtype(dtype).kind != "f":
        dtype = np.float32
    img = np.random.default_rng(where).random((20, 20)).astype(dtype)
    img.reshape(-1)[where * 3] = bad
    with pytest.raises(DenoiseError, match="NaN or infinite"):
        nd.denoise(img, "tv")


@pytest.mark.parametrize("dtype", [bool, np.complex64, object])
def test_unsupported_dtypes_are_refused(dtype):
    with pytest.raises(DenoiseError, match="data type"):
        nd.denoise(np.zeros((16, 16), dtype=dtype))


@settings(max_examples=_n(18), deadline=None)
@given(st.sampled_from(METHODS), st.floats(0.03, 0.12), st.integers(0, 1000))
def test_pure_noise_of_known_level_comes_out_smoother(model, sigma, seed):
    rng = np.random.default_rng(seed)
    noisy = (0.5 + sigma * rng.standard_normal((48, 48))).astype(np.float32)
    out = nd.denoise(noisy, model, sigma=sigma, device="cpu", noise="gaussian")
    assert out.std() < 0.8 * noisy.std()
