"""Nothing the engine does fails unseen: an exception of any type in a command handler,
a ``Call`` or a step becomes an ``engine_error`` event with its traceback, the run is
paused, and the engine thread goes on taking commands."""

import pytest

from pcviz.sim import Engine, load_preset
from pcviz.sim import commands as C

from engine_helpers import SMALL, wait_for


def small_engine():
    return Engine(load_preset("digits-pc-scratch", SMALL), device="cpu")


#: one of every command the engine ships (Shutdown ends the loop; it has no handler)
EXAMPLES = [
    C.Play(), C.Pause(), C.Step(2), C.StepHold(), C.Reset(), C.SetParam("model.dt", 0.1), C.Clamp(1, (0,), 1.0),
    C.Release(1), C.Pulse(1, (0,), 1.0), C.Lesion(1, 0.5), C.Occlude((0, 0, 2, 2)), C.Unocclude(),
    C.ClearInterventions(), C.SetLabel(3), C.LoadCheckpoint("x.pt"), C.SaveCheckpoint("x.pt"),
    C.SetDisplayIndex(0), C.Call(lambda e: None),
]


def test_the_examples_cover_every_shipped_command():
    shipped = {c for c in C._KINDS.values() if c.__module__ == C.__name__} - {C.Shutdown}
    assert {type(c) for c in EXAMPLES} == shipped


@pytest.mark.parametrize("error", [AttributeError, RuntimeError, KeyError, ZeroDivisionError, MemoryError])
def test_an_exception_in_a_call_is_an_event_and_pauses_the_run(error):
    e = small_engine()
    e.start(running=True)
    try:
        wait_for(lambda: e.step_count >= 3)

        def boom(engine):
            raise error("the tool's mistake")

        e.submit(C.Call(boom))
        wait_for(lambda: any(ev.kind == "engine_error" for ev in e.events.all()))
        ev = next(ev for ev in e.events.all() if ev.kind == "engine_error")
        assert ev.payload["where"] == "command call" and ev.payload["error"] == error.__name__
        assert ev.payload["last_line"].startswith(error.__name__) and "the tool's mistake" in ev.payload["last_line"]
        assert "boom" in ev.payload["traceback"] and "Traceback" in ev.payload["traceback"]
        wait_for(lambda: not e.running)
        # alive and still taking commands: two more steps run
        assert e.alive
        at = e.step_count
        e.submit(C.Step(2))
        wait_for(lambda: e.step_count == at + 2)
    finally:
        e.stop()


def test_an_exception_in_every_kind_of_command_handler_is_an_event(monkeypatch):
    e = small_engine()
    e.start(running=True)
    try:
        wait_for(lambda: e.step_count >= 2)
        for cmd in EXAMPLES:
            cls = type(cmd)

            def broken(self, run, _kind=cls.kind):
                raise RuntimeError(f"{_kind} handler broke")

            wait_for(lambda: e.running)
            n = len([ev for ev in e.events.all() if ev.kind == "engine_error"])
            monkeypatch.setattr(cls, "apply", broken)
            e.submit(cmd)
            wait_for(lambda: len([ev for ev in e.events.all() if ev.kind == "engine_error"]) == n + 1)
            ev = [ev for ev in e.events.all() if ev.kind == "engine_error"][-1]
            assert ev.payload["where"] == f"command {cls.kind}"
            assert ev.payload["last_line"] == f"RuntimeError: {cls.kind} handler broke"
            wait_for(lambda: not e.running)
            monkeypatch.undo()
            assert e.alive
            e.submit(C.Play())  # the next command meets a running engine
        at = e.step_count
        e.submit(C.Step(1))
        wait_for(lambda: e.step_count == at + 1)
    finally:
        e.stop()


def test_an_exception_in_a_step_is_an_event_and_the_engine_goes_on(monkeypatch):
    e = small_engine()
    e.start(running=True)
    try:
        wait_for(lambda: e.step_count >= 3)
        real = type(e.model).step
        calls = {"n": 0}

        def flaky(self, learning):
            calls["n"] += 1
            if calls["n"] == 1:
                raise torch_oom()
            return real(self, learning)

        monkeypatch.setattr(type(e.model), "step", flaky)
        wait_for(lambda: any(ev.kind == "engine_error" for ev in e.events.all()))
        ev = next(ev for ev in e.events.all() if ev.kind == "engine_error")
        assert ev.payload["where"].startswith("step ") and "out of memory" in ev.payload["message"]
        wait_for(lambda: not e.running)
        assert e.alive
        e.submit(C.Play())
        at = e.step_count
        wait_for(lambda: e.step_count >= at + 3)
    finally:
        e.stop()


def torch_oom():
    import torch

    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
