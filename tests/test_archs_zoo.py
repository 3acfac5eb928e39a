"""Every registered architecture: shapes at odd sizes, training signal, bias-free
homogeneity, the public list_architectures / create_network, registry rules."""

import pytest
import torch

import napari_denoise as nd
from napari_denoise.core import registry
from napari_denoise.core.archs import CBDNet
from napari_denoise.core.registry import arch_names, create_arch

NEW = ["nafnet", "deep_unet", "n2n_sequential", "attention_unet", "cbdnet", "ridnet",
       "pridnet", "conv_autoencoder"]
# small sizes where the defaults would make a slow test
SMALL = {"deep_unet": {"width": 4}, "unet": {"features": 8}, "drunet": {"widths": (8, 16, 32, 64)},
         "dncnn": {"depth": 5, "features": 16}, "ffdnet": {"depth": 5, "features": 16}}


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_every_new_name_is_registered():
    assert set(NEW) | {"dncnn", "ffdnet", "unet", "drunet"} <= set(arch_names())


@pytest.mark.parametrize("name", arch_names())
@pytest.mark.parametrize("with_map", [False, True])
def test_output_shape_matches_odd_input(name, with_map):
    torch.manual_seed(0)
    m = create_arch(name, **SMALL.get(name, {})).eval()
    for attr in ("dims", "in_channels", "takes_noise_map", "rf_radius", "size_multiple"):
        assert hasattr(m, attr), attr
    x = torch.rand(2, 1, 37, 53)
    with torch.no_grad():
        y = m(x, torch.full((2,), 0.1)) if with_map else m(x)
        y2 = m(x, torch.full((2, 1, 37, 53), 0.1)) if with_map else m(x, None)
    assert y.shape == x.shape and y2.shape == x.shape
    assert torch.isfinite(y).all() and torch.isfinite(y2).all()


@pytest.mark.parametrize("name,args", [("deep_unet", {"width": 4, "dims": 3}),
                                       ("conv_autoencoder", {"features": (4, 4, 4), "dims": 3})])
def test_3d_variants_keep_shape(name, args):
    m = create_arch(name, **args).eval()
    x = torch.rand(1, 1, 9, 13, 11)
    with torch.no_grad():
        assert m(x).shape == x.shape


def _smooth_batch(seed=0, n=4, size=32):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    phase = torch.rand(n, 1, 1, 1, generator=g) * 6
    clean = 0.5 + 0.3 * torch.sin(6 * xx + phase) * torch.cos(4 * yy + phase)
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=g)).clamp(0, 1)
    return noisy, clean


@pytest.mark.parametrize("name", NEW)
def test_loss_falls_in_a_few_steps(name):
    torch.manual_seed(0)
    m = create_arch(name, **SMALL.get(name, {})).train()
    noisy, clean = _smooth_batch()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(m(noisy), clean)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(map(lambda v: v == v, losses))
    assert min(losses[-3:]) < losses[0], losses


@pytest.mark.parametrize("name,args", [
    ("deep_unet", {"width": 4, "bias_free": True}),
    ("conv_autoencoder", {"features": (8, 8, 8), "sigmoid": False, "bias_free": True}),
    ("n2n_sequential", {"variant": "nearest_relu", "bias_free": True}),
    ("n2n_sequential", {"variant": "transpose_relu", "bias_free": True}),
    ("cbdnet", {"bias_free": True}),
    ("drunet", {"widths": (8, 16, 32, 64)}),
    ("drunet", {"widths": (8, 16, 32, 64), "blocks": [1, 2, 2, 1]}),
])
def test_bias_free_is_homogeneous(name, args):
    torch.manual_seed(0)
    m = create_arch(name, **args).eval()
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        for p in m.parameters():  # move off the init so every path is exercised
            p.add_(0.05 * torch.randn_like(p))
        for a in (0.3, 2.5):
            y1 = m(a * x, torch.full((1,), a * 0.1))
            y2 = a * m(x, torch.full((1,), 0.1))
            scale = float(y2.abs().max()) + 1e-6
            assert torch.allclose(y1, y2, atol=1e-5 * scale, rtol=1e-4)
            assert not torch.allclose(y1, y2 + 0.01 * scale)  # not trivially zero


@pytest.mark.parametrize("name,args", [
    ("deep_unet", {"bias_free": True, "sigmoid": True}),
    ("conv_autoencoder", {"bias_free": True}),
    ("n2n_sequential", {"variant": "nearest_sigmoid", "bias_free": True}),
])
def test_bias_free_with_sigmoid_is_refused(name, args):
    with pytest.raises(ValueError, match="bias_free"):
        nd.create_network(name, **args)


