"""Tiny networks and BioImage Model Zoo packages for the export and import tests.

Packages "from elsewhere" are built here with bioimageio.spec's own classes, as another
tool would write them: a TorchScript network (a fixed 3x3 blur) with the pre- and
postprocessing, axes and weight formats each test needs.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from conftest import tiny_card


def tiny_ffdnet():
    """A TrainedModel-like FFDNet (noise-map input) with its card."""
    import torch

    from napari_denoise import TrainedModel, create_network

    torch.manual_seed(3)
    net = create_network("ffdnet", depth=4, features=8).eval()
    with torch.no_grad():  # a visible effect: the output is not the input
        net.body[-1].weight.mul_(30.0)
    card = tiny_card(name="tiny_ffdnet", arch="ffdnet", arch_args={"depth": 4, "features": 8},
                     sigma_range=[0, 75])
    return TrainedModel(module=net, card=card)


def tiny_n2n():
    """A user-trained Noise2Noise U-Net as train_noise2noise returns it (no noise map)."""
    import torch

    from napari_denoise import TrainedModel, create_network

    torch.manual_seed(4)
    net = create_network("unet", features=8, levels=2).eval()
    with torch.no_grad():  # a visible effect: the output is not the input
        net.out[-1].weight.mul_(20.0)
    card = tiny_card(name="my_n2n", arch="unet", arch_args={"features": 8, "levels": 2},
                     noise_model="self-supervised", sigma_range=[0, 0],
                     data_range=[100.0, 900.0],
                     training_data="user data, shape [8, 64, 64], uint16, axes TYX",
                     recipe="napari_denoise.train_noise2noise(data, pairs='neighbors')",
                     licence="the user's: trained on their own data")
    return TrainedModel(module=net, card=card)


def blur_net(channels: int = 1):
    """A fixed 3x3 blur as TorchScript bytes: (N, C, H, W) -> (N, C, H, W)."""
    import torch
    from torch import nn

    conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False, groups=channels)
    with torch.no_grad():
        k = torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
        conv.weight.copy_(k.expand(channels, 1, 3, 3))
    buf = io.BytesIO()
    torch.jit.save(torch.jit.trace(conv.eval(), torch.rand(1, channels, 16, 16)), buf)
    return buf.getvalue()


def foreign_package(tmp: Path, name: str = "foreign", *, pre=(), post=(), extra_axis=None,
                    weights: str = "torchscript", size: int = 32,
                    fixed: int | None = None) -> Path:
    """A package written by 'another tool': (batch, channel, y, x) by default, ``extra_axis``
    "z" or "time" inserts that axis; ``weights``: torchscript, keras_hdf5 or
    pytorch_state_dict (with an architecture file of its own); ``fixed``: one input size."""
    from bioimageio.spec import save_bioimageio_package
    from bioimageio.spec.model import v0_5 as s

    d = tmp / f"{name}_files"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    size = fixed or size
    shape = [1, 1, size, size]
    ax = [s.BatchAxis(), s.ChannelAxis(channel_names=["c0"])]
    oax = [s.BatchAxis(), s.ChannelAxis(channel_names=["c0"])]
    if extra_axis == "z":
        ax.append(s.SpaceInputAxis(id=s.AxisId("z"), size=4))
        oax.append(s.SpaceOutputAxis(id=s.AxisId("z"), size=4))
        shape.insert(2, 4)
    elif extra_axis == "time":
        ax.insert(1, s.TimeInputAxis(id=s.AxisId("t"), size=3))
        oax.insert(1, s.TimeOutputAxis(id=s.AxisId("t"), size=3))
        shape.insert(1, 3)
    for a in ("y", "x"):
        ax.append(s.SpaceInputAxis(id=s.AxisId(a), size=fixed or s.ParameterizedSize(
            min=16, step=8)))
        oax.append(s.SpaceOutputAxis(id=s.AxisId(a), size=s.SizeReference(
            tensor_id=s.TensorId("raw"), axis_id=s.AxisId(a))))
    x = (rng.random(shape) * 1000 + 200).astype(np.float32)
    np.save(d / "in.npy", x)
    np.save(d / "out.npy", x)  # not checked here: these packages are not run by test_model
    (d / "README.md").write_text("# test package\n\n## Validation\n\nnone\n")
    ver = s.Version("2.0")
    if weights == "torchscript":
        (d / "w.pt").write_bytes(blur_net())
        w = s.WeightsDescr(torchscript=s.TorchscriptWeightsDescr(source=d / "w.pt",
                                                                 pytorch_version=ver))
    elif weights == "keras_hdf5":
        (d / "w.h5").write_bytes(b"\x89HDF\r\n\x1a\n not really")
        w = s.WeightsDescr(keras_hdf5=s.KerasHdf5WeightsDescr(source=d / "w.h5",
                                                              tensorflow_version=ver))
    else:
        import torch

        (d / "arch.py").write_text("import torch\nclass Net(torch.nn.Conv2d):\n"
                                   "    def __init__(self):\n"
                                   "        super().__init__(1, 1, 3, padding=1)\n")
        torch.save(torch.nn.Conv2d(1, 1, 3, padding=1).state_dict(), d / "w.pt")
        w = s.WeightsDescr(pytorch_state_dict=s.PytorchStateDictWeightsDescr(
            source=d / "w.pt", pytorch_version=ver, architecture=s.ArchitectureFromFileDescr(
                source=d / "arch.py", callable=s.Identifier("Net"), kwargs={})))
    descr = s.ModelDescr(
        name=f"test {name}", description="a package from another tool",
        authors=[s.Author(name="test")], cite=[s.CiteEntry(text="test", doi="10.1000/1")],
        license=s.LicenseId("MIT"), documentation=s.FileDescr(source=d / "README.md"),
        covers=[], inputs=[s.InputTensorDescr(
            id=s.TensorId("raw"), axes=ax, test_tensor=s.FileDescr(source=d / "in.npy"),
            preprocessing=list(pre))],
        outputs=[s.OutputTensorDescr(
            id=s.TensorId("denoised"), axes=oax, test_tensor=s.FileDescr(source=d / "out.npy"),
            postprocessing=list(post))],
        weights=w)
    return save_bioimageio_package(descr, output_path=tmp / f"{name}.zip")


def rewrite_zip(src: Path, dst: Path, *, drop=(), replace=None, rdf=None) -> Path:
    """A copy of the package ``src`` without the files ``drop``, with ``replace``
    {name: bytes}, and its rdf.yaml changed by ``rdf(dict) -> dict``."""
    import yaml

    replace = dict(replace or {})
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
        for n in zi.namelist():
            if n in drop:
                continue
            data = replace.pop(n, None)
            if data is None:
                data = zi.read(n)
            if n == "rdf.yaml" and rdf is not None:
                data = yaml.safe_dump(rdf(yaml.safe_load(data))).encode()
            zo.writestr(n, data)
        for n, data in replace.items():
            zo.writestr(n, data)
    return dst
