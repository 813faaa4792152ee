"""Frames written equal frames read: for every preset, every step and every K-th step,
one sample and the whole batch, scalars, weights snapshots and events."""

from __future__ import annotations

import numpy as np
import pytest
from io_helpers import SMALL, assert_same_frame, drain, small_config

from pcviz.data import DataError
from pcviz.io import FrameIndexError, Recorder, open_recording
from pcviz.io.format import chunk_frames
from pcviz.sim import Clamp, Engine, SetParam, list_presets, load_preset


def record(engine, path, steps, **kw):
    """Record ``steps`` steps; also collect the same frames through a second queue."""
    check = engine.subscribe_queue(100_000, every=kw.get("every", 1), batch=kw.get("batch", False),
                                   weights_every=kw.get("weights_every", 0))
    rec = Recorder(engine, path, **kw).start()
    engine.run_steps(steps)
    summary = rec.stop()
    return summary, drain(check)


def preset_engines():
    for entry in list_presets():
        try:
            yield entry.name, Engine(load_preset(entry.name, SMALL), device="cpu")
        except DataError as exc:  # a preset whose data files are not on this machine
            yield entry.name, exc


@pytest.mark.parametrize("every", [1, 3])
def test_every_preset_round_trips(tmp_path, every):
    tested = 0
    for name, engine in preset_engines():
        if isinstance(engine, Exception):
            continue
        path = tmp_path / f"{name}-{every}.h5"
        summary, frames = record(engine, path, 24, every=every)
        assert summary.complete and summary.error is None and summary.dropped == 0
        assert [f.step for f in frames] == list(range(every, 25, every))
        with open_recording(path) as rec:
            assert rec.complete and rec.every == every and rec.dropped == 0
            assert len(rec) == len(frames) == summary.frames
            assert rec.spec == engine.spec
            for i, want in enumerate(frames):
                assert_same_frame(rec.frame(i), want)
            assert rec.attrs["config"]  # the config JSON is there; its content is checked below
        tested += 1
    assert tested >= 1


def test_batch_weights_and_events_round_trip(tmp_path):
    engine = Engine(small_config(), device="cpu")
    engine.submit(Clamp(3, (0, 2), 0.5, duration=5))
    engine.submit(SetParam("model.dt", 0.15))
    path = tmp_path / "batch.h5"
    summary, frames = record(engine, path, 40, every=2, batch=True, weights_every=10, compression="lzf")
    assert summary.weight_snapshots == 4 and summary.frames == 20
    with open_recording(path) as rec:
        assert rec.batch and len(rec) == 20
        assert rec.quantity("x1", "error").shape == (20, 3, 100)
        for i, want in enumerate(frames):
            assert_same_frame(rec.frame(i), want, same_wall=not want.extras)
        np.testing.assert_array_equal(rec.weight_steps, [10, 20, 30, 40])
        w = engine.model.weight_tensors()["W.0"].numpy()
        np.testing.assert_array_equal(rec.weights("W.0", -1), w)  # the last snapshot is the final weights
        kinds = [(e.step, e.kind) for e in rec.events]
        assert kinds[:3] == [(0, "start"), (0, "clamp"), (0, "set_param")]
        assert (5, "release") in kinds
        clamp = rec.events[1].payload
        assert clamp["layer"] == 3 and clamp["units"] == [0, 2] and clamp["value"] == 0.5
        # the clamp holds the units at 0.5 for its 5 steps: frames at steps 2 and 4
        top = rec.quantity(3, "activity")[:2]  # (2, B, 16)
        np.testing.assert_array_equal(top[:, :, [0, 2]], 0.5)


def test_config_and_metadata(tmp_path):
    cfg = small_config(extra=["model.dt=0.125"])
    engine = Engine(cfg, device="cpu")
    record(engine, tmp_path / "m.h5", 5)
    with open_recording(tmp_path / "m.h5") as rec:
        a = rec.attrs
        assert a["format"] == "pcviz-recording" and a["format_version"] == 1
        assert a["model_kind"] == "pc" and a["device"] == "cpu" and a["seed"] == 0
        assert a["preset"] == "digits-pc-scratch" and a["created"] and a["closed"]
        assert rec.config.model == cfg.model and rec.config.data == cfg.data
        assert rec.config.model.dt == 0.125


def test_long_event_payload_survives(tmp_path):
    engine = Engine(small_config(), device="cpu")
    units = tuple(range(100))  # a JSON payload longer than the fixed-width row
    engine.submit(Clamp(1, units, 0.25))
    record(engine, tmp_path / "e.h5", 3)
    with open_recording(tmp_path / "e.h5") as rec:
        clamp = [e for e in rec.events if e.kind == "clamp"][0]
        assert clamp.payload["units"] == list(units)


def test_reader_access(tmp_path):
    engine = Engine(small_config(), device="cpu")
    _, frames = record(engine, tmp_path / "r.h5", 30, every=2)
    with open_recording(tmp_path / "r.h5") as rec:
        assert rec.frame_at_step(7).step == 6  # the last frame at or before step 7
        assert rec.frame_at_step(8).step == 8
        assert rec[-1].step == 30
        assert [f.step for f in rec] == [f.step for f in frames]
        err = rec.quantity(1, "error", slice(3, 9))
        np.testing.assert_array_equal(err, np.stack([f.layers[1]["error"] for f in frames[3:9]]))
        picked = rec.quantity(2, "activity", [5, 1, 5])
        np.testing.assert_array_equal(picked[1], frames[1].layers[2]["activity"])
        np.testing.assert_array_equal(picked[0], picked[2])
        e = rec.scalar("energy/total")
        assert e.shape == (15,) and e[4] == np.float32(frames[4].scalars["energy/total"])
        with pytest.raises(FrameIndexError, match="out of range"):
            rec.frame(15)
        with pytest.raises(FrameIndexError, match="before step 1"):
            rec.frame_at_step(1)
        with pytest.raises(FrameIndexError, match="no quantity"):
            rec.quantity(0, "nonsense")
        with pytest.raises(FrameIndexError, match="no layer"):
            rec.quantity("nowhere", "activity")


def test_chunks_stay_in_bounds():
    for b in (4, 8, 64, 256, 1000, 4096, 10_000, 100_000, 4 << 20):
        n = chunk_frames(b)
        if 64 * b <= 1 << 20 and 256 * b >= 10 * 1024:
            assert 64 <= n <= 256 and 10 * 1024 <= n * b <= 1 << 20, b
        elif 64 * b > 1 << 20:
            assert n * b <= 1 << 20 or n == 1, b
        else:
            assert n * b >= 10 * 1024 and n > 256, b
