"""The engine in its own process: the shared-memory frame ring (torn reads are seen and
retried), commands and events over the pipe, an exception in a ``Call`` is an event and
a paused run, a killed process is noticed at the next poll and leaves a readable
recording of what was flushed, and nothing is left running."""

import os
import signal
import threading
import time

import numpy as np
import pytest

from pcviz.io import Recorder, open_recording
from pcviz.sim import load_preset
from pcviz.sim import commands as C
from pcviz.sim.frames import Frame
from pcviz.sim.process import EngineProcess, EngineProcessError
from pcviz.sim.process.ring import FrameLayout, FrameRing

from engine_helpers import SMALL, wait_for


def frame_of(k: int) -> Frame:
    """A frame whose every number is ``k`` (a torn copy mixes two values)."""
    layers = [{"activity": np.full(64, k, np.float32), "error": np.full(64, k, np.float32)},
              {"activity": np.full(12, k, np.float32)}]
    return Frame(step=k, sample_index=k, phase="inference", layers=layers, scalars={"energy/total": float(k)},
                 wall=float(k), hold_step=k, display_index=0, extras={"basis": np.full((12, 8, 8), k, np.float32)})


def uniform(f: Frame) -> bool:
    vals = {float(f.sample_index), f.wall, float(f.hold_step), f.scalars["energy/total"]}
    for layer in f.layers:
        for a in layer.values():
            vals.update(np.unique(a).tolist())
    vals.update(np.unique(f.extras["basis"]).tolist())
    return vals == {float(f.step)}


def test_the_ring_carries_frames_and_says_when_nothing_is_new():
    ring = FrameRing.create(FrameLayout.of(frame_of(0)), slots=3)
    reader = FrameRing.attach(ring.name, ring.layout, 3)
    try:
        assert reader.read() is None
        for k in (1, 2, 3, 4):
            ring.write(frame_of(k))
        f = reader.read()
        assert f.step == 4 and uniform(f) and f.phase == "inference"
        assert reader.read() is None  # nothing new since
        ring.write(frame_of(5))
        assert reader.read().step == 5
    finally:
        reader.close()
        ring.close()
        ring.unlink()


def test_a_torn_read_is_detected_and_retried(monkeypatch):
    ring = FrameRing.create(FrameLayout.of(frame_of(0)), slots=1)  # one slot: the writer always overwrites it
    reader = FrameRing.attach(ring.name, ring.layout, 1)
    try:
        ring.write(frame_of(1))
        real = FrameRing._copy
        tore = {"n": 0}

        def copy_while_written(self, v):
            out = real(self, v)
            if tore["n"] == 0:  # the writer comes round mid-copy, once
                tore["n"] += 1
                ring.write(frame_of(2))
            return out

        monkeypatch.setattr(FrameRing, "_copy", copy_while_written)
        f = reader.read()
        assert reader.torn == 1 and f.step == 2 and uniform(f)
    finally:
        reader.close()
        ring.close()
        ring.unlink()


def test_reads_against_a_running_writer_are_never_torn():
    ring = FrameRing.create(FrameLayout.of(frame_of(0)), slots=2)
    reader = FrameRing.attach(ring.name, ring.layout, 2)
    stop = threading.Event()

    def write():
        k = 1
        while not stop.is_set():
            ring.write(frame_of(k))
            k += 1

    t = threading.Thread(target=write)
    t.start()
    try:
        seen = []
        while len(seen) < 100:
            f = reader.read()
            if f is not None:
                assert uniform(f), f"torn frame at step {f.step}"
                seen.append(f.step)
        assert seen == sorted(seen)
    finally:
        stop.set()
        t.join()
        reader.close()
        ring.close()
        ring.unlink()


def boom(engine):
    raise AttributeError("'PCModel' object has no attribute 'nope'")


def step_count(engine):
    return engine.step_count


