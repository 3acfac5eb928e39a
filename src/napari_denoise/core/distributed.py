"""Out-of-core runs on a ``dask.distributed`` cluster: one task per plane (per volume
in 3-D mode), each written by its worker straight into the output store.

The client (:func:`run_on_cluster`) fixes what every plane must share (the value
range, the noise level or fitted noise model, the output bounds: the engine's
sample-plane rules, :func:`.lazy.fixed_settings`), submits one task per plane and
records each finished plane in the store as its task returns, so a run stopped by
Ctrl-C, a lost client or a failed task leaves a store that a rerun (on the cluster or
not) completes. A task lost with its worker is recomputed by the scheduler. Workers
open the source and the output store by path, load a named model once per process
(the engine's model cache) and use their own GPU when they have one
(``device="auto"``); a network object is sent to every worker once.

Each task runs the in-memory engine (:func:`.inference._denoise_iter`) over the whole
input with a sink that keeps only its plane, so the result is the single-process
run's, plane for plane. Planes are whole chunks of the output (see
:func:`napari_denoise.io.zarr_store.unit_chunks`): no two tasks write one chunk.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .chunked import ZarrSink, open_source
from .errors import DenoiseError
from .progress import Progress


class PlaneSink(ZarrSink):
    """A worker's sink: writes the units of its planes, records nothing in the store
    (the client does, as tasks finish)."""

    def __init__(self, group, arr, axes: str, done: set, planes):
        super().__init__(group, arr, axes, done)
        self.planes = frozenset(planes)
        self.written: list[int] = []
        self._mark = lambda group, done: None

    def write(self, index, t, z, g, res) -> None:
        super().write(index, t, z, g, res)
        self.written.append(index)


def plane_keys(data, axes: str, model, kwargs) -> list[tuple[int, int | None]]:
    """(t, z) of every plane of work, z None in 3-D mode: the engine's units less the
    channel groups (a task writes every channel of its plane)."""
    from .axes import to_canonical
    from .inference import _resolve
    from .layout import choose_mode

    T, Z = to_canonical(data, axes).shape[:2]
    den = _resolve(model, kwargs.get("device", "auto"))
    mode = choose_mode(kwargs.get("mode"), den, Z, axes, tuple(data.shape))
    zs = [None] if mode == "3d" else list(range(Z))
    return [(t, z) for t in range(T) for z in zs]


def _plane_task(source: str, out: str, planes, done, model, axes: str, settings: dict,
                kwargs: dict, threads: int | None):
    """Runs on a worker: denoise ``planes`` of ``source`` into the store ``out``."""
    import zarr

    from .lazy import run_fixed

    if threads:
        import torch

        torch.set_num_threads(threads)
    data, _, _ = open_source(source, axes)
    group = zarr.open_group(out, mode="r+")
    sink = PlaneSink(group, group["0"], axes, set(done), planes)
    return sink.written, run_fixed(data, model, axes, settings, kwargs, sink=sink).info


def run_on_cluster(client, source, out, group, data, axes: str, done: set, model,
                   kwargs: dict, *, threads: int | None = None):
    """Generator: yields a :class:`Progress` per finished plane, returns the
    :class:`DenoiseInfo` of the run. ``done`` (the units already in the store) grows
    as planes finish; cancelling (closing the generator) cancels what is left."""
    from distributed import as_completed

    from ..io.zarr_store import mark_done
    from .lazy import fix_settings

    if not isinstance(source, (str, Path)):
        raise DenoiseError("a run on a cluster reads its input by path: give a zarr store or "
                           "an image file the workers can open, not an array")
    t0 = time.perf_counter()
    settings, kw = fix_settings(data, axes, kwargs)
    keys = plane_keys(data, axes, model, kw)
    if not isinstance(model, (str, Path)):  # a network object: to every worker once
        model = client.scatter(model, broadcast=True)
    workers = len(client.scheduler_info().get("workers", {}))
    msg = f"{len(keys)} plane(s) on {workers} worker(s)"
    futures = [client.submit(_plane_task, os.fspath(source), os.fspath(out), [k],
                             frozenset(done), model, axes, settings, kw, threads, pure=False)
               for k in keys]
    yield Progress(0, len(keys), msg, 0.0)
    info, warnings = None, []
    try:
        for i, fut in enumerate(as_completed(futures), 1):
            written, part = fut.result()
            done.update(written)
            mark_done(group, done)
            if info is None:
                info = part
            warnings += [w for w in part.warnings if w not in warnings]
            yield Progress(i, len(keys), msg, time.perf_counter() - t0)
    finally:
        client.cancel([f for f in futures if not f.done()])
    info.warnings = warnings
    info.seconds = time.perf_counter() - t0
    return info


def connect(workers: int | None = None, scheduler: str | None = None, *, timeout: float = 10):
    """A ``distributed.Client``: a new ``LocalCluster`` of ``workers`` processes (one
    thread each; torch then gets the CPU's cores shared between them), or the cluster
    whose scheduler is at ``scheduler``. Returns (client, threads per worker or None)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise DenoiseError('runs on several workers need dask.distributed: pip install '
                           '"napari-denoise[all]"') from None
    if scheduler:
        try:
            return Client(scheduler, timeout=timeout), None
        except (OSError, TimeoutError) as exc:
            raise DenoiseError(f"no dask scheduler answered at {scheduler} within "
                               f"{timeout:g} s ({type(exc).__name__})") from None
    n = int(workers or 1)
    if n < 1:
        raise DenoiseError(f"the number of workers must be at least 1, not {n}")
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    client._napari_denoise_cluster = cluster  # closed with the client (see close)
    return client, max(1, (os.cpu_count() or 1) // n)


def close(client) -> None:
    cluster = getattr(client, "_napari_denoise_cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()
