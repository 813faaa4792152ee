"""Engine overhead: the pcviz engine on a preset, with a display taking frames at 60 Hz
and an HDF5 recorder taking every step of the displayed sample, against the same
equations written as a plain torch loop, side by side."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import torch

from pcviz.bench.bare_pc import run_bare_pc
from pcviz.bench.timing import interleaved, paired_ratio
from pcviz.io import Recorder
from pcviz.sim import Engine, load_preset


class DisplayConsumer:
    """Takes the newest frame at ``hz`` from another thread, as the window does."""

    def __init__(self, engine: Engine, hz: float = 60.0):
        self.slot = engine.subscribe_latest(with_basis=True)
        self.hz = hz
        self.frames = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        period = 1.0 / self.hz
        while not self._stop.wait(period):
            if self.slot.take() is not None:
                self.frames += 1

    def __enter__(self) -> "DisplayConsumer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def measure(preset: str = "digits-pc", steps: int = 3000, repeats: int = 5, device: str = "cpu",
            overrides: list[str] | None = None) -> dict:
    # like for like: the bare loop learns, with the diagonal preconditioner and the point
    # precision update (the presets now open with learning off and use "bound" / "laplace")
    same = ["engine.learning=true", "model.preconditioner='diagonal'", "model.precision_update='point'"]
    cfg = load_preset(preset, same + list(overrides or []))
    hold = cfg.data.hold_steps
    steps = max(hold, steps // hold * hold)
    probe = Engine(cfg, device=device)
    batches = [torch.from_numpy(probe.stream.next_batch().x).to(probe.device) for _ in range(max(4, steps // hold))]
    W, b, var = ([t.clone() for t in probe.model.W], [t.clone() for t in probe.model.b],
                 [t.clone() for t in probe.model.var])
    tmp = Path(tempfile.mkdtemp(prefix="pcviz-bench-"))
    counter = {"n": 0, "dropped": 0, "display": 0}

    def bare() -> float:
        return steps / run_bare_pc(cfg.model, W, b, var, batches, steps, hold).seconds

    def engine_run() -> float:
        engine = Engine(load_preset(preset, list(overrides or [])), device=device)
        path = tmp / f"run{counter['n']}.h5"
        counter["n"] += 1
        rec = Recorder(engine, path).start()
        with DisplayConsumer(engine) as disp:
            t0 = time.perf_counter()
            engine.run_steps(steps)
            dt = time.perf_counter() - t0
        summary = rec.stop()
        counter["dropped"] += summary.dropped
        counter["display"] += disp.frames
        path.unlink(missing_ok=True)
        return steps / dt

    def headless() -> float:
        engine = Engine(load_preset(preset, list(overrides or [])), device=device)
        t0 = time.perf_counter()
        engine.run_steps(steps)
        return steps / (time.perf_counter() - t0)

    bare()  # warm-up
    engine_run()
    res = interleaved({"bare": bare, "engine": engine_run, "headless": headless}, repeats)
    tmp.rmdir() if not any(tmp.iterdir()) else None
    return {
        "preset": preset, "steps": steps, "repeats": repeats,
        "bare_steps_per_s": res["bare"].as_dict(),
        "engine_steps_per_s": res["engine"].as_dict(),
        "headless_steps_per_s": res["headless"].as_dict(),
        "engine_overhead_ratio": paired_ratio(res["engine"], res["bare"]).as_dict(),
        "headless_ratio": paired_ratio(res["headless"], res["bare"]).as_dict(),
        "recorder_dropped_frames": counter["dropped"],
    }
