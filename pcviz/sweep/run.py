"""One run of a sweep: what ``pcviz record`` does (the same recorder, the same file),
then held-out metrics, returned as a :class:`RunResult`. Plain Python, no Ray: the
Ray task wraps :func:`run_one`, and the benchmark calls it in one process.

Beside each recording ``NAME.h5`` a run leaves ``NAME.json`` (its result, written
last: a recording without it did not finish) and, while it runs, ``NAME.running``
(host, process id, attempt) so that a retried run knows its attempt number and a
person can see where a run is.
"""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pcviz.sweep.spec import RunSpec

#: how often a run looks for the sweep's stop file (seconds)
STOP_POLL = 0.25
STOP_FILE = ".sweep-stop"

DONE, DIVERGED, FAILED, INTERRUPTED, NOT_RUN = "done", "diverged", "failed", "interrupted", "not run"


@dataclass
class RunResult:
    run_id: str
    status: str
    path: str
    steps: int = 0  # steps run
    steps_per_second: float = float("nan")
    frames: int = 0  # frames in the recording
    dropped: int = 0
    final_energy: float = float("nan")  # PC: total energy of the shown sample at the last step
    final_elbo: float = float("nan")  # VAE: ELBO of the shown sample at the last step
    heldout_recon_mse: float = float("nan")  # mean squared input error on held-out samples
    heldout_accuracy: float = float("nan")  # where the model has a label layer
    heldout_samples: int = 0
    seconds: float = 0.0
    cpu_seconds: float = float("nan")  # CPU time of the thread that ran it (the engine's steps, set-up, metrics)
    process_cpu_seconds: float = float("nan")  # CPU time of its whole process meanwhile (adds the recorder's thread)
    started: float = 0.0  # when the run began (seconds since the epoch)
    attempt: int = 1
    host: str = ""
    error: str = ""
    config: dict[str, Any] = field(default_factory=dict)  # the comparable resolved config

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunResult":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


def heldout_metrics(model, data, hold_steps: int, n: int = 256, batch: int = 64) -> dict[str, float]:
    """With learning off, present up to ``n`` held-out samples for one hold each and
    read the input layer's error (x − x̂ for PC, x − reconstruction for a VAE: the
    frame's common ``error`` at level 0) and, where the model streams it, ``batch_accuracy``.
    The model's batch state is replaced."""
    import torch

    n = min(n, len(data))
    if n == 0:
        return {"heldout_samples": 0}
    sq, count, correct, labelled = 0.0, 0, 0.0, 0
    with torch.no_grad():
        for i in range(0, n, batch):
            x = torch.from_numpy(data.x[i: min(n, i + batch)]).to(model.device)
            labels = None if data.labels is None else \
                torch.from_numpy(data.labels[i: min(n, i + batch)]).to(model.device)
            model.set_batch(x, labels, learning=False)
            for _ in range(hold_steps):
                model.step(False)
            err = model.frame_tensors()[0]["error"].reshape(len(x), -1).double()  # (b, D)
            sq += float((err ** 2).sum())
            count += err.numel()
            acc = model.scalar_tensors(None).get("batch_accuracy")
            if acc is not None:
                correct += float(acc) * len(x)
                labelled += len(x)
    out = {"heldout_recon_mse": sq / count, "heldout_samples": n}
    if labelled:
        out["heldout_accuracy"] = correct / labelled
    return out


def expected_last_step(steps: int, every: int) -> int:
    """The engine step of the last frame a complete run of ``steps`` steps records."""
    return steps // every * every


def clear_marker(run: RunSpec, out_dir: str | os.PathLike) -> None:
    """Forget the attempts of an earlier sweep (one that was itself killed) before a
    run starts afresh; retries within one sweep keep counting."""
    _marker(Path(out_dir) / run.filename).unlink(missing_ok=True)


def _marker(path: Path) -> Path:
    return path.with_suffix(".running")


def _result_path(path: Path) -> Path:
    return path.with_suffix(".json")


def _next_attempt(marker: Path) -> int:
    try:
        return int(json.loads(marker.read_text()).get("attempt", 0)) + 1
    except (OSError, ValueError):
        return 1


