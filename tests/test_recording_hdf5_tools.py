"""Recordings read by HDF5 1.10-era tools (Debian's h5dump and h5ls), not only by the
HDF5 that wrote them: every attribute opens, every dataset's values equal what the pcviz
reader returns; booleans are int8; a killed recording, unreadable there until repaired,
reads after `pcviz repair`; files of older pcviz versions still read in pcviz."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest
from io_helpers import assert_frames_intact, pcviz_process, small_config, wait_for_frames
from tool_helpers import h5tool, run_tool

from pcviz.cli import main
from pcviz.io import Recorder, RecordingWriteError, open_recording
from pcviz.cli.info import describe
from pcviz.io.repair import open_mark, repair, repair_reasons
from pcviz.sim import Clamp, Engine, SetParam

RECORD = ["record", "--preset", "digits-pc-scratch", "--steps", "1000000", "--set", "engine.checkpoint=''",
          "--set", "data.batch_size=3", "--weights-every", "200"]


def _record(path, steps=60, **kw):
    engine = Engine(small_config(), device="cpu")
    engine.submit(Clamp(3, (0, 2), 0.5, duration=5))
    engine.submit(SetParam("model.dt", 0.15))
    rec = Recorder(engine, path, **kw).start()
    engine.run_steps(steps)
    summary = rec.stop()
    assert summary.complete and summary.error is None
    return path


@pytest.fixture(scope="module", params=[False, True], ids=["sample", "batch"])
def recording(tmp_path_factory, request):
    return _record(tmp_path_factory.mktemp("h5tools") / "run.h5", weights_every=20, batch=request.param)


def _attribute_paths(path) -> list[str]:
    """Every attribute of the file, as h5dump names them (/group/dataset/attribute)."""
    out = []
    with h5py.File(path, "r") as f:
        out += [f"/{k}" for k in f.attrs]

        def visit(name, obj):
            out.extend(f"/{name}/{k}" for k in obj.attrs)

        f.visititems(visit)
    return out


def _datasets(path) -> list[str]:
    with h5py.File(path, "r") as f:
        names = []
        f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def assert_h5dump_reads_everything(path, tmp_path) -> None:
    """h5dump (HDF5 1.10) dumps the whole file without error, opens every attribute,
    and every dataset's bytes equal what h5py and the pcviz reader return."""
    h5dump = h5tool("h5dump")
    version = run_tool(h5dump, "--version").stdout.strip()
    whole = run_tool(h5dump, "-H", path)
    assert whole.returncode == 0 and "error" not in whole.stderr.lower(), (version, whole.stderr)
    assert "h5dump error" not in whole.stdout, (version, whole.stdout[:2000])
    attrs = _attribute_paths(path)
    assert "/complete" in attrs and "/batch" in attrs
    args = [a for name in attrs for a in ("-a", name)]
    dumped = run_tool(h5dump, *args, path)
    assert dumped.returncode == 0 and "unable" not in dumped.stdout + dumped.stderr, (version, dumped.stderr)
    assert dumped.stdout.count("ATTRIBUTE ") == len(attrs)
    with open_recording(path) as rec, h5py.File(path, "r") as f:
        n = len(rec)
        for name in _datasets(path):
            d = f[name]
            if d.shape[0] == 0:
                continue
            if d.dtype.kind == "S":  # h5dump writes no binary for strings: compare its text, row by row
                for i, want in enumerate(d[()]):
                    text = run_tool(h5dump, "-d", f"/{name}", "-s", str(i), "-c", "1", "-w", "0", path).stdout
                    got = re.findall(rf'^\s*\({i}\): "(.*?)(?:\\000)*"$', text, re.M)
                    assert got == [want.rstrip(b"\0").decode()], (name, i, text[-600:])
                continue
            out = tmp_path / "dump.bin"
            r = run_tool(h5dump, "-d", f"/{name}", "-b", "LE", "-o", out, path)
            assert r.returncode == 0, (name, r.stderr)
            got = np.fromfile(out, d.dtype.newbyteorder("<")).reshape(d.shape)
            np.testing.assert_array_equal(got, d[()], err_msg=name)
            if name.startswith("layers/"):
                _, l, q = name.split("/")
                np.testing.assert_array_equal(got[:n], rec.quantity(int(l), q), err_msg=name)
            elif name.startswith("time/step"):
                np.testing.assert_array_equal(got[:n], rec.steps)
            elif name.startswith("scalars/"):
                np.testing.assert_array_equal(got[:n], rec.scalar(name[len("scalars/"):]), err_msg=name)


