"""Export a network as a BioImage Model Zoo package (bioimageio spec 0.5, a .zip).

The description is built with ``bioimageio.spec``'s own classes and written with
``save_bioimageio_package``; nothing here writes YAML by hand. What the package holds:

* inputs ``input`` (batch, channel, y, x) float32 in the data's units, normalised by
  ``scale_range`` (percentiles 0.01 and 99.99 over channel, y and x: the engine's range
  estimate), and for networks that take a noise map ``noise_level`` (batch, 1, y, x),
  the noise standard deviation in the units of the normalised input; y and x are
  multiples of the network's ``size_multiple`` (min one multiple, step one);
* output ``output``: the denoised image in the normalised [0, 1] units (no
  postprocessing: the spec has no inverse of ``scale_range``);
* test tensors (a noisy crop of a photo, its noise map, our fp32 output), a cover
  (noisy | denoised), documentation from the model card, licence, citations;
* weights as ``pytorch_state_dict`` with the architecture's source (one self-contained
  file, :mod:`.arch_source`, and the card's ``arch_args``), ``torchscript`` and
  ``onnx`` (:mod:`.onnx`), the last two with BatchNorm folded into the convolutions;
* ``config.napari_denoise``: the model card, so that importing the package here runs it
  exactly as the original (:mod:`.package`).

The file appears only when complete (a temporary file renamed into place).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np

from ..errors import DenoiseError
from .source import Exportable

#: the engine's range estimate (:func:`..normalise.estimate_range`) in the spec's terms
PERCENTILES = (0.01, 99.99)
EPS = 1e-6
CONFIG_KEY = "napari_denoise"

CITATIONS = {
    "ffdnet": ("Zhang, Zuo, Zhang (2018): FFDNet: Toward a fast and flexible solution for "
               "CNN-based image denoising. IEEE TIP 27(9)", "10.1109/TIP.2018.2839891"),
    "dncnn": ("Zhang, Zuo, Chen, Meng, Zhang (2017): Beyond a Gaussian denoiser: residual "
              "learning of deep CNN for image denoising. IEEE TIP 26(7)",
              "10.1109/TIP.2017.2662206"),
    "drunet": ("Zhang, Li, Zuo, Zhang, Van Gool, Timofte (2022): Plug-and-play image "
               "restoration with deep denoiser prior. IEEE TPAMI 44(10)",
               "10.1109/TPAMI.2021.3088914"),
    "unet": ("Ronneberger, Fischer, Brox (2015): U-Net: convolutional networks for "
             "biomedical image segmentation. MICCAI", "10.1007/978-3-319-24574-4_28"),
    "noise2noise": ("Lehtinen et al. (2018): Noise2Noise: learning image restoration "
                    "without clean data. ICML", "https://arxiv.org/abs/1803.04189"),
}
_SPDX = re.compile(r"^(BSD-[23]-Clause|MIT|Apache-2\.0|CC-BY-4\.0|CC0-1\.0|GPL-3\.0[-a-z]*|"
                   r"LGPL-3\.0[-a-z]*|MPL-2\.0)\b")


def _spec():
    try:
        from bioimageio.spec.model import v0_5
    except ImportError:
        raise DenoiseError('BioImage Model Zoo export needs bioimageio.core: pip install '
                           '"napari-denoise[export]"') from None
    return v0_5


# -- contents ---------------------------------------------------------------------------

def test_images(ex: Exportable, side: int = 128, seed: int = 0):
    """(noisy input in data units (1, C, H, W), noise map in normalised units or None,
    clean image in data units) from a photo bundled with scikit-image."""
    from skimage import data

    m = ex.size_multiple
    side = m * -(-side // m)
    cam = data.camera().astype(np.float32) / 255.0
    crops = [cam[160 + 24 * c:160 + 24 * c + side, 200:200 + side] for c in range(ex.in_channels)]
    clean01 = np.stack(crops)[None]
    lo, hi = (float(v) for v in (ex.card.get("data_range") or (0.0, 255.0)))
    sig01 = 25.0 / 255.0
    if ex.card.get("sigma_range"):
        a, b = (float(v) for v in ex.card["sigma_range"])
        if b > 0:
            sig01 = min(max(25.0, a), b) / 255.0
    rng = np.random.default_rng(seed)
    noisy01 = clean01 + rng.normal(0.0, sig01, clean01.shape).astype(np.float32)
    to_data = lambda a: (lo + (hi - lo) * a).astype(np.float32)  # noqa: E731
    noisy = to_data(noisy01)
    p_lo, p_hi = np.percentile(noisy, PERCENTILES)
    smap = None
    if ex.takes_map:
        level = sig01 * (hi - lo) / (float(p_hi - p_lo) + EPS)
        smap = np.full((1, 1, side, side), level, np.float32)
    return noisy, smap, to_data(clean01)


def normalise(x: np.ndarray) -> np.ndarray:
    """What ``scale_range`` with :data:`PERCENTILES` does to a test input."""
    p_lo, p_hi = np.percentile(x, PERCENTILES)
    return ((x - p_lo) / (p_hi - p_lo + EPS)).astype(np.float32)


def run_module(module, x01: np.ndarray, smap: np.ndarray | None) -> np.ndarray:
    import torch

    with torch.no_grad():
        t = torch.from_numpy(x01)
        y = module(t, None if smap is None else torch.from_numpy(smap))
    return y.float().numpy()


def cover_png(path: Path, noisy01: np.ndarray, out01: np.ndarray) -> None:
    """noisy | denoised, side by side (first channel, or RGB for 3 channels)."""
    import imageio.v3 as iio

    def rgb(a):
        a = a[0]
        a = np.moveaxis(a, 0, -1) if a.shape[0] == 3 else a[0]
        return (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)

    n, o = rgb(noisy01), rgb(out01)
    gap = np.full((n.shape[0], 4) + n.shape[2:], 255, np.uint8)
    iio.imwrite(path, np.concatenate([n, gap, o], axis=1))


def documentation(ex: Exportable, has_state_dict: bool) -> str:
    c = ex.card
    lines = [f"# {ex.name}", "", c.get("description") or "A denoising network exported "
             "from napari-denoise.", "",
             "Exported from [napari-denoise](https://pypi.org/project/napari-denoise/) with "
             "`napari-denoise export`; `napari-denoise denoise IMAGE --model THIS.zip` runs "
             "it as the original model.", "", "## Inputs and outputs", "",
             "- `input`: (batch, channel, y, x), the noisy image in its own units. "
             "Preprocessing `scale_range` maps the 0.01 and 99.99 percentiles to 0 and 1, "
             "the normalisation the network was trained with. y and x must be multiples "
             f"of {ex.size_multiple}."]
    if ex.takes_map:
        lines.append("- `noise_level`: (batch, 1, y, x), the noise standard deviation "
                     "per pixel *in the units of the normalised input*: sigma / (p99.99 - "
                     "p0.01) of the image (for 8-bit data filling 0-255 and sigma 25 in "
                     "0-255 units, about 0.098). A constant map for uniform noise.")
    lines += ["- `output`: the denoised image in the normalised units (0 and 1 are the "
              "input's 0.01 and 99.99 percentiles); multiply by (p99.99 - p0.01) and add "
              "p0.01 to return to the data's units.", ""]
    t = c.get("noise_transform") or {}
    if c.get("noise_domain") == "gat":
        lines += ["**Trained on the Generalized Anscombe transform** of the data "
                  f"(a = {t.get('a')}, b = {t.get('b')}): apply it to the image before "
                  "`input` and its exact unbiased inverse to the output (the spec cannot "
                  "express it; napari-denoise does both when it runs this package).", ""]
    for title, key in (("Training data", "training_data"), ("Noise model", "noise_model"),
                       ("Normalisation", "normalisation"), ("Limitations", "limitations"),
                       ("Licence", "licence"), ("Training recipe", "recipe")):
        if c.get(key):
            lines += [f"## {title}", "", str(c[key]), ""]
    if c.get("sigma_range"):
        lines += [f"Trained for noise levels {c['sigma_range'][0]}-{c['sigma_range'][1]} "
                  f"(0-255 units).", ""]
    lines += ["## Validation", ""]
    metrics = c.get("metrics")
    if metrics:
        lines += ["Metrics recorded in the model card (PSNR in dB):", "", "```",
                  _metrics_text(metrics), "```", ""]
    lines += ["The package's test tensors (a noisy crop of scikit-image's camera photo, "
              "its noise map, and this network's float32 output) are reproduced by every "
              "weight format (`bioimageio test`).", "", "## Weights", "",
              ("- `pytorch_state_dict`: the network as its architecture file defines it "
               f"(`{c.get('arch')}`, arguments {c.get('arch_args')})." if has_state_dict
               else "- no `pytorch_state_dict` (a network defined outside napari-denoise)."),
              "- `torchscript`, `onnx`: the same network, BatchNorm folded into the "
              "convolutions.", ""]
    return "\n".join(lines)


def _metrics_text(metrics, indent: str = "") -> str:
    out = []
    for k, v in metrics.items():
        if isinstance(v, dict):
            out.append(f"{indent}{k}:")
            out.append(_metrics_text(v, indent + "  "))
        else:
            out.append(f"{indent}{k}: {v}")
    return "\n".join(out)


def licence_id(card: dict, licence: str | None) -> str:
    text = licence or str(card.get("licence", ""))
    m = _SPDX.match(text.strip())
    if m:
        return m.group(0)
    if licence:
        return licence  # the spec checks it
    return "CC-BY-4.0"


def citations(v0_5, ex: Exportable) -> list:
    arch = str(ex.card.get("arch", type(ex.module).__name__)).lower()
    keys = [arch] if arch in CITATIONS else []
    if ex.card.get("noise_model") == "self-supervised":
        keys.append("noise2noise")
    if not keys:
        keys = ["dncnn"]  # residual denoising networks
    out = []
    for k in keys:
        text, ref = CITATIONS[k]
        out.append(v0_5.CiteEntry(text=text, url=ref) if ref.startswith("http")
                   else v0_5.CiteEntry(text=text, doi=ref))
    return out


# -- the package ------------------------------------------------------------------------

def _axes(v0_5, ex: Exportable):
    m = ex.size_multiple
    names = ["gray"] if ex.in_channels == 1 else \
        (["red", "green", "blue"] if ex.in_channels == 3 else
         [f"channel{i}" for i in range(ex.in_channels)])
    inp = [v0_5.BatchAxis(), v0_5.ChannelAxis(channel_names=names)] + [
        v0_5.SpaceInputAxis(id=v0_5.AxisId(a), size=v0_5.ParameterizedSize(min=m, step=m))
        for a in ("y", "x")]

    def ref(a):
        return v0_5.SizeReference(tensor_id=v0_5.TensorId("input"), axis_id=v0_5.AxisId(a))

    out = [v0_5.BatchAxis(), v0_5.ChannelAxis(channel_names=names)] + [
        v0_5.SpaceOutputAxis(id=v0_5.AxisId(a), size=ref(a)) for a in ("y", "x")]
    nl = [v0_5.BatchAxis(), v0_5.ChannelAxis(channel_names=["noise_level"])] + [
        v0_5.SpaceInputAxis(id=v0_5.AxisId(a), size=ref(a)) for a in ("y", "x")]
    return inp, out, nl


def _weights(v0_5, ex: Exportable, work: Path):
    import torch

    from .onnx import DEFAULT_OPSET, to_onnx
    from .arch_source import standalone_source
    from .torchscript import to_torchscript
    from ..models import fold_batchnorm

    import copy

    version = v0_5.Version(torch.__version__.split("+")[0])
    src = standalone_source(ex.card) if ex.card.get("arch") else None
    state = None
    if src is not None:
        text, callable_name = src
        (work / "architecture.py").write_text(text, encoding="utf-8")
        torch.save({k: v.detach().clone() for k, v in ex.module.state_dict().items()},
                   work / "weights.pt")
        state = v0_5.PytorchStateDictWeightsDescr(
            source=work / "weights.pt", pytorch_version=version,
            architecture=v0_5.ArchitectureFromFileDescr(
                source=work / "architecture.py", callable=v0_5.Identifier(callable_name),
                kwargs=dict(ex.card.get("arch_args", {}))))
    folded = fold_batchnorm(copy.deepcopy(ex.module).eval())
    kw = dict(in_channels=ex.in_channels, takes_map=ex.takes_map)
    to_torchscript(folded, work / "weights.torchscript.pt", **kw)
    to_onnx(folded, work / "weights.onnx", **kw)
    parent = "pytorch_state_dict" if state is not None else None
    return v0_5.WeightsDescr(
        pytorch_state_dict=state,
        torchscript=v0_5.TorchscriptWeightsDescr(
            source=work / "weights.torchscript.pt", pytorch_version=version, parent=parent),
        onnx=v0_5.OnnxWeightsDescr(source=work / "weights.onnx", opset_version=DEFAULT_OPSET,
                                   parent=parent or "torchscript"))


def _name(ex: Exportable) -> str:
    name = re.sub(r"[^A-Za-z0-9_+\- ()]+", "_", f"napari-denoise {ex.name}")
    return name[:64]


def describe(ex: Exportable, work: Path, *, licence: str | None = None):
    """The ``ModelDescr`` of ``ex``, its files written into the folder ``work``."""
    v0_5 = _spec()
    noisy, smap, _clean = test_images(ex)
    x01 = normalise(noisy)
    out = run_module(ex.module, x01, smap)
    np.save(work / "test_input.npy", noisy)
    np.save(work / "test_output.npy", out)
    if smap is not None:
        np.save(work / "test_noise_level.npy", smap)
    cover_png(work / "cover.png", x01, out)
    weights = _weights(v0_5, ex, work)
    (work / "README.md").write_text(documentation(ex, weights.pytorch_state_dict is not None),
                                    encoding="utf-8")
    inp_axes, out_axes, nl_axes = _axes(v0_5, ex)
    scale = v0_5.ScaleRangeDescr(kwargs=v0_5.ScaleRangeKwargs(
        axes=[v0_5.AxisId("channel"), v0_5.AxisId("y"), v0_5.AxisId("x")],
        min_percentile=PERCENTILES[0], max_percentile=PERCENTILES[1], eps=EPS))
    inputs = [v0_5.InputTensorDescr(
        id=v0_5.TensorId("input"), axes=inp_axes, test_tensor=v0_5.FileDescr(
            source=work / "test_input.npy"), preprocessing=[scale],
        description="the noisy image, in its own units")]
    if smap is not None:
        inputs.append(v0_5.InputTensorDescr(
            id=v0_5.TensorId("noise_level"), axes=nl_axes,
            test_tensor=v0_5.FileDescr(source=work / "test_noise_level.npy"),
            description="noise standard deviation per pixel, in the units of the "
                        "normalised input (sigma / (p99.99 - p0.01) of the image)"))
    outputs = [v0_5.OutputTensorDescr(
        id=v0_5.TensorId("output"), axes=out_axes,
        test_tensor=v0_5.FileDescr(source=work / "test_output.npy"),
        description="the denoised image in the normalised units of the input")]
    card = {k: v for k, v in ex.card.items() if v is not None}
    arch = str(ex.card.get("arch") or type(ex.module).__name__).lower()
    return v0_5.ModelDescr(
        name=_name(ex),
        description=(ex.card.get("description") or f"{ex.name}: a denoising network "
                     f"exported from napari-denoise")[:1024],
        authors=[v0_5.Author(name="napari-denoise")],
        cite=citations(v0_5, ex),
        license=v0_5.LicenseId(licence_id(ex.card, licence)),
        documentation=v0_5.FileDescr(source=work / "README.md"),
        covers=[v0_5.FileDescr(source=work / "cover.png")],
        tags=["denoising", "2d", "napari-denoise", arch, "pytorch", "torchscript", "onnx"],
        inputs=inputs, outputs=outputs, weights=weights,
        config=v0_5.Config(**{CONFIG_KEY: {
            "card": card, "takes_map": ex.takes_map, "in_channels": ex.in_channels,
            "size_multiple": ex.size_multiple,
            "rf_radius": int(getattr(ex.module, "rf_radius", 0) or 0)}}),
    )


def to_bioimageio(ex: Exportable, path, *, licence: str | None = None,
                  test: bool = True) -> Path:
    """Write ``ex`` as a BioImage Model Zoo package (.zip) to ``path``; returns the path.

    ``test``: run ``bioimageio.core.test_model`` on the package first (every weight
    format must reproduce the test output); a package that fails is not written."""
    from bioimageio.spec import save_bioimageio_package

    path = Path(path)
    if path.suffix.lower() != ".zip":
        path = path.with_name(path.name + ".zip")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.part.zip")
    try:
        with tempfile.TemporaryDirectory(prefix="napari-denoise-export-") as d:
            try:
                descr = describe(ex, Path(d), licence=licence)
            except ValueError as exc:  # pydantic's ValidationError is one
                raise DenoiseError(f"the package description is not valid: "
                                   f"{_first_line(exc)}") from None
            save_bioimageio_package(descr, output_path=tmp)
        if test:
            check_package(tmp)
        os.chmod(tmp, 0o644)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def check_package(path) -> None:
    """``bioimageio.core.test_model`` on ``path``; DenoiseError naming the first failure."""
    from bioimageio.core import test_model

    summary = test_model(Path(path))
    if summary.status != "passed":
        fails = [f"{d.name}: {e.msg}" for d in summary.details if d.status == "failed"
                 for e in (d.errors or [])] or [d.name for d in summary.details
                                                 if d.status == "failed"]
        raise DenoiseError("the exported package failed bioimageio's model test: " +
                           (" ".join(fails[0].split())[:300] if fails else summary.status))


def _first_line(exc) -> str:
    return " ".join(str(exc).split())[:300]