@pytest.fixture(scope="module")
def proc():
    """One engine process shared by the tests that leave it usable (spawning one costs
    a few seconds); each test leaves it usable. Module-scoped fixtures are made before
    the no-orphan check looks, so it is not counted against a test."""
    p = EngineProcess(load_preset("digits-pc-scratch", SMALL), "cpu", threads=1).start()
    yield p
    p.close()
    assert p.exitcode == 0  # an orderly end


def test_frames_events_and_commands_cross_the_process_boundary(proc):
    assert proc.spec.layers[0].size == 64 and proc.device == "cpu"
    proc.submit(C.Step(25))
    frames = []

    def take():
        proc.poll()
        f = proc.take()
        if f is not None:
            frames.append(f)

    wait_for(lambda: frames and frames[-1].step >= 25, poll=take)
    f = frames[-1]
    assert f.step == 25 and [l["activity"].shape for l in f.layers] == [(64,), (12,), (6,)]
    assert np.allclose(f.layers[0]["error"], f.layers[0]["activity"] - f.layers[0]["prediction"], atol=1e-6)
    proc.submit(C.Clamp(1, (0, 1), 1.5))
    events = []
    wait_for(lambda: any(e.kind == "clamp" for e in events), poll=lambda: events.extend(proc.poll()))
    # a computation in the engine thread there, answered through the pipe
    got = []
    proc.compute(step_count, (), lambda r, err: got.append((r, err)))
    wait_for(lambda: got, poll=proc.poll)
    assert got == [(25, None)]


def test_an_exception_in_a_call_there_is_an_event_and_a_paused_engine(proc):
    proc.submit(C.Play())
    wait_for(lambda: proc.state.running, poll=proc.poll)
    proc.submit(C.Call(boom))
    events = []
    wait_for(lambda: any(e.kind == "engine_error" for e in events), poll=lambda: events.extend(proc.poll()))
    ev = next(e for e in events if e.kind == "engine_error")
    assert ev.payload["last_line"] == "AttributeError: 'PCModel' object has no attribute 'nope'"
    assert "boom" in ev.payload["traceback"]
    wait_for(lambda: not proc.state.running, poll=proc.poll)
    assert proc.alive and proc.health() == "paused"
    # running, but neither frame nor heartbeat for five seconds: stalled (the clock given)
    proc.state.running = True
    assert proc.health(now=proc.last_contact + 4.9) == "running"
    assert proc.health(now=proc.last_contact + 5.1) == "stalled"
    proc.poll()  # the next heartbeat says what the engine really does
    at = proc.state.step
    proc.submit(C.Step(3))  # still takes commands
    wait_for(lambda: proc.state.step >= at + 3, poll=lambda: (proc.poll(), proc.take()))


def test_a_bad_configuration_is_refused_with_its_reason():
    cfg = load_preset("digits-pc-scratch", SMALL + ["engine.checkpoint='no/such/checkpoint.pt'"])
    with pytest.raises(EngineProcessError, match="no/such/checkpoint.pt"):
        EngineProcess(cfg, "cpu", threads=1).start()


def test_kill_during_a_recording_is_noticed_and_the_flushed_frames_stay_readable(tmp_path):
    p = EngineProcess(load_preset("digits-pc-scratch", SMALL + ["engine.steps_per_second=400"]), "cpu",
                      threads=1).start()
    try:
        path = tmp_path / "killed.h5"
        p.request("record_start", Recorder, str(path), {})
        p.submit(C.Play())
        # frames flushed to the file (the writer flushes every half second)
        wait_for(lambda: p.state.recording is not None and p.state.recording[1] >= 60, poll=p.poll)
        with open_recording(path) as rec:  # a reader of the growing file (SWMR)
            wait_for(lambda: (rec.refresh() or True) and len(rec) >= 40)
        os.kill(p.pid, signal.SIGKILL)
        p._proc.join(30)  # the process is gone; the next poll says so
        events = p.poll()
        assert [e.kind for e in events][-1] == "engine_dead" and "signal 9" in events[-1].payload["message"]
        assert p.health() == "dead" and not p.alive
        with pytest.raises(EngineProcessError, match="gone"):
            p.submit(C.Play())
    finally:
        p.close()
    with open_recording(path) as rec:
        assert len(rec) >= 40 and not rec.complete
        steps = rec.steps
        assert np.all(np.diff(steps) == 1)
        f = rec.frame(len(rec) - 1)
        np.testing.assert_allclose(f.layers[0]["error"], f.layers[0]["activity"] - f.layers[0]["prediction"],
                                   atol=1e-5)


