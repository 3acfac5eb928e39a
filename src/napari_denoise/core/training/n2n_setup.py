"""Building a self-supervised training: the data arranged, the network, the pairs, the loss.

Used by :class:`.n2n.Noise2NoiseTrainer`; every function takes the checked
:class:`.n2n_config.Noise2NoiseConfig`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .n2n_config import Noise2NoiseConfig, anisotropy
from .pairs import (
    BlindSpotSampler,
    NeighborFramesSampler,
    OtherFramesSampler,
    SubsampleSampler,
    TwoCapturesSampler,
)

DEFAULT_ARCH_ARGS = {
    "unet": {"features": 32, "levels": 3, "residual": True},
    "dncnn": {"depth": 17, "features": 64},
}
CHARBONNIER_EPS = 1e-3
#: patch side by dims: a 64-voxel cube holds 64 times a 64-pixel square and each of its
#: convolutions has 3 times the taps; 32 keeps a 3-D step within a few 2-D ones on a CPU
DEFAULT_PATCH = {2: 64, 3: 32}


def arrange_data(data, axes, axis, dims: int, name: str = "data"):
    """(array with the spatial axes last, stack axis index or None)."""
    arr = np.asarray(data)
    if arr.dtype.kind not in "uif":
        raise ValueError(f"unsupported {name} type {arr.dtype}: use integer or floating-point data")
    if arr.size == 0:
        raise ValueError(f"the {name} are empty (shape {arr.shape})")
    if axes is None:
        if isinstance(axis, str):
            raise ValueError(f"axis={axis!r} names an axis: give axes= too (e.g. axes='TYX')")
        if arr.ndim < dims:
            raise ValueError(f"need at least {dims}-D {name} for dims={dims}, got shape "
                             f"{arr.shape}")
        return arr, (0 if axis is None else int(axis))
    from ..axes import normalize_axes

    ax = normalize_axes(axes, arr.ndim)
    spatial = "ZYX"[-dims:] if dims == 3 else "YX"
    if dims == 3 and "Z" not in ax:
        raise ValueError(f"dims=3 needs a Z axis (axes {ax!r})")
    order = [i for i, a in enumerate(ax) if a not in spatial] + [ax.index(a) for a in spatial]
    arr = arr.transpose(order)
    if axis is None:  # T, else Z, else another axis that is not a channel axis
        lead = [a for a in ax if a not in spatial]
        pick = next((a for a in "TZ" if a in lead), None)
        return arr, (None if pick is None else order.index(ax.index(pick)))
    if isinstance(axis, str):
        letter = axis.upper()
        if letter not in ax:
            raise ValueError(f"axis {axis!r} is not in the axes {ax!r}")
        if letter in spatial:
            raise ValueError(f"axis {axis!r} is spatial; the stack axis must be another one")
        return arr, order.index(ax.index(letter))
    i = int(axis) % arr.ndim
    return arr, order.index(i)


def load_init(init):
    """(trainable module in fp32, its card) from a model name, path or trained model."""
    from ..errors import ModelNotFoundError
    from ..weights import load_model

    if hasattr(init, "module") and hasattr(init, "card"):
        card = dict(init.card)
        if "arch" not in card:
            raise ValueError("init: the model's card names no architecture")
        return copy.deepcopy(init.module).float().cpu(), card
    try:
        from torch import nn

        if isinstance(init, nn.Module):
            raise ValueError("init= takes a model name, a .safetensors path or a trained model; "
                             "pass a bare network through a TrainedModel or save it first")
    except ImportError:  # pragma: no cover
        pass
    if isinstance(init, Path) or (isinstance(init, str) and (
            init.endswith((".safetensors", ".pt", ".pth")) or "/" in init or "\\" in init)):
        p = Path(init).expanduser()
        if not p.exists():
            raise ModelNotFoundError(f"model file not found: {p}")
        module, card = load_model(p)
        return module.float(), dict(card)
    if not isinstance(init, str):
        raise ValueError(f"init must be a model name, a path or a trained model, not "
                         f"{type(init).__name__}")
    from ..classical import CLASSICAL
    from ..models import aliases, user_model_paths
    from ..registry import pretrained_entries

    key = aliases().get(init.lower(), init.lower())
    if key in CLASSICAL:
        raise ValueError(f"{init!r} is a classical method, not a network: init takes a "
                         f"pretrained or saved network")
    entries = pretrained_entries()
    if key in entries:
        e = entries[key]
        module, card = load_model(e.path, verify_sha=e.card.get("sha256"))
        return module.float(), dict(card)
    users = user_model_paths()
    if init in users:
        module, card = load_model(users[init])
        return module.float(), dict(card)
    names = sorted(set(entries) | set(users))
    raise ModelNotFoundError(f"unknown model {init!r} for init; networks available: "
                             f"{', '.join(names) if names else 'none (give a .safetensors path)'}")


def pointwise_loss(kind: str):
    """The loss of each element of a difference: "l2", "l1" or "charbonnier"."""
    import torch

    if kind == "l2":
        return lambda d: d * d
    if kind == "l1":
        return lambda d: d.abs()
    eps2 = CHARBONNIER_EPS**2
    return lambda d: torch.sqrt(d * d + eps2) - CHARBONNIER_EPS


# -- the network ---------------------------------------------------------------------------

@dataclass
class Network:
    """The network to train and where it came from."""

    module: Any
    arch: str
    arch_args: dict
    dims: int
    init_name: str | None = None  # the model fine-tuned, as the caller named it
    init_card: dict | None = None
    noise_est: Any = None  # the data's noise estimate, when choosing the network made one


#: ``init="auto"``: the pretrained network fine-tuned for each kind of noise.
AUTO_INIT = {"poisson-gaussian": "drunet_microscopy", "gaussian": "drunet_gray"}


def choose_init(cfg: Noise2NoiseConfig, data, est=None) -> str | None:
    """The pretrained network ``init="auto"`` fine-tunes on ``data``, or None (train from
    scratch): a 2-D training whose architecture the caller left open starts from the
    shipped network for the data's noise (``est``, else estimated: camera noise that
    grows with brightness, or the same everywhere)."""
    if cfg.model is not None or cfg.arch_args is not None or (cfg.dims or 2) != 2:
        return None
    if cfg.domain == "gat":  # the transform leaves unit-variance Gaussian noise
        return AUTO_INIT["gaussian"]
    est = est if est is not None else data_noise(data, cfg.axes)
    return AUTO_INIT["poisson-gaussian" if est.model == "poisson-gaussian" else "gaussian"]


def data_noise(data, axes):
    """The training data's noise estimate (Gaussian or Poisson-Gaussian)."""
    from ..noise import estimate_noise

    return estimate_noise(data, axes=axes, model="auto")


