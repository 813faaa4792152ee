"""Sweeps on local Ray (two CPUs, one Ray session for the module): complete
recordings and an index that agrees with them, a killed worker retried, a failing run
reported while the others complete, resume, and Ctrl-C."""

import json
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from pcviz.io import open_recording  # noqa: E402
from pcviz.sweep import load_sweep, read_index, run_sweep  # noqa: E402
from pcviz.sweep.run import expected_last_step  # noqa: E402

GRID = """
[sweep]
preset = "digits-pc-scratch"
seeds = [0, 1]
steps = {steps}
every = {every}

[sweep.set]
"data.batch_size" = 8
"data.hold_steps" = 20

[sweep.grid]
"model.dt" = [0.1, 0.2]
"""


@pytest.fixture(scope="module")
def local_ray():
    # a short temp dir: Ray's Unix sockets live under it and their paths are limited
    tmp = tempfile.mkdtemp(prefix="pcvray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR", _temp_dir=tmp)
    yield
    ray.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


def make(tmp_path, steps=300, every=1, name="s.toml"):
    p = tmp_path / name
    p.write_text(GRID.format(steps=steps, every=every))
    return load_sweep(p)


def wait_for(cond, timeout=120.0, what="condition"):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_grid_on_ray_records_every_run_and_index_matches(local_ray, tmp_path, capsys):
    from pcviz.cli import main

    (tmp_path / "s.toml").write_text(GRID.format(steps=300, every=3))
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("  done  ") == 4  # a live line per finishing run
    cols, rows = read_index(out / "sweep.csv")
    assert "model.dt" in cols and (out / "sweep.toml").read_text() == (tmp_path / "s.toml").read_text()
    assert len(rows) == 4 and {r["status"] for r in rows} == {"done"}
    for r in rows:
        with open_recording(r["path"]) as rec:
            assert rec.complete
            assert rec.config.model.dt == r["model.dt"] and rec.config.engine.seed == r["seed"]
            assert len(rec) == r["frames"] == 100 and r["dropped"] == rec.dropped == 0
            assert int(rec.steps[-1]) == 300 == r["steps"] == expected_last_step(300, 3)
            # the index's final energy was read from the model; the file's from its frames
            assert r["final_energy"] == pytest.approx(float(rec.scalar("energy/total")[-1]), rel=1e-4, abs=1e-5)
        assert 0 < r["heldout_recon_mse"] < 1 and r["steps_per_second"] > 0
    # the two seeds differ, the same seed and dt gives the same run as `pcviz record`
    e = {(r["model.dt"], r["seed"]): r["final_energy"] for r in rows}
    assert e[(0.1, 0)] != e[(0.1, 1)]


