"""ONNX export, the ONNX Runtime backend, int8 models and how "auto" picks a backend."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")  # the [export] extra (part of [test])

from napari_denoise.core.archs import DRUNet  # noqa: E402
from napari_denoise.core.export.onnx import to_onnx  # noqa: E402
from napari_denoise.core.registry import create_arch  # noqa: E402


def tiny(kind):
    torch.manual_seed(0)
    if kind == "drunet":
        net = DRUNet(widths=(4, 8, 16), blocks=1)
    elif kind == "ffdnet":
        net = create_arch("ffdnet", depth=4, features=8)
    else:
        net = create_arch("dncnn", depth=4, features=8)
    with torch.no_grad():  # He-normal weights everywhere (the inits keep the residual
        for m in net.modules():  # tiny) and non-trivial BatchNorm statistics
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                m.weight.mul_(0.5)
            if hasattr(m, "running_var"):
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.0)
    return net.eval()


@pytest.mark.parametrize("kind", ["drunet", "ffdnet", "dncnn"])
def test_onnx_export_matches_torch(kind, tmp_path, rng):
    net = tiny(kind)
    takes_map = bool(net.takes_noise_map)
    path = to_onnx(net, tmp_path / f"{kind}.onnx", in_channels=1, takes_map=takes_map)
    assert path.exists() and not list(tmp_path.glob("*.part"))  # written atomically
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    assert names == (["input", "noise_level"] if takes_map else ["input"])
    # another batch size and size than traced: N, H and W are dynamic
    x = rng.random((2, 1, 40, 56)).astype(np.float32)
    m = rng.uniform(0.02, 0.2, (2, 1, 40, 56)).astype(np.float32)
    feed = {"input": x, "noise_level": m} if takes_map else {"input": x}
    y = sess.run(["output"], feed)[0]
    with torch.no_grad():
        ref = net(torch.from_numpy(x), torch.from_numpy(m) if takes_map else None).numpy()
    assert y.shape == ref.shape
    assert np.abs(y - ref).max() < 1e-4
    assert np.abs(ref - x).mean() > 1e-3  # the network does something
