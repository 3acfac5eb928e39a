"""``napari-denoise denoise 'plate/*.tif' -o out/``: many files, one after another, or
in parallel on a dask cluster (``--workers N``, ``--scheduler ADDRESS``).

IN is a glob pattern (quote it) or a folder; OUT a folder (created when missing) that
gets each result under the input's file name. A file that fails is reported and
skipped; the others go on. A table says what happened to each file, and the exit
status is 1 if any failed.
"""

from __future__ import annotations

import copy
import glob
import sys
import time
from pathlib import Path

from ._common import PROG, CLIError

GLOB_CHARS = set("*?[")


def wants_batch(args) -> bool:
    from ..io.zarr_store import is_zarr_path

    src = Path(args.input)
    if src.is_dir():
        return not is_zarr_path(src)
    # a file whose name has brackets ("cells [1].tif") is that file, not a pattern
    return not src.exists() and bool(GLOB_CHARS & set(str(src)))


def _inputs(pattern: str) -> list[Path]:
    from ..io import IMAGEIO_SUFFIXES, NUMPY_SUFFIXES, TIFF_SUFFIXES

    p = Path(pattern)
    if p.is_dir():
        known = {s.lower() for s in (*TIFF_SUFFIXES, *IMAGEIO_SUFFIXES, *NUMPY_SUFFIXES)}
        return sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in known)
    return sorted(Path(f) for f in glob.glob(pattern) if Path(f).is_file() or
                  f.lower().endswith(".zarr"))


def run_batch(args, run_one) -> int:
    """Run ``run_one(args)`` for every input; ``run_one`` raises on failure."""
    files = _inputs(str(args.input))
    if not files:
        raise CLIError(f"no image files match {args.input}", 2)
    out_dir = Path(args.output)
    if out_dir.suffix and not out_dir.is_dir():
        raise CLIError(f"with several inputs, -o is a folder for the results, not "
                       f"{out_dir.name}", 2)
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})[0]
        raise CLIError(f"two inputs are called {dup}: their results would overwrite each "
                       f"other in {out_dir}", 2)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = []
    for f in files:
        one = copy.copy(args)
        one.input, one.output, one.quiet = str(f), str(out_dir / f.name), True
        one.workers = one.scheduler = None
        jobs.append(one)
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(files), unit="file", file=sys.stderr, dynamic_ncols=True)
    try:
        if args.workers is not None or args.scheduler:
            rows = _on_cluster(args, jobs, run_one, bar)
        else:
            rows = []
            for one in jobs:
                rows.append(_one(run_one, one))
                _said(rows[-1], bar)
    finally:
        if bar is not None:
            bar.close()
    failed = sum(r[1] == "FAILED" for r in rows)
    if not args.quiet or failed:
        width = max(len(r[0]) for r in rows)
        print(f"{'file':<{width}}  result  seconds  message")
        for name, status, sec, msg in rows:
            print(f"{name:<{width}}  {status:<6}  {sec:7.1f}  {msg}")
        print(f"{len(rows) - failed} of {len(rows)} file(s) denoised into {out_dir}"
              + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0


def _one(run_one, one, threads=None) -> tuple[str, str, float, str]:
    """(file name, "done" or "FAILED", seconds, message): one file, failures caught."""
    from . import _message

    if threads:
        import torch

        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    try:
        run_one(one)
        return Path(one.input).name, "done", time.perf_counter() - t0, ""
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
        msg, _ = _message(exc)
        return Path(one.input).name, "FAILED", time.perf_counter() - t0, msg


def _said(row, bar) -> None:
    if row[1] == "FAILED":
        print(f"{PROG}: error: {row[0]}: {row[3]}", file=sys.stderr)
    if bar is not None:
        bar.update(1)


def _on_cluster(args, jobs, run_one, bar) -> list:
    """Every file as one task on a dask cluster (--workers N or --scheduler ADDRESS)."""
    from distributed import as_completed

    from ..core.distributed import close, connect

    client, threads = connect(args.workers, args.scheduler)
    try:
        futures = [client.submit(_one, run_one, one, threads, pure=False) for one in jobs]
        order = {f.key: i for i, f in enumerate(futures)}
        rows = [None] * len(jobs)
        try:
            for fut in as_completed(futures):
                rows[order[fut.key]] = fut.result()
                _said(rows[order[fut.key]], bar)
        finally:
            client.cancel([f for f in futures if not f.done()])
        return rows
    finally:
        close(client)