def test_rerun_skips_complete_runs_and_redoes_the_rest(local_ray, tmp_path):
    spec = make(tmp_path, steps=200)
    out = tmp_path / "out"
    rows = run_sweep(spec, out)
    assert [r["status"] for r in rows] == ["done"] * 4
    mtimes = {r["run"]: os.stat(out / r["path"]).st_mtime_ns for r in rows}
    # spoil two runs: one lost its result file, one recording is cut short
    (out / (rows[0]["run"] + ".json")).unlink()
    short = out / rows[1]["path"]
    data = short.read_bytes()
    short.write_bytes(data[: len(data) // 2])
    seen = []
    rows2 = run_sweep(spec, out, on_update=lambda p, r: seen.append(r.run_id) if r else None)
    assert [r["status"] for r in rows2] == ["done"] * 4
    assert sorted(seen) == sorted([rows[0]["run"], rows[1]["run"]])
    for r in rows[2:]:
        assert os.stat(out / r["path"]).st_mtime_ns == mtimes[r["run"]]
    with open_recording(short) as rec:
        assert rec.complete and len(rec) == 200
    # a different plan for the same files (more steps) redoes every run
    spec3 = make(tmp_path, steps=240, name="s3.toml")
    seen.clear()
    run_sweep(spec3, out, on_update=lambda p, r: seen.append(r.run_id) if r else None)
    assert len(seen) == 4


def test_killed_worker_is_retried_and_failing_run_reported(local_ray, tmp_path):
    spec = make(tmp_path, steps=4000)
    out = tmp_path / "out"
    out.mkdir()
    victim, broken = spec.runs[0], spec.runs[3]
    (out / broken.filename).mkdir()  # its recording cannot be made: that run raises
    result: dict = {}
    th = threading.Thread(target=lambda: result.setdefault("rows", run_sweep(spec, out, retries=2)))
    th.start()
    marker = out / (victim.run_id + ".running")
    rec_path = out / victim.filename
    wait_for(lambda: marker.exists() and rec_path.exists() and rec_path.stat().st_size > 100_000,
             what="the first run to be recording")
    pid = json.loads(marker.read_text())["pid"]
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    th.join(timeout=240)
    assert not th.is_alive()
    rows = {r["run"]: r for r in result["rows"]}
    assert rows[victim.run_id]["status"] == "done" and rows[victim.run_id]["attempt"] == 2
    with open_recording(rec_path) as rec:
        assert rec.complete and len(rec) == 4000
    b = rows[broken.run_id]
    assert b["status"] == "failed" and broken.filename in b["error"]
    assert [rows[r.run_id]["status"] for r in spec.runs[1:3]] == ["done", "done"]
    _, index = read_index(out / "sweep.csv")
    assert [r["status"] for r in index] == ["done", "done", "done", "failed"]


def test_stop_closes_running_recordings_and_leaves_an_honest_index(local_ray, tmp_path):
    spec = make(tmp_path, steps=200_000)
    out = tmp_path / "out"
    stop = threading.Event()
    result: dict = {}
    th = threading.Thread(target=lambda: result.setdefault("rows", run_sweep(spec, out, stop=stop)))
    th.start()
    first = [out / r.filename for r in spec.runs[:2]]
    wait_for(lambda: all(p.exists() and p.stat().st_size > 200_000 for p in first), what="two runs recording")
    stop.set()  # what Ctrl-C does
    th.join(timeout=180)
    assert not th.is_alive()
    rows = result["rows"]
    assert [r["status"] for r in rows] == ["interrupted", "interrupted", "not run", "not run"]
    for r in rows[:2]:
        with open_recording(out / r["path"]) as rec:
            assert rec.complete  # closed by its writer
            assert 0 < len(rec) == r["frames"] < 200_000
    assert not (out / spec.runs[2].filename).exists()
    _, index = read_index(out / "sweep.csv")
    assert [r["status"] for r in index] == [r["status"] for r in rows]
    assert not (out / ".sweep-stop").exists()


def test_sweep_without_ray_says_how_to_install(tmp_path, monkeypatch, capsys):
    """Importing pcviz never needs Ray (tests/test_architecture.py checks that it is not
    loaded); `pcviz sweep` without it says how to install it."""
    import sys

    from pcviz.cli import main

    (tmp_path / "s.toml").write_text(GRID.format(steps=10, every=1))
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where it is not installed
    assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(tmp_path / "o")]) == 2
    assert "pip install 'pcviz[sweep]'" in capsys.readouterr().err


def test_a_node_that_does_not_see_out_fails_clearly(tmp_path):
    """What a cluster worker on a machine without the shared folder does: the sweep's
    token file is not there (or not the same), so the run fails saying why."""
    from pcviz.sweep.driver import TOKEN_FILE, _task

    spec = make(tmp_path, steps=10)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / TOKEN_FILE).write_text("another sweep")
    for folder in (tmp_path / "missing", tmp_path / "elsewhere"):
        res = _task(spec.runs[0], str(folder), 1, "cpu", "abc123")
        assert res.status == "failed"
        assert "storage every node sees" in res.error and str(folder) in res.error
    assert not (tmp_path / "missing").exists()


def test_ctrl_c_on_the_command(tmp_path):
    """SIGINT to `pcviz sweep`: exit 130, running recordings closed, an honest index."""
    import subprocess
    import sys

    (tmp_path / "s.toml").write_text(GRID.format(steps=200_000, every=1))
    out = tmp_path / "out"
    env = dict(os.environ, RAY_TMPDIR=tempfile.mkdtemp(prefix="pcvray"))
    p = subprocess.Popen([sys.executable, "-m", "pcviz", "sweep", str(tmp_path / "s.toml"), "--out", str(out),
                          "--workers", "2"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        spec = load_sweep(tmp_path / "s.toml")
        first = [out / r.filename for r in spec.runs[:2]]
        wait_for(lambda: all(f.exists() and f.stat().st_size > 200_000 for f in first) or p.poll() is not None,
                 what="two runs recording")
        assert p.poll() is None, p.stderr.read()
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=180)
    finally:
        if p.poll() is None:
            p.kill()
        shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)
    assert p.returncode == 130, err
    assert "stopping" in err
    _, rows = read_index(out / "sweep.csv")
    assert [r["status"] for r in rows] == ["interrupted", "interrupted", "not run", "not run"]
    for r in rows[:2]:
        with open_recording(r["path"]) as rec:
            assert rec.complete and len(rec) == r["frames"] > 0
