"""Exports for other tools: NWB (validated by pynwb's validator and nwbinspector, read
back with pynwb to the same values) for every preset, numpy .npz with a choice of layers
and steps, xarray objects with named dimensions; without the optional packages pcviz
still imports and the export says how to install what it needs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from io_helpers import REPO, SMALL
from tool_helpers import need

from pcviz import __version__
from pcviz.cli import main
from pcviz.data import DataError
from pcviz.io import ExportError, Recorder, open_recording
from pcviz.io.export_arrays import parse_steps
from pcviz.io.export_nwb import EVENTS_TABLE, export_nwb, layer_module_name, nwb_name
from pcviz.sim import Clamp, Engine, SetParam, list_presets, load_preset

#: nwbinspector levels that are errors (the rest are best-practice advice)
ERROR_LEVELS = ("ERROR", "PYNWB_VALIDATION", "CRITICAL")


def _record(engine, path, steps, **kw):
    engine.submit(Clamp(1, (0, 1), 0.25, duration=5))
    engine.submit(SetParam("engine.learning", True))
    rec = Recorder(engine, path, **kw).start()
    engine.run_steps(steps)
    summary = rec.stop()
    assert summary.complete and summary.error is None
    return path


def _steps_for(engine) -> int:
    """Frames enough that time is the longest axis of every series (nwbinspector flags
    a shorter time axis as a possibly transposed one)."""
    return 20 + max(max(s) for l in engine.spec.layers for s in l.quantities.values())


def assert_nwb_matches(nwb_path, rec) -> None:
    """The NWB file validates, has no error-level inspector findings, and reads back with
    pynwb to the recording's values."""
    pynwb = need("pynwb")
    nwbinspector = need("nwbinspector")
    assert pynwb.validate(path=str(nwb_path)) == []
    # skip_validate: nwbinspector would run the pynwb validator a second time
    found = [m for m in nwbinspector.inspect_nwbfile(nwbfile_path=str(nwb_path), skip_validate=True)
             if m.importance.name in ERROR_LEVELS]
    assert found == [], [(m.importance.name, m.check_function_name, m.object_name, m.message) for m in found]
    with pynwb.NWBHDF5IO(str(nwb_path), "r") as io:
        nwb = io.read()
        assert json.loads(nwb.notes) == rec.config_dict
        assert f"pcviz {__version__}" in nwb.source_script
        for layer in rec.spec.layers:
            mod = nwb.processing[layer_module_name(layer.index, layer.name)]
            np.testing.assert_array_equal(mod["step"].data[:], rec.steps)
            np.testing.assert_array_equal(mod["step"].timestamps[:], rec.walls)
            for q in layer.quantities:
                ts = mod[nwb_name(q)]
                want = rec.quantity(layer.index, q)
                np.testing.assert_array_equal(ts.data[:].reshape(want.shape), want, err_msg=f"{layer.index} {q}")
                assert ts.data.ndim <= 4
                np.testing.assert_array_equal(ts.timestamps[:], rec.walls)
        for s in rec.spec.scalars:
            ts = nwb.processing["scalars"][nwb_name(s)]
            np.testing.assert_array_equal(ts.data[:], rec.scalar(s), err_msg=s)
            assert f"'{s}'" in ts.description
            note = rec.spec.scalar_notes.get(s)
            assert note is None or note in ts.description  # what the scalar is travels with it
        table = nwb.events[EVENTS_TABLE]
        events = rec.events
        assert list(table["kind"].data[:]) == [e.kind for e in events]
        np.testing.assert_array_equal(table["step"].data[:], [e.step for e in events])
        np.testing.assert_array_equal(table["timestamp"].data[:], [e.wall for e in events])
        assert [json.loads(p) for p in table["payload"].data[:]] == [e.payload for e in events]
        if rec.weight_names:
            snaps = nwb.processing["weights"]["snapshots"]
            np.testing.assert_array_equal(snaps["step"].data[:], rec.weight_steps)
            for w in rec.weight_names:
                want = rec.weights(w)
                got = snaps[nwb_name(w)].data[:]
                assert got.ndim <= 4 and got.shape[0] == len(want)
                np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg=w)
        else:
            assert "weights" not in nwb.processing


