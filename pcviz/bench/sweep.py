"""Sweep throughput: the same runs as a sweep on local Ray and one after another in
one process and in a plain process pool (the control), side by side, repeated with
each mode first in turn; plus where the sweep's time goes (Ray's start-up, the wait
for the first run, the runs, the shutdown), each run's wall and CPU seconds alone and
two at once, the CPU of Ray's own processes, and the load and steal time meanwhile.

    pcviz bench --sweep [--quick]        (8 runs of 20,000 steps; quick: 4 of 2,000)
"""

from __future__ import annotations

import dataclasses
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
    xs = [x for x in xs if x == x]  # not NaN
    if not xs:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
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


def _noop_round_trip_ms(workers: int, temp_dir: Path) -> list[float]:
    """The round trip of an empty task on a warm worker, in a Ray session of its own
    (not counted in any mode)."""
    import ray

    from pcviz.sweep.driver import shutdown_local_ray

    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             _temp_dir=str(temp_dir))
    try:
        noop = ray.remote(_noop)
        ray.get(noop.remote())  # a worker is up
        lat = []
        for _ in range(50):
            s = time.perf_counter()
            ray.get(noop.remote())
            lat.append((time.perf_counter() - s) * 1e3)
        return lat
    finally:
        shutdown_local_ray(ray)


