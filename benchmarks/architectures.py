"""Architecture and loss study: every registered architecture trained the same way for
the same CPU-time budget, then scored by the protocol of quality.py.

Training: Train400 less test_381..test_400 (the validation set), Gaussian noise sigma
0-75 with a noise map for networks that take one (recipes/drunet_gray.json with the
architecture swapped in, default arch_args), patch 64 (rounded up to the net's
size_multiple), batch 16, seed 0 (same data order for all), bf16 autocast where the
trainer uses it, learning rate: warm-up then a cosine over the time budget (see
study_common.py). Validation every --val-every steps, recorded against training
seconds. Results: --results (benchmarks/results/architectures.json), one entry per
run, written as soon as it ends; checkpoints and exported weights under --work
(runs/study/). A finished run is skipped, an unfinished one resumes from its
checkpoint with the time left (--force starts again). One run at a time.

The loss study (one architecture) gives every loss the same number of steps
(--loss-steps, 3600: about 6.7 CPU-minutes of drunet 16-128 on an idle machine), with
the cosine over those steps: equal steps are equal compute there, while CPU time is not
when the machine is shared (waiting threads spin), which gave l2 and l1 2359 and 2261
steps against 3697 for charbonnier in their first, time-budgeted runs.

    python benchmarks/architectures.py --part archs --minutes 10     # every architecture
    python benchmarks/architectures.py --part losses                 # drunet 16-128, each loss, 3600 steps
    python benchmarks/architectures.py --part long --long-minutes 60 # best three, longer
    python benchmarks/architectures.py --part speed    # inference speed again (idle machine)
    python benchmarks/architectures.py --part report                 # tables and plots
    python benchmarks/architectures.py                               # all of it, in that order

The report (printed after every part) has the tables, names the frontier and writes
docs/architectures_psnr_vs_speed.png and docs/architectures_psnr_vs_training.png
(next to --results instead when --results is not the default, or to --plots).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

# before torch loads its OpenMP runtime: threads that wait sleep instead of spinning,
# so the CPU-time budget counts work (study_common.train_clock)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, load_json, machine, parse_with_threads, save_json  # noqa: E402
import study_common as sc  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_RESULTS = HERE / "results" / "architectures.json"
SIGMAS = (15, 25, 50)


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=["all", "archs", "losses", "long", "speed", "report"],
                   default="all")
    p.add_argument("--minutes", type=float, default=10.0, help="training minutes per run")
    p.add_argument("--long-minutes", type=float, default=60.0)
    p.add_argument("--archs", nargs="*", default=None, help="default: every 2D architecture")
    p.add_argument("--losses", nargs="*", default=None, help="default: every image loss")
    p.add_argument("--loss-arch", default="drunet")
    p.add_argument("--loss-arch-args", type=json.loads, default={"widths": [16, 32, 64, 128]},
                   help="JSON, over the base recipe's arch_args when it is the same arch")
    p.add_argument("--loss-steps", type=int, default=3600,
                   help="training steps per loss run (one architecture: equal steps are equal "
                        "compute, which CPU time on a shared machine is not); 0: --minutes")
    p.add_argument("--val-every", type=int, default=100, help="steps between validations")
    p.add_argument("--eval-sets", nargs="*", default=["BSD68", "Set12"])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--work", type=Path, default=Path("runs/study"))
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    p.add_argument("--plots", type=Path, default=None)
    return parse_with_threads(p, argv)


def log(msg: str) -> None:
    print(msg, flush=True)


class Study:
    """The results file, the loaded images and one run after the other."""

    def __init__(self, a):
        self.a = a
        self.res = load_json(a.results)
        self._images = None

    def save(self, section: str, name: str) -> None:
        """Write one run's entry into the results file as it is on disk now, so that a
        study left running does not put back what another part (``--part speed``) wrote
        meanwhile into the other entries."""
        res = load_json(self.a.results)
        res.setdefault(section, {})[name] = self.res[section][name]
        save_json(self.a.results, res)

    def images(self):
        if self._images is None:
            self._images = sc.load_images(self.a.data)
        return self._images

    def run(self, section: str, name: str, *args) -> dict:
        """One run (:meth:`_run`); an error is logged and recorded, and the study goes on."""
        try:
            return self._run(section, name, *args)
        except Exception as exc:  # noqa: BLE001 - a long unattended study must go on
            import traceback

            traceback.print_exc()
            entry = self.res.setdefault(section, {}).setdefault(name, {})
            entry.update(done=False, error=f"{type(exc).__name__}: {exc}")
            self.save(section, name)
            return entry

    def _run(self, section: str, name: str, arch: str, arch_args: dict, loss: str,
             minutes: float, sigmas, steps: int | None = None) -> dict:
        """Train, evaluate and record one run, or skip it when already finished. With
        ``steps`` the budget is that many steps, not ``minutes`` of CPU time; a run made
        (or begun) under another step budget is made again from the start."""
        entries = self.res.setdefault(section, {})
        old = entries.get(name)
        other = steps is not None and old is not None and old.get("steps_budget") != steps
        if old and old.get("done") and not self.a.force and not other:
            note = "" if steps or old["minutes"] == minutes else f" (budget {old['minutes']} min)"
            log(f"{section}/{name}: finished before, skipped{note}")
            return old
        if other:
            log(f"{section}/{name}: made under another budget; trained again for {steps} steps")
            (self.a.work / section / f"{name}.ckpt").unlink(missing_ok=True)
        tr = self._trainer(section, name, arch, arch_args, loss)
        entries[name] = {"done": False, "arch": arch, "arch_args": arch_args, "loss": loss,
                         "minutes": minutes}
        if steps is not None:
            entries[name]["steps_budget"] = steps
        self.save(section, name)
        spent = (sc.train_steps(tr, steps, self.a.val_every, log) if steps is not None
                 else sc.train_timed(tr, minutes, self.a.val_every, log))
        entries[name] = self._finish(tr, entries[name], spent, sigmas)
        self.save(section, name)
        tr.export(self.a.work / section)
        return entries[name]

    def _trainer(self, section, name, arch, arch_args, loss):
        from napari_denoise.core.training.supervised import Trainer

        train, val = self.images()
        tr = Trainer(sc.make_recipe(name, arch, arch_args, loss), self.a.data,
                     self.a.work / section, device="cpu", images=train, val_images=val, log=log)
        if tr.ckpt_path.exists() and not self.a.force:
            tr.load_checkpoint()
        return tr

    def _finish(self, tr, entry: dict, spent: float, sigmas) -> dict:
        net = sc.best_network(tr)
        log(f"{tr.r.name}: scoring the best weights (val PSNR {tr.best:.3f} dB)")
        entry["eval"] = sc.evaluate(net, self.a.data, self.a.eval_sets, sigmas)
        entry.update(sc.arch_costs(tr.r.arch, tr.r.arch_args))
        entry.update(sc.inference_speed(net))
        entry.update(done=True, steps=tr.step, train_minutes=spent / 60, patch=tr.r.patch,
                     batch=tr.r.batch, best_val_psnr=tr.best, curve=tr.history,
                     takes_noise_map=bool(getattr(net, "takes_noise_map", False)),
                     machine=machine())
        return entry


def study_archs(st: Study) -> None:
    import napari_denoise as nd

    # "mapped" wraps a trained map-taking network for self-supervised fine-tuning
    names = st.a.archs or [e["name"] for e in nd.list_architectures()
                           if 2 in e["dims"] and e["name"] != "mapped"]
    for name in names:
        st.run("archs", name, name, {}, "l2", st.a.minutes, SIGMAS)


def study_losses(st: Study) -> None:
    from napari_denoise.core.training.losses import list_losses

    arch = st.a.loss_arch
    args = {**sc.base_arch_args(arch), **st.a.loss_arch_args}
    names = st.a.losses or [n for n in list_losses() if n != "cbdnet_asymmetric"]
    for loss in names:
        st.run("losses", loss, arch, args, loss, st.a.minutes, (25,), st.a.loss_steps or None)


def study_long(st: Study) -> None:
    key = ref_key(st.res.get("archs", {}))
    done = {n: e for n, e in st.res.get("archs", {}).items() if e.get("done")}
    best = sorted(done, key=lambda n: -done[n]["eval"][key]["psnr"])[:3]
    if not best:
        log("long: no finished architecture yet; run --part archs first")
    for name in best:
        st.run("long", name, name, done[name]["arch_args"], "l2", st.a.long_minutes, SIGMAS)


def study_speed(st: Study) -> None:
    """Measure the inference speed of every finished architecture again (it depends on
    the architecture only: random weights), for runs whose own measurement shared the
    CPU with other work; run it on an idle machine."""
    from napari_denoise import create_network

    for section in ("archs", "long"):
        for name, e in _done(st.res.get(section, {})).items():
            net = create_network(e["arch"], **e["arch_args"]).eval()
            e.update(sc.inference_speed(net), speed_machine=machine(), speed_remeasured=True)
            log(f"{section}/{name}: {e['s_per_mp_fp32']:.2f} s/MP fp32, "
                f"{e['s_per_mp_bf16']:.2f} bf16")
            st.save(section, name)


def ref_key(entries: dict) -> str:
    """The ranking score: BSD68 sigma 25, else the first set scored at sigma 25."""
    keys = {k for e in entries.values() for k in e.get("eval", {})}
    return "BSD68|25" if "BSD68|25" in keys or not keys else sorted(k for k in keys
                                                                    if k.endswith("|25"))[0]

# -- report -------------------------------------------------------------------------
def _done(entries: dict) -> dict:
    return {n: e for n, e in entries.items() if e.get("done")}


def _sets(entries: dict) -> list[str]:
    sets = {k.split("|")[0] for e in entries.values() for k in e.get("eval", {})}
    return sorted(sets, key=lambda s: (s != "BSD68", s))


def arch_table(entries: dict) -> str:
    sets, key = _sets(entries), ref_key(entries)
    head = ["architecture", "params", "MACs/px", "s/MP fp32", "s/MP bf16"]
    head += [f"{s} PSNR (SSIM), sigma 15 / 25 / 50" for s in sets] + ["train min (steps)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    done = _done(entries)
    for name in sorted(done, key=lambda n: -done[n]["eval"].get(key, {}).get("psnr", 0)):
        e = done[name]
        cells = [name, f"{e['parameters'] / 1e3:.1f}k", f"{e['macs_per_pixel'] / 1e3:.2f}k",
                 f"{e['s_per_mp_fp32']:.2f}", f"{e['s_per_mp_bf16']:.2f}"]
        for s in sets:
            vals = [e["eval"].get(f"{s}|{sg}") for sg in SIGMAS]
            cells.append(" / ".join(f"{v['psnr']:.2f} ({v['ssim']:.3f})" if v else "-"
                                    for v in vals))
        cells.append(f"{e['train_minutes']:.1f} ({e['steps']})")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"| {n} | {entries[n].get('error', 'unfinished')} |" + " |" * (len(head) - 2)
              for n in entries if n not in done]
    return "\n".join(lines)


def loss_table(entries: dict) -> str:
    sets = _sets(entries)
    head = ["loss", "network"] + [f"{s} sigma 25 PSNR (SSIM)" for s in sets]
    head += ["best val PSNR", "train min (steps)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    done = _done(entries)
    for name in sorted(done, key=lambda n: -done[n]["eval"].get(ref_key(done), {}).get("psnr", 0)):
        e = done[name]
        cells = [name, f"{e['arch']} {json.dumps(e['arch_args'].get('widths', ''))}"]
        cells += [f"{v['psnr']:.2f} ({v['ssim']:.4f})" if (v := e["eval"].get(f"{s}|25")) else "-"
                  for s in sets]
        cells += [f"{e['best_val_psnr']:.2f}", f"{e['train_minutes']:.1f} ({e['steps']})"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def speed_frontier(entries: dict, key: str) -> list[str]:
    """Architectures that no other one beats in both inference speed and PSNR."""
    pts = sorted((e["s_per_mp_fp32"], -e["eval"][key]["psnr"], n)
                 for n, e in _done(entries).items() if key in e["eval"])
    out, best = [], -np.inf
    for _, neg, name in pts:
        if -neg > best:
            out.append(name)
            best = -neg
    return out


def training_frontier(entries: dict) -> list[tuple[float, str]]:
    """(minute, architecture) where the leader in best validation PSNR so far changes."""
    done = {n: e for n, e in _done(entries).items() if e.get("curve")}
    leaders: list[tuple[float, str]] = []
    for t in sorted({h["seconds"] for e in done.values() for h in e["curve"]}):
        reached = {n: max(h["val_psnr"] for h in e["curve"] if h["seconds"] <= t)
                   for n, e in done.items() if e["curve"][0]["seconds"] <= t}
        lead = max(reached, key=reached.get)
        if not leaders or leaders[-1][1] != lead:
            leaders.append((t / 60, lead))
    return leaders


def frontier_text(entries: dict) -> str:
    key = ref_key(entries)
    sp = speed_frontier(entries, key)
    tf = training_frontier(entries)
    lines = [f"Inference frontier ({key.replace('|', ' sigma ')} PSNR against fp32 s/MP; no "
             f"other architecture is both faster and better): {', '.join(sp) or '-'}",
             "Training frontier (highest validation PSNR reached by a given training time; "
             "each curve anneals over its own budget): "
             + (", ".join(f"{n} from {m:.1f} min" for m, n in tf) or "-")]
    return "\n".join(lines)


def report(res: dict, a) -> None:
    archs, longs, losses = (res.get(k, {}) for k in ("archs", "long", "losses"))
    if archs:
        mins = sorted({e["minutes"] for e in archs.values() if "minutes" in e})
        print(f"\n## Architectures, {'/'.join(map(str, mins))} min of training each\n")
        print(arch_table(archs) + "\n\n" + frontier_text(archs))
    if longs:
        print(f"\n## Best architectures trained longer\n\n{arch_table(longs)}")
    if losses:
        print(f"\n## Losses\n\n{loss_table(losses)}")
    machines = sorted({e["machine"] for s in (archs, longs, losses) for e in _done(s).values()})
    print("\nMachine: " + "; ".join(machines) if machines else "\nno finished run yet")
    if _done(archs):
        plots(archs, longs, a)


def plots(archs: dict, longs: dict, a) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing (pip install matplotlib): no plots")
        return
    folder = a.plots or (sc.ROOT / "docs" if a.results.resolve() == DEFAULT_RESULTS
                         else a.results.parent)
    folder.mkdir(parents=True, exist_ok=True)
    done, key = _done(archs), ref_key(archs)
    fig, ax = plt.subplots(figsize=(7, 5))
    # labels alternate above and below their point, in PSNR order, so neighbours part
    for i, (n, e) in enumerate(sorted(done.items(), key=lambda t: t[1]["eval"][key]["psnr"])):
        p = e["eval"][key]["psnr"]
        ax.plot([e["s_per_mp_fp32"], e["s_per_mp_bf16"]], [p, p], "-", color="0.8", zorder=1)
        ax.scatter([e["s_per_mp_fp32"]], [p], color="C0", zorder=2)
        ax.scatter([e["s_per_mp_bf16"]], [p], facecolors="none", edgecolors="C1", zorder=2)
        ax.annotate(n, (e["s_per_mp_fp32"], p), fontsize=8, xytext=(3, 4 if i % 2 else -10),
                    textcoords="offset points")
    # the longer runs: the same network, so drawn at its 10-minute run's speed (timings of
    # one network vary by 20-30 % between measurements), a star where more training took it
    for n, e in _done(longs).items():
        if key in e.get("eval", {}):
            p, x = e["eval"][key]["psnr"], done.get(n, e)["s_per_mp_fp32"]
            ax.scatter([x], [p], marker="*", s=90, color="C3", zorder=3)
            ax.annotate(f"{n}, {e['train_minutes']:.0f} min", (x, p),
                        fontsize=8, xytext=(5, -3), textcoords="offset points", color="C3")
    ax.set(xscale="log", xlabel="inference s / MP (CPU; filled fp32, hollow bf16 autocast; "
                                "star: longer run)",
           ylabel=f"{key.replace('|', ' sigma ')} PSNR (dB)")
    _save(fig, folder / "architectures_psnr_vs_speed.png")
    fig, ax = plt.subplots(figsize=(7, 5))
    # twelve architectures: tab10's ten colours and two more, none repeated
    colours = list(plt.get_cmap("tab10").colors) + ["black", "gold"]
    long_done = _done(longs)
    for i, (n, e) in enumerate(sorted(done.items())):
        for entry, style in ((e, "-"), (long_done.get(n), "--")):
            if entry and entry.get("curve"):
                c = [h for h in entry["curve"] if h["seconds"] > 0]
                ax.plot([h["seconds"] / 60 for h in c], [h["val_psnr"] for h in c], style,
                        color=colours[i % len(colours)], label=n if style == "-" else None)
    # log time: the 10-minute runs and the hour-long ones on one axis
    ax.set(xscale="log", xlabel="training minutes (CPU, log scale; dashed: longer run)",
           ylabel="validation PSNR (dB), held-apart Train400, sigma 15/25/50")
    ax.legend(fontsize=7)
    _save(fig, folder / "architectures_psnr_vs_training.png")


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main(argv=None) -> int:
    a = parse(argv)
    st = Study(a)
    parts = ["archs", "losses", "long"] if a.part == "all" else [a.part]
    for part in parts:
        if part != "report":
            {"archs": study_archs, "losses": study_losses, "long": study_long,
             "speed": study_speed}[part](st)
    report(st.res, a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
