"""normalise.cast_like: the one integer cast (round, clip to the dtype, cast)."""

import numpy as np
import pytest

from napari_denoise.core.normalise import cast_like, to_dtype


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int8, np.int16, np.int32])
def test_cast_like_integers_round_and_clip(dtype):
    info = np.iinfo(dtype)
    x = np.array([info.min - 10.0, info.min - 0.4, -1.6, -0.5, 0.49, 1.5, 2.5, 2.51,
                  info.max + 0.4, info.max + 1e6])
    out = cast_like(x, dtype)
    assert out.dtype == np.dtype(dtype)
    expected = np.clip(np.rint(x), info.min, info.max).astype(dtype)
    np.testing.assert_array_equal(out, expected)
    # the limits are kept, never wrapped around
    assert out[0] == info.min and out[-1] == info.max
    # round half to even, like np.rint
    assert out[list(x).index(2.5)] == 2 and out[list(x).index(1.5)] == 2


def test_cast_like_rounds_to_nearest_not_truncates():
    out = cast_like(np.array([0.6, 1.4, 1.6, 254.7]), np.uint8)
    np.testing.assert_array_equal(out, np.array([1, 1, 2, 255], np.uint8))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_cast_like_floats_are_a_plain_cast(dtype):
    x = np.array([-1.25, 0.3, 1e3, 2.7], np.float64)
    out = cast_like(x, dtype)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, x.astype(dtype))  # no rounding


def test_cast_like_returns_a_new_array_and_keeps_the_input():
    x = np.array([[0.4, 300.0], [-3.0, 7.5]])
    before = x.copy()
    for dtype in (np.uint8, np.float64):
        out = cast_like(x, dtype)
        assert not np.shares_memory(out, x)
        assert out.shape == x.shape
    np.testing.assert_array_equal(x, before)


def test_cast_like_accepts_dtype_objects_and_names():
    x = np.array([1.6, -2.0])
    np.testing.assert_array_equal(cast_like(x, np.dtype("int16")), [2, -2])
    np.testing.assert_array_equal(cast_like(x, "uint8"), [2, 0])


def test_to_dtype_unchanged_rounds_in_place_without_clipping():
    res = np.array([0.6, 300.2, -1.4], np.float32)
    out = to_dtype(res, np.uint8)
    assert out is res and out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array([1.0, 300.0, -1.0], np.float32))
    flt = np.array([0.6], np.float32)
    np.testing.assert_array_equal(to_dtype(flt, np.float32), np.array([0.6], np.float32))


def test_remove_stripes_casts_integer_planes_with_cast_like():
    from napari_denoise.core.stripes import estimate_stripes, remove_stripes

    rng = np.random.default_rng(0)
    img = rng.normal(120, 3, (48, 40)) + np.where(np.arange(48) % 2, 20.0, -20.0)[:, None]
    u8 = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    est = estimate_stripes(u8)
    assert est.any
    expected = cast_like(u8.astype(np.float64) - est.pattern(u8.shape), np.uint8)
    np.testing.assert_array_equal(remove_stripes(u8), expected)
