"""The engine: typed commands, events, scheduled interventions, frames for displays
and recorders, divergence, checkpoints."""

import threading
import time

import numpy as np
import pytest
import torch

from pcviz.sim import (
    Call, Clamp, Engine, LoadCheckpoint, Occlude, Pause, Play, Release, Reset, SaveCheckpoint, SetLabel,
    SetParam, Step, StepHold, load_preset,
)
from pcviz.sim.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

from engine_helpers import SMALL, wait_for


def small_engine(*extra, preset="digits-pc-scratch"):
    return Engine(load_preset(preset, SMALL + list(extra)), device="cpu")


def test_spec_and_frames_carry_the_four_quantities():
    e = small_engine()
    assert [l.size for l in e.spec.layers] == [64, 12, 6]
    assert e.spec.layers[0].display_shape == (8, 8) and e.spec.layers[0].role == "input"
    e.run_steps(3)
    f = e.snapshot()
    for l, spec in zip(f.layers, e.spec.layers):
        for q in ("activity", "prediction", "error", "precision"):
            assert l[q].shape == spec.quantities[q] and l[q].dtype == np.float32
        np.testing.assert_allclose(l["error"], l["activity"] - l["prediction"], atol=1e-6)
    assert set(e.spec.scalars) == set(f.scalars)
    assert f.scalars["energy/total"] == pytest.approx(sum(f.scalars[f"energy/layer_{i}"] for i in range(3)),
                                                      rel=1e-5, abs=1e-5)
    # the input row is the data sample that the frame names
    np.testing.assert_allclose(f.layers[0]["activity"], e.dataset.x[f.sample_index], atol=1e-6)


def test_frames_are_built_only_when_consumed(monkeypatch):
    e = small_engine()
    built = []
    orig = e._build_frame
    monkeypatch.setattr(e, "_build_frame", lambda *a, **k: built.append(1) or orig(*a, **k))
    e.run_steps(50)
    assert built == []
    slot = e.subscribe_latest()
    e.run_steps(5)  # the slot asked once: one frame, then none until it asks again
    assert len(built) == 1
    frame = slot.take()
    assert frame is not None and frame.step == 51
    assert slot.take() is None
    e.run_steps(5)
    assert len(built) == 2 and slot.take().step == 56


def test_recorder_queue_counts_what_it_drops():
    e = small_engine()
    q = e.subscribe_queue(maxsize=5, every=2)
    e.run_steps(40)
    assert q.delivered == 5 and q.dropped == 15
    steps = [q.get_nowait().step for _ in range(5)]
    assert steps == [2, 4, 6, 8, 10]
    e.stop()
    assert q.get(timeout=1) is None  # end of stream


def test_batch_frames_have_a_batch_axis():
    e = small_engine()
    q = e.subscribe_queue(maxsize=10, batch=True)
    e.run_steps(1)
    f = q.get_nowait()
    assert f.batch and f.layers[1]["activity"].shape == (4, 12) and len(f.sample_indices) == 4


def in_engine_thread(e, fn):
    """Run ``fn(engine)`` in the engine's thread after every command sent before it, and
    return what it returned: a round trip that proves the loop went around."""
    done, out = threading.Event(), []
    e.submit(Call(lambda eng: (out.append(fn(eng)), done.set())))
    assert done.wait(10), "the engine thread did not take the call"
    return out[0]


def test_threaded_play_pause_step_and_events():
    e = small_engine()
    e.start()
    try:
        e.submit(Step(7))
        wait_for(lambda: e.step_count == 7)
        # paused with nothing pending, and the loop has gone around since: it stays at 7
        assert in_engine_thread(e, lambda eng: (eng.running, eng.step_count)) == (False, 7)
        assert in_engine_thread(e, lambda eng: eng.step_count) == 7
        e.submit(Play())
        wait_for(lambda: e.step_count > 50)
        e.submit(Pause())
        n = in_engine_thread(e, lambda eng: eng.step_count)  # read after the pause was applied
        assert in_engine_thread(e, lambda eng: (eng.running, eng.step_count)) == (False, n)
        e.submit(StepHold())
        wait_for(lambda: e.stream.hold_due)
        assert e.step_count % 10 == 0
    finally:
        e.stop()
    assert not e.alive
    kinds = [ev.kind for ev in e.events.all()]
    assert kinds[:3] == ["start", "step", "resume"] and "pause" in kinds and "step_hold" in kinds


def test_clamp_with_duration_is_released_by_schedule():
    e = small_engine()
    e.run_steps(3)
    e.submit(Clamp(2, (1, 2), 0.9, duration=5))
    e.run_steps(4)
    assert np.all(e.snapshot().layers[2]["activity"][[1, 2]] == np.float32(0.9))
    e.run_steps(4)
    assert not np.all(e.snapshot().layers[2]["activity"][[1, 2]] == np.float32(0.9))
    evs = [(ev.step, ev.kind, ev.payload.get("scheduled", False)) for ev in e.events.all()]
    assert (3, "clamp", False) in evs and (8, "release", True) in evs