def test_h5dump_reads_every_attribute_and_dataset_of_a_new_recording(recording, tmp_path):
    assert_h5dump_reads_everything(recording, tmp_path)


def test_booleans_are_int8_and_read_back_as_booleans(recording):
    h5dump = h5tool("h5dump")
    out = run_tool(h5dump, "-a", "/complete", "-a", "/batch", recording).stdout
    assert out.count("H5T_STD_I8LE") == 2, out
    with open_recording(recording) as rec:
        batch = int(rec.batch)
        assert rec.complete is True and rec.batch is bool(batch)
        assert rec.attrs["complete"] is True and rec.attrs["batch"] is bool(batch)
    assert re.search(r'ATTRIBUTE "complete".*?\(0\): 1', out, re.S), out
    assert re.search(rf'ATTRIBUTE "batch".*?\(0\): {batch}', out, re.S), out


def test_h5ls_lists_every_dataset_with_its_length(recording):
    h5ls = h5tool("h5ls")
    r = run_tool(h5ls, "-r", recording)
    assert r.returncode == 0, r.stderr
    with open_recording(recording) as rec:
        n = len(rec)
        for l in rec.spec.layers:
            for q, shape in l.quantities.items():
                dims = ((rec.spec.batch_size,) if rec.batch else ()) + tuple(shape)
                assert re.search(rf"^/layers/{l.index}/{q}\s+Dataset \{{{n}/Inf, {', '.join(map(str, dims))}\}}",
                                 r.stdout, re.M), (l.index, q, r.stdout)


def _old_style(path):
    """Rewrite the booleans as an older pcviz did: h5py's bool (an HDF5 enum), written
    with libver="latest" (which HDF5 2.0 encodes so that 1.10 cannot read it)."""
    with h5py.File(path, "r+", libver="latest") as f:
        for k, v in (("complete", True), ("batch", False)):
            del f.attrs[k]
            f.attrs[k] = v
        assert f.attrs.get_id("complete").dtype == np.bool_
    return path


