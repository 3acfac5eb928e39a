"""``napari-denoise denoise IN -o OUT``: denoise an image file."""

from __future__ import annotations

import sys
from pathlib import Path

from ._common import (PROG, CLIError, HelpFormatter, alias_text, auto_text, axes_arg,
                      axes_override, denoise_with_hint, fmt_seconds, range_arg, sigma_arg,
                      strengths_arg, tile_arg)


def add_denoise(sub) -> None:
    p = sub.add_parser(
        "denoise", help="denoise an image file or a zarr store",
        description="Denoise an image file (TIFF, PNG, JPEG, .npy ...) and write the result\n"
                    "with the input's axes, data type, pixel size and unit. A zarr or\n"
                    "OME-Zarr store (IN, or OUT ending in .zarr) is denoised plane by plane\n"
                    "into a zarr store, in bounded memory; an interrupted run is finished\n"
                    "by running the same command again.",
        epilog="examples:\n"
               f"  {PROG} denoise noisy.tif -o clean.tif\n"
               f"  {PROG} denoise stack.tif -o out.tif --model dncnn_blind --axes ZYX\n"
               f"  {PROG} denoise photo.png -o out.png --model bm3d --sigma 20\n"
               f"  {PROG} denoise big.ome.zarr -o big_denoised.ome.zarr\n"
               f"  {PROG} denoise 'plate/*.tif' -o denoised/",
        formatter_class=HelpFormatter)
    p.add_argument("input", metavar="IN",
                   help="image file or zarr store to denoise; or a folder or a quoted glob "
                        "pattern ('plate/*.tif') for many files, with OUT a folder")
    p.add_argument("-o", "--output", metavar="OUT", required=True,
                   help="output file (format from the extension); never the input file; an "
                        "existing file is replaced only if an earlier run wrote it, or with "
                        "--overwrite")
    p.add_argument("--overwrite", action="store_true",
                   help="replace OUT even if napari-denoise did not write it (never IN itself)")
    _add_noise_options(p)
    _add_compute_options(p)
    p.set_defaults(func=_run_denoise)


def _add_noise_options(p) -> None:
    """--model, --sigma, --noise, --noise-map, --data-range, --strength, --destripe."""
    p.add_argument("--model", "-m", default="auto", metavar="NAME|PATH",
                   help="denoiser: a name from 'napari-denoise models', a .safetensors file "
                        "or a BioImage Model Zoo package (.zip). "
                        f"auto (default): {auto_text()}. Aliases: {alias_text()}")
    p.add_argument("--sigma", "-s", type=sigma_arg, default=None, metavar="auto|S",
                   help="noise standard deviation in the data's units, or 'auto' to estimate "
                        "it (default: estimated for models that need it)")
    p.add_argument("--noise", choices=("auto", "gaussian", "poisson-gaussian", "rician"),
                   default="auto",
                   help="noise model: auto (Gaussian or Poisson-Gaussian, chosen from the "
                        "data), gaussian, poisson-gaussian (camera shot + read noise: a "
                        "per-pixel map for FFDNet-style models, the Anscombe transform for the "
                        "others) or rician (magnitude MRI, bias-corrected) (default: auto)")
    p.add_argument("--noise-map", metavar="FILE", default=None,
                   help="per-pixel noise std (same shape as IN, data units) from an image file")
    p.add_argument("--data-range", type=range_arg, default=None, metavar="LOW,HIGH",
                   help="values mapped to black and white for the networks (default: robust "
                        "percentiles of the data; e.g. 0,4095 for 12-bit data)")
    p.add_argument("--strength", type=float, default=1.0, metavar="F",
                   help="multiplies the noise level: above 1 smooths more, below 1 keeps more "
                        "detail (default: 1)")
    p.add_argument("--tune", nargs="?", const=True, default=False, type=strengths_arg,
                   metavar="S1,S2,...",
                   help="choose the strength on this image first, with no clean image: each "
                        "strength (default 0.6,0.8,1,1.25,1.6) is scored by the "
                        "self-supervised error (Noise2Self) on a central 256x256 crop and the "
                        "best is used; replaces --strength")
    p.add_argument("--destripe", action="store_true",
                   help="remove row/column fixed-pattern (stripe) noise first (thermal cameras)")


def _add_compute_options(p) -> None:
    """--axes, --mode, --device, --tile, --quality, --precision, --backend, --quiet."""
    p.add_argument("--axes", type=axes_arg, default=None, metavar="AXES",
                   help="axes of the data such as YX, ZYX, TYX, YXC, TZCYX (default: from the "
                        "file, else guessed from the shape)")
    p.add_argument("--mode", choices=("auto", "2d", "3d"), default="auto",
                   help="2d: plane by plane; 3d: whole volumes with a 3-D model (default: auto)")
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda|mps",
                   help="where to compute (default: auto = GPU if available)")
    p.add_argument("--tile", type=tile_arg, default=None, metavar="N",
                   help="tile side in pixels (default: from the memory available)")
    from ..core.colour import COLOUR_SPACES
    from ..core.ensemble import QUALITIES
    from ..core.precision import PRECISIONS

    p.add_argument("--quality", choices=QUALITIES, default="fast",
                   help="best: average the network over the 8 flips and rotations of the "
                        "image (about 8x the time, about 0.1 dB better; networks only)")
    p.add_argument("--colour-space", choices=COLOUR_SPACES, default="opponent",
                   help="RGB photos: denoise luminance and colour differences (opponent, the "
                        "default) or red, green and blue one by one (rgb)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="network arithmetic (default: auto = bfloat16 on CPUs with AMX or "
                        "AVX512-BF16 for models it costs at most 0.02 dB, and on GPUs); "
                        "int8: a quantised copy in ONNX Runtime (CPU)")
    from ..core.backends import BACKENDS

    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="what runs the network (default: auto = on a CPU, the variant "
                        "measured fastest for the model at a cost of at most 0.05 dB, "
                        "else torch); onnxruntime needs pip install "
                        "\"napari-denoise[export]\"")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="zarr output or a batch of files: run on a local dask cluster of N "
                        "worker processes (the CPU's cores shared between them)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="zarr output or a batch of files: run on the dask.distributed cluster "
                        "whose scheduler is at ADDRESS (e.g. tcp://10.0.0.5:8786)")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="print nothing but errors")


def _run_denoise(args) -> int:
    from ..core.inference import denoise_iter
    from ..io import write_image
    from .batch_run import run_batch, wants_batch
    from .zarr_run import run_zarr, wants_zarr

    cluster = args.workers is not None or args.scheduler
    if args.workers is not None and args.workers < 1:
        raise CLIError(f"--workers must be at least 1, not {args.workers}", 2)
    if wants_batch(args):  # a glob pattern or a folder: every file, failures skipped
        return run_batch(args, _run_denoise)
    if wants_zarr(args):  # out of core: unit by unit into a zarr store, resumable
        return run_zarr(args, _report)
    if cluster:
        raise CLIError("--workers and --scheduler are for a zarr output (-o ending in .zarr) "
                       "or a batch of files (a folder or a quoted glob as IN)", 2)
    dst = Path(args.output)
    data, meta, axes = _read_input(args)
    sigma = _sigma_or_map(args, data)
    if not (args.strength > 0):
        raise CLIError(f"--strength must be positive, not {args.strength}", 2)
    gen = denoise_iter(data, args.model, sigma=sigma, axes=axes, mode=args.mode,
                       device=args.device, tile=args.tile, noise=args.noise,
                       strength=args.strength, destripe=args.destripe,
                       data_range=args.data_range, quality=args.quality,
                       precision=args.precision, colour_space=args.colour_space,
                       tune=args.tune, backend=args.backend)
    result = denoise_with_hint(gen, args.model, args.quiet)
    write_image(dst, result.image, meta)
    _report(result.info, dst, args.quiet)
    return 0


def _read_input(args):
    """(data, metadata, axes) of IN, after checking that OUT can and may be written."""
    from ..io import check_writable, read_image

    src, dst = Path(args.input), Path(args.output)
    check_writable(dst)  # extension / folder problems before reading anything
    _check_output(src, dst, args.overwrite)
    try:
        data, meta = read_image(src)
    except FileNotFoundError:
        raise CLIError(f"input file not found: {src}", 2) from None
    check_writable(dst, data.dtype, data.shape)

    axes = meta.axes
    if args.axes:
        axes = axes_override(args.axes, data)
        if meta.format != "tiff":  # nothing in the file to keep: write the user's axes
            meta.axes = axes
    return data, meta, axes


def _sigma_or_map(args, data):
    """--sigma as given, or the per-pixel map read from --noise-map (not both)."""
    from ..io import read_image

    sigma = args.sigma
    if args.noise_map:
        if sigma is not None:
            raise CLIError("give either --sigma or --noise-map, not both", 2)
        try:
            sigma, _ = read_image(Path(args.noise_map))
        except FileNotFoundError:
            raise CLIError(f"noise map file not found: {args.noise_map}", 2) from None
        if tuple(sigma.shape) != tuple(data.shape):
            raise CLIError(f"the noise map's shape {tuple(sigma.shape)} differs from the "
                           f"image's {tuple(data.shape)}", 2)
    return sigma


def _report(info: dict, dst: Path, quiet: bool) -> None:
    """Notes (not with --quiet), warnings (always) on stderr; the summary on stdout."""
    for text in info.get("notes", []) if not quiet else []:
        print(f"{PROG}: note: {text}", file=sys.stderr)
    for text in info.get("warnings", []):  # even with --quiet: the result may be poor
        print(f"{PROG}: warning: {text}", file=sys.stderr)
    if not quiet:
        print(summary_line(info, dst))


def summary_line(info, dst) -> str:
    """The one line printed after a run: what was written, with which model and settings.

    The noise model is named only where the sigma text does not already say it: a
    Rician model or a user's map (a Poisson-Gaussian map or transform states its
    variance in the sigma text; plain Gaussian noise is the default)."""
    g = info.get
    extra = f", noise: {g('noise')}" if g("noise_kind") in ("rician", "map") else ""
    how = f"{g('device')}" + (f" {g('precision')}" if g("precision") else "")
    if g("backend") == "onnxruntime":
        how += " onnxruntime"
    if g("quality") == "best":
        how += ", x8 ensemble"
    return (f"wrote {dst}: {g('model')} ({g('kind')}), sigma {g('sigma') or 'n/a'}, "
            f"axes {g('axes')} ({g('mode')}), {how}, {fmt_seconds(g('seconds'))}{extra}")


def _check_output(src: Path, dst: Path, overwrite: bool) -> None:
    """Never write over the input; replace other files only if we wrote them or when told."""
    from ..io import written_by_napari_denoise

    if not dst.exists():
        return
    try:
        same = src.exists() and dst.samefile(src)
    except OSError:
        same = False
    if same:
        raise CLIError(f"the output {dst} is the input file: choose another -o (the input is "
                       f"never overwritten)", 2)
    if not overwrite and not written_by_napari_denoise(dst):
        raise CLIError(f"{dst} exists and was not written by {PROG}: pass --overwrite to "
                       f"replace it, or choose another -o", 2)
