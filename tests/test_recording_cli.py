"""``pcviz record`` and ``pcviz info``: every preset, a recording as the preset of a
rerun, scheduled interventions logged, bad options refused with a message."""

from __future__ import annotations

import numpy as np
import pytest
from io_helpers import assert_frames_intact

from pcviz.cli import main
from pcviz.config import run_config_to_dict
from pcviz.io import open_recording
from pcviz.sim import list_presets, load_preset

SMALL = ["--set", "engine.checkpoint=''", "--set", "data.batch_size=3"]


def record(capsys, out, *args):
    rc = main(["record", "--steps", "12", "--out", str(out), "--device", "cpu", *SMALL, *args])
    return rc, capsys.readouterr().err


def usable(name):
    try:
        load_preset(name, ["engine.checkpoint=''"])
        from pcviz.sim import Engine

        Engine(load_preset(name, ["engine.checkpoint=''", "data.batch_size=3"]), "cpu")
    except Exception:  # noqa: BLE001 - a preset whose data is not on this machine
        return False
    return True


def test_record_and_info_on_every_preset(tmp_path, capsys):
    names = [e.name for e in list_presets() if usable(e.name)]
    assert names
    for name in names:
        out = tmp_path / f"{name}.h5"
        rc, err = record(capsys, out, "--preset", name, "--every", "3")
        assert rc == 0, err
        assert "recorded 4 frames (steps 3-12)" in err and "0 frames dropped" in err
        assert main(["info", str(out)]) == 0
        info = capsys.readouterr().out
        assert "pcviz-recording version 1" in info and "complete" in info
        assert "frames: 4, steps 3-12" in info and "dropped frames: 0" in info
        with open_recording(out) as rec:
            for layer in rec.spec.layers:
                shape = "x".join(map(str, layer.display_shape))
                assert f"{layer.name:<8} {layer.role:<6} {layer.size:>6} units ({shape})" in info


def test_info_lists_layers_events_and_weights(tmp_path, capsys):
    out = tmp_path / "w.h5"
    rc, err = record(capsys, out, "--preset", "digits-pc-scratch", "--batch", "--weights-every", "6", "--lzf")
    assert rc == 0, err
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "records the whole batch of 3, every 1 step(s), weights every 6, compression lzf" in info
    assert "activity(3x64)" in info and "error(3x36)" in info
    assert "weight snapshots: 2, steps 6-12" in info
    assert "events: 1: start x1" in info


def test_recording_reruns_from_its_own_config(tmp_path, capsys):
    first, second = tmp_path / "first.h5", tmp_path / "second.h5"
    rc, err = record(capsys, first, "--preset", "digits-pc-scratch", "--set", "model.dt=0.1")
    assert rc == 0, err
    rc, err = main(["record", "--preset", str(first), "--steps", "12", "--out", str(second)]), \
        capsys.readouterr().err
    assert rc == 0, err
    with open_recording(first) as a, open_recording(second) as b:
        assert a.config_dict == b.config_dict and a.config.model.dt == 0.1
        assert len(a) == len(b) == 12
        for layer in a.spec.layers:
            for q in layer.quantities:  # same config, same seed: the same run
                np.testing.assert_array_equal(a.quantity(layer.index, q), b.quantity(layer.index, q))
    third = tmp_path / "third.h5"
    rc, err = main(["record", "--preset", str(first), "--steps", "3", "--out", str(third),
                    "--set", "model.dt=0.05"]), capsys.readouterr().err
    assert rc == 0, err
    with open_recording(third) as c:
        assert c.config.model.dt == 0.05  # overrides apply on top of the recorded config


def test_scheduled_interventions_run_and_are_logged(tmp_path, capsys):
    cfg = run_config_to_dict(load_preset("digits-pc-scratch", ["engine.checkpoint=''", "data.batch_size=3"]))
    import tomli_w

    cfg["interventions"] = [
        {"step": 4, "kind": "clamp", "layer": 3, "units": [1, 5], "value": -0.5, "duration": 3},
        {"step": 9, "kind": "set_param", "name": "model.dt", "value": 0.05},
    ]
    preset = tmp_path / "demo.toml"
    preset.write_text(tomli_w.dumps(cfg))
    out = tmp_path / "demo.h5"
    rc = main(["record", "--preset", str(preset), "--steps", "12", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    with open_recording(out) as rec:
        got = [(e.step, e.kind) for e in rec.events]
        assert got == [(0, "start"), (4, "clamp"), (7, "release"), (9, "set_param")]
        assert all(e.payload.get("scheduled") for e in rec.events[1:])
        top = rec.quantity(3, "activity")  # (12, 16): clamped for steps 5, 6, 7
        steps = rec.steps
        held = (steps > 4) & (steps <= 7)
        np.testing.assert_array_equal(top[held][:, [1, 5]], -0.5)
        assert not np.any(top[~held][:, [1, 5]] == -0.5)
        assert rec.config.model.dt != 0.05  # the config as the run began; the change is an event
        assert_frames_intact(rec)
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "events: 4: clamp x1, release x1, set_param x1, start x1" in info
    assert "step       4  clamp" in info


@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "--steps 0: must be at least 1"),
    (["--every", "0"], "every = 0: must be at least 1"),
    (["--every", "4", "--weights-every", "6"], "must be 0 (never) or a multiple of every = 4"),
    (["--preset", "no-such-preset"], "no preset named 'no-such-preset'"),
])
def test_bad_options(tmp_path, capsys, args, message):
    argv = ["record", "--preset", "digits-pc-scratch", "--steps", "5", "--out", str(tmp_path / "x.h5"), *SMALL]
    for i in range(0, len(args), 2):
        if args[i] in argv:
            argv[argv.index(args[i]) + 1] = args[i + 1]
        else:
            argv += args[i : i + 2]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.h5").exists()


def test_info_into_a_closed_pipe_is_quiet(tmp_path, capsys):
    """`pcviz info FILE | head -1`: the reader has gone before pcviz writes; no
    traceback, no error message, exit status 141 as a shell reports SIGPIPE."""
    import os
    import subprocess
    import sys

    out = tmp_path / "r.h5"
    rc, err = record(capsys, out, "--preset", "digits-pc-scratch")
    assert rc == 0, err
    r, w = os.pipe()
    os.close(r)  # nobody will read: the first write fails with EPIPE
    try:
        info = subprocess.run([sys.executable, "-m", "pcviz", "info", str(out)], stdout=w,
                              stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(w)
    stderr = info.stderr.decode()
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    assert info.returncode == 141
