"""pcviz.Session, headless: each method sends the typed command the window sends and
the engine applies it at the same step as the engine's own command API does; frames
read from a session equal the recorder's; bad arguments give the window's clear
errors and leave the session running."""

from __future__ import annotations

import numpy as np
import pytest

from pcviz.api import CommandError, Session
from pcviz.errors import PcvizError
from pcviz.io import open_recording
from pcviz.sim import Engine, load_preset
from pcviz.sim import commands as C

SMALL = {"data.batch_size": 4, "data.hold_steps": 20, "engine.learning": False}


@pytest.fixture
def session():
    s = Session("digits-pc", set=SMALL, device="cpu")
    yield s
    s.close()


def _events(events):
    return [(e.step, e.kind, e.payload) for e in events]


def test_methods_apply_the_same_commands_at_the_same_steps_as_the_engine_api(session):
    s = session
    s.step(3)
    s.clamp("x1", [0, 1, 2], 0.7, steps=6)
    s.step(4)
    s.pulse(1, 5, 0.5)
    s.lesion("x1", [3], factor=0.0)
    s.occlude((0, 0, 4, 4))
    s.run(steps=5, progress=False)
    s.set(dt=0.05)
    s.set({"data.hold_steps": 10})
    s.release()
    s.restore(1, [3])
    s.unocclude()
    s.step(7)
    s.reset(state_only=True)
    s.step(2)

    # the same script through the engine's typed command API, in the caller's thread
    ref = Engine(load_preset("digits-pc", SMALL), device="cpu")
    script = [
        [C.Step(3)], 3,
        [C.Clamp(1, (0, 1, 2), 0.7, 6), C.Step(4)], 4,
        [C.Pulse(1, (5,), 0.5), C.Lesion(1, 0.0, (3,)), C.Occlude(region=(0, 0, 4, 4)), C.Step(5)], 5,
        [C.SetParam("model.dt", 0.05), C.SetParam("data.hold_steps", 10), C.Release(None, ()),
         C.Lesion(1, 1.0, (3,)), C.Unocclude(), C.Step(7)], 7,
        [C.Reset(weights=False), C.Step(2)], 2,
    ]
    for item in script:
        if isinstance(item, int):
            ref.run_steps(item)
        else:
            for cmd in item:
                ref.submit(cmd)
    assert s.step_count == ref.step_count == 21
    assert _events(s.events()) == _events(ref.events.all())
    kinds = [e.kind for e in s.events()]
    assert kinds.count("release") == 2  # the clamp's own expiry (scheduled) and release()
    f, g = s.frame(), ref.snapshot()
    for a, b in zip(f.raw.layers, g.layers):
        for q in a:
            np.testing.assert_allclose(a[q], b[q], rtol=1e-6, atol=1e-7, err_msg=q)


def test_frame_equals_the_recorders_frame_for_the_same_step(session, tmp_path):
    s = session
    s.step(2)
    path = tmp_path / "run.h5"
    with s.record(path, every=1) as rec:
        streamed = {f.step: f for f in s.frames(every=3, steps=12)}
        s.clamp("x1", [4], -0.5)
        s.run(steps=8, progress=False)
    assert rec.summary().complete
    now = s.frame()
    assert now.step == 22
    assert sorted(streamed) == [3, 6, 9, 12]  # every third step of steps 3..14
    with open_recording(path) as r:
        assert list(r.steps) == list(range(3, 23))
        for f in [now, *streamed.values()]:
            rf = r.frame_at_step(f.step)
            assert rf.sample_index == f.sample
            for i, layer in enumerate(s.spec.layers):
                for q in layer.quantities:
                    np.testing.assert_allclose(f[i][q], rf.layers[i][q], rtol=1e-6, atol=1e-7,
                                               err_msg=f"step {f.step} {layer.name}/{q}")
            for name, v in rf.scalars.items():
                assert f.scalars[name] == pytest.approx(v, rel=1e-4, abs=1e-6), name
        assert [(e.step, e.kind) for e in r.events if e.kind == "clamp"] == [(14, "clamp")]
    assert now["x1"]["activity"][4] == pytest.approx(-0.5)


