"""Attaching to a served run: a window-side client gets frames and events, its commands
reach the engine, a wrong token is refused before anything else is read, and a run
that a client attached to and detached from records exactly what a run without one
records."""

import threading
import time

import h5py
import numpy as np
import pytest

from pcviz.io import Recorder
from pcviz.sim import Engine, load_preset
from pcviz.sim import commands as C
from pcviz.sim.process import EngineClient, EngineServer
from pcviz.sim.process.serve import AuthenticationError, parse_address

SMALL = ["engine.checkpoint=''", "model.sizes=[64, 12, 6]", "data.batch_size=4", "data.hold_steps=10"]
STEPS = 240


def wait_for(pred, timeout=60.0, poll=None):
    t0 = time.perf_counter()
    while not pred():
        if poll is not None:
            poll()
        if time.perf_counter() - t0 > timeout:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def record(path, serve=None, pause_at=None, resume=None):
    """What ``pcviz record [--serve]`` does: run_steps in this thread, the recorder and
    the server in theirs. ``pause_at``: the run waits at that step for ``resume``."""
    engine = Engine(load_preset("digits-pc-scratch", SMALL), device="cpu")
    rec = Recorder(engine, path).start()
    server = EngineServer(engine, serve).start() if serve is not None else None

    def progress(step):
        if step == pause_at:
            resume.wait(120)

    return engine, rec, server, progress


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not name.endswith("wall"):  # wall-clock times differ
                out[name] = obj[()]
        f.visititems(visit)
    return out


def test_parse_address():
    assert parse_address("127.0.0.1:5000") == (("127.0.0.1", 5000), "AF_INET")
    assert parse_address(":5000") == (("127.0.0.1", 5000), "AF_INET")
    assert parse_address("/tmp/x.sock") == ("/tmp/x.sock", "AF_UNIX")


@pytest.mark.parametrize("where", ["unix", "tcp"])
def test_attach_and_detach_leave_the_recording_as_without(tmp_path, where):
    # the same run, not attached
    engine, rec, _, _ = record(tmp_path / "alone.h5")
    engine.run_steps(STEPS)
    rec.stop()
    engine.stop()

    address = str(tmp_path / "pcviz.sock") if where == "unix" else "127.0.0.1:0"
    resume = threading.Event()
    engine, rec, server, progress = record(tmp_path / "served.h5", serve=address, pause_at=100, resume=resume)
    runner = threading.Thread(target=engine.run_steps, args=(STEPS, progress))
    runner.start()
    try:
        token = None if where == "unix" else server.token  # a local socket's token is read from its file
        with pytest.raises(AuthenticationError, match="refused"):
            EngineClient(server.where, "not the token").start()
        client = EngineClient(server.where, token).start()
        assert client.spec.layers[0].size == 64 and client.config.preset.name == "digits-pc-scratch"
        frames = []

        def take():
            client.poll()
            f = client.take()
            if f is not None:
                frames.append(f)

        wait_for(lambda: frames, poll=take)
        f = frames[-1]
        np.testing.assert_allclose(f.layers[0]["error"], f.layers[0]["activity"] - f.layers[0]["prediction"],
                                   atol=1e-6)
        assert client.bytes_received > 0 and client.health() == "running"
        got = []
        client.compute(_step_of, (), lambda r, err: got.append((r, err)))  # answered between steps
        resume.set()
        wait_for(lambda: got, poll=client.poll)
        assert got[0][1] is None and 1 <= got[0][0] <= STEPS
        client.close()  # detach: the run goes on
        runner.join(120)
        assert engine.step_count == STEPS
    finally:
        resume.set()
        runner.join(120)
        summary = rec.stop()
        server.close()
        engine.stop()
    assert server.attached == 1 and server.refused == 1
    assert summary.complete and summary.frames == STEPS
    alone, served = datasets(tmp_path / "alone.h5"), datasets(tmp_path / "served.h5")
    assert alone.keys() == served.keys()
    for name in alone:
        np.testing.assert_array_equal(alone[name], served[name], err_msg=name)


def _step_of(engine):
    return engine.step_count


def test_commands_from_an_attached_window_reach_the_engine(tmp_path):
    engine = Engine(load_preset("digits-pc-scratch", SMALL), device="cpu")
    engine.start(running=False)
    server = EngineServer(engine, "127.0.0.1:0").start()
    try:
        client = EngineClient(server.where, server.token).start()
        client.submit(C.Clamp(1, (0, 1), 1.25))
        client.submit(C.Step(3))
        events = []
        wait_for(lambda: any(e.kind == "clamp" for e in events), poll=lambda: events.extend(client.poll()))
        wait_for(lambda: engine.step_count == 3)
        np.testing.assert_allclose(engine.snapshot().layers[1]["activity"][[0, 1]], 1.25, atol=1e-6)
        client.close()
    finally:
        server.close()
        engine.stop()