PARENT = """
import os, signal, sys
from pcviz.sim import load_preset
from pcviz.sim.process import EngineProcess


if __name__ == "__main__":
    p = EngineProcess(load_preset("digits-pc-scratch", {small!r}), "cpu", threads=1).start()
    print(p.pid, flush=True)
    os.kill(os.getpid(), signal.{sig})  # the window's process dies without closing anything
"""


@pytest.mark.parametrize("sig", ["SIGKILL"])
def test_an_engine_process_does_not_outlive_a_killed_window(tmp_path, sig):
    import subprocess
    import sys

    script = tmp_path / "parent.py"
    script.write_text(PARENT.format(small=SMALL, sig=sig))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == -getattr(signal, sig), done.stderr
    child = int(done.stdout.split()[0])

    def gone():
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        try:  # a zombie (reaped by nobody yet) counts as gone
            return open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            return True

    wait_for(gone, timeout=30)


def _children(pid: int) -> set[int]:
    """Every living descendant of ``pid`` (from /proc; zombies excluded)."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat[0] != "Z":
            kids.setdefault(int(stat[1]), []).append(int(d))
    out, todo = set(), [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.add(k)
            todo.append(k)
    return out


def _alive(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the process tree from /proc")
@pytest.mark.parametrize("when", ["starting", "running"])
def test_a_window_killed_with_sigterm_leaves_no_engine_process(tmp_path, when):
    """The real ``pcviz`` window (Qt's offscreen platform), its engine in its own
    process, sent SIGTERM while it is still being built (it exits through Python, 143)
    or once it runs (it quits like its close button, 0): nothing it started is left."""
    import subprocess
    import sys

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               PCVIZ_RECORDINGS=str(tmp_path))
    sets = [a for s in SMALL + ["engine.steps_per_second=200"] for a in ("--set", s)]
    win = subprocess.Popen([sys.executable, "-m", "pcviz", "--preset", "digits-pc-scratch", "--engine", "process",
                            *sets], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    engines: dict[int, str] = {}  # pid -> its shared-memory frame ring
    try:
        def engine_runs():  # the engine process is the window's child that opened a shared-memory ring
            if win.poll() is not None:
                raise AssertionError(f"the window ended: {win.communicate()[1][-2000:]}")
            for pid in _children(win.pid):
                try:
                    for fd in os.listdir(f"/proc/{pid}/fd"):
                        target = os.readlink(f"/proc/{pid}/fd/{fd}")
                        if target.startswith("/dev/shm/"):
                            engines[pid] = target
                except OSError:
                    pass
            return bool(engines)

        wait_for(engine_runs, timeout=180)
        if when == "running":  # the window played the run: frame after frame in the ring
            ring = next(iter(engines.values()))  # (a paused engine writes one or two, then none)
            seen = set()
            wait_for(lambda: seen.add(open(ring, "rb").read()) or len(seen) >= 8, timeout=180)
        started = _children(win.pid)
        assert set(engines) <= started
        win.send_signal(signal.SIGTERM)
        rc = win.wait(60)
        assert rc == (0 if when == "running" else 143) or (when == "starting" and rc == 0), \
            (rc, win.communicate()[1][-2000:])
        wait_for(lambda: not any(_alive(p) for p in started), timeout=30)
    finally:
        if win.poll() is None:
            win.kill()
            win.wait(30)
        for pid in set(engines) | _children(win.pid):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
