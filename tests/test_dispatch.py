"""The command handler on its own: built from stand-ins for the run's parts, frame
outputs and checkpoint I/O (no engine, no torch model), it needs nothing but what its
constructor declares. Expected values are written out, not recomputed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pcviz.config import ConfigError
from pcviz.sim import commands as C
from pcviz.sim.dispatch import CommandHandler
from pcviz.sim.events import EventLog
from pcviz.sim.presets import load_preset
from pcviz.sim.run_control import DelayedCommands, Divergence, RunControl


class FakeModel:
    structural = frozenset({"sizes"})

    def __init__(self):
        self.calls: list[tuple] = []

    def clamp(self, layer, units, value):
        self.calls.append(("clamp", layer, units, value))

    def release(self, layer, units):
        self.calls.append(("release", layer, units))

    def occlude(self, units):
        self.calls.append(("occlude", units))

    def clear_interventions(self):
        self.calls.append(("clear",))

    def param_changed(self, attr):
        self.calls.append(("param_changed", attr))


class FakeParts:
    def __init__(self):
        self.model = FakeModel()
        self.stream = SimpleNamespace(batch_size=4, hold_steps=10, noise=0.0, shuffle=False)
        self.spec = SimpleNamespace(layers=[SimpleNamespace(display_shape=(8, 8))])
        self.calls: list[str] = []

    def rebuild(self):
        self.calls.append("rebuild")
        self.model = FakeModel()

    def start_hold(self):
        self.calls.append("start_hold")

    def remake_spec(self):
        self.calls.append("remake_spec")


class FakeOutputs:
    def __init__(self, whole_batch=False):
        self.flushes = 0
        self.whole_batch = whole_batch

    def flush_rings(self):
        self.flushes += 1

    def records_whole_batch(self):
        return self.whole_batch


class FakeCheckpoints:
    def __init__(self):
        self.saved: list[tuple] = []
        self.loaded: list[tuple] = []

    def load(self, model, path):
        self.loaded.append((model, path))

    def save(self, model, path, extra):
        self.saved.append((model, path, extra))


def handler(whole_batch=False, step=0):
    control = RunControl()
    control.step_count = step
    parts, outputs, ckpt = FakeParts(), FakeOutputs(whole_batch), FakeCheckpoints()
    subject = object()
    h = CommandHandler(control=control, config=load_preset("digits-pc"), parts=parts, outputs=outputs,
                       events=EventLog(), delayed=DelayedCommands({7: [C.Pause()]}), checkpoints=ckpt,
                       call_subject=subject)
    return h, SimpleNamespace(control=control, parts=parts, outputs=outputs, ckpt=ckpt, subject=subject)


def kinds(h):
    return [ev.kind for ev in h.events.all()]


def test_a_clamp_reaches_the_model_schedules_its_release_and_is_logged():
    h, x = handler(step=40)
    h.apply(C.Clamp(layer=1, units=(2, 3), value=0.5, duration=5))
    assert x.parts.model.calls == [("clamp", 1, [2, 3], 0.5)]
    assert x.outputs.flushes == 1  # recorders got their rings before the change
    assert h.delayed.due(45) == [C.Release(1, (2, 3))]
    assert h.delayed.due(44) == []
    ev = h.events.all()[-1]
    assert (ev.step, ev.kind, ev.payload) == (40, "clamp", {"layer": 1, "units": [2, 3], "value": 0.5, "duration": 5})
    assert x.control.version == 1


def test_run_state_commands_change_only_the_run_control():
    h, x = handler()
    h.apply(C.Step(3))
    assert (x.control.running, x.control.pending) == (False, 3)
    h.apply(C.Play())
    assert x.control.running and x.control.active
    h.apply(C.Pause())
    assert (x.control.running, x.control.pending, x.control.to_hold_end) == (False, 0, False)
    h.apply(C.StepHold())
    assert x.control.to_hold_end and not x.control.running
    assert kinds(h) == ["step", "resume", "pause", "step_hold"]


def test_play_after_divergence_is_refused_and_reset_clears_it():
    h, x = handler(step=12)
    x.control.diverged = Divergence(12, 1, float("inf"), "diverged")
    h.apply(C.Play())
    assert not x.control.running
    assert h.events.all()[-1].kind == "error" and "diverged" in h.events.all()[-1].payload["message"]
    h.delayed.after(20, C.Release(0))
    h.apply(C.Reset(weights=False))
    assert x.control.diverged is None and x.parts.calls == ["start_hold"]
    assert x.parts.model.calls == [("clear",)]
    assert h.delayed.due(20) == []  # a reset drops what commands asked for ...
    assert h.delayed.due(7) == [C.Pause()]  # ... and keeps the preset's schedule
    h.apply(C.Reset(weights=True))
    assert x.parts.calls == ["start_hold", "rebuild"]


def test_checkpoints_go_through_the_checkpoint_io_it_was_given():
    h, x = handler(step=99)
    h.apply(C.SaveCheckpoint("a.pt"))
    h.apply(C.LoadCheckpoint("b.pt"))
    assert x.ckpt.saved == [(x.parts.model, "a.pt", {"step": 99, "preset": "digits-pc"})]
    assert x.ckpt.loaded == [(x.parts.model, "b.pt")]


def test_occlusion_of_a_region_is_the_units_inside_it():
    h, x = handler()
    h.apply(C.Occlude(region=(1, 2, 3, 4)))  # rows 1-2, columns 2-3 of the 8x8 input
    assert x.parts.model.calls == [("occlude", [10, 11, 18, 19])]
    h.apply(C.Occlude(region=(3, 3, 3, 5)))
    assert h.events.all()[-1].kind == "error" and "empty" in h.events.all()[-1].payload["message"]


def test_parameters_live_and_refused():
    h, x = handler(whole_batch=True)
    h.apply(C.SetParam("data.hold_steps", 25))
    assert x.parts.stream.hold_steps == 25 and h.config.data.hold_steps == 25
    h.apply(C.SetParam("data.batch_size", 8))
    assert x.parts.stream.batch_size == 4 and "whole-batch" in h.events.all()[-1].payload["message"]
    h.apply(C.SetDisplayIndex(4))
    assert h.events.all()[-1].kind == "error" and "4 items" in h.events.all()[-1].payload["message"]
    with pytest.raises(ConfigError, match="architecture"):
        h.set_param("model.sizes", [4, 2])
    h.apply(C.SetParam("model.dt", 0.05))
    assert x.parts.model.calls == [("param_changed", "dt")]


def test_a_call_gets_the_subject_and_its_exception_is_an_engine_error():
    h, x = handler(step=5)
    seen = []
    h.apply(C.Call(seen.append))
    assert seen == [x.subject] and kinds(h) == []  # a Call leaves no event

    def boom(_):
        raise KeyError("missing")

    x.control.play()
    h.apply(C.Call(boom))
    ev = h.events.all()[-1]
    assert ev.kind == "engine_error" and ev.payload["where"] == "command call" and ev.payload["error"] == "KeyError"
    assert ev.step == 5 and not x.control.running