def test_files_of_older_pcviz_still_read_and_repair_makes_them_readable_by_hdf5_1_10(tmp_path):
    path = _old_style(_record(tmp_path / "old.h5", weights_every=20))
    with open_recording(path) as rec:  # the pcviz reader takes the old booleans
        assert rec.complete is True and rec.batch is False
        n, err = len(rec), rec.quantity(1, "error")
    h5dump = h5tool("h5dump")
    before = run_tool(h5dump, "-a", "/complete", path)
    if before.returncode == 0 and "unable" not in before.stdout + before.stderr:
        pytest.skip(f"this h5dump ({run_tool(h5dump, '--version').stdout.strip()}) reads HDF5 2.0's booleans:"
                    " the old-file case cannot be shown with it")
    assert any("boolean attributes" in r for r in repair_reasons(path))
    assert "NEEDS REPAIR" in describe(str(path))
    report = repair(path)
    assert report.backup is not None and report.backup.exists() and report.frames == n and report.was_complete
    assert_h5dump_reads_everything(path, tmp_path)
    with open_recording(path) as rec:
        assert rec.complete and len(rec) == n and rec.attrs.get("stop_reason", "") == ""
        np.testing.assert_array_equal(rec.quantity(1, "error"), err)
    assert repair_reasons(path) == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_killed_recording_is_refused_by_hdf5_1_10_until_pcviz_repair(tmp_path, capsys):
    out = tmp_path / "killed.h5"
    proc = pcviz_process(RECORD + ["--out", str(out)], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        rec = wait_for_frames(out, proc, 300)
        rec.close()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    h5dump = h5tool("h5dump")
    before = run_tool(h5dump, "-H", out)
    assert before.returncode != 0 and "unable to open file" in before.stderr + before.stdout, before
    assert open_mark(out)
    info = describe(str(out))
    assert "NEEDS REPAIR" in info and f"pcviz repair {out}" in info
    with open_recording(out) as rec:
        assert not rec.complete
        n = len(rec)
        frames = [rec.frame(i) for i in (0, n // 2, n - 1)]
        nw = len(rec.weight_steps)
    assert nw >= 1

    assert main(["repair", str(out)]) == 0
    said = capsys.readouterr().out
    backup = tmp_path / "killed.h5.bak"
    assert f"kept as {backup}" in said and backup.exists()
    assert open_mark(out) == 0 and open_mark(backup) != 0  # the original is left as it was
    assert_h5dump_reads_everything(out, tmp_path)
    stop = run_tool(h5dump, "-a", "/stop_reason", out).stdout
    assert '(0): "repaired\\000' in stop, stop
    with open_recording(out) as rec:
        assert rec.complete and len(rec) == n and rec.attrs["stop_reason"] == "repaired"
        assert len(rec.weight_steps) == nw
        assert_frames_intact(rec)
        for want in frames:
            got = rec.frame_at_step(want.step)
            for l, layer in enumerate(want.layers):
                for q, v in layer.items():
                    np.testing.assert_array_equal(got.layers[l][q], v)
    info = describe(str(out))
    assert "NEEDS REPAIR" not in info and "complete (closed by pcviz repair)" in info
    assert main(["repair", str(out)]) == 0 and "nothing to do" in capsys.readouterr().out


def _torn(path):
    """A killed writer's last frame: its step is on disk, the rest of it is not (fill
    values), and one dataset holds a row more than /time/step (one write ahead)."""
    with h5py.File(path, "r+") as f:
        n = f["time/step"].shape[0]
        names = [f"time/{t}" for t in f["time"]] + [f"scalars/{s}" for s in _scalar_names(f)]
        names += [f"layers/{l}/{q}" for l in f["layers"] for q in f[f"layers/{l}"]]
        for name in names:
            d = f[name]
            d.resize((n + 1, *d.shape[1:]))
        f["time/step"][n] = f["time/step"][n - 1] + 1
        d = f["layers/1/error"]
        d.resize((n + 2, *d.shape[1:]))
        d[n + 1] = 0.0
        f.attrs["complete"] = np.int8(0)
    return n


def _scalar_names(f):
    names = []
    f["scalars"].visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def test_repair_trims_a_torn_last_frame(tmp_path):
    path = _record(tmp_path / "torn.h5", compression="lzf")  # the copy keeps the filters
    with open_recording(path) as rec:
        good = rec.quantity(0, "activity")
    n = _torn(path)
    with open_recording(path) as rec:
        assert len(rec) == n + 1  # the reader counts the torn frame: its step is there
        assert np.isnan(rec.quantity(0, "activity", n)).all()
    out = tmp_path / "fixed.h5"
    report = repair(path, out)
    assert report.backup is None and report.frames == n and report.torn == 1 and report.frames_trimmed == 2
    with open_recording(out) as rec, h5py.File(out, "r") as f:
        assert len(rec) == n and rec.complete and rec.attrs["stop_reason"] == "repaired"
        np.testing.assert_array_equal(rec.quantity(0, "activity"), good)
        assert {f[p].shape[0] for p in ("time/step", "layers/1/error", "layers/0/activity")} == {n}
        assert f["layers/1/error"].compression == "lzf" and f["layers/1/error"].shuffle
    with pytest.raises(RecordingWriteError, match="exists"):
        repair(path, out)


def test_repair_of_what_is_not_a_recording_says_so(tmp_path, capsys):
    assert main(["repair", str(tmp_path / "none.h5")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "text.h5").write_text("not HDF5")
    assert main(["repair", str(tmp_path / "text.h5")]) == 2
    assert "not a pcviz recording" in capsys.readouterr().err


def test_repair_in_place_keeps_no_backup(tmp_path):
    path = _record(tmp_path / "run.h5", steps=20)
    assert main(["repair", str(path), "--in-place", "--out", str(tmp_path / "x.h5")]) == 2
    assert main(["repair", str(path), "--out", str(tmp_path / "x.h5")]) == 0
    assert (tmp_path / "x.h5").exists() and path.exists()
    _old_style(path)
    assert main(["repair", str(path), "--in-place"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5", "x.h5"]
    with h5py.File(path, "r") as f:
        assert f.attrs.get_id("complete").dtype == np.int8