def measure(runs: int = 8, steps: int = 20_000, every: int = 10, workers: int | None = None, repeats: int = 3,
            preset: str = "digits-pc-scratch", log=print) -> dict[str, Any]:
    """Each repeat runs the three modes, each mode first once: one after another in
    this process, the sweep on local Ray (as ``pcviz sweep`` runs it: Ray started and
    shut down inside :func:`run_sweep`, every second of that counted), a plain process
    pool. Beside the totals: where the sweep's time went (:class:`SweepTimings`), each
    run's wall and CPU seconds in both modes, the CPU of Ray's own processes and
    workers, the hypervisor's steal time and the load average during each mode."""
    import os

    from pcviz.bench import proc_cpu
    from pcviz.sweep import SweepTimings, parse_sweep, run_sequential, run_sweep

    workers = workers or os.cpu_count() or 1
    root = Path(tempfile.mkdtemp(prefix="pcvbench"))
    path = root / "bench.toml"
    text = SWEEP.format(preset=preset, seeds=list(range(runs)), steps=steps, every=every)
    path.write_text(text)
    spec = parse_sweep(text, path)
    total: dict[str, list[float]] = {"seq": [], "ray": [], "pool": []}
    load: dict[str, list[float]] = {"seq": [], "ray": [], "pool": []}
    steal: dict[str, list[float]] = {"seq": [], "ray": [], "pool": []}
    timings: list[SweepTimings] = []
    per_run = {k: [] for k in ("seq_wall", "seq_cpu", "seq_extra_cpu", "ray_wall", "ray_cpu", "ray_extra_cpu")}
    overhead, ray_services_cpu, ray_workers_beyond_runs, driver_cpu = [], [], [], []
    by_name: dict[str, list[float]] = {}
    cpu_total: list[float] = []  # CPU seconds a sweep used in all: runs, Ray's processes, driver
    seq_cpu: list[float] = []  # CPU seconds of the one-after-another mode (this process)
    seq_run_sums = []
    try:
        for rep in range(repeats):
            modes = ("seq", "ray", "pool")
            order = modes[rep % 3:] + modes[:rep % 3]  # each mode first in turn
            for mode in order:
                out = root / f"{mode}{rep}"
                load0, steal0 = proc_cpu.load_average(), proc_cpu.steal_seconds()
                if mode == "seq":
                    c0 = time.process_time()
                    t0 = time.perf_counter()
                    res = run_sequential(spec.runs, out)
                    total["seq"].append(time.perf_counter() - t0)
                    seq_cpu.append(time.process_time() - c0)
                    per_run["seq_wall"] += [r.seconds for r in res]
                    per_run["seq_cpu"] += [r.cpu_seconds for r in res]
                    per_run["seq_extra_cpu"] += [r.process_cpu_seconds - r.cpu_seconds for r in res]
                    seq_run_sums.append(sum(r.seconds for r in res))
                    bad = [r.error for r in res if r.status != "done"]
                elif mode == "pool":
                    t0 = time.perf_counter()
                    res = _in_pool(spec.runs, out, workers)
                    total["pool"].append(time.perf_counter() - t0)
                    bad = [r.error for r in res if r.status != "done"]
                else:
                    tm = SweepTimings()
                    cpu = proc_cpu.DescendantCPU()
                    c0 = time.process_time()
                    t0 = time.perf_counter()
                    rows = run_sweep(spec, out, workers=workers, resume=False, timings=tm,
                                     ray_temp_dir=str(root / f"ray{rep}"), on_update=lambda p, r: cpu.sample())
                    total["ray"].append(time.perf_counter() - t0)
                    driver_cpu.append(time.process_time() - c0)
                    timings.append(tm)
                    secs = [float(r["seconds"]) for r in rows if r.get("seconds") is not None]
                    per_run["ray_wall"] += secs
                    per_run["ray_cpu"] += [float(r["cpu_seconds"]) for r in rows]
                    per_run["ray_extra_cpu"] += [float(r["process_cpu_seconds"]) - float(r["cpu_seconds"])
                                                 for r in rows]
                    kinds = cpu.by_kind()
                    for name, sec in cpu.by_name().items():
                        by_name.setdefault(name, []).append(sec)
                    ray_services_cpu.append(kinds["services"])
                    ray_workers_beyond_runs.append(kinds["workers"] - sum(float(r["process_cpu_seconds"])
                                                                          for r in rows))
                    cpu_total.append(kinds["workers"] + kinds["services"] + driver_cpu[-1])
                    # wall time the workers held beyond the runs' own time, per run: task
                    # dispatch, each worker's first import of torch and pcviz, the idle tail
                    overhead.append((tm.runs_s * workers - sum(secs)) / runs)
                    bad = [r.get("error") for r in rows if r["status"] != "done"]
                if bad:
                    raise RuntimeError(f"sweep benchmark: runs failed: {bad}")
                load1, steal1 = proc_cpu.load_average(), proc_cpu.steal_seconds()
                if load0 is not None and load1 is not None:
                    load[mode].append(max(load0, load1))
                if steal0 is not None and steal1 is not None:
                    steal[mode].append(steal1 - steal0)
                log(f"   repeat {rep + 1} {mode}: {total[mode][-1]:.1f} s (load average {load0}-{load1})")
                shutil.rmtree(out, ignore_errors=True)
        noop_ms = _noop_round_trip_ms(workers, root / "raynoop")
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    seq_s, ray_s, pool_s = total["seq"], total["ray"], total["pool"]
    ray_runs_s = [t.runs_s for t in timings]
    fixed = [t.prepare_s + t.ray_start_s + t.first_run_wait_s + t.shutdown_s for t in timings]
    return {
        "runs": runs, "steps": steps, "every": every, "workers": workers, "preset": preset, "cpus": os.cpu_count(),
        "sequential_s": _stats(seq_s), "process_pool_s": _stats(pool_s),
        "process_pool_ratio": _stats([s / p for s, p in zip(seq_s, pool_s)]), "ray_s": _stats(ray_s),
        "ray_runs_only_s": _stats(ray_runs_s),
        "throughput_ratio": _stats([s / r for s, r in zip(seq_s, ray_s)]),
        "throughput_ratio_without_startup": _stats([s / r for s, r in zip(seq_s, ray_runs_s)]),
        # the ratio if the runs ran side by side as fast as one alone, with the sweep's
        # measured fixed costs: what is left for 1.8 once the runs are perfect
        "ceiling_ratio": _stats([s / (f + q / workers) for s, f, q in zip(seq_s, fixed, seq_run_sums)]),
        # the CPU a sweep needs, over the cores: no schedule of it can end sooner; against
        # the CPU of the one-after-another mode (which, on a quiet machine, is its wall
        # time: one busy core), the most the ratio can be, load or not
        "cpu_floor_s": _stats([c / (os.cpu_count() or 1) for c in cpu_total]),
        "cpu_ceiling_ratio": _stats([q / (c / (os.cpu_count() or 1)) for q, c in zip(seq_cpu, cpu_total)]),
        "ray_cpu_total_s": _stats(cpu_total), "sequential_cpu_s": _stats(seq_cpu),
        "ray_prepare_s": _stats([t.prepare_s for t in timings]),
        "ray_init_s": _stats([t.ray_start_s for t in timings]),
        "first_run_wait_s": _stats([t.first_run_wait_s for t in timings]),
        "ray_shutdown_s": _stats([t.shutdown_s for t in timings]),
        "noop_task_ms": _stats(noop_ms),
        "run_seconds_sequential": _stats(per_run["seq_wall"]), "run_seconds_in_ray": _stats(per_run["ray_wall"]),
        "run_cpu_sequential": _stats(per_run["seq_cpu"]), "run_cpu_in_ray": _stats(per_run["ray_cpu"]),
        "run_extra_cpu_sequential": _stats(per_run["seq_extra_cpu"]),
        "run_extra_cpu_in_ray": _stats(per_run["ray_extra_cpu"]),
        "ray_services_cpu_s": _stats(ray_services_cpu), "ray_workers_cpu_beyond_runs_s": _stats(ray_workers_beyond_runs),
        "ray_driver_cpu_s": _stats(driver_cpu),
        "ray_cpu_by_process_s": {k: _stats(v) for k, v in sorted(by_name.items(), key=lambda kv: -max(kv[1]))},
        "per_run_overhead_s": _stats(overhead),
        "load_average": {k: _stats(v) for k, v in load.items() if v},
        "steal_s": {k: _stats(v) for k, v in steal.items() if v},
        "repeats": {"sequential_s": seq_s, "ray_s": ray_s, "process_pool_s": pool_s,
                    "timings": [dataclasses.asdict(t) for t in timings]},
    }