def build_network(cfg: Noise2NoiseConfig, data=None) -> Network:
    """The network of ``cfg``: ``init`` loaded for fine-tuning (``"auto"``: the one
    :func:`choose_init` picks for ``data``, else from scratch), else ``model`` built from
    scratch (weights seeded by ``cfg.seed``)."""
    est = None
    if isinstance(cfg.init, str) and cfg.init.lower() == "auto":
        name = None
        if data is not None:
            open_arch = cfg.model is None and cfg.arch_args is None and (cfg.dims or 2) == 2
            if open_arch and cfg.domain != "gat":  # made once: the wrapper's map uses it too
                est = data_noise(data, cfg.axes)
            name = choose_init(cfg, data, est=est)
        cfg = cfg.replace(init=name)
    net = _from_init(cfg) if cfg.init is not None else _from_scratch(cfg)
    net.noise_est = est
    return net


def _from_init(cfg: Noise2NoiseConfig) -> Network:
    init, model = cfg.init, cfg.model
    module, init_card = load_init(init)
    init_name = str(init if isinstance(init, (str, Path)) else init_card.get("name"))
    if getattr(module, "takes_noise_map", False) and int(getattr(module, "dims", 2)) != 2:
        raise ValueError(f"{init_card.get('name', init)!r} needs a noise level and is not "
                         f"2-D: self-supervised training cannot give it its map")
    if int(getattr(module, "in_channels", 1)) != 1:
        raise ValueError(f"{init_card.get('name', init)!r} takes "
                         f"{module.in_channels} channels; training uses one")
    arch = init_card["arch"]
    if model is not None and str(model).lower() != arch:
        raise ValueError(f"model={model!r} differs from the architecture of init "
                         f"({arch}); leave model out when fine-tuning")
    if cfg.arch_args is not None:
        raise ValueError("arch_args cannot change the architecture of init")
    mdims = int(getattr(module, "dims", init_card.get("dims", 2)))
    if cfg.dims is not None and int(cfg.dims) != mdims:
        raise ValueError(f"init is a {mdims}-D model; dims={cfg.dims} does not fit")
    return Network(module, arch, dict(init_card.get("arch_args", {})), mdims,
                   init_name, init_card)