def run_one(run: RunSpec, out_dir: str | os.PathLike, threads: int = 1, device: str | None = "cpu",
            stop_file: str | os.PathLike | None = None) -> RunResult:
    """Run ``run`` and record it to ``out_dir/NAME.h5``; never raises for a failure of
    the run itself (the result says ``failed`` and why). ``stop_file``: when it
    appears, the run stops between steps and closes its recording (``interrupted``)."""
    from pcviz.config import run_config_to_dict
    from pcviz.io.recorder import Recorder
    from pcviz.sim.engine import Engine
    from pcviz.sim.threads import use_torch_threads
    from pcviz.sweep.spec import comparable_config

    out_dir = Path(out_dir)
    path = out_dir / run.filename
    marker, result_path = _marker(path), _result_path(path)
    attempt = _next_attempt(marker)
    host = socket.gethostname()
    res = RunResult(run.run_id, FAILED, str(path), attempt=attempt, host=host, started=time.time())
    t_start = time.perf_counter()
    cpu0, proc0 = time.thread_time(), time.process_time()
    try:
        result_path.unlink(missing_ok=True)
        marker.write_text(json.dumps({"pid": os.getpid(), "host": host, "attempt": attempt, "started": time.time()}))
    except OSError as exc:
        res.error = (f"cannot write in {out_dir} on host {host} ({exc.strerror or exc}); with a cluster, --out"
                     f" must be storage every node sees")
        return res
    engine = rec = None
    stop = Path(stop_file) if stop_file else None
    try:
        use_torch_threads(max(1, int(threads)))
        cfg = run.config(threads)
        res.config = comparable_config(run_config_to_dict(cfg))
        engine = Engine(cfg, device=device)
        rec = Recorder(engine, path, every=run.every, batch=run.batch, weights_every=run.weights_every,
                       compression="lzf" if run.lzf else None, overwrite=True)
        rec.start()
        next_poll = [time.monotonic() + STOP_POLL]

        def progress(step: int) -> None:
            now = time.monotonic()
            if now >= next_poll[0]:
                next_poll[0] = now + STOP_POLL
                if stop is not None and stop.exists():
                    raise KeyboardInterrupt
                if rec.failed.is_set():
                    raise _RecorderFailed

        t0 = time.perf_counter()
        try:
            done = engine.run_steps(run.steps, progress)
            res.status = DONE
        except KeyboardInterrupt:
            done = engine.step_count
            res.status = INTERRUPTED
        except _RecorderFailed:
            done = engine.step_count
        wall = time.perf_counter() - t0
        res.steps = int(done)
        res.steps_per_second = done / wall if wall > 0 else float("nan")
        scalars = {k: float(v) for k, v in engine.model.scalar_tensors(engine.display_index).items()}
        res.final_energy = scalars.get("energy/total", float("nan"))
        res.final_elbo = scalars.get("elbo", float("nan"))
        summary = rec.stop()
        res.frames, res.dropped = summary.frames, summary.dropped
        if rec.error is not None:
            res.status, res.error = FAILED, str(rec.error)
        elif engine.diverged is not None:
            res.status, res.error = DIVERGED, engine.diverged.message
        if res.status == DONE:
            m = heldout_metrics(engine.model, engine.test_data, cfg.data.hold_steps)
            for k, v in m.items():
                setattr(res, k, v)
    except KeyboardInterrupt:
        res.status = INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the run's failure is its result, not the sweep's
        res.status = FAILED
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" (at {Path(last[0].filename).name}:{last[0].lineno})" if last else ""
        res.error = f"{type(exc).__name__}: {exc}{where}"
    finally:
        if rec is not None:
            try:
                s = rec.stop()
                res.frames, res.dropped = s.frames, s.dropped
            except Exception as exc:  # noqa: BLE001
                res.status, res.error = FAILED, res.error or f"closing {path}: {exc}"
        if engine is not None:
            engine.stop()
        res.seconds = time.perf_counter() - t_start
        res.cpu_seconds = time.thread_time() - cpu0
        res.process_cpu_seconds = time.process_time() - proc0
        try:
            result_path.write_text(res.to_json())
            marker.unlink(missing_ok=True)
        except OSError as exc:
            res.status = FAILED
            res.error = res.error or f"cannot write {result_path} ({exc.strerror or exc})"
    return res


class _RecorderFailed(Exception):
    pass


def finished_result(run: RunSpec, out_dir: str | os.PathLike) -> RunResult | None:
    """The result of an earlier run of ``run`` if its recording is complete: closed by
    its writer, the planned config, every step recorded, and its result file there.
    None when the run must be (re)done."""
    from pcviz.io import open_recording
    from pcviz.io.errors import RecordingError
    from pcviz.sweep.spec import comparable_config, planned_config

    path = Path(out_dir) / run.filename
    rp = _result_path(path)
    if not path.is_file() or not rp.is_file():
        return None
    try:
        res = RunResult.from_dict(json.loads(rp.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if res.status != DONE:
        return None
    try:
        with open_recording(path) as rec:
            if not rec.complete or rec.damaged or len(rec) == 0:
                return None
            if comparable_config(rec.config_dict) != planned_config(run):
                return None
            if int(rec.steps[-1]) != expected_last_step(run.steps, run.every) or rec.every != run.every \
                    or bool(rec.batch) != run.batch or rec.weights_every != run.weights_every:
                return None
    except RecordingError:
        return None
    return res
