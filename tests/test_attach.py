"""Attaching to a served run: a window-side client gets frames and events, its commands
reach the engine, a wrong token is refused before anything else is read, and a run
that a client attached to and detached from records exactly what a run without one
records."""

import threading
import time

import h5py
import numpy as np
import pytest

from pcviz.config import InterventionSpec
from pcviz.io import Recorder
from pcviz.sim import Engine, load_preset
from pcviz.sim import commands as C
from pcviz.sim.process import EngineClient, EngineServer
from pcviz.sim.process.serve import AuthenticationError, parse_address, serve_steps

from engine_helpers import SMALL, wait_for


STEPS = 240
PAUSE_AT = 100


def config():
    """The small run, with a Pause scheduled at ``PAUSE_AT``: a run stepped in the
    caller's thread (``pcviz record``) logs it and goes on; a served one waits there."""
    cfg = load_preset("digits-pc-scratch", SMALL)
    cfg.interventions.append(InterventionSpec(PAUSE_AT, "pause"))
    return cfg


def record(path, serve=None):
    """What ``pcviz record [--serve]`` does: the recorder and the server in their threads."""
    engine = Engine(config(), device="cpu")
    rec = Recorder(engine, path).start()
    server = EngineServer(engine, serve).start() if serve is not None else None
    return engine, rec, server


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
def test_attach_pause_step_play_and_detach_leave_the_recording_as_without(tmp_path, where):
    # the same run, not attached, stepped in this thread (the scheduled Pause is only logged)
    engine, rec, _ = record(tmp_path / "alone.h5")
    engine.run_steps(STEPS)
    rec.stop()
    engine.stop()

    address = str(tmp_path / "pcviz.sock") if where == "unix" else "127.0.0.1:0"
    engine, rec, server = record(tmp_path / "served.h5", serve=address)
    done = []
    runner = threading.Thread(target=lambda: done.append(serve_steps(engine, STEPS)))
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
        assert client.bytes_received > 0
        # paused (here by the schedule; a window's Pause is the same command): the served
        # run and its recording wait, and the window says so
        wait_for(lambda: client.health() == "paused" and client.state.step == PAUSE_AT, poll=take)
        wait_for(lambda: rec.frames_written == PAUSE_AT)
        assert engine.step_count == PAUSE_AT and runner.is_alive()
        # Step from the window: exactly that many steps, then paused again
        client.submit(C.Step(5))
        wait_for(lambda: client.state.step == PAUSE_AT + 5 and client.health() == "paused", poll=take)
        wait_for(lambda: rec.frames_written == PAUSE_AT + 5)
        got = []
        client.compute(_step_of, (), lambda r, err: got.append((r, err)))  # answered while paused
        wait_for(lambda: got, poll=client.poll)
        assert got[0] == (PAUSE_AT + 5, None) and engine.step_count == PAUSE_AT + 5
        # Play from the window
        client.submit(C.Play())
        wait_for(lambda: client.state.step > PAUSE_AT + 5 or not runner.is_alive(), poll=take)
        client.close()  # detach: the run goes on to its end
        runner.join(120)
        assert done == [STEPS] and engine.step_count == STEPS  # never a step more than asked
    finally:
        engine.step_limit = 0  # a failed test: let the runner end
        runner.join(120)
        summary = rec.stop()
        server.close()
        engine.stop()
    assert server.attached == 1 and server.refused == 1
    assert summary.complete and summary.frames == STEPS
    alone, served = datasets(tmp_path / "alone.h5"), datasets(tmp_path / "served.h5")
    assert alone.keys() == served.keys()
    for name in alone:
        if not name.startswith("events/"):
            np.testing.assert_array_equal(alone[name], served[name], err_msg=name)
    # the events: the same, and the window's Step and Play between them
    kinds = [k.decode() for k in served["events/kind"]]
    assert [k.decode() for k in alone["events/kind"]] == [k for k in kinds if k not in ("step", "resume")]
    assert kinds.count("step") == 1 and kinds.count("resume") == 1


def test_a_window_pauses_a_served_run(tmp_path):
    """Pause from an attached window stops a served run mid-way (the recording waits);
    Play goes on to exactly the steps asked."""
    engine = Engine(load_preset("digits-pc-scratch", SMALL), device="cpu")
    rec = Recorder(engine, tmp_path / "served.h5").start()
    server = EngineServer(engine, "127.0.0.1:0").start()
    client = EngineClient(server.where, server.token).start()
    done = []
    runner = threading.Thread(target=lambda: done.append(serve_steps(engine, 100_000)))
    runner.start()
    try:
        wait_for(lambda: client.state.step > 0, poll=client.poll)
        client.submit(C.Pause())
        wait_for(lambda: client.health() == "paused", poll=client.poll)
        paused_at = engine.step_count
        assert 0 < paused_at < 100_000
        wait_for(lambda: rec.frames_written == paused_at)
        # four heartbeats later (a second): not a step more, not a frame more
        seen = client.last_contact
        for _ in range(4):
            wait_for(lambda: client.last_contact > seen, poll=client.poll)
            seen = client.last_contact
        assert engine.step_count == paused_at and rec.frames_written == paused_at and runner.is_alive()
        client.submit(C.Play())
        wait_for(lambda: engine.step_count > paused_at)
    finally:
        engine.step_limit = 0
        runner.join(120)
        client.close()
        summary = rec.stop()
        server.close()
        engine.stop()
    # interrupted mid-step, the step in flight completes after serve_steps counted
    assert done and engine.step_count - 1 <= done[0] <= engine.step_count
    assert summary.frames == engine.step_count


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


def test_pcviz_record_serve_runs_its_steps_in_the_engine_thread(tmp_path, capsys):
    """``pcviz record --serve`` with no window attached: exactly the steps asked, all
    recorded, the socket and its token removed at the end."""
    from pcviz.cli.main import main
    from pcviz.io import open_recording

    sock = tmp_path / "run.sock"
    sets = [a for s in SMALL for a in ("--set", s)]
    assert main(["record", "--preset", "digits-pc-scratch", *sets, "--steps", "60", "--out",
                 str(tmp_path / "run.h5"), "--serve", str(sock)]) == 0
    assert "serving on" in capsys.readouterr().err
    with open_recording(tmp_path / "run.h5") as rec:
        assert len(rec) == 60 and list(rec.steps) == list(range(1, 61))
    assert not sock.exists() and not (tmp_path / "run.sock.token").exists()
