"""A BioImage Model Zoo package as a :class:`Denoiser` of this engine's tiled run.

The engine hands a denoiser tiles in its own [0, 1] units (``(raw - lo) / scale``).

* Packages exported here (``config.napari_denoise``) take exactly that, and the noise
  level in the same units: they run as the original model did.
* Other packages get their own preprocessing and postprocessing, applied by
  ``bioimageio.core``'s operators. The statistics those need (percentiles, mean,
  standard deviation) are computed once, on the whole image (up to
  :data:`STAT_PIXELS` pixels of evenly spaced planes), before the first tile
  (:meth:`PackageDenoiser.bind`), so that every tile is normalised alike. Without
  postprocessing the output is taken to be in the units the preprocessing produced, and
  is brought back by its inverse (an affine map per channel); with postprocessing that
  ends in data units (``scale_linear``, ``scale_mean_variance``), as it is.
  ``binarize``, ``sigmoid``, ``softmax`` and other non-denoising steps are refused.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..models import Denoiser
from .package import PackageError, network, read_package

STAT_PIXELS = 4_000_000
_PRE_OK = {"scale_range", "scale_linear", "zero_mean_unit_variance",
           "fixed_zero_mean_unit_variance", "clip", "ensure_dtype"}
_POST_OK = _PRE_OK | {"scale_mean_variance"}
_BACK_IN_DATA_UNITS = {"scale_linear", "scale_mean_variance", "fixed_zero_mean_unit_variance"}


@dataclass
class Layout:
    """How a (C, H, W) tile maps onto the package's input and output axes."""

    in_axes: tuple[str, ...]       # axis ids in the package's order
    in_types: tuple[str, ...]      # batch, channel, space
    out_axes: tuple[str, ...]
    out_types: tuple[str, ...]
    channels: int
    fixed: tuple[int, int] | None  # a fixed (y, x) size, else None
    min_size: tuple[int, int]
    step: tuple[int, int]

    def valid(self, h: int, w: int) -> tuple[int, int]:
        """The smallest valid input size at least (h, w)."""
        out = []
        for n, lo, st in zip((h, w), self.min_size, self.step):
            out.append(lo if n <= lo or st == 0 else lo + st * -(-(n - lo) // st))
        return out[0], out[1]


def _axes(pkg) -> Layout:
    name = pkg.path.name
    d = pkg.descr
    own = pkg.own is not None
    ids = [str(t.id) for t in d.inputs]
    if len(d.inputs) > 1 and not (own and ids == ["input", "noise_level"]):
        raise PackageError(f"{name}: {len(d.inputs)} inputs ({', '.join(ids)}); only models "
                           f"with one image input run here")
    if len(d.outputs) != 1:
        raise PackageError(f"{name}: {len(d.outputs)} outputs; a denoiser has one")
    inp, out = d.inputs[0], d.outputs[0]
    layouts = []
    for t, what in ((inp, "input"), (out, "output")):
        ax_ids, types = [], []
        for a in t.axes:
            typ, aid = str(a.type), str(a.id)
            if typ == "space" and aid not in ("y", "x"):
                raise PackageError(f"{name}: its {what} has a spatial axis {aid!r}: only 2-D "
                                   f"models (y, x) run here, not 3-D ones")
            if typ in ("time", "index"):
                raise PackageError(f"{name}: its {what} has a {typ} axis ({aid!r}) inside the "
                                   f"model; only (batch, channel, y, x) can be mapped")
            ax_ids.append(aid)
            types.append(typ)
        if sorted(a for a, ty in zip(ax_ids, types) if ty == "space") != ["x", "y"]:
            raise PackageError(f"{name}: its {what} axes {ax_ids} are not a 2-D image (y, x)")
        layouts.append((tuple(ax_ids), tuple(types)))
    chans = [len(a.channel_names) for a in inp.axes if str(a.type) == "channel"]
    ochans = [len(getattr(a, "channel_names", []) or []) for a in out.axes
              if str(a.type) == "channel"]
    c, oc = (chans[0] if chans else 1), (ochans[0] if ochans else 1)
    if oc != c:
        raise PackageError(f"{name}: {c} input channel(s) but {oc} output channels; "
                           f"a denoiser returns the image it was given")
    sizes = {str(a.id): a.size for a in inp.axes if str(a.type) == "space"}
    mins, steps, fixed = [], [], True
    for k in ("y", "x"):
        s = sizes[k]
        if isinstance(s, int):
            mins.append(int(s))
            steps.append(0)
        elif hasattr(s, "step"):
            mins.append(int(s.min))
            steps.append(int(s.step))
            fixed = False
        else:
            raise PackageError(f"{name}: the input's {k} size refers to another tensor")
    return Layout(layouts[0][0], layouts[0][1], layouts[1][0], layouts[1][1], c,
                  (mins[0], mins[1]) if fixed else None, (mins[0], mins[1]),
                  (steps[0], steps[1]))


def _processing(pkg):
    """(pre ops, post ops, measures, post in data units) via bioimageio.core."""
    from bioimageio.core.proc_ops import get_proc

    name = pkg.path.name
    inp, out = pkg.descr.inputs[0], pkg.descr.outputs[0]
    for steps, ok, where in ((inp.preprocessing, _PRE_OK, "preprocessing"),
                             (out.postprocessing, _POST_OK, "postprocessing")):
        for p in steps:
            if str(p.id) not in ok:
                raise PackageError(f"{name}: {where} {p.id!r} is not a denoising step "
                                   f"(this engine runs image-to-image denoisers)")
    pre = [get_proc(p, inp) for p in inp.preprocessing]
    post = [get_proc(p, out) for p in out.postprocessing]
    measures = {m for op in pre + post for m in op.required_measures}
    if any(str(m.member_id) == str(out.id) for m in measures):
        raise PackageError(f"{name}: its postprocessing needs statistics of the whole "
                           f"output, which a tiled run cannot give")
    named = [str(p.id) for p in out.postprocessing if str(p.id) not in ("ensure_dtype", "clip")]
    return pre, post, measures, bool(named) and named[-1] in _BACK_IN_DATA_UNITS


@dataclass
class PackageDenoiser(Denoiser):
    """A package run tile by tile; see the module's docstring."""

    package: Any = None
    layout: Any = None
    net: Any = None
    procs: Any = None        # (pre, post, measures, post_in_data_units); None for ours
    stats: Any = None        # bound: measures of the whole image
    lo: float = 0.0          # bound: the engine's (raw - lo) / scale
    scale: float = 1.0

    @property
    def autocast(self):  # packages run in float32
        return None

    @property
    def runtime(self) -> tuple[str, str]:
        """(backend, precision): a package runs its own weights, in float32."""
        if self.precision not in ("auto", "fp32"):
            raise ValueError(f"model packages run in fp32 here, not {self.precision}")
        return ("onnxruntime" if self.package.fmt == "onnx" else "torch"), "fp32"

    def bind(self, image, axes: str, lo: float, scale: float) -> "PackageDenoiser":
        """A copy set up for one image: the statistics its preprocessing needs."""
        if self.procs is None:
            return self
        from bioimageio.core.stat_calculators import compute_measures

        planes = _stat_planes(image, axes)  # (C, Y', X) planes stacked along y
        stats = compute_measures(self.procs[2], [self._sample(planes)]) \
            if self.procs[2] else {}
        return dataclasses.replace(self, stats=stats, lo=float(lo), scale=float(scale))

    def _sample(self, cyx: np.ndarray):
        """A bioimageio.core Sample of the input tensor from a (C, H, W) array."""
        from bioimageio.core import Sample, Tensor

        lay = self.layout
        arr = _to_axes(cyx, list(zip(lay.in_axes, lay.in_types)))
        mid = str(self.package.descr.inputs[0].id)
        return Sample(members={mid: Tensor(arr, dims=lay.in_axes)}, stat=dict(self.stats or {}),
                      id=None)

    # -- one tile -------------------------------------------------------------------------
    def run(self, x: np.ndarray, sigma_map, sigma) -> np.ndarray:
        if not self.ensemble:
            return self._run(x, sigma_map, sigma)
        from ..ensemble import DIHEDRAL

        acc = np.zeros_like(x, dtype=np.float32)
        for k, flip in DIHEDRAL:
            f = (lambda a: np.rot90(a[..., ::-1] if flip else a, k, axes=(-2, -1)))  # noqa: E731
            m = None if sigma_map is None else np.ascontiguousarray(f(sigma_map))
            y = self._run(np.ascontiguousarray(f(x)), m, sigma)
            y = np.rot90(y, -k, axes=(-2, -1))
            acc += y[..., ::-1] if flip else y
        return acc / len(DIHEDRAL)

    def _run(self, x, sigma_map, sigma):
        c, h, w = x.shape
        lay = self.layout
        if lay.fixed is not None and (h > lay.fixed[0] or w > lay.fixed[1]):
            return self._windows(x, sigma_map, sigma)
        vh, vw = lay.valid(h, w)
        pad = ((0, 0), (0, vh - h), (0, vw - w))
        mode = "reflect" if vh - h < h and vw - w < w else "edge"
        xp = np.pad(x, pad, mode=mode) if (vh, vw) != (h, w) else x
        if self.procs is None:  # exported here: the engine's units, our noise_level
            args = [_to_axes(xp, list(zip(lay.in_axes, lay.in_types)))]
            if self.takes_map:
                m = sigma_map if sigma_map is not None else \
                    np.full((1, h, w), float(sigma or 0.0), np.float32)
                m = np.pad(m, pad, mode=mode) if (vh, vw) != (h, w) else m
                args.append(np.ascontiguousarray(m[None], dtype=np.float32))
            y = self.net(*[np.ascontiguousarray(a, dtype=np.float32) for a in args])
            return _from_axes(y, list(zip(lay.out_axes, lay.out_types)))[:, :h, :w]
        return self._run_foreign(xp)[:, :h, :w]

    def _run_foreign(self, x01):
        from bioimageio.core import Tensor

        pre, post, _m, in_data_units = self.procs
        raw = (x01.astype(np.float32) * np.float32(self.scale) + np.float32(self.lo))
        sample = self._sample(raw)
        for op in pre:
            op(sample)
        mid = str(self.package.descr.inputs[0].id)
        arr = np.asarray(sample.members[mid].transpose(list(self.layout.in_axes)).data,
                         dtype=np.float32)
        y = self.net(np.ascontiguousarray(arr))
        oid = str(self.package.descr.outputs[0].id)
        sample.members[oid] = Tensor(y, dims=self.layout.out_axes)
        for op in post:
            op(sample)
        out = np.asarray(sample.members[oid].transpose(list(self.layout.out_axes)).data,
                         dtype=np.float32)
        out = _from_axes(out, list(zip(self.layout.out_axes, self.layout.out_types)))
        if not in_data_units:
            out = self._inverse(out)
        return (out - np.float32(self.lo)) / np.float32(self.scale)

    def _inverse(self, y):
        """The preprocessing undone: per channel, it maps raw a*raw + b (clip aside)."""
        pre = self.procs[0]
        c = y.shape[0]
        probe = np.stack([np.full((c, 1, 1), self.lo, np.float32),
                          np.full((c, 1, 1), self.lo + self.scale, np.float32)], 0)
        vals = []
        for p in probe:
            s = self._sample(p)
            for op in pre:
                op(s)
            vals.append(np.asarray(s.members[str(self.package.descr.inputs[0].id)]
                                   .transpose(list(self.layout.in_axes)).data, np.float64))
        v0 = _from_axes(vals[0], list(zip(self.layout.in_axes, self.layout.in_types)))
        v1 = _from_axes(vals[1], list(zip(self.layout.in_axes, self.layout.in_types)))
        a = (v1 - v0) / self.scale
        a[np.abs(a) < 1e-12] = 1e-12
        b = v0 - a * self.lo
        return ((y - b) / a).astype(np.float32)

    def _windows(self, x, sigma_map, sigma):
        """A fixed-size model on a larger tile: its own overlapping windows, blended."""
        from ..tiling import TilePlan

        fy, fx = self.layout.fixed
        ov = min(max(self.rf_radius, 8) * 2, min(fy, fx) // 2)
        plan = TilePlan(x.shape[1:], (fy, fx), ov, min(self.rf_radius, ov // 2))
        acc = np.zeros_like(x, dtype=np.float32)
        for tl in plan:
            sl = (slice(None),) + tl.slices
            m = None if sigma_map is None else sigma_map[sl]
            acc[sl] += self._run(x[sl], m, sigma) * tl.weight
        return acc


def _to_axes(cyx: np.ndarray, order) -> np.ndarray:
    """(C, H, W) -> the package's axis order (batch 1; no channel axis: C is 1)."""
    has_c = any(t == "channel" for _a, t in order)
    arr, names = (cyx, ["channel", "y", "x"]) if has_c else (cyx[0], ["y", "x"])
    target = ["channel" if t == "channel" else a for a, t in order if t != "batch"]
    arr = np.transpose(arr, [names.index(n) for n in target])
    for i, (_a, t) in enumerate(order):
        if t == "batch":
            arr = np.expand_dims(arr, i)
    return arr


def _from_axes(arr: np.ndarray, order) -> np.ndarray:
    """The package's axis order -> (C, H, W)."""
    a = arr
    types = [t for _i, t in order]
    ids = [i for i, _t in order]
    for k in reversed(range(len(types))):
        if types[k] == "batch":
            a = a.take(0, axis=k)
    kept = [(i, t) for i, t in zip(ids, types) if t != "batch"]
    pos = {("channel" if t == "channel" else i): n for n, (i, t) in enumerate(kept)}
    if "channel" not in pos:
        return np.transpose(a, [pos["y"], pos["x"]])[None]
    return np.transpose(a, [pos["channel"], pos["y"], pos["x"]])


def _stat_planes(image, axes: str) -> np.ndarray:
    """The image's planes as one (C, Y * planes, X) float32 array (up to STAT_PIXELS)."""
    from ..axes import to_canonical

    img = image if isinstance(image, np.ndarray) else None
    if img is None:
        from ..normalise import sample_planes

        img = sample_planes(image, axes)
    can = to_canonical(img, axes)  # (T, Z, C, Y, X)
    t, z, c, h, w = can.shape
    planes = [can[i, j] for i in range(t) for j in range(z)]
    keep = max(1, STAT_PIXELS // max(1, h * w))
    if len(planes) > keep:
        idx = np.unique(np.linspace(0, len(planes) - 1, keep).astype(int))
        planes = [planes[i] for i in idx]
    if h * w > STAT_PIXELS:  # one huge plane: every step-th row
        step = -(-h * w // STAT_PIXELS)
        planes = [p[:, ::step] for p in planes]
    return np.concatenate([np.asarray(p, np.float32) for p in planes], axis=1)


def load_package(path, device) -> PackageDenoiser:
    """The package at ``path`` as a denoiser on ``device``."""
    pkg = read_package(path)
    layout = _axes(pkg)
    own = pkg.own
    procs = None if own is not None else _processing(pkg)
    card = dict((own or {}).get("card") or {})
    if own is None:
        card = {"name": pkg.name, "description": str(pkg.descr.description),
                "noise_domain": "raw", "licence": str(pkg.descr.license or "")}
    card["package"] = {"path": str(Path(path)), "weights": pkg.fmt}
    takes_map = bool((own or {}).get("takes_map", False))
    halo = max([int(getattr(a, "halo", 0) or 0) for a in pkg.descr.outputs[0].axes] + [0])
    rf = int((own or {}).get("rf_radius") or halo or 32)
    step = max(layout.step) if layout.fixed is None else 1
    return PackageDenoiser(
        name=pkg.name, kind="network", dims=(2,), in_channels=layout.channels,
        needs_sigma=takes_map, takes_map=takes_map, rf_radius=rf,
        size_multiple=max(1, int((own or {}).get("size_multiple") or step or 1)),
        bytes_per_pixel=4.0 * 64 * 3 + 64, card=card, impl=None, device=device,
        package=pkg, layout=layout, net=network(pkg, device), procs=procs)


def import_package(src, folder=None) -> Path:
    """Check that the package ``src`` runs here (weights, axes, processing: the same
    refusals as a run), then copy it into the user's models folder (``folder``), where it
    is listed and run by name; a package folder is zipped. Returns the new file, written
    atomically; one of the same name is replaced."""
    import os
    import shutil
    import tempfile

    import torch

    from ..models import user_models_dir
    from ..training.n2n_model import safe_name

    src = Path(src).expanduser()
    den = load_package(src, torch.device("cpu"))
    root = src.parent if src.is_file() and src.suffix.lower() != ".zip" else src
    folder = Path(folder) if folder is not None else user_models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / f"{safe_name(den.name)}.zip"
    tmp = dst.with_name(f".{dst.stem}.{os.getpid()}.part.zip")
    try:
        if root.is_dir():
            with tempfile.TemporaryDirectory() as d:
                made = shutil.make_archive(str(Path(d) / "pkg"), "zip", root_dir=root)
                shutil.copyfile(made, tmp)
        else:
            shutil.copyfile(root, tmp)
        tmp.replace(dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst
