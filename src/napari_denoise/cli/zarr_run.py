"""``napari-denoise denoise IN -o OUT.zarr``: out-of-core runs into a zarr store.

Used when IN is a zarr / OME-Zarr store or OUT ends in ``.zarr``. Each finished plane
(volume in 3-D mode) is written at once, with a progress bar (tqdm) and an ETA;
Ctrl-C leaves a store that the same command finishes. ``--workers N`` runs the planes
on a local dask cluster of N processes, ``--scheduler ADDRESS`` on an existing cluster
(see :mod:`napari_denoise.core.distributed`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ._common import PROG, CLIError


def wants_zarr(args) -> bool:
    from ..io.zarr_store import is_zarr_path

    return is_zarr_path(args.input) or Path(args.output).suffix.lower() == ".zarr"


def run_zarr(args, report) -> int:
    """Run one out-of-core denoise; ``report(info, dst, quiet)`` prints the summary.
    ``--workers N`` / ``--scheduler ADDRESS``: the planes go to a dask cluster's workers."""
    src, dst = Path(args.input), Path(args.output)
    if Path(args.output).suffix.lower() != ".zarr":
        raise CLIError(f"a zarr input is written to a zarr store: give -o ending in .zarr "
                       f"(or .ome.zarr), not {dst.name}", 2)
    if not src.exists():
        raise CLIError(f"input not found: {src}", 2)
    if args.noise_map:
        raise CLIError("--noise-map is not available for zarr output; give --sigma or let it "
                       "be estimated", 2)
    client = threads = None
    if args.workers is not None or args.scheduler:
        from ..core.distributed import connect

        client, threads = connect(args.workers, args.scheduler)
    try:
        return _run(args, src, dst, report, client, threads)
    finally:
        if client is not None:
            from ..core.distributed import close

            close(client)


def _run(args, src, dst, report, client, threads) -> int:
    from ..core.chunked import denoise_to_zarr_iter

    gen = denoise_to_zarr_iter(
        str(src), str(dst), args.model, axes=args.axes, overwrite=args.overwrite,
        client=client, threads=threads,
        sigma=args.sigma, mode=args.mode, device=args.device, tile=args.tile,
        noise=args.noise, strength=args.strength, destripe=args.destripe,
        data_range=args.data_range, quality=args.quality, precision=args.precision,
        colour_space=args.colour_space, backend=getattr(args, "backend", "auto"))
    bar, done = None, 0
    try:
        while True:
            p = next(gen)
            if args.quiet:
                continue
            if bar is None:
                from tqdm import tqdm

                bar = tqdm(total=p.total, unit="tile", file=sys.stderr, dynamic_ncols=True,
                           desc=p.message or "denoising")
            elif p.total != bar.total:  # a new phase: noise estimate, then the tiles
                bar.reset(total=p.total)
                bar.set_description(p.message or "denoising")
                done = 0
            bar.update(p.done - done)
            done = p.done
    except StopIteration as stop:
        result = stop.value
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        print(f"{PROG}: interrupted; the finished planes are in {dst}: run the same command "
              f"again to finish it", file=sys.stderr)
        return 130
    finally:
        if bar is not None:
            bar.close()
        gen.close()
    report(result.info, dst, args.quiet)
    return 0
