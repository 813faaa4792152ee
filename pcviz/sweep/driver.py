"""Running a sweep on Ray: each run is a Ray task (:func:`pcviz.sweep.run.run_one`),
local Ray by default (``workers`` CPUs), an existing cluster with ``address``.

What Ray does here, and what is ours: Ray schedules the tasks on the workers, and
retries a task whose worker process died (``max_retries``). Ours is the rest of a
sweep's contract: at most as many runs in flight as there are CPUs for them (so the
progress shows what is really running, and Ctrl-C knows which runs to close); a run
that raises is a result, never retried, never touching another run's file; a stop
file in the output folder that running tasks poll, so an interrupted sweep closes
its recordings properly wherever they run; a token file that every task checks, so
that a cluster worker that does not see the output folder fails clearly; and the
index, rewritten as runs finish.
"""

from __future__ import annotations

import math
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pcviz.errors import PcvizError
from pcviz.sweep.index import copy_sweep_file, row_for, write_index
from pcviz.sweep.run import (
    DONE, FAILED, INTERRUPTED, NOT_RUN, STOP_FILE, RunResult, clear_marker, finished_result, run_one,
)
from pcviz.sweep.spec import RunSpec, SweepSpec

TOKEN_FILE = ".sweep-token"
#: seconds an interrupted sweep waits for running tasks to close their recordings
STOP_GRACE = 120.0


class SweepError(PcvizError):
    """A sweep cannot start or go on; the message says why and what to do."""


def import_ray():
    try:
        import ray
    except ImportError:
        raise SweepError("pcviz sweep runs on Ray, which is not installed: pip install 'pcviz[sweep]'"
                         " (or pip install ray)") from None
    return ray


@dataclass
class SweepTimings:
    """Where a sweep's wall time went, in seconds, filled in by :func:`run_sweep`:
    the driver's preparation (resume checks, the first index), Ray's start-up, the
    wait for the first run to begin (task dispatch, the worker's imports of torch and
    pcviz), the runs (from Ray ready to the last result), Ray's shutdown. Start-up and
    shutdown stay 0 when Ray was already running (or no run was left to do)."""

    prepare_s: float = 0.0
    ray_start_s: float = 0.0
    first_run_wait_s: float = float("nan")
    runs_s: float = 0.0
    shutdown_s: float = 0.0
    total_s: float = 0.0
    #: the wait for each run to begin, from its task's submission (seconds)
    run_waits: list[float] = field(default_factory=list)


@dataclass
class Progress:
    total: int
    skipped: int = 0  # finished in an earlier sweep
    done: int = 0
    failed: int = 0  # failed or diverged
    interrupted: int = 0  # stopped by Ctrl-C (or never stopping after it)
    running: int = 0
    started: float = field(default_factory=time.monotonic)
    finished_seconds: list[float] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return self.total - self.skipped - self.done - self.failed - self.interrupted

    def eta(self, slots: int) -> float | None:
        """Seconds left: runs left times the mean run time, over the slots."""
        if not self.finished_seconds or self.remaining <= 0:
            return None if self.remaining > 0 else 0.0
        mean = sum(self.finished_seconds) / len(self.finished_seconds)
        return math.ceil(self.remaining / max(1, slots)) * mean


def _check_token(out_dir: str, token: str) -> str | None:
    try:
        got = (Path(out_dir) / TOKEN_FILE).read_text()
    except OSError:
        got = None
    if got == token:
        return None
    import socket

    return (f"{out_dir} is not the sweep's output folder as the machine that started it sees it (host"
            f" {socket.gethostname()} does not find its token file there): with a cluster, --out must be"
            f" storage every node sees")


def _task(run: RunSpec, out_dir: str, threads: int, device: str, token: str) -> RunResult:
    problem = _check_token(out_dir, token)
    if problem is not None:
        import socket

        return RunResult(run.run_id, FAILED, str(Path(out_dir) / run.filename), host=socket.gethostname(),
                         error=problem)
    return run_one(run, out_dir, threads=threads, device=device, stop_file=Path(out_dir) / STOP_FILE)


