"""The Compare panel's rules without a display: the runs, the table and the layout."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from conftest import assert_widget_modules_import_no_gui
from napari_denoise._widgets.compare_rules import (MethodResult, check_reference, compare_iter,
                                                   side_by_side, table)
from napari_denoise.core.progress import Cancelled, run_to_end


def test_the_rules_import_no_gui():
    assert_widget_modules_import_no_gui("compare_rules")


def _plane(seed=0):
    rng = np.random.default_rng(seed)
    clean = np.tile(np.linspace(0.2, 0.8, 40, dtype=np.float32), (36, 1))
    return clean, clean + rng.normal(0, 0.05, clean.shape).astype(np.float32)


def test_each_method_gives_a_result_its_residual_a_score_and_metrics():
    clean, noisy = _plane()
    res = run_to_end(compare_iter(noisy, [("tv", "TV"), ("nope", "Nope")], reference=clean))
    tv, bad = res
    assert tv.output.shape == noisy.shape and not tv.error
    np.testing.assert_allclose(tv.residual, noisy - tv.output, atol=1e-6)
    assert tv.score is not None and tv.score > 0 and tv.removed
    assert tv.psnr > 20 and 0 < tv.ssim <= 1
    assert bad.error and bad.output is None  # one failing method does not stop the others
    cols, rows = table(res, reference=True)
    assert cols == ["Method", "Score", "PSNR (dB)", "SSIM", "Removed", "Time"]
    assert rows[1][1] == "failed" and rows[1][4] == bad.error
    assert rows[0][0] == "tv" and rows[0][2] == f"{tv.psnr:.2f}"


def test_cancel_stops_between_steps():
    _, noisy = _plane()
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        run_to_end(compare_iter(noisy, [("tv", "TV")], cancel=stop))


def test_the_best_score_is_starred_and_tiles_do_not_overlap():
    rows = table([MethodResult("a", "A", score=2.0, seconds=1), MethodResult("b", "B", score=1.0,
                                                                            seconds=1)], False)[1]
    assert rows[1][1].endswith("*") and not rows[0][1].endswith("*")
    first, below = side_by_side(0, (10, 20), (1.0, 0.5), (0.0, 0.0))
    second, _ = side_by_side(1, (10, 20), (1.0, 0.5), (0.0, 0.0))
    assert first[1] >= 10 and second[1] - first[1] >= 10 and below[0] >= 10
    with pytest.raises(ValueError, match="shape"):
        check_reference((5, 5), (5, 6))