def wrap_noise_map(net: Network, data, axes, sampler) -> Network:
    """A map-taking network (``drunet_microscopy``, ``drunet_gray``) made blind for
    self-supervised fine-tuning: wrapped in :class:`..archs.mapped.NoiseMapped` with the
    noise model fitted on ``data``, in the units the sampler feeds it (the data range
    scaled to [0, 1]; unit-variance noise in the Anscombe domain). Other networks are
    returned as they are."""
    if not getattr(net.module, "takes_noise_map", False):
        return net
    from ..archs.mapped import NoiseMapped

    v = _fitted_variance(net, data, axes, sampler)
    gain, offset, read = v.gain, v.offset, v.read
    if gain == 0.0 and read == 0.0:
        raise ValueError("no noise found in the data (constant image?): nothing to "
                         "fine-tune a denoiser on")
    if isinstance(net.module, NoiseMapped):  # fine-tuned before: fitted to these data now
        net.module.set_noise(gain, offset, read)
        args = dict(net.arch_args, gain=gain, offset=offset, read=read)
        return Network(net.module, "mapped", args, 2, net.init_name, net.init_card)
    args = {"inner": net.arch, "inner_args": dict(net.arch_args), "gain": gain,
            "offset": offset, "read": read, "smooth": 5}
    mapped = NoiseMapped(**args)
    mapped.net.load_state_dict(net.module.state_dict())
    return Network(mapped, "mapped", args, 2, net.init_name, net.init_card)


def selection_noise(net: Network, data, axes, sampler):
    """The noise variance (:class:`.sure.NoiseVariance`, in the network's units) that
    scores single-image checkpoints by SURE: the fine-tuned network's own map model, else
    fitted on ``data``; None when no noise model can be had (then the self-supervised
    validation loss chooses)."""
    from .sure import NoiseVariance

    m = net.module
    if hasattr(m, "set_noise"):  # a map-taking network, wrapped: its noise model
        return NoiseVariance(float(m.gain), float(m.offset), float(m.read))
    try:
        v = _fitted_variance(net, data, axes, sampler)
    except (ValueError, RuntimeError, np.linalg.LinAlgError):
        return None
    return v if v.gain > 0 or v.read > 0 else None


def _fitted_variance(net: Network, data, axes, sampler):
    """The data's noise model in the sampler's units: the estimate made when choosing the
    network, else fitted on ``data`` (none needed in the Anscombe domain)."""
    from .sure import sampler_noise

    est = net.noise_est
    dom = getattr(sampler, "noise_domain", None) or {}
    if est is None and dom.get("noise_domain") != "gat":
        est = data_noise(data, axes)
    return sampler_noise(est, sampler)


def _from_scratch(cfg: Noise2NoiseConfig) -> Network:
    import torch

    from ..registry import arch_names, create_arch

    model = cfg.model
    arch = str(model or "unet").lower()
    if arch not in arch_names():
        raise ValueError(f"unknown model {model!r}; self-training builds one of: "
                         f"{', '.join(a for a in arch_names() if a != 'ffdnet')}")
    if arch == "ffdnet":
        raise ValueError("model='ffdnet' needs a noise level map; self-supervised "
                         "training builds blind models only: 'unet' or 'dncnn'")
    dims = 2 if cfg.dims is None else int(cfg.dims)
    a_args = dict(DEFAULT_ARCH_ARGS.get(arch, {}))
    a_args.update(cfg.arch_args or {})
    a_args.setdefault("in_channels", 1)
    if arch in ("unet", "dncnn"):
        a_args["dims"] = dims
    if arch == "unet" and dims == 3 and cfg.voxel_size is not None:
        a_args.setdefault("anisotropy", round(anisotropy(cfg.voxel_size), 4))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        try:
            module = create_arch(arch, **a_args)
        except TypeError as exc:
            raise ValueError(f"bad arch_args for {arch}: {exc}") from None
    if getattr(module, "takes_noise_map", False):
        raise ValueError(f"model {arch!r} needs a noise level; self-supervised "
                         f"training builds blind models only")
    if int(getattr(module, "dims", dims)) != dims:
        raise ValueError(f"model {arch!r} is {module.dims}-D; dims={dims} does not fit")
    return Network(module, arch, a_args, dims)


# -- the data and their pairs ------------------------------------------------------------

