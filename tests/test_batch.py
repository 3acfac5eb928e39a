"""Many files in one command: a glob or a folder in, a folder out, bad files skipped."""

import numpy as np
import tifffile

import napari_denoise as nd
from napari_denoise.cli import main


def _plate(folder, n=3):
    folder.mkdir()
    imgs = {}
    for i in range(n):
        img = (np.random.default_rng(i).random((48, 56)) * 255).astype(np.uint8)
        tifffile.imwrite(folder / f"w{i}.tif", img)
        imgs[f"w{i}.tif"] = img
    return imgs


def test_glob_batch_skips_a_corrupt_file_and_exits_non_zero(tmp_path, capsys):
    imgs = _plate(tmp_path / "plate")
    (tmp_path / "plate" / "bad.tif").write_bytes(b"not a tiff")
    out = tmp_path / "out"
    rc = main(["denoise", str(tmp_path / "plate" / "*.tif"), "-o", str(out), "-m", "tv"])
    cap = capsys.readouterr()
    assert rc == 1
    assert sorted(p.name for p in out.iterdir()) == sorted(imgs)
    for name, img in imgs.items():
        np.testing.assert_array_equal(tifffile.imread(out / name), nd.denoise(img, "tv"))
    assert "bad.tif  FAILED" in cap.out and "3 of 4 file(s) denoised" in cap.out
    assert "error: bad.tif:" in cap.err


def test_folder_batch_all_good_and_bad_arguments(tmp_path, capsys):
    _plate(tmp_path / "plate", n=2)
    rc = main(["denoise", str(tmp_path / "plate"), "-o", str(tmp_path / "o"), "-m", "tv", "-q"])
    assert rc == 0 and len(list((tmp_path / "o").iterdir())) == 2
    assert capsys.readouterr().out == ""
    rc = main(["denoise", str(tmp_path / "none*.tif"), "-o", str(tmp_path / "o2")])
    err = capsys.readouterr().err
    assert rc == 2 and "no image files match" in err and err.count("\n") == 1
    rc = main(["denoise", str(tmp_path / "plate" / "*.tif"), "-o", str(tmp_path / "x.tif")])
    assert rc == 2 and "-o is a folder" in capsys.readouterr().err


def test_a_file_with_brackets_in_its_name_is_one_file_not_a_pattern(tmp_path, capsys):
    img = (np.random.default_rng(7).random((48, 56)) * 255).astype(np.uint8)
    src = tmp_path / "cells [1].tif"
    tifffile.imwrite(src, img)
    rc = main(["denoise", str(src), "-o", str(tmp_path / "out.tif"), "-m", "tv", "-q"])
    assert rc == 0, capsys.readouterr().err
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), nd.denoise(img, "tv"))