def _fmt(m: dict[str, float], digits: int = 2) -> str:
    return f"{m['median']:.{digits}f} ({m['min']:.{digits}f}-{m['max']:.{digits}f})"


def sweep_table(r: dict[str, Any]) -> str:
    load = ", ".join(f"{k} {_fmt(v, 1)}" for k, v in r.get("load_average", {}).items()) or "not measured"
    steal = ", ".join(f"{k} {_fmt(v, 1)}" for k, v in r.get("steal_s", {}).items()) or "not measured"
    return "\n".join([
        f"sweep: {r['runs']} runs of {r['steps']} steps of {r['preset']} (recording every {r['every']}),"
        f" {r['workers']} Ray workers on {r['cpus']} CPUs; median (min-max) of {r['sequential_s']['n']} repeats",
        f"  one after another in one process   {_fmt(r['sequential_s'], 1)} s",
        f"  sweep on local Ray                  {_fmt(r['ray_s'], 1)} s (start-up and shutdown included)",
        f"  throughput ratio (goal >= 1.8)      {_fmt(r['throughput_ratio'])}"
        f"  (without Ray's start-up and shutdown: {_fmt(r['throughput_ratio_without_startup'])})",
        f"  ceiling with these fixed costs      {_fmt(r['ceiling_ratio'])}"
        " (the runs two at once as fast as one alone)",
        f"  CPU: one after another {_fmt(r['sequential_cpu_s'], 1)} s; the sweep {_fmt(r['ray_cpu_total_s'], 1)} s"
        f" (runs, Ray, driver), over {r['cpus']} CPUs at least {_fmt(r['cpu_floor_s'], 1)} s:"
        f" ratio at most {_fmt(r['cpu_ceiling_ratio'])} on a quiet machine",
        f"  control: a plain process pool      {_fmt(r['process_pool_s'], 1)} s, ratio"
        f" {_fmt(r['process_pool_ratio'])} (what parallel runs gain on this machine now, without Ray)",
        "  where the sweep's time went:",
        f"    driver's preparation              {_fmt(r['ray_prepare_s'])} s",
        f"    Ray start-up (ray.init)           {_fmt(r['ray_init_s'])} s",
        f"    wait for the first run to begin   {_fmt(r['first_run_wait_s'])} s"
        " (worker start, its import of torch and pcviz)",
        f"    runs (Ray up to last result)      {_fmt(r['ray_runs_only_s'], 1)} s",
        f"    Ray shutdown                      {_fmt(r['ray_shutdown_s'])} s",
        f"  empty task round trip               {_fmt(r['noop_task_ms'])} ms",
        f"  per-run overhead in the sweep       {_fmt(r['per_run_overhead_s'])} s"
        " (worker time beyond the runs' own: dispatch, first imports, idle tail)",
        f"  one run, wall: alone {_fmt(r['run_seconds_sequential'])} s, two at once in Ray"
        f" {_fmt(r['run_seconds_in_ray'])} s",
        f"  one run, CPU of its thread: alone {_fmt(r['run_cpu_sequential'])} s, in Ray"
        f" {_fmt(r['run_cpu_in_ray'])} s",
        f"  one run, CPU of its other threads (recorder; in Ray also the worker's): alone"
        f" {_fmt(r['run_extra_cpu_sequential'])} s, in Ray {_fmt(r['run_extra_cpu_in_ray'])} s",
        f"  CPU during a sweep: Ray's services {_fmt(r['ray_services_cpu_s'])} s, workers beyond their runs"
        f" {_fmt(r['ray_workers_cpu_beyond_runs_s'])} s, driver {_fmt(r['ray_driver_cpu_s'])} s",
        "  CPU by Ray process (median s): " + ", ".join(f"{k} {v['median']:.2f}" for k, v in
                                                       r.get("ray_cpu_by_process_s", {}).items()),
        f"  load average (1 min) by mode: {load}",
        f"  steal time by mode (s, all CPUs): {steal}",
    ])
