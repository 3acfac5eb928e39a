"""Row/column stripe (fixed-pattern) noise removal: napari_denoise.core.stripes."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from napari_denoise.core.stripes import StripeEstimate, estimate_stripes, remove_stripes

SIGMA = 0.02
STRIPE_STD = 0.05


def _psnr(x, ref):
    return 10.0 * np.log10(1.0 / np.mean((np.asarray(x, np.float64) - ref) ** 2))


def _row_col_var(x, clean):
    d = np.asarray(x, np.float64) - clean
    return d.mean(axis=1).var(), d.mean(axis=0).var()


@pytest.fixture(scope="module")
def camera_case():
    rng = np.random.default_rng(7)
    clean = data.camera().astype(np.float64) / 255.0
    noisy = clean + rng.normal(0.0, SIGMA, clean.shape)
    rows = rng.normal(0.0, STRIPE_STD, clean.shape[0])
    cols = rng.normal(0.0, STRIPE_STD, clean.shape[1])
    striped = noisy + rows[:, None] + cols[None, :]
    return clean, noisy, striped


def test_both_directions_removed(camera_case):
    clean, noisy, striped = camera_case
    before = striped.copy()
    out = remove_stripes(striped)
    assert np.array_equal(striped, before), "input was modified"
    assert out.dtype == striped.dtype and out.shape == striped.shape
    rv0, cv0 = _row_col_var(striped, clean)
    rv1, cv1 = _row_col_var(out, clean)
    assert rv0 / rv1 > 5.0, f"row-mean variance only dropped {rv0 / rv1:.1f}x"
    assert cv0 / cv1 > 5.0, f"column-mean variance only dropped {cv0 / cv1:.1f}x"
    p0, p1 = _psnr(striped, clean), _psnr(out, clean)
    assert p1 > p0 + 6.0, f"PSNR {p0:.2f} -> {p1:.2f} dB"
    # the image mean is kept (the profiles are zero-mean)
    assert out.mean() == pytest.approx(striped.mean(), abs=1e-9)


def test_estimate_reports_both_profiles(camera_case):
    clean, noisy, striped = camera_case
    est = estimate_stripes(striped)
    assert isinstance(est, StripeEstimate)
    assert est.significant_rows and est.significant_cols
    assert est.rows.shape == (512,) and est.cols.shape == (512,)
    assert abs(est.rows.mean()) < 1e-12 and abs(est.cols.mean()) < 1e-12
    pat = est.pattern(striped.shape)
    assert pat.shape == striped.shape
    np.testing.assert_allclose(pat, est.rows[:, None] + est.cols[None, :])
    # the noise estimate is taken with the stripes removed: close to the true sigma
    assert est.noise_sigma == pytest.approx(SIGMA, rel=0.25)


def test_stripe_free_image_is_returned_unchanged(camera_case):
    clean, noisy, striped = camera_case
    est = estimate_stripes(noisy)
    assert not est.significant_rows and not est.significant_cols
    assert est.rows is None and est.cols is None
    assert not np.any(est.pattern(noisy.shape))
    out = remove_stripes(noisy)
    assert np.array_equal(out, noisy)
    assert out is not noisy and not np.shares_memory(out, noisy)


def test_rows_only_leaves_column_stripes():
    rng = np.random.default_rng(3)
    clean = data.camera()[::2, ::2].astype(np.float64) / 255.0
    rows = rng.normal(0.0, STRIPE_STD, clean.shape[0])
    cols = rng.normal(0.0, STRIPE_STD, clean.shape[1])
    striped = clean + rng.normal(0.0, SIGMA, clean.shape) + rows[:, None] + cols[None, :]
    est = estimate_stripes(striped, direction="rows")
    assert est.significant_rows and est.cols is None and not est.significant_cols
    out = remove_stripes(striped, direction="rows")
    rv0, cv0 = _row_col_var(striped, clean)
    rv1, cv1 = _row_col_var(out, clean)
    assert rv0 / rv1 > 5.0
    assert cv1 == pytest.approx(cv0, rel=0.05), "column stripes must be left alone"
    out_c = remove_stripes(striped, direction="cols")
    rv2, cv2 = _row_col_var(out_c, clean)
    assert cv0 / cv2 > 5.0 and rv2 == pytest.approx(rv0, rel=0.05)


def test_stack_is_processed_plane_by_plane():
    rng = np.random.default_rng(11)
    base = data.camera()[::4, ::4].astype(np.float64) / 255.0  # 128 x 128
    clean = np.stack([base, base[::-1], base[:, ::-1]])
    stack = clean + rng.normal(0.0, SIGMA, clean.shape)
    # plane 0: row stripes, plane 1: column stripes, plane 2: none
    stack[0] += rng.normal(0.0, STRIPE_STD, 128)[:, None]
    stack[1] += rng.normal(0.0, STRIPE_STD, 128)[None, :]
    out = remove_stripes(stack, axes="ZYX")
    assert out.shape == stack.shape
    rv0, _ = _row_col_var(stack[0], clean[0])
    rv1, _ = _row_col_var(out[0], clean[0])
    _, cv0 = _row_col_var(stack[1], clean[1])
    _, cv1 = _row_col_var(out[1], clean[1])
    assert rv0 / rv1 > 5.0 and cv0 / cv1 > 5.0
    assert np.array_equal(out[2], stack[2]), "stripe-free plane must be untouched"
    # processing each plane on its own gives the same result
    for i in range(3):
        np.testing.assert_array_equal(out[i], remove_stripes(stack[i]))


def test_colour_channels_are_independent():
    rng = np.random.default_rng(5)
    base = data.camera()[::4, ::4].astype(np.float64) / 255.0
    img = np.stack([base, base.T, base[::-1]], axis=-1) + rng.normal(0.0, SIGMA, (128, 128, 3))
    img[..., 1] += rng.normal(0.0, STRIPE_STD, 128)[None, :]
    out = remove_stripes(img)  # trailing 3 -> YXC
    assert np.array_equal(out[..., 0], img[..., 0]) and np.array_equal(out[..., 2], img[..., 2])
    assert not np.array_equal(out[..., 1], img[..., 1])


def test_uint16_keeps_dtype_and_range():
    rng = np.random.default_rng(2)
    clean = data.camera()[::2, ::2].astype(np.float64) * 100.0 + 2000.0
    img = clean + rng.normal(0.0, 200.0, clean.shape) + rng.normal(0.0, 500.0, 256)[None, :]
    img = np.clip(np.rint(img), 0, 65535).astype(np.uint16)
    before = img.copy()
    out = remove_stripes(img)
    assert out.dtype == np.uint16
    assert np.array_equal(img, before)
    _, cv0 = _row_col_var(img, clean)
    _, cv1 = _row_col_var(out, clean)
    assert cv0 / cv1 > 5.0


def test_float32_keeps_dtype():
    rng = np.random.default_rng(4)
    img = rng.normal(0.5, SIGMA, (64, 96)) + rng.normal(0, STRIPE_STD, 96)[None, :]
    img = img.astype(np.float32)
    out = remove_stripes(img)
    assert out.dtype == np.float32 and out.shape == img.shape
    assert out.mean(axis=0).var() < 0.2 * img.mean(axis=0).var()


@pytest.mark.parametrize(
    "bad, kwargs, match",
    [
        (np.zeros(64), {}, "at least 2 dimensions"),
        (np.zeros((32, 32), complex), {}, "complex"),
        (np.array([["a"] * 16] * 16), {}, "dtype"),
        (np.full((32, 32), np.nan), {}, "NaN"),
        (np.full((32, 32), np.inf), {}, "NaN or Inf"),
        (np.zeros((6, 32)), {}, "too small"),
        (np.zeros((32, 32)), {"direction": "diagonal"}, "direction"),
        (np.zeros((4, 32, 32)), {"axes": "YX"}, "axes"),
    ],
)
def test_bad_input_raises_value_error(bad, kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        remove_stripes(bad, **kwargs)
    assert "\n" not in str(info.value)


def test_estimate_stripes_rejects_non_2d_and_bad_direction():
    with pytest.raises(ValueError, match="2D"):
        estimate_stripes(np.zeros((3, 16, 16)))
    with pytest.raises(ValueError, match="direction"):
        estimate_stripes(np.zeros((16, 16)), direction="up")


def test_constant_and_given_sigma():
    flat = np.full((32, 40), 7.0)
    assert np.array_equal(remove_stripes(flat), flat)
    # noise-free column stripes with a given sigma of 0 are significant and removed
    rng = np.random.default_rng(9)
    img = flat + rng.normal(0.0, 1.0, 40)[None, :]
    est = estimate_stripes(img, direction="cols", noise_sigma=0.0)
    assert est.significant_cols
    out = remove_stripes(img, direction="cols", noise_sigma=0.0)
    assert out.mean(axis=0).var() < 0.2 * img.mean(axis=0).var()
    with pytest.raises(ValueError, match="noise_sigma"):
        estimate_stripes(img, noise_sigma=-1.0)
