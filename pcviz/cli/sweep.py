"""``pcviz sweep SWEEP.toml --out DIR``: the command-line face of :mod:`pcviz.sweep`
(a progress bar of runs, a line per finishing run, Ctrl-C)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from pcviz.sweep.driver import DONE, Progress, SweepError, SweepTimings, run_sweep
from pcviz.sweep.run import RunResult
from pcviz.sweep.spec import load_sweep


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="run a sweep of recordings on Ray (local, or a cluster)")
    p.add_argument("file", help="sweep file (.toml)")
    p.add_argument("--out", required=True, help="folder for the recordings and the index sweep.csv"
                                                " (with --address: storage every node sees)")
    p.add_argument("--workers", type=int, default=None, help="runs at once on local Ray (default: the cores)")
    p.add_argument("--address", default=None, help="join this Ray cluster (e.g. auto, or HOST:6379)")
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda", "mps"),
                   help="torch device of every run (default cpu)")
    p.add_argument("--retries", type=int, default=2, help="times Ray retries a run whose worker died (default 2)")
    p.add_argument("--redo", action="store_true", help="redo every run, even those already complete in --out")
    p.add_argument("--dry-run", action="store_true", help="list the runs and exit")


def _fmt_eta(s: float | None) -> str:
    if s is None:
        return "?"
    s = int(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _line(r: RunResult) -> str:
    if r.status != DONE:
        return f"  {r.status:<11} {r.run_id}: {r.error}"
    metric = f"held-out mse {r.heldout_recon_mse:.4g}"
    if r.heldout_accuracy == r.heldout_accuracy:  # not NaN
        metric += f", accuracy {r.heldout_accuracy:.3f}"
    end = f"energy {r.final_energy:.4g}" if r.final_energy == r.final_energy else f"ELBO {r.final_elbo:.4g}"
    return (f"  done        {r.run_id}: {metric}, {end}, {r.steps_per_second:.0f} steps/s, {r.frames} frames,"
            f" {r.dropped} dropped")


def cmd_sweep(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.workers is not None and args.workers < 1:
        print(f"pcviz sweep: --workers {args.workers}: must be at least 1", file=sys.stderr)
        return 2
    spec = load_sweep(args.file)
    if args.dry_run:
        for run in spec.runs:
            print(f"{run.run_id}  preset {run.preset}, seed {run.seed}, {run.params}")
        print(f"{len(spec.runs)} runs of {spec.steps} steps")
        return 0
    where = f"Ray cluster {args.address}" if args.address else \
        f"local Ray, {args.workers or 'one per core'} workers"
    print(f"pcviz sweep: {len(spec.runs)} runs of {spec.steps} steps on {where} -> {args.out}", file=sys.stderr)
    if args.address:
        print(f"pcviz sweep: every node writes to {args.out}: it must be storage they all see"
              " (a node that does not see it fails its runs, saying so)", file=sys.stderr)
    stop = threading.Event()

    def on_sigint(signum, frame) -> None:
        if not stop.is_set():
            print("\npcviz sweep: stopping: the running runs close their recordings (Ctrl-C again to quit"
                  " at once)", file=sys.stderr)
            stop.set()
        else:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    bar = tqdm(total=len(spec.runs), unit="run", dynamic_ncols=True, file=sys.stderr)

    def update(p: Progress, result: RunResult | None) -> None:
        if result is not None:
            bar.write(_line(result), file=sys.stderr)
        bar.n = p.skipped + p.done + p.failed + p.interrupted
        stopped = f", interrupted {p.interrupted}" if p.interrupted else ""
        bar.set_postfix_str(f"done {p.done + p.skipped} ({p.skipped} earlier), running {p.running},"
                            f" failed {p.failed}{stopped}, ETA {_fmt_eta(p.eta(max(1, p.running)))}",
                            refresh=False)
        bar.refresh()

    timings = SweepTimings()
    try:
        rows = run_sweep(spec, args.out, workers=args.workers, address=args.address, device=args.device,
                         retries=args.retries, stop=stop, resume=not args.redo, on_update=update, timings=timings)
    finally:
        bar.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print(f"pcviz sweep: " + ", ".join(f"{v} {k}" for k, v in counts.items()) + f"; index {args.out}/sweep.csv",
          file=sys.stderr)
    if timings.ray_start_s:
        print(f"pcviz sweep: {timings.total_s:.1f} s in all: local Ray up in {timings.ray_start_s:.1f} s, the"
              f" first run began {timings.first_run_wait_s:.1f} s later, the last ended {timings.runs_s:.1f} s"
              f" after Ray was up, Ray stopped in {timings.shutdown_s:.1f} s", file=sys.stderr)
    if stop.is_set():
        return 130
    return 0 if counts.get(DONE, 0) == len(rows) else 1


__all__ = ["add_parser", "cmd_sweep", "SweepError"]