def run_sweep(spec: SweepSpec, out_dir: str | os.PathLike, *, workers: int | None = None,
              address: str | None = None, device: str = "cpu", retries: int = 2,
              stop: threading.Event | None = None, resume: bool = True,
              on_update: Callable[[Progress, RunResult | None], None] | None = None,
              ray_temp_dir: str | None = None, timings: SweepTimings | None = None) -> list[dict[str, Any]]:
    """Run every run of ``spec`` not finished in ``out_dir`` already; return the
    index rows (also written to ``out_dir/sweep.csv`` as runs finish). ``stop``: set
    it (Ctrl-C) to close the running recordings and end with an honest index.
    ``timings``: filled in with where the wall time went."""
    t_enter = time.perf_counter()
    timings = timings if timings is not None else SweepTimings()
    ray = import_ray()
    out = Path(out_dir).resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / STOP_FILE).unlink(missing_ok=True)
        token = secrets.token_hex(8)
        (out / TOKEN_FILE).write_text(token)
        copy_sweep_file(out, spec)
    except OSError as exc:
        raise SweepError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    stop = stop or threading.Event()
    rows: dict[str, dict[str, Any]] = {}
    todo: list[RunSpec] = []
    prog = Progress(total=len(spec.runs))
    for run in spec.runs:
        earlier = finished_result(run, out) if resume else None
        if earlier is not None:
            rows[run.run_id] = row_for(run, earlier)
            prog.skipped += 1
        else:
            rows[run.run_id] = row_for(run, None)
            clear_marker(run, out)
            todo.append(run)

    def save() -> None:
        write_index(out, spec, (rows[r.run_id] for r in spec.runs))

    save()
    if on_update:
        on_update(prog, None)
    timings.prepare_s = time.perf_counter() - t_enter
    if not todo:
        timings.total_s = time.perf_counter() - t_enter
        return [rows[r.run_id] for r in spec.runs]

    started_ray = False
    t_ray = time.perf_counter()
    if not ray.is_initialized():
        kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        if address:
            ray.init(address=address, **kwargs)
        else:
            n = workers or os.cpu_count() or 1
            if ray_temp_dir:
                kwargs["_temp_dir"] = str(ray_temp_dir)
            ray.init(num_cpus=n, **kwargs)
        started_ray = True
    t_ready = time.perf_counter()
    timings.ray_start_s = t_ready - t_ray if started_ray else 0.0
    try:
        slots = max(1, int(workers or ray.cluster_resources().get("CPU", 1)))
        # torch threads per task: the machine's cores shared by the tasks on it
        threads = max(1, (os.cpu_count() or 1) // slots) if not address else 1
        remote = ray.remote(_task).options(num_cpus=1, max_retries=retries, retry_exceptions=False)
        queue = list(todo)
        in_flight: dict[Any, RunSpec] = {}
        _loop(ray, remote, queue, in_flight, rows, prog, slots, stop, out, token, threads, device, retries,
              save, on_update, timings)
        timings.runs_s = time.perf_counter() - t_ready
    except BaseException:
        # a second Ctrl-C (or anything else) ends the sweep at once: say so in the index
        for row in rows.values():
            if row.get("status") == "running":
                row.update(status=INTERRUPTED, error="the sweep was quit at once; its recording may be left"
                                                     " open (pcviz info tells)")
        save()
        raise
    finally:
        (out / STOP_FILE).unlink(missing_ok=True)
        if started_ray:
            t_down = time.perf_counter()
            shutdown_local_ray(ray)
            timings.shutdown_s = time.perf_counter() - t_down
        timings.total_s = time.perf_counter() - t_enter
    return [rows[r.run_id] for r in spec.runs]


def shutdown_local_ray(ray) -> None:
    """``ray.shutdown()`` of the Ray this process started, without its one-second wait.

    Ray stops its processes one after another, each with SIGTERM and up to a second's
    wait, and the GCS before the autoscaler monitor. The monitor's SIGTERM handler
    reports its own end to the GCS, which is gone by then: it hangs until Ray kills it
    a second later (measured: 1.0 of 1.1-1.4 s of shutdown, the rest 0.01-0.03 s per
    process). A local sweep has no use for the autoscaler, so it is killed first; the
    rest is Ray's own shutdown. Ray keeps its processes in a private table: where that
    table is not found (another Ray version) the shutdown is Ray's, one second slower;
    tests/sweep/test_sweep_costs.py fails then, so that it does not go unnoticed."""
    monitor = local_ray_monitor()
    if monitor is not None and monitor.poll() is None:
        monitor.kill()
        try:
            monitor.wait(timeout=5)
        except Exception:  # noqa: BLE001 - Ray's shutdown reaps it in any case
            pass
    ray.shutdown()


def local_ray_monitor():
    """The ``subprocess.Popen`` of the autoscaler monitor that this process's
    ``ray.init`` started, or None (none started here, or Ray keeps it elsewhere)."""
    try:
        from ray._private import ray_constants
        from ray._private import worker as ray_worker

        node = ray_worker._global_node
        if node is None:
            return None
        infos = node.all_processes.get(ray_constants.PROCESS_TYPE_MONITOR) or []
        return infos[0].process if infos else None
    except (ImportError, AttributeError, IndexError):
        return None


def _loop(ray, remote, queue: list[RunSpec], in_flight: dict[Any, RunSpec], rows: dict[str, dict[str, Any]],
          prog: Progress, slots: int, stop: threading.Event, out: Path, token: str, threads: int, device: str,
          retries: int, save: Callable[[], None],
          on_update: Callable[[Progress, RunResult | None], None] | None, timings: SweepTimings) -> None:
    """Keep ``slots`` runs in flight until every run has ended (or been stopped)."""
    stopping_since: float | None = None
    submitted: dict[str, float] = {}  # run id -> when its task was submitted (epoch seconds)
    while queue or in_flight:
        if stop.is_set() and stopping_since is None:
            stopping_since = time.monotonic()
            (out / STOP_FILE).write_text("stop")
            for run in queue:
                rows[run.run_id]["status"] = NOT_RUN
            queue.clear()
        while queue and len(in_flight) < slots:
            run = queue.pop(0)
            submitted[run.run_id] = time.time()
            in_flight[remote.remote(run, str(out), threads, device, token)] = run
            rows[run.run_id]["status"] = "running"
        prog.running = len(in_flight)
        if on_update:
            on_update(prog, None)
        ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
        for ref in ready:
            run = in_flight.pop(ref)
            result = _get(ray, ref, run, out, retries)
            if result.started:  # (on a cluster, the clock of another node: only roughly)
                timings.run_waits.append(result.started - submitted[run.run_id])
                first = result.started - min(submitted.values())
                if not timings.first_run_wait_s <= first:  # NaN or later
                    timings.first_run_wait_s = first
            rows[run.run_id] = row_for(run, result)
            if result.status == DONE:
                prog.done += 1
                prog.finished_seconds.append(result.seconds)
            elif result.status == INTERRUPTED:
                prog.interrupted += 1
            else:
                prog.failed += 1
            prog.running = len(in_flight)
            save()
            if on_update:
                on_update(prog, result)
        if stopping_since is not None and in_flight and time.monotonic() - stopping_since > STOP_GRACE:
            for ref, run in in_flight.items():
                ray.cancel(ref, force=True)
                rows[run.run_id].update(status=INTERRUPTED,
                                        error=f"did not stop within {STOP_GRACE:.0f} s; its recording may"
                                              " be left open (pcviz info tells)")
                prog.interrupted += 1
            in_flight.clear()
            save()


def _get(ray, ref, run: RunSpec, out: Path, retries: int) -> RunResult:
    try:
        return ray.get(ref)
    except ray.exceptions.WorkerCrashedError as exc:
        why = f"its worker died {retries + 1} times (Ray retried it {retries} times): {exc}"
    except ray.exceptions.TaskCancelledError:
        why = "cancelled"
    except ray.exceptions.RayError as exc:
        why = f"Ray: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return RunResult(run.run_id, FAILED, str(out / run.filename), error=why)


def run_sequential(runs: list[RunSpec], out_dir: str | os.PathLike, device: str = "cpu",
                   threads: int = 1) -> list[RunResult]:
    """The same runs one after another in this process (the benchmark's baseline)."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return [run_one(run, out_dir, threads=threads, device=device) for run in runs]