def training_domain(domain: str, data, axes, arr) -> dict:
    """What the model is trained on: ``{"noise_domain": "raw"}``, or for "gat" the
    transform fitted on ``data`` (``noise_transform``), the raw range the engine will
    measure at denoise time (``raw_range``), its image under the transform
    (``net_range``, the training normalisation) and ``forward`` (array -> float32)."""
    if domain != "gat":
        return {"noise_domain": "raw"}
    from ..noise import estimate_noise
    from ..normalise import estimate_range
    from ..vst import GAT

    est = estimate_noise(data, axes=axes, model="auto")
    if est.model != "poisson-gaussian" or est.a <= 0:
        raise ValueError(f"domain='gat' needs noise that grows with brightness; these data "
                         f"look Gaussian ({est}): train on raw intensities (domain='raw')")
    gat = GAT(est.a, est.b)
    lo, hi = estimate_range(arr)
    f_lo, f_hi = (float(v) for v in gat.forward(np.array([lo, hi])))
    return {"noise_domain": "gat",
            "noise_transform": {"kind": "gat", "a": float(est.a), "b": float(est.b)},
            "raw_range": [float(lo), float(hi)], "net_range": [f_lo, f_hi],
            "forward": lambda a: gat.forward(a).astype(np.float32), "_gat": gat}


@dataclass
class TrainingData:
    """The pair sampler over the arranged data, and what the model card says of them."""

    sampler: Any
    reference: Any  # clean data arranged as the data, or None
    axis_desc: Any  # the stack axis as the caller names it (index or letter)
    data_shape: tuple
    data_dtype: str


def prepare_data(cfg: Noise2NoiseConfig, pairs: str, dims: int, multiple: int, data,
                 target=None, reference=None, *, z_multiple: int | None = None,
                 net_anisotropy: float = 1.0) -> TrainingData:
    """Arrange ``data`` (and ``target``, ``reference``) as ``cfg.axes`` say and build the
    pair sampler of kind ``pairs`` for a network of ``dims`` dimensions whose input
    sides must be multiples of ``multiple`` (in 3-D, Z of ``z_multiple``). 3-D patches
    are shaped by ``cfg.voxel_size``, else by the network's ``net_anisotropy``."""
    axes, axis = cfg.axes, cfg.axis
    arr, stack_axis = arrange_data(data, axes, axis, dims)
    axis_desc = stack_axis
    if axes is not None and stack_axis is not None:
        from ..axes import normalize_axes

        spatial = "ZYX" if dims == 3 else "YX"
        lead = [a for a in normalize_axes(axes, arr.ndim) if a not in spatial]
        axis_desc = lead[stack_axis]
    shape = tuple(np.shape(data))
    domain = training_domain(cfg.domain, data, axes, arr)
    if domain["noise_domain"] == "gat":
        arr = domain.pop("forward")(arr)
        if target is not None:
            target = domain["_gat"].forward(np.asarray(target)).astype(np.float32)
        if reference is not None:
            reference = domain["_gat"].forward(np.asarray(reference)).astype(np.float32)
    aniso = anisotropy(cfg.voxel_size) if cfg.voxel_size is not None else net_anisotropy
    patch = cfg.patch if cfg.patch is not None else DEFAULT_PATCH[dims]
    common = dict(dims=dims, patch=int(patch), multiple=int(multiple),
                  anisotropy=float(aniso), z_multiple=z_multiple,
                  val_fraction=float(cfg.val_fraction), seed=cfg.seed, augment=cfg.augment,
                  val_patches=cfg.val_patches, data_range=domain.get("net_range"))
    if pairs == "two":
        tgt, _ = arrange_data(target, axes, axis, dims, "target")
        if tgt.shape != arr.shape:
            raise ValueError(f"target of shape {np.shape(target)} differs from the data's "
                             f"{shape}: the two captures must match")
        sampler = TwoCapturesSampler(arr, tgt, swap=cfg.swap_captures, **common)
    elif pairs in ("neighbors", "others"):
        if stack_axis is None:
            raise ValueError(
                f"pairs={pairs!r} needs a T or Z axis to pair frames along (axes "
                f"{axes}, shape {shape}); for a single image use "
                f"pairs='subsample' (Neighbor2Neighbor) or pairs='blindspot' "
                f"(Noise2Void), or give a second capture as target=")
        sampler = (OtherFramesSampler(arr, axis=stack_axis, **common) if pairs == "others" else
                   NeighborFramesSampler(arr, axis=stack_axis, distance=cfg.distance, **common))
    elif pairs == "subsample":
        sampler = SubsampleSampler(arr, **common)
    else:
        sampler = BlindSpotSampler(arr, mask_fraction=cfg.mask_fraction, **common)
    sampler.noise_domain = {k: v for k, v in domain.items() if not k.startswith("_")}
    ref = None
    if reference is not None:
        ref = np.asarray(reference)
        if axes is not None and ref.ndim == np.ndim(data):
            ref, _ = arrange_data(ref, axes, axis, dims, "reference")
    return TrainingData(sampler, ref, axis_desc, shape, str(arr.dtype))