def test_bad_arguments_give_the_clear_error_and_the_session_runs_on(session, tmp_path):
    s = session
    s.step(1)
    with pytest.raises(CommandError, match=r"no layer named 'x7' \(the layers are 0 input, 1 x1, 2 x2, 3 top\)"):
        s.clamp("x7", [0])
    with pytest.raises(CommandError, match=r"clamp layer 1: unit 99 out of range \(layer has \d+ units\)"):
        s.clamp("x1", [99])
    with pytest.raises(CommandError, match="layer 5 out of range"):
        s.lesion(5)
    with pytest.raises(CommandError, match="unknown key model.no_such_thing"):
        s.set({"model.no_such_thing": 1})
    with pytest.raises(CommandError, match="no_such_thing: no parameter of that name"):
        s.set(no_such_thing=1)
    with pytest.raises(CommandError, match=r"model.dt = -1.0: must be greater than 0"):
        s.set(dt=-1)
    with pytest.raises(CommandError, match="has no label layer"):
        s.label(3)
    with pytest.raises(CommandError, match="must be a whole number of at least 1"):
        s.step(0)
    with pytest.raises(CommandError, match="cannot save checkpoint"):
        (tmp_path / "a-file").write_text("")
        s.save_checkpoint(tmp_path / "a-file" / "x.pt")  # a folder that is a file
    # the engine refused what reached it (the window shows these same events), and runs on
    errors = [e.payload["message"] for e in s.events() if e.kind == "error"]
    assert any("unit 99 out of range" in m for m in errors)
    assert s.config.model.dt > 0
    s.step(3)
    assert s.step_count == 4
    assert isinstance(CommandError("x", "y"), PcvizError)  # the CLI prints it without a traceback


def test_imagine_a_digit_clamps_the_label_and_frees_the_input():
    with Session("digits-supervised", set={"engine.learning": False, "data.batch_size": 2}) as s:
        s.step(2)
        s.label(3, imagine=True)
        f = s.run(steps=40, progress=False)
        onehot = np.eye(10, dtype=np.float32)[3]
        np.testing.assert_array_equal(f["top"]["activity"], onehot)
        np.testing.assert_array_equal(f["input"]["precision"], 0.0)  # the input is free
        s.label(None)
        f = s.step(1)
        assert f["input"]["precision"].min() > 0
        assert [e.kind for e in s.events()].count("set_label") == 2


def test_occlusion_zeroes_the_input_precision_in_the_rectangle(session):
    s = session
    s.step(1)
    s.occlude((2, 1, 5, 4))  # rows 2-4, cols 1-3 of the 8x8 input
    prec = s.step(5)["input"]["precision"].reshape(8, 8)
    inside = np.zeros((8, 8), bool)
    inside[2:5, 1:4] = True
    assert np.all(prec[inside] == 0) and np.all(prec[~inside] > 0)
    s.unocclude()
    assert np.all(s.step(1)["input"]["precision"] > 0)


def test_schedule_applies_at_its_steps_and_refuses_bad_entries(session, tmp_path):
    s = session
    s.step(2)
    s.schedule([{"step": 6, "kind": "clamp", "layer": 1, "units": [0], "value": 0.25},
                {"step": 9, "kind": "release", "layer": 1}])
    path = tmp_path / "sched.toml"
    path.write_text('[[interventions]]\nstep = 8\nkind = "pulse"\nlayer = 1\nunits = [2]\nvalue = 0.5\n')
    s.schedule(path)
    s.step(10)
    got = [(e.step, e.kind, e.payload.get("scheduled")) for e in s.events() if e.kind in ("clamp", "release", "pulse")]
    assert got == [(6, "clamp", True), (8, "pulse", True), (9, "release", True)]
    with pytest.raises(CommandError, match=r"interventions\[0\].*kind"):
        s.schedule([{"step": 20, "kind": "explode"}])
    with pytest.raises(CommandError, match="step 3 has passed"):
        s.schedule([{"step": 3, "kind": "unocclude"}])


def test_checkpoint_round_trip_and_play_pause(session, tmp_path):
    s = session
    s.step(2)
    ck = s.save_checkpoint(tmp_path / "w.pt")
    assert ck.exists()
    s.load_checkpoint(ck)
    s.run(seconds=0.05, progress=False)
    kinds = [e.kind for e in s.events()]
    assert kinds[-3:] == ["load_checkpoint", "resume", "pause"] and not s.running
    with pytest.raises(CommandError, match="give steps or seconds"):
        s.run()

