"""Fault injection: out-of-memory at any tile, a full disk, a killed writer, a cancel at
a random tile, corrupt weights and a card that disagrees with its tensors."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tifffile
import torch

import napari_denoise as nd
from napari_denoise.cli import main
from napari_denoise.core.errors import DenoiseError, WeightsError
from napari_denoise.core.inference import denoise_iter, run_to_end
from napari_denoise.io import write_image


class OOMOnce(torch.nn.Module):
    """A local 3x3 filter that fails like a full GPU on its ``fail_at``-th call, once."""
    dims, in_channels, takes_noise_map, rf_radius, size_multiple = 2, 1, False, 1, 1

    def __init__(self, fail_at):
        super().__init__()
        self.fail_at, self.calls = fail_at, 0

    def forward(self, x, s=None):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("CUDA out of memory. Tried to allocate 4.00 GiB")
        return torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


@pytest.mark.parametrize("fail_at", [1, 3])
def test_out_of_memory_at_first_or_later_tile_shrinks_and_matches_untiled(rng, fail_at):
    img = rng.random((260, 260)).astype(np.float32)
    ref = run_to_end(denoise_iter(img, OOMOnce(fail_at=-1), device="cpu")).image
    model = OOMOnce(fail_at)
    res = run_to_end(denoise_iter(img, model, device="cpu", tile=256))
    assert res.info["oom_retries"] == 1
    np.testing.assert_allclose(res.image, ref, atol=1e-5)
    # the retry tiles are smaller than the first attempt's
    assert res.info["tile"] is not None and res.info["tile"] < 256


def test_full_disk_keeps_the_old_file_and_leaves_no_partial(tmp_path, monkeypatch):
    dst = tmp_path / "out.tif"
    dst.write_bytes(b"previous result")

    def full_disk(path, *a, **k):
        with open(path, "wb") as f:
            f.write(b"II*\x00partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tifffile, "imwrite", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_image(dst, np.zeros((16, 16), np.uint8))
    assert dst.read_bytes() == b"previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]


def test_killed_writer_never_leaves_a_half_written_output(tmp_path):
    dst = tmp_path / "out.tif"
    dst.write_bytes(b"previous result")
    script = textwrap.dedent(f"""
        import os, signal, numpy as np, tifffile
        from napari_denoise.io import write_image
        def dying(path, *a, **k):
            with open(path, "wb") as f:
                f.write(b"II*\\x00half")
                f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        tifffile.imwrite = dying
        write_image({str(dst)!r}, np.zeros((64, 64), np.uint16))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -9
    assert dst.read_bytes() == b"previous result"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cancel_at_a_random_tile_writes_nothing(tmp_path, monkeypatch, capsys, rng, seed):
    from napari_denoise import cli
    from napari_denoise.cli import _common  # run_with_progress looks ProgressLine up there

    src, dst = tmp_path / "in.tif", tmp_path / "out.tif"
    tifffile.imwrite(src, (rng.random((300, 300)) * 255).astype(np.uint8))
    stop_at = int(np.random.default_rng(seed).integers(1, 9))
    seen = []

    class Interrupting(cli.ProgressLine):
        def __call__(self, p):
            if p.total > 1 and p.done >= 1:
                seen.append(p.done)
                if len(seen) >= stop_at:
                    raise KeyboardInterrupt

    monkeypatch.setattr(_common, "ProgressLine", Interrupting)
    rc = main(["denoise", str(src), "-o", str(dst), "-m", "tv", "--tile", "64"])
    assert rc == 130 and "no output written" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]

    # the API: closing the generator at that tile gives no result and no error
    gen = denoise_iter(np.zeros((300, 300), np.float32) + np.eye(300, dtype=np.float32),
                       "tv", tile=64)
    for _ in range(stop_at + 1):
        next(gen)
    gen.close()
    with pytest.raises(StopIteration):
        next(gen)


def test_truncated_weights_are_a_one_line_error_on_the_command_line(tiny_model_file, tmp_path,
                                                                     capsys):
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(tiny_model_file.read_bytes()[:300])
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, np.eye(32, dtype=np.uint8) * 200)
    rc = main(["denoise", str(src), "-o", str(tmp_path / "o.tif"), "--model", str(bad)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "cut.safetensors" in err[0]
    assert not (tmp_path / "o.tif").exists()


@pytest.mark.parametrize("bad_args", [{"depth": 3, "features": 16},
                                      {"depth": 3, "features": 8, "heads": 4}])
def test_user_model_whose_card_disagrees_with_its_tensors(tmp_path, bad_args):
    from safetensors.torch import load_file, save_file

    from conftest import tiny_card
    from napari_denoise.core.archs import DnCNN
    from napari_denoise.core.weights import CARD_KEY, save_model

    import json

    good = save_model(DnCNN(depth=3, features=8), tmp_path / "good.safetensors", tiny_card())
    state = load_file(str(good))
    bad = tmp_path / "bad.safetensors"
    save_file(state, str(bad), metadata={CARD_KEY: json.dumps(tiny_card(arch_args=bad_args))})
    with pytest.raises(WeightsError) as info:
        nd.load_model(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(DenoiseError):
        nd.denoise(np.eye(32, dtype=np.float32), str(bad))
