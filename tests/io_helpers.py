"""Shared helpers of the recording tests: small configs, frame collection, the checks
that a recorded frame is what the engine produced, subprocess recordings."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pcviz.data import make_dataset
from pcviz.sim import load_preset
from pcviz.sim.frames import Frame, FrameQueue

REPO = Path(__file__).resolve().parent.parent
SMALL = ["engine.checkpoint=''", "data.batch_size=3"]


def small_config(preset: str = "digits-pc-scratch", extra: list[str] | None = None):
    sizes = ["model.sizes=[64, 100, 36, 16]"] if preset == "digits-pc-scratch" else []  # the tests' layout
    return load_preset(preset, SMALL + sizes + list(extra or []))


def drain(q: FrameQueue) -> list[Frame]:
    out = []
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            return out
        if item is None:
            return out
        out.append(item)


def assert_same_frame(got: Frame, want: Frame, same_wall: bool = True) -> None:
    """Bit-for-bit equality of everything a frame carries (the engine builds a whole-batch
    frame with weights once per queue, so two queues see different ``wall`` times then)."""
    assert (got.step, got.sample_index, got.phase, got.hold_step, got.display_index, got.batch) == \
        (want.step, want.sample_index, want.phase, want.hold_step, want.display_index, want.batch)
    assert got.wall == want.wall if same_wall else abs(got.wall - want.wall) < 1.0
    assert len(got.layers) == len(want.layers)
    for l, (g, w) in enumerate(zip(got.layers, want.layers)):
        assert g.keys() == w.keys(), l
        for q in w:
            assert g[q].dtype == np.float32
            np.testing.assert_array_equal(g[q], w[q], err_msg=f"layer {l} {q} at step {want.step}")
    assert got.scalars.keys() == want.scalars.keys()
    for k, v in want.scalars.items():
        np.testing.assert_array_equal(got.scalars[k], np.float32(v), err_msg=k)  # NaN: not applicable now
    if want.batch:
        np.testing.assert_array_equal(got.sample_indices, want.sample_indices)
    want_w = {k: v for k, v in want.extras.items() if k.startswith("weights/")}
    assert got.extras.keys() == want_w.keys()
    for k, v in want_w.items():
        np.testing.assert_array_equal(got.extras[k], v, err_msg=k)


def assert_frames_intact(rec, every: int = 1) -> None:
    """Every frame of an unsupervised digits recording is whole: consecutive steps,
    finite values, and the input layer's activity is exactly the digit it was shown
    (the input layer of an unsupervised PC network is clamped to the data)."""
    n = len(rec)
    steps = rec.steps
    np.testing.assert_array_equal(steps, every * np.arange(1, n + 1) + steps[0] - every)
    cfg = rec.config
    train, test = make_dataset(cfg.data, seed=cfg.engine.seed)
    data = test if cfg.data.split == "test" else train
    np.testing.assert_array_equal(rec.quantity(0, "activity"), data.x[rec.samples])
    for layer in rec.spec.layers:
        for q in layer.quantities:
            assert np.isfinite(rec.quantity(layer.index, q)).all(), (layer.index, q)
    for name in rec.spec.scalars:
        assert np.isfinite(rec.scalar(name)).all(), name


def pcviz_process(args: list[str], **kw) -> subprocess.Popen:
    """``python -m pcviz ARGS`` from the repository root (this checkout's pcviz)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.Popen([sys.executable, "-m", "pcviz", *args], cwd=REPO, env=env, text=True, **kw)


def wait_for_frames(path: Path, proc: subprocess.Popen, n: int = 1, timeout: float = 90.0):
    """Open the growing recording once it holds ``n`` flushed frames."""
    from pcviz.io import RecordingError, open_recording

    t0 = time.monotonic()
    rec = None
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"the recording process ended early (exit {proc.returncode})")
        if rec is None and path.exists():
            try:
                rec = open_recording(path)
            except RecordingError:
                rec = None  # the writer is still laying the file out
        if rec is not None and rec.refresh() >= n:
            return rec
        time.sleep(0.05)
    raise AssertionError(f"no {n} frames in {path} after {timeout} s")
