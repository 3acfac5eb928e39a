import pytest
import torch

from napari_denoise.core.archs import DnCNN, FFDNet, UNet
from napari_denoise.core.models import fold_batchnorm
from napari_denoise.core.registry import arch_names, create_arch


def _randomise_bn(model):
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
        if hasattr(m, "running_var") and not isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_var.uniform_(0.5, 2.0)
    return model


@pytest.mark.parametrize("net,x", [
    (lambda: DnCNN(depth=5, features=16), (2, 1, 23, 31)),
    (lambda: DnCNN(depth=4, features=8, dims=3), (1, 1, 7, 12, 13)),
    (lambda: DnCNN(in_channels=3, depth=4, features=8), (1, 3, 16, 17)),
    (lambda: FFDNet(depth=4, features=16), (2, 1, 23, 31)),
    (lambda: FFDNet(in_channels=3, depth=4, features=16), (1, 3, 20, 21)),
    (lambda: UNet(features=8, levels=3), (1, 1, 37, 45)),
    (lambda: UNet(features=4, levels=2, dims=3), (1, 1, 9, 13, 10)),
])
def test_output_shape_matches_input(net, x):
    m = net().eval()
    inp = torch.rand(x)
    with torch.no_grad():
        y = m(inp, torch.full((x[0],), 0.1))
    assert y.shape == inp.shape
    assert torch.isfinite(y).all()


def test_registry_knows_archs():
    assert {"dncnn", "ffdnet", "unet"} <= set(arch_names())
    assert isinstance(create_arch("DnCNN", depth=3), DnCNN)
    with pytest.raises(ValueError, match="unknown architecture"):
        create_arch("resnet9000")


@pytest.mark.parametrize("net", [
    lambda: DnCNN(depth=6, features=16, bias_free=True),
    lambda: FFDNet(depth=5, features=16, bias_free=True),
])
def test_bias_free_is_scale_equivariant(net):
    torch.manual_seed(0)
    m = _randomise_bn(net()).eval()
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        for a in (0.3, 2.5):
            y1 = m(a * x, torch.full((1,), a * 0.1))
            y2 = a * m(x, torch.full((1,), 0.1))
            assert torch.allclose(y1, y2, atol=1e-5 * a, rtol=1e-4)


def test_network_with_bias_is_not_scale_equivariant():
    # the property above is a real property of bias-free nets, not of any net
    torch.manual_seed(0)
    m = _randomise_bn(DnCNN(depth=6, features=16)).eval()
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(m(2.5 * x), 2.5 * m(x), atol=1e-4)


@pytest.mark.parametrize("net", [
    lambda: DnCNN(depth=6, features=16),
    lambda: DnCNN(depth=6, features=16, bias_free=True),
    lambda: FFDNet(depth=5, features=16),
    lambda: DnCNN(depth=4, features=8, dims=3),
])
def test_batchnorm_folding_preserves_output(net):
    torch.manual_seed(0)
    m = _randomise_bn(net()).eval()
    x = torch.rand((1, 1, 8, 20, 20) if m.dims == 3 else (1, 1, 40, 40))
    with torch.no_grad():
        ref = m(x, torch.full((1,), 0.1))
        folded = fold_batchnorm(m)
        n_bn = sum(isinstance(k, torch.nn.modules.batchnorm._BatchNorm) for k in folded.modules())
        assert n_bn == 0
        assert torch.allclose(folded(x, torch.full((1,), 0.1)), ref, atol=1e-5)
