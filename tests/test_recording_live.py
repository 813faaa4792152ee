"""Recording a live engine: a reader follows the growing file, kill -9 loses only the
last second, Ctrl-C and interpreter exit close the file, the engine thread's shutdown
ends the recording, and stopping a recording leaves the engine running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from io_helpers import REPO, assert_frames_intact, pcviz_process, small_config, wait_for_frames

from pcviz.io import Recorder, open_recording
from pcviz.io.format import superblock_info
from pcviz.sim import Engine

RECORD = ["record", "--preset", "digits-pc-scratch", "--steps", "1000000", "--set", "engine.checkpoint=''",
          "--set", "data.batch_size=3"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_reader_follows_growing_file_and_ctrl_c_closes_it(tmp_path):
    out = tmp_path / "live.h5"
    proc = pcviz_process(RECORD + ["--out", str(out)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        rec = wait_for_frames(out, proc, 1)
        seen = [len(rec)]
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30 and len(set(seen)) < 3:
            time.sleep(0.2)
            seen.append(rec.refresh())
        assert seen == sorted(seen) and len(set(seen)) >= 3, seen  # it grows, never shrinks
        frame = rec.frame(len(rec) - 1)  # the newest frame reads whole while the writer goes on
        assert frame.step == len(rec)
        rec.close()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted after" in err and "closed properly" in err and "Traceback" not in err, err
    assert superblock_info(out)["flags"] == 0  # closed by the HDF5 library, not left open
    with open_recording(out) as rec:
        assert rec.complete and len(rec) >= seen[-1]
        assert f"recorded {len(rec)} frames" in err
        assert_frames_intact(rec)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_kill_9_keeps_every_frame_flushed_a_second_before(tmp_path):
    out = tmp_path / "killed.h5"
    proc = pcviz_process(RECORD + ["--out", str(out)], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    history: list[tuple[float, int]] = []
    try:
        rec = wait_for_frames(out, proc, 1)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.5:
            history.append((time.monotonic(), rec.refresh()))
            time.sleep(0.1)
        t_kill = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        rec.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    flushed_before = max(n for t, n in history if t <= t_kill - 1.0)
    assert flushed_before > 0
    with open_recording(out) as rec:
        assert not rec.complete  # its writer never closed it
        assert len(rec) >= flushed_before
        assert_frames_intact(rec)
        last = rec.frame(len(rec) - 1)
        assert last.step == len(rec)


def test_recorder_stops_with_the_engine_thread(tmp_path):
    engine = Engine(small_config(), device="cpu")
    engine.start(running=True)
    rec = Recorder(engine, tmp_path / "thread.h5").start()
    deadline = time.monotonic() + 30
    while rec.frames_written < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    engine.stop()  # closes its queues: the recorder writes what is queued and closes the file
    assert rec.finished.wait(30)
    summary = rec.stop()
    assert summary.complete and summary.error is None and summary.frames >= 20
    with open_recording(tmp_path / "thread.h5") as r:
        assert r.complete and len(r) == summary.frames
        assert summary.dropped == 0 and r.steps[-1] == engine.step_count  # up to the last step it ran
        assert_frames_intact(r)


def test_stopping_a_recording_leaves_the_engine_running(tmp_path):
    engine = Engine(small_config(), device="cpu")
    engine.start(running=True)
    try:
        rec = Recorder(engine, tmp_path / "gui.h5").start()
        time.sleep(0.3)
        summary = rec.stop()
        steps = engine.step_count
        time.sleep(0.3)
        assert engine.alive and engine.step_count > steps
        assert not engine._queues
        with open_recording(tmp_path / "gui.h5") as r:
            assert r.complete and len(r) == summary.frames > 0
            assert_frames_intact(r)
    finally:
        engine.stop()


def test_interpreter_exit_closes_the_recording(tmp_path):
    out = tmp_path / "exit.h5"
    script = textwrap.dedent(f"""
        import time
        from pcviz.sim import Engine, load_preset
        from pcviz.io import Recorder
        engine = Engine(load_preset("digits-pc-scratch", ["engine.checkpoint=''", "data.batch_size=3"]), "cpu")
        rec = Recorder(engine, {str(out)!r}).start()
        engine.run_steps(40)
        # no stop(): the interpreter exits with the recorder's thread still running
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert superblock_info(out)["flags"] == 0
    with open_recording(out) as rec:
        assert rec.complete and len(rec) == 40
        assert_frames_intact(rec)
