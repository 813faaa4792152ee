"""Resident memory over a long run with a recorder and a display consumer: the
instrumentation must not leak (goal: growth under 5%)."""

from __future__ import annotations

import gc
import os
import resource
import tempfile
from pathlib import Path

from pcviz.bench.engine_overhead import DisplayConsumer
from pcviz.io import Recorder
from pcviz.sim import Engine, load_preset


def rss_bytes() -> int:
    """Current resident set size (Linux /proc; elsewhere the peak, from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if os.uname().sysname == "Darwin" else peak * 1024


def measure(preset: str = "digits-pc", steps: int = 100_000, warmup: int = 2000, device: str = "cpu") -> dict:
    folder = Path(tempfile.mkdtemp(prefix="pcviz-mem-"))
    path = folder / "memory.h5"
    engine = Engine(load_preset(preset), device=device)
    rec = Recorder(engine, path).start()
    samples = []
    try:
        with DisplayConsumer(engine):
            engine.run_steps(warmup)
            gc.collect()
            start = rss_bytes()
            chunk = max(1000, steps // 10)
            done = 0
            while done < steps:
                done += engine.run_steps(min(chunk, steps - done))
                samples.append((warmup + done, rss_bytes()))
        summary = rec.stop()
        gc.collect()
        end = rss_bytes()
    finally:
        engine.stop()
        path.unlink(missing_ok=True)
        folder.rmdir()
    return {
        "preset": preset, "steps": steps, "frames_recorded": summary.frames, "dropped": summary.dropped,
        "rss_start_mb": start / 2**20, "rss_end_mb": end / 2**20,
        "rss_growth": (end - start) / start,
        "rss_trace_mb": [(s, b / 2**20) for s, b in samples],
    }
