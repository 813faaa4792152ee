"""Bad files give their own clear errors; a recording that cannot be written stops
with a message while the simulation runs on."""

from __future__ import annotations

import errno
import os
import shutil

import h5py
import numpy as np
import pytest
from io_helpers import assert_frames_intact, small_config

from pcviz.cli import main
from pcviz.errors import PcvizError
from pcviz.io import (
    DiskFullError, MissingDataError, NotARecordingError, Recorder, RecordingError, RecordingNotFoundError,
    RecordingWriteError, TruncatedRecordingError, UnsupportedVersionError, open_recording,
)
from pcviz.io import writer as writer_module
from pcviz.sim import Engine


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "good.h5"
    engine = Engine(small_config(), device="cpu")
    rec = Recorder(engine, path).start()
    engine.run_steps(30)
    rec.stop()
    return path


def copy(good, tmp_path, name="copy.h5"):
    out = tmp_path / name
    shutil.copyfile(good, out)
    return out


def test_recording_errors_are_user_errors():
    assert issubclass(RecordingError, PcvizError)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(RecordingNotFoundError, match="no such file"):
        open_recording(tmp_path / "nothing.h5")
    with pytest.raises(RecordingNotFoundError, match="folder"):
        open_recording(tmp_path)


def test_random_bytes(tmp_path):
    p = tmp_path / "noise.h5"
    p.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(NotARecordingError, match="not an HDF5 file"):
        open_recording(p)
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    with pytest.raises(NotARecordingError, match="not an HDF5 file"):
        open_recording(empty)


def test_hdf5_of_another_kind(tmp_path):
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f["data"] = np.arange(10)
    with pytest.raises(NotARecordingError, match="HDF5 file, but not a pcviz recording"):
        open_recording(p)


def test_truncated_copy(good, tmp_path):
    data = good.read_bytes()
    for frac in (0.5, 0.95):
        p = tmp_path / f"cut{frac}.h5"
        p.write_bytes(data[: int(len(data) * frac)])
        with pytest.raises(TruncatedRecordingError, match=r"truncated.*incomplete copy"):
            open_recording(p)


def test_missing_dataset(good, tmp_path):
    p = copy(good, tmp_path)
    with h5py.File(p, "r+") as f:
        del f["layers/2/error"]
    with pytest.raises(MissingDataError, match="/layers/2/error is missing"):
        open_recording(p)
    p = copy(good, tmp_path, "noattr.h5")
    with h5py.File(p, "r+") as f:
        del f.attrs["config"]
    with pytest.raises(MissingDataError, match="'config' is missing"):
        open_recording(p)


def test_future_format_version(good, tmp_path):
    p = copy(good, tmp_path)
    with h5py.File(p, "r+") as f:
        f.attrs["format_version"] = 2
    with pytest.raises(UnsupportedVersionError, match="version 2; this pcviz reads version 1.*newer pcviz"):
        open_recording(p)


def test_info_names_the_problem(tmp_path, capsys):
    p = tmp_path / "noise.h5"
    p.write_bytes(b"x" * 100)
    assert main(["info", str(p)]) == 2
    err = capsys.readouterr().err
    assert str(p) in err and "not an HDF5 file" in err and "Traceback" not in err


def test_good_recording_still_opens(good):
    with open_recording(good) as rec:
        assert len(rec) == 30 and rec.complete
        assert_frames_intact(rec)


# ------------------------------------------------------------------- writing
def test_unwritable_path(tmp_path):
    engine = Engine(small_config(), device="cpu")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(RecordingWriteError, match=r"cannot record to .*a-file.*folder"):
        Recorder(engine, blocker / "run.h5").start()
    with pytest.raises(RecordingWriteError, match="the file exists"):
        Recorder(engine, blocker).start()
    with pytest.raises(RecordingWriteError, match="it is a folder"):
        Recorder(engine, tmp_path).start()
    assert engine.run_steps(5) == 5  # the simulation is untouched
    assert not engine._queues