def test_scheduled_interventions_from_the_preset(tmp_path):
    p = tmp_path / "demo.toml"
    p.write_text(
        '[preset]\nname = "demo"\n[model]\nsizes = [64, 12, 6]\n[data]\nbatch_size = 2\nhold_steps = 5\n'
        "[[interventions]]\nstep = 4\nkind = 'clamp'\nlayer = 2\nunits = [0]\nvalue = 1.5\n"
        "[[interventions]]\nstep = 6\nkind = 'occlude'\nregion = [0, 0, 4, 4]\n"
        "[[interventions]]\nstep = 9\nkind = 'set_param'\nname = 'model.dt'\nvalue = 0.05\n"
    )
    e = Engine(load_preset(p), device="cpu")
    e.run_steps(12)
    evs = {(ev.step, ev.kind) for ev in e.events.all() if ev.payload.get("scheduled")}
    assert evs == {(4, "clamp"), (6, "occlude"), (9, "set_param")}
    assert e.config.model.dt == 0.05
    f = e.snapshot()
    assert f.layers[2]["activity"][0] == np.float32(1.5)
    occluded = [r * 8 + c for r in range(4) for c in range(4)]
    assert np.all(f.layers[0]["precision"][occluded] == 0)
    np.testing.assert_allclose(f.layers[0]["activity"][occluded], f.layers[0]["prediction"][occluded], atol=1e-6)


def test_set_param_reaches_the_model_and_bad_values_become_error_events():
    e = small_engine()
    e.submit(SetParam("model.dt", 0.03))
    e.submit(SetParam("model.dt", -1))
    e.submit(SetParam("model.nonsense", 1))
    e.submit(SetParam("model.sizes", [64, 3]))
    e.submit(SetParam("data.hold_steps", 3))
    e.run_steps(1)
    assert e.config.model.dt == 0.03 and e.stream.hold_steps == 3
    errors = [ev.payload["message"] for ev in e.events.all() if ev.kind == "error"]
    assert len(errors) == 3
    assert "model.dt = -1" in errors[0] and "unknown key model.nonsense" in errors[1]
    assert "model.sizes changes the architecture" in errors[2]


def test_divergence_pauses_and_names_layer_and_step():
    e = small_engine("model.preconditioner='none'", "model.dt=0.2", "engine.check_every=1")
    e.run_steps(5)
    e.submit(Call(lambda eng: eng.model.x[1].fill_(float("nan"))))
    done = e.run_steps(20)
    assert e.diverged is not None and done == 1
    ev = [ev for ev in e.events.all() if ev.kind == "divergence"][0]
    assert ev.step == 6 and "layer" in ev.payload and "step 6" in ev.payload["message"]
    assert "model.dt" in ev.payload["message"]
    # Play is refused while diverged, Reset recovers
    e.submit(Play())
    e.submit(Reset(weights=True))
    e.run_steps(5)
    assert e.diverged is None
    assert any(ev.kind == "error" and "diverged" in ev.payload["message"] for ev in e.events.all())


def test_exploding_energy_is_caught():
    e = small_engine("model.preconditioner='none'", "model.dt=8.0", "model.init_scale=3.0")
    e.run_steps(500)
    assert e.diverged is not None
    assert "energy of layer" in e.diverged.message


def test_label_command_clamps_the_top_of_a_supervised_net():
    e = Engine(load_preset("digits-supervised", ["engine.checkpoint=''", "model.sizes=[64, 12, 10]",
                                                  "data.batch_size=3", "engine.learning=false"]), "cpu")
    e.submit(SetLabel(3))
    e.run_steps(2)
    top = e.snapshot().layers[2]["activity"]
    assert top.tolist() == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    e.submit(SetLabel(None))
    e.run_steps(3)
    assert e.snapshot().layers[2]["activity"].tolist() != top.tolist()


def test_occlusion_command_errors_are_events():
    e = small_engine()
    e.submit(Occlude(region=(10, 10, 12, 12)))
    e.submit(Release(layer=7))
    e.run_steps(1)
    msgs = [ev.payload["message"] for ev in e.events.all() if ev.kind == "error"]
    assert "empty inside the 8x8 input" in msgs[0] and "layer 7 out of range" in msgs[1]


