"""``napari-denoise export``: a network out as a BioImage Model Zoo package, ONNX or
TorchScript."""

from __future__ import annotations

import time

from ._common import PROG, CLIError


def add_export(sub) -> None:
    p = sub.add_parser(
        "export", help="export a network (BioImage Model Zoo package, ONNX, TorchScript)",
        description="Write a network as a BioImage Model Zoo package (.zip: weights as "
                    "pytorch_state_dict, TorchScript and ONNX, test tensors, the model card "
                    "as documentation; checked with bioimageio's model test), or as ONNX or "
                    "TorchScript alone. Needs: pip install \"napari-denoise[export]\".")
    p.add_argument("model", metavar="MODEL",
                   help=f"a network name ('{PROG} models'), your model's name or a "
                        f".safetensors file")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="the file to write (model.zip, model.onnx, model.pt)")
    p.add_argument("--format", choices=("bioimageio", "onnx", "torchscript"), default=None,
                   help="default: from OUT's extension (.onnx, .pt; anything else: "
                        "bioimageio)")
    p.add_argument("--licence", "--license", dest="licence", metavar="SPDX", default=None,
                   help="licence of a package (an SPDX id such as CC-BY-4.0; default the "
                        "model card's, or CC-BY-4.0)")
    p.add_argument("--no-test", dest="test", action="store_false",
                   help="skip bioimageio's model test of the package (faster)")
    p.set_defaults(func=_run_export)


def _run_export(args) -> int:
    from pathlib import Path

    from ..core.export.exporter import export_model, format_for

    out = Path(args.output).expanduser()
    fmt = format_for(out, args.format)
    if out.exists() and out.is_dir():
        raise CLIError(f"-o {out} is a folder: give a file name such as "
                       f"{out / 'model.zip'}")
    t0 = time.perf_counter()
    path = export_model(args.model, out, fmt, licence=args.licence, test=args.test)
    what = {"bioimageio": "BioImage Model Zoo package", "onnx": "ONNX model",
            "torchscript": "TorchScript model"}[fmt]
    tested = " (bioimageio model test passed)" if fmt == "bioimageio" and args.test else ""
    print(f"{what} written to {path}{tested} in {time.perf_counter() - t0:.1f} s")
    return 0
