"""Export every shipped network as a BioImage Model Zoo package: how long it takes, how
large the package is, and how far each exported weight format is from our network on
the package's own test tensors.

For each shipped model: ``nd.export_model(name, tmp/NAME.zip)`` timed twice (wall and
CPU seconds of this process: on a shared machine the CPU time is the steadier figure),
without and with bioimageio's model test (``bioimageio.core.test_model``: every weight format must
reproduce the test output); then the package's test input is run

* by bioimageio.core's prediction pipeline (its own scale_range preprocessing) with each
  weight format (pytorch_state_dict, torchscript, onnx), against the test output our
  fp32 network wrote (max absolute difference, in the normalised [0, 1] units);
* by this engine, importing the package (``nd.denoise(img, "NAME.zip")``) against the
  original model (``nd.denoise(img, NAME)``), both fp32, same noise level (max absolute
  difference in the test input's units, 0-255).

    python benchmarks/export.py            # prints the Markdown table
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def bioimageio_outputs(path: Path) -> dict[str, float]:
    """Max |output - test output| per weight format, run by bioimageio.core."""
    from bioimageio.core import create_prediction_pipeline, load_description
    from bioimageio.core.digest_spec import get_test_input_sample

    descr = load_description(path)
    expected = descr.get_output_test_arrays()[0]
    out = {}
    for fmt in ("pytorch_state_dict", "torchscript", "onnx"):
        pipe = create_prediction_pipeline(descr, weight_format=fmt)
        sample = get_test_input_sample(descr)
        res = pipe.predict_sample_without_blocking(sample)
        got = np.asarray(res.members[descr.outputs[0].id].data)
        out[fmt] = float(np.abs(got - expected).max())
    return out


def engine_difference(name: str, path: Path) -> float:
    """Max |denoise(test input, package) - denoise(test input, NAME)|, fp32, 0-255 units."""
    import napari_denoise as nd

    with __import__("zipfile").ZipFile(path) as z:
        import io

        img = np.load(io.BytesIO(z.read("test_input.npy")))[0, 0]
    kw = dict(sigma=25.0, precision="fp32", data_range=(0, 255))
    a = nd.denoise(img, name, **kw)
    b = nd.denoise(img, str(path), **kw)
    return float(np.abs(a - b).max())


def main() -> None:
    import torch

    import napari_denoise as nd
    from napari_denoise.core.registry import pretrained_entries

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=None, help="default: every shipped model")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    names = args.models or sorted(pretrained_entries())
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name in names:
            w0, c0 = time.perf_counter(), time.process_time()
            nd.export_model(name, Path(d) / f"{name}_untested.zip", test=False)
            te = (time.perf_counter() - w0, time.process_time() - c0)
            w0, c0 = time.perf_counter(), time.process_time()
            path = nd.export_model(name, Path(d) / f"{name}.zip", test=True)
            tt = (time.perf_counter() - w0, time.process_time() - c0)
            diffs = bioimageio_outputs(path)
            eng = engine_difference(name, path)
            rows.append((name, te, tt, path.stat().st_size / 1e6, diffs, eng))
            print(f"{name}: {te[0]:.1f} s ({te[1]:.1f} s CPU), tested {tt[0]:.1f} s "
                  f"({tt[1]:.1f} s CPU)", flush=True)
    print("\n| model | export: wall / CPU (s) | export + bioimageio test: wall / CPU (s) | "
          "package (MB) | max diff state dict | max diff TorchScript | max diff ONNX | "
          "max diff imported, this engine (0-255) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, te, tt, mb, diffs, eng in rows:
        print(f"| {name} | {te[0]:.1f} / {te[1]:.1f} | {tt[0]:.1f} / {tt[1]:.1f} | {mb:.1f} | "
              f"{diffs['pytorch_state_dict']:.1e} | {diffs['torchscript']:.1e} | "
              f"{diffs['onnx']:.1e} | {eng:.1e} |")


if __name__ == "__main__":
    main()
