"""Sweep throughput: the same runs as a sweep on local Ray and one after another in
one process and in a plain process pool (the control), side by side, repeated with
each mode first in turn; plus what Ray itself
costs (start-up, shutdown, the round trip of an empty task).

    pcviz bench --sweep [--quick]        (8 runs of 20,000 steps; quick: 4 of 2,000)
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

SWEEP = """
[sweep]
preset = "{preset}"
seeds = {seeds}
steps = {steps}
every = {every}
"""


def _stats(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def _noop() -> int:
    return 0


def _pool_run(args) -> Any:
    from pcviz.sweep import run_one

    run, out = args
    return run_one(run, out, threads=1)


def _in_pool(runs, out: Path, workers: int) -> list:
    """The same runs in a plain process pool (no Ray): what parallel runs can gain on
    this machine now, the control that tells Ray's cost from the machine's."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    out.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
        return list(ex.map(_pool_run, [(run, str(out)) for run in runs]))


def measure(runs: int = 8, steps: int = 20_000, every: int = 10, workers: int | None = None, repeats: int = 3,
            preset: str = "digits-pc-scratch", log=print) -> dict[str, Any]:
    import os

    import ray

    from pcviz.sweep import parse_sweep, run_sequential, run_sweep

    workers = workers or os.cpu_count() or 1
    root = Path(tempfile.mkdtemp(prefix="pcvbench"))
    path = root / "bench.toml"
    text = SWEEP.format(preset=preset, seeds=list(range(runs)), steps=steps, every=every)
    path.write_text(text)
    spec = parse_sweep(text, path)
    seq_s, ray_s, ray_runs_s, init_s, down_s, noop_ms, pool_s = [], [], [], [], [], [], []
    run_seq, run_ray, overhead = [], [], []
    try:
        for rep in range(repeats):
            modes = ("seq", "ray", "pool")
            order = modes[rep % 3:] + modes[:rep % 3]  # each mode first in turn
            for mode in order:
                out = root / f"{mode}{rep}"
                if mode == "seq":
                    t0 = time.perf_counter()
                    res = run_sequential(spec.runs, out)
                    seq_s.append(time.perf_counter() - t0)
                    run_seq += [r.seconds for r in res]
                    bad = [r.error for r in res if r.status != "done"]
                elif mode == "pool":
                    t0 = time.perf_counter()
                    res = _in_pool(spec.runs, out, workers)
                    pool_s.append(time.perf_counter() - t0)
                    bad = [r.error for r in res if r.status != "done"]
                else:
                    t0 = time.perf_counter()
                    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                             logging_level="ERROR", _temp_dir=str(root / f"ray{rep}"))
                    t1 = time.perf_counter()
                    noop = ray.remote(_noop)
                    ray.get(noop.remote())  # a worker is up
                    lat = []
                    for _ in range(50):
                        s = time.perf_counter()
                        ray.get(noop.remote())
                        lat.append((time.perf_counter() - s) * 1e3)
                    t2 = time.perf_counter()
                    rows = run_sweep(spec, out, workers=workers, resume=False)
                    t3 = time.perf_counter()
                    ray.shutdown()
                    t4 = time.perf_counter()
                    init_s.append(t1 - t0)
                    down_s.append(t4 - t3)
                    noop_ms.append(statistics.median(lat))
                    ray_runs_s.append(t3 - t2)
                    ray_s.append((t1 - t0) + (t3 - t2) + (t4 - t3))  # start-up and shutdown included
                    secs = [float(r["seconds"]) for r in rows if r.get("seconds") is not None]
                    run_ray += secs
                    # wall time the workers held beyond the runs' own time, per run: task
                    # dispatch, each worker's first import of torch and pcviz, the idle tail
                    overhead.append(((t3 - t2) * workers - sum(secs)) / runs)
                    bad = [r.get("error") for r in rows if r["status"] != "done"]
                if bad:
                    raise RuntimeError(f"sweep benchmark: runs failed: {bad}")
                log(f"   repeat {rep + 1} {mode}: {dict(seq=seq_s, ray=ray_s, pool=pool_s)[mode][-1]:.1f} s")
                shutil.rmtree(out, ignore_errors=True)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    ratio = [s / r for s, r in zip(seq_s, ray_s)]
    ratio_runs = [s / r for s, r in zip(seq_s, ray_runs_s)]
    return {
        "runs": runs, "steps": steps, "every": every, "workers": workers, "preset": preset, "cpus": os.cpu_count(),
        "sequential_s": _stats(seq_s), "process_pool_s": _stats(pool_s),
        "process_pool_ratio": _stats([s / p for s, p in zip(seq_s, pool_s)]), "ray_s": _stats(ray_s), "ray_runs_only_s": _stats(ray_runs_s),
        "throughput_ratio": _stats(ratio), "throughput_ratio_without_startup": _stats(ratio_runs),
        "ray_init_s": _stats(init_s), "ray_shutdown_s": _stats(down_s), "noop_task_ms": _stats(noop_ms),
        "run_seconds_sequential": _stats(run_seq), "run_seconds_in_ray": _stats(run_ray),
        "per_run_overhead_s": _stats(overhead),
    }


def _fmt(m: dict[str, float], digits: int = 2) -> str:
    return f"{m['median']:.{digits}f} ({m['min']:.{digits}f}-{m['max']:.{digits}f})"


def sweep_table(r: dict[str, Any]) -> str:
    return "\n".join([
        f"sweep: {r['runs']} runs of {r['steps']} steps of {r['preset']} (recording every {r['every']}),"
        f" {r['workers']} Ray workers on {r['cpus']} CPUs; median (min-max) of {r['sequential_s']['n']} repeats",
        f"  one after another in one process   {_fmt(r['sequential_s'], 1)} s",
        f"  sweep on local Ray                  {_fmt(r['ray_s'], 1)} s (start-up and shutdown included)",
        f"  throughput ratio (goal >= 1.8)      {_fmt(r['throughput_ratio'])}"
        f"  (without Ray's start-up: {_fmt(r['throughput_ratio_without_startup'])})",
        f"  control: a plain process pool      {_fmt(r['process_pool_s'], 1)} s, ratio"
        f" {_fmt(r['process_pool_ratio'])} (what parallel runs gain on this machine now, without Ray)",
        f"  Ray start-up / shutdown             {_fmt(r['ray_init_s'])} s / {_fmt(r['ray_shutdown_s'])} s",
        f"  empty task round trip               {_fmt(r['noop_task_ms'])} ms",
        f"  per-run overhead in the sweep       {_fmt(r['per_run_overhead_s'])} s"
        " (worker time beyond the runs' own: dispatch, first imports, idle tail)",
        f"  one run: sequential {_fmt(r['run_seconds_sequential'])} s, in a Ray worker"
        f" {_fmt(r['run_seconds_in_ray'])} s",
    ])