def test_cbdnet_gives_its_noise_map():
    m = CBDNet().eval()
    x = torch.rand(2, 1, 21, 30)
    with torch.no_grad():
        y = m(x)
        est = m.estimate_map(x)
    assert y.shape == x.shape and est.shape == x.shape and (est >= 0).all()
    assert torch.allclose(m.last_map, est) and not m.last_map.requires_grad
    out, smap = CBDNet().forward_with_map(x)
    assert out.shape == x.shape and smap.shape == x.shape and smap.requires_grad
    assert m.takes_noise_map is False


def test_list_architectures_lists_every_name():
    entries = nd.list_architectures()
    assert [e["name"] for e in entries] == arch_names()
    for e in entries:
        assert e["parameters"] > 0 and e["macs_per_pixel"] > 0, e
        desc = e["description"]
        assert isinstance(desc, str) and desc and "\n" not in desc
        assert e["dims"] and set(e["dims"]) <= {2, 3}
        assert isinstance(e["takes_noise_map"], bool)
    by = {e["name"]: e for e in entries}
    assert by["ffdnet"]["takes_noise_map"] and not by["nafnet"]["takes_noise_map"]
    assert 3 in by["deep_unet"]["dims"]


def test_create_network_and_its_errors():
    net = nd.create_network("nafnet", width=8, enc_blocks=(1, 1))
    assert isinstance(net, torch.nn.Module) and net.size_multiple == 4
    with pytest.raises(ValueError) as info:
        nd.create_network("nope")
    assert "\n" not in str(info.value) and "unknown architecture 'nope'" in str(info.value)
    for bad in ({"bogus": 1}, {"variant": "cubic_relu"}):
        with pytest.raises(ValueError) as info:
            nd.create_network("n2n_sequential", **bad)
        assert "\n" not in str(info.value) and "n2n_sequential" in str(info.value)


def test_builtins_do_not_replace_a_users_name(monkeypatch):
    monkeypatch.setattr(registry, "_ARCHS", {})
    monkeypatch.setattr(registry, "_DESCRIPTIONS", {})

    @registry.register_arch("nafnet", description="my own")
    def mine(**kw):
        return "mine"

    assert registry.create_arch("nafnet") == "mine"
    assert registry.arch_description("nafnet") == "my own"
    assert {"ridnet", "drunet", "dncnn"} <= set(registry.arch_names())
    assert registry.arch_description("ridnet").startswith("RIDNet")


def test_register_arch_by_name_only_still_works(monkeypatch):
    monkeypatch.setattr(registry, "_ARCHS", dict(registry._ARCHS))

    @registry.register_arch("plain")
    def plain(**kw):
        return "plain"

    assert registry.create_arch("plain") == "plain"


def test_drunet_blocks_per_level():
    """A thinner full-resolution level (blocks per level): fewer weights, where a
    multiply-add costs most; the same keys as the uniform network at every other level,
    so its weights can start from it."""
    thin = create_arch("drunet", widths=(8, 16, 32), blocks=[1, 2, 2])
    full = create_arch("drunet", widths=(8, 16, 32), blocks=2)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(full) - n(thin) == 2 * 2 * 8 * 8 * 9  # one block (2 convs) down, one up
    with torch.no_grad():
        y = thin(torch.rand(1, 1, 37, 29), torch.full((1,), 0.1))
    assert y.shape == (1, 1, 37, 29)
    shared = set(thin.state_dict()) & set(full.state_dict())
    assert all(k in shared for k in thin.state_dict() if not k.startswith(("down.0.", "up.1.")))
    # the uniform network's weights start the thin one: first blocks and the level's convs
    fitted = thin.adapt_state(full.state_dict())
    thin.load_state_dict(fitted)
    fs = full.state_dict()
    assert torch.equal(thin.state_dict()["down.0.1.weight"], fs["down.0.2.weight"])  # strided
    assert torch.equal(thin.state_dict()["up.1.1.c2.weight"], fs["up.1.1.c2.weight"])
    with pytest.raises(ValueError, match="do not fit"):
        create_arch("drunet", widths=(8, 16, 64), blocks=[1, 2, 2]).adapt_state(fs)
    for bad in ([1, 2], [2, -1, 2], "two"):
        with pytest.raises(ValueError, match="blocks"):
            create_arch("drunet", widths=(8, 16, 32), blocks=bad)