def test_cli_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "x.h5"
    out.write_bytes(b"precious")
    assert main(["record", "--preset", "digits-pc-scratch", "--steps", "2", "--out", str(out),
                 "--set", "engine.checkpoint=''"]) == 2
    assert "the file exists" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"


def test_disk_full_stops_recording_not_simulation(tmp_path, monkeypatch):
    """A write that fails with ENOSPC (simulated: the datasets refuse to grow after
    the first flush): clear message, the engine runs on, flushed frames readable."""
    engine = Engine(small_config(), device="cpu")
    path = tmp_path / "full.h5"
    errors = []
    rec = Recorder(engine, path, flush_interval=0.05, on_error=errors.append).start()
    real_append = writer_module._append
    state = {"full": False}

    def append(ds, start, data):
        if state["full"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_append(ds, start, data)

    monkeypatch.setattr(writer_module, "_append", append)
    engine.run_steps(20)
    deadline = 200
    while rec.frames_flushed < 20 and deadline:
        rec.failed.wait(0.05)
        deadline -= 1
    flushed = rec.frames_flushed
    assert flushed == 20
    state["full"] = True
    engine.run_steps(20)
    assert rec.failed.wait(10)
    assert engine.run_steps(30) == 30 and engine.step_count == 70  # the simulation keeps running
    summary = rec.stop()
    assert isinstance(rec.error, RecordingWriteError) and errors == [rec.error]
    assert "the disk is full" in str(rec.error) and str(path) in str(rec.error)
    assert summary.error and not summary.complete and summary.frames == flushed
    assert 1 <= summary.dropped <= 20  # frames that reached the recorder but not the file
    assert not engine._queues  # the engine no longer feeds it
    with open_recording(path) as r:
        assert len(r) == flushed and not r.complete
        assert_frames_intact(r)


def test_nearly_full_disk_closes_the_file_properly(tmp_path, monkeypatch):
    """When the file system reports too little room for the next write, the recorder
    stops before writing and closes the file with the reason (the reserve allows it)."""
    engine = Engine(small_config(), device="cpu")
    path = tmp_path / "nearly.h5"
    rec = Recorder(engine, path, flush_interval=0.05).start()
    engine.run_steps(10)
    while rec.frames_flushed < 10:
        rec.failed.wait(0.02)
    real = os.statvfs

    class Full:
        def __init__(self, st):
            self.f_frsize, self.f_bavail = st.f_frsize, (1 << 20) // st.f_frsize  # 1 MB left

    monkeypatch.setattr(writer_module.os, "statvfs", lambda p: Full(real(p)))
    engine.run_steps(10)
    assert rec.failed.wait(10)
    assert engine.run_steps(5) == 5
    summary = rec.stop()
    assert isinstance(rec.error, DiskFullError) and "the disk is full (1.0 MB left)" in str(rec.error)
    assert summary.frames == 10 and summary.complete is False
    with open_recording(path) as r:
        assert r.complete and len(r) == 10 and "disk is full" in r.attrs["stop_reason"]
        assert_frames_intact(r)


def test_file_size_limit_stops_recording(tmp_path):
    """A real failing write in a subprocess: RLIMIT_FSIZE makes the kernel refuse to
    grow the file (EFBIG), as a full disk refuses with ENOSPC. The command says so,
    exits 1 (no crash), and the frames flushed before are intact."""
    resource = pytest.importorskip("resource")
    import subprocess

    from io_helpers import pcviz_process

    out = tmp_path / "limited.h5"
    limit = 40_000_000  # room for a flush or two (half a second of frames each) after the layout

    def cap():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = pcviz_process(["record", "--preset", "digits-pc-scratch", "--steps", "100000", "--out", str(out),
                          "--set", "engine.checkpoint=''", "--set", "data.batch_size=3"],
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, preexec_fn=cap)
    try:
        _, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "the file size limit was reached" in err and "remain readable" in err, err
    assert os.path.getsize(out) <= limit
    with open_recording(out) as rec:
        assert len(rec) > 0 and not rec.complete
        assert_frames_intact(rec)