def test_checkpoint_round_trip_and_mismatch(tmp_path):
    e = small_engine()
    e.run_steps(30)
    path = tmp_path / "c.pt"
    e.submit(SaveCheckpoint(str(path)))
    e.run_steps(1)
    e2 = small_engine("engine.seed=5")
    assert not torch.equal(e2.model.W[0], e.model.W[0])
    e2.submit(LoadCheckpoint(str(path)))
    e2.run_steps(1)  # applied before the step; weights change only at a hold's end
    torch.testing.assert_close(e2.model.W[0], e.model.W[0])
    other = Engine(load_preset("digits-pc-scratch", ["engine.checkpoint=''", "model.sizes=[64, 10, 6]"]), "cpu")
    with pytest.raises(CheckpointError, match=r"another architecture \(sizes: checkpoint \[64, 12, 6\]"):
        load_checkpoint(other.model, path)


def test_bad_checkpoint_files(tmp_path):
    e = small_engine()
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(e.model, tmp_path / "none.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(e.model, junk)
    # a pickle carrying code is refused by weights_only loading
    evil = tmp_path / "evil.pt"
    torch.save({"format": "pcviz-checkpoint", "fn": np.random.default_rng}, evil)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(e.model, evil)
    plain = tmp_path / "plain.pt"
    torch.save({"a": torch.zeros(2)}, plain)
    with pytest.raises(CheckpointError, match="not a pcviz checkpoint"):
        load_checkpoint(e.model, plain)


def test_save_checkpoint_is_atomic(tmp_path):
    e = small_engine()
    p = save_checkpoint(e.model, tmp_path / "sub" / "m.pt")
    assert p.exists() and not list((tmp_path / "sub").glob("*.tmp"))


@pytest.mark.parametrize("preset,extra", [
    ("digits-pc-scratch", ["model.prior='cauchy'", "model.prior_strength=0.3"]),
    ("digits-supervised", ["engine.learning=false"]),
    ("patches-rao-ballard", []),
])
def test_host_scalars_equal_device_scalars(preset, extra):
    """Frames compute their scalars on the host from the streamed arrays; they must
    equal the model's own device computation, for one sample and for the batch."""
    e = Engine(load_preset(preset, ["engine.checkpoint=''", "data.batch_size=5"] + extra), "cpu")
    e.run_steps(7)
    e.submit(Clamp(1, (0,), 0.4))
    e.run_steps(1)
    for batch in (False, True):
        f = e.snapshot(batch=batch)
        dev = e.model.scalar_tensors(None if batch else e.display_index)
        assert set(f.scalars) == set(dev)
        for k, v in dev.items():
            assert f.scalars[k] == pytest.approx(float(v), rel=1e-4, abs=1e-4), k


def test_block_queue_delivers_every_frame_in_order():
    e = small_engine()
    q = e.subscribe_queue(maxsize=100, every=3, block=4)
    e.run_steps(30)
    frames = []
    while True:
        try:
            item = q.get_nowait()
        except Exception:
            break
        frames += item.frames()
    assert [f.step for f in frames] == list(range(3, 31, 3))
    assert q.delivered == 10 and q.dropped == 0


def test_block_queue_hands_frames_over_within_its_age_limit_at_a_slow_rate():
    """A ring of 512 frames must not sit on recorded frames when the run is slow (the
    window runs at 240 steps/s): it is handed over once its oldest frame is old enough."""
    e = small_engine()
    q = e.subscribe_queue(maxsize=100, block=512)
    e.block_max_age = 3600.0  # no machine is this slow: the frames stay young
    with e._lock:
        for _ in range(3):
            e._do_step()
    assert q.qsize() == 0  # young: still in the ring
    e.block_max_age = 0.0  # now every frame is past the limit
    with e._lock:
        e._do_step()
    assert q.qsize() == 1 and len(q.get_nowait()) == 4


@pytest.mark.parametrize("display", [None, False, True], ids=["no-display", "display", "display-with-basis"])
def test_a_queue_asking_for_weights_gets_them_whether_or_not_a_display_is_subscribed(display):
    """A display's frame is built first and shared with queues; a queue that asked for a
    weights snapshot must get a frame that carries it (the model's own tensors at that step)."""
    e = small_engine()
    slot = None if display is None else e.subscribe_latest(with_basis=display)
    q = e.subscribe_queue(maxsize=100, every=1, weights_every=4)
    want: dict[int, dict[str, np.ndarray]] = {}

    def after_step(step: int) -> None:
        if slot is not None:
            slot.take()  # the display asks for the next frame, as a window does
        if step % 4 == 0:
            want[step] = {k: t.detach().cpu().numpy().copy() for k, t in e.model.weight_tensors().items()}

    e.run_steps(12, after_step)
    frames = [q.get_nowait() for _ in range(12)]
    assert [f.step for f in frames] == list(range(1, 13))
    for f in frames:
        names = sorted(k for k in f.extras if k.startswith("weights/"))
        if f.step % 4:
            assert names == [], f.step
            continue
        assert names == sorted(f"weights/{k}" for k in want[f.step]), f.step
        for k, w in want[f.step].items():
            np.testing.assert_array_equal(f.extras[f"weights/{k}"], w, err_msg=f"{k} at step {f.step}")