def test_every_presets_recording_exports_to_nwb_that_validates_and_round_trips(tmp_path):
    need("pynwb")
    tested, layouts = [], set()
    for entry in list_presets():
        try:
            engine = Engine(load_preset(entry.name, SMALL), device="cpu")
        except DataError:  # a preset whose data files are not on this machine
            continue
        # presets whose frames are laid out alike export alike: one of each layout
        layout = (tuple(engine.spec.scalars),
                  tuple((l.name, tuple(sorted(l.quantities.items()))) for l in engine.spec.layers))
        if layout in layouts:
            engine.stop()
            continue
        layouts.add(layout)
        steps = _steps_for(engine)
        path = _record(engine, tmp_path / f"{entry.name}.h5", steps, weights_every=steps // 3)
        engine.stop()
        out = tmp_path / f"{entry.name}.nwb"
        assert main(["export", str(path), "--nwb", str(out)]) == 0
        with open_recording(path) as rec:
            assert len(rec) == steps and len(rec.weight_steps) == 3
            assert {"clamp", "set_param"} <= {e.kind for e in rec.events}
            assert_nwb_matches(out, rec)
        tested.append(entry.name)
    assert len(tested) >= 5, tested


def test_a_whole_batch_recording_exports_to_nwb(tmp_path):
    need("pynwb")
    engine = Engine(load_preset("digits-pc-scratch", SMALL), device="cpu")
    path = _record(engine, tmp_path / "batch.h5", 80, batch=True, every=1)
    out = tmp_path / "batch.nwb"
    export_nwb(path, out)
    with open_recording(path) as rec:
        assert rec.batch and rec.quantity(1, "error").shape == (80, 3, rec.spec.layers[1].size)
        assert_nwb_matches(out, rec)
    with pytest.raises(ExportError, match="exists"):
        export_nwb(path, out)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    engine = Engine(load_preset("digits-pc-scratch", SMALL), device="cpu")
    return _record(engine, tmp_path_factory.mktemp("export") / "run.h5", 60, every=2, weights_every=10)


def test_npz_export_holds_the_chosen_layers_and_steps(recording, tmp_path):
    out = tmp_path / "part.npz"
    assert main(["export", str(recording), "--npz", str(out), "--layers", "1", "top", "--steps", "20:40"]) == 0
    with open_recording(recording) as rec, np.load(out, allow_pickle=False) as z:
        frames = np.flatnonzero((rec.steps >= 20) & (rec.steps < 40))
        np.testing.assert_array_equal(z["time/step"], np.arange(20, 40, 2))  # every=2, B excluded
        for l in (1, 3):
            for q in rec.spec.layers[l].quantities:
                np.testing.assert_array_equal(z[f"layers/{l}/{q}"], rec.quantity(l, q)[frames])
        assert not any(k.startswith(("layers/0/", "layers/2/")) for k in z.files)
        np.testing.assert_array_equal(z["scalars/energy/total"], rec.scalar("energy/total")[frames])
        np.testing.assert_array_equal(z["weights/step"], [20, 30])
        np.testing.assert_array_equal(z["weights/W.0"], rec.weights("W.0")[[1, 2]])
        assert list(z["events/kind"]) == [e.kind for e in rec.events]
        assert json.loads(str(z["config"])) == rec.config_dict


def test_npz_export_of_everything_and_its_mistakes(recording, tmp_path, capsys):
    out = tmp_path / "all.npz"
    assert main(["export", str(recording), "--npz", str(out)]) == 0
    with open_recording(recording) as rec, np.load(out) as z:
        assert len(z["time/step"]) == len(rec)
        for l in rec.spec.layers:
            for q in l.quantities:
                np.testing.assert_array_equal(z[f"layers/{l.index}/{q}"], rec.quantity(l.index, q))
    assert parse_steps("5:") == (5, None) and parse_steps(":9") == (None, 9)
    for bad in ("9:5", "a:b", "5"):
        with pytest.raises(ExportError):
            parse_steps(bad)
    assert main(["export", str(recording), "--npz", str(tmp_path / "x.npz"), "--steps", "5000:6000"]) == 2
    assert "no frame with 5000:6000" in capsys.readouterr().err
    assert main(["export", str(recording), "--npz", str(tmp_path / "x.npz"), "--layers", "nope"]) == 2
    assert "no layer 'nope'" in capsys.readouterr().err
    assert main(["export", str(recording)]) == 2
    assert main(["export", str(recording), "--nwb", str(tmp_path / "x.nwb"), "--steps", "1:2"]) == 2


def test_to_xarray_names_the_dimensions(recording, tmp_path):
    need("xarray")
    with open_recording(recording) as rec:
        da = rec.to_xarray("x1", "error")
        assert da.dims == ("step", "unit") and da.shape == (len(rec), rec.spec.layers[1].size)
        np.testing.assert_array_equal(da.values, rec.quantity(1, "error"))
        np.testing.assert_array_equal(da["step"].values, rec.steps)
        np.testing.assert_array_equal(da.sel(step=30).values, rec.frame_at_step(30).layers[1]["error"])
        ds = rec.to_xarray(0, index=slice(5, 10))
        assert set(ds.data_vars) == set(rec.spec.layers[0].quantities)
        np.testing.assert_array_equal(ds["precision"].values, rec.quantity(0, "precision", slice(5, 10)))
        np.testing.assert_array_equal(ds["frame"].values, np.arange(5, 10))


def test_to_xarray_of_a_convolutional_whole_batch_recording(tmp_path):
    need("xarray")
    engine = Engine(load_preset("patches-conv-pc", SMALL), device="cpu")
    path = _record(engine, tmp_path / "conv.h5", 6, batch=True)
    export_nwb(path, tmp_path / "conv.nwb")  # (T, B, C, H, W): five axes, stored as (T, B, C, H*W)
    pynwb = need("pynwb")
    assert pynwb.validate(path=str(tmp_path / "conv.nwb")) == []
    with pynwb.NWBHDF5IO(str(tmp_path / "conv.nwb"), "r") as io, open_recording(path) as rec:
        want = rec.quantity(1, "activity")
        got = io.read().processing[layer_module_name(1, rec.spec.layers[1].name)]["activity"].data[:]
        assert got.shape == (*want.shape[:3], want.shape[3] * want.shape[4])
        np.testing.assert_array_equal(got.reshape(want.shape), want)
    with open_recording(path) as rec:
        da = rec.to_xarray(1, "activity")
        c, h, w = rec.spec.layers[1].quantities["activity"]
        assert da.dims == ("step", "batch", "channel", "y", "x") and da.shape == (6, 3, c, h, w)
        np.testing.assert_array_equal(da.isel(batch=2, channel=1).values, rec.quantity(1, "activity")[:, 2, 1])
        assert rec.to_xarray(0, "error").dims == ("step", "batch", "y", "x")


def test_without_the_optional_packages_pcviz_imports_and_export_says_what_to_install(recording, tmp_path):
    code = (
        "import sys\n"
        "for m in ('pynwb', 'xarray', 'hdmf', 'nwbinspector'): sys.modules[m] = None\n"
        "import pcviz.io, pcviz.cli\n"
        "from pcviz.io import open_recording\n"
        f"rec = open_recording({str(recording)!r})\n"
        "try:\n"
        "    rec.to_xarray(1, 'error')\n"
        "except pcviz.io.ExportError as exc:\n"
        "    print('XARRAY:', exc)\n"
        f"sys.exit(pcviz.cli.main(['export', {str(recording)!r}, '--nwb', {str(tmp_path / 'x.nwb')!r}]))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "XARRAY:" in r.stdout and "pip install 'xarray'" in r.stdout
    assert "NWB export needs the Python package pynwb>=4" in r.stderr and "pip install 'pcviz[export]'" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "x.nwb").exists()
