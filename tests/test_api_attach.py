"""``pcviz.Session.attach``: a session on a served run (what ``pcviz record --serve``
runs: the recorder and the server on an engine whose steps run in the caller's thread)
steers and reads it through the attach client; a wrong token is refused; what cannot
work from a client says why; detaching leaves the run going."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from pcviz import Session
from pcviz.api import CommandError
from pcviz.io import Recorder
from pcviz.sim import Engine, load_preset
from pcviz.sim.process import EngineServer
from pcviz.sim.process.serve import AuthenticationError

from engine_helpers import SMALL, wait_for


class _Finish(Exception):
    pass


@pytest.fixture
def served(tmp_path):
    """A recorded run served on TCP, stepping in its own thread until the test ends."""
    engine = Engine(load_preset("digits-pc-scratch", SMALL), device="cpu")
    rec = Recorder(engine, tmp_path / "served.h5").start()
    server = EngineServer(engine, "127.0.0.1:0").start()
    finish = threading.Event()

    def progress(step):
        if finish.is_set():
            raise _Finish

    def run():
        try:
            engine.run_steps(10**7, progress)
        except _Finish:
            pass

    runner = threading.Thread(target=run)
    runner.start()
    try:
        yield engine, server
    finally:
        finish.set()
        runner.join(120)
        rec.stop()
        server.close()
        engine.stop()


def test_a_session_attached_to_a_served_record_steers_and_reads_it(served, tmp_path):
    engine, server = served
    with pytest.raises(AuthenticationError, match="refused"):
        Session.attach(server.where, "not the token")
    s = Session.attach(server.where, server.token)
    assert s.engine is None  # the engine is in the server, not here
    assert [l.size for l in s.spec.layers] == [64, 12, 6]
    assert s.config.preset.name == "digits-pc-scratch"

    # a clamp holds its units at the value (the model's definition of a clamp), seen in
    # the frame read through the connection and in the served engine itself
    s.clamp("x1", [0, 1], 1.25)
    f = s.frame()
    np.testing.assert_allclose(f["x1"]["activity"][[0, 1]], 1.25, atol=1e-6)
    np.testing.assert_allclose(f["input"]["error"], f["input"]["activity"] - f["input"]["prediction"], atol=1e-6)
    s.lesion("top", factor=0.0)
    s.occlude((0, 0, 4, 4))
    s.set({"model.dt": 0.05})
    assert engine.config.model.dt == pytest.approx(0.05)

    kinds = [e.kind for e in s.events()]
    for kind in ("clamp", "lesion", "occlude", "set_param"):
        assert kind in kinds, kind
    assert [e.kind for e in s.events()] == [e.kind for e in engine.events.all()][:len(kinds)]

    # bad arguments: the clear error, and the attached session goes on
    with pytest.raises(CommandError, match="no layer named 'x7'"):
        s.clamp("x7", 0)
    with pytest.raises(CommandError, match="clamp refused"):
        s.clamp("x1", [99], 1.0)  # x1 has 12 units: refused by the served engine
    with pytest.raises(CommandError, match="set_param"):
        s.set({"model.no_such_thing": 1})

    # what cannot work from a client says why
    with pytest.raises(CommandError, match="record refused: .*served run"):
        with s.record(tmp_path / "here.h5"):
            pass
    with pytest.raises(CommandError, match="show refused"):
        s.show()

    # steps: the served run keeps stepping on its own, so step(5) returns at least 5 later
    before = s.step_count
    assert s.step(5).step >= before + 5
    got = list(s.frames(every=2, steps=4))
    assert len(got) == 2 and got[0].step < got[1].step

    s.close()  # detach: the run goes on
    after = engine.step_count
    wait_for(lambda: engine.step_count > after + 10)
    assert server.attached == 1 and server.refused == 1
