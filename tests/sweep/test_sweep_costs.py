"""Where a sweep's time goes: each run's CPU time, the sweep's phases, Ray's
shutdown without its wait on the autoscaler monitor, and the benchmark's CPU
accounting of child processes (checked against the child's own count). No wall-clock
figure is asserted here; the speed itself is `pcviz bench --sweep`'s business (not run
in the suite: it starts Ray twice and takes minutes on a loaded machine)."""

import subprocess
import sys
import tempfile
import time

import pytest

from pcviz.bench import proc_cpu
from pcviz.sweep import SweepTimings, parse_sweep, run_one

SMALL = """
[sweep]
preset = "digits-pc-scratch"
seeds = [0, 1]
steps = {steps}
every = 5

[sweep.set]
"data.batch_size" = 8
"data.hold_steps" = 20
"""


def small(tmp_path, steps=200):
    p = tmp_path / "s.toml"
    p.write_text(SMALL.format(steps=steps))
    return parse_sweep(p.read_text(), p)


def test_a_run_reports_its_cpu_time(tmp_path):
    spec = small(tmp_path)
    before_wall, before_cpu = time.time(), time.thread_time()
    res = run_one(spec.runs[0], tmp_path)
    thread_cpu = time.thread_time() - before_cpu
    assert res.status == "done", res.error
    assert before_wall <= res.started <= time.time()
    # the run's thread is this one: its CPU is part of what this thread spent meanwhile
    assert 0 < res.cpu_seconds <= thread_cpu + 1e-3
    # one thread cannot use more CPU than wall time; the process adds the recorder's thread
    assert res.cpu_seconds <= res.seconds + 0.02
    assert res.cpu_seconds <= res.process_cpu_seconds + 0.02


def test_descendant_cpu_agrees_with_the_childs_own_count(tmp_path):
    """A child that burns CPU says how much it used (its own process clock); the /proc
    sampling must find the same, under the child's script name."""
    if not proc_cpu.available():
        pytest.skip("no /proc on this system")
    script = tmp_path / "burn.py"
    script.write_text("import sys, time\n"
                      "while time.process_time() < 0.4:\n    pass\n"
                      "print(time.process_time(), flush=True)\nsys.stdin.readline()\n")
    p = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        own = float(p.stdout.readline())
        cpu = proc_cpu.DescendantCPU()
        cpu.sample()
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    assert own >= 0.4
    assert cpu.by_name()["burn.py"] == pytest.approx(own, abs=0.05)  # /proc counts in clock ticks
    assert cpu.by_kind()["services"] == pytest.approx(own, abs=0.05) and cpu.by_kind()["workers"] == 0


def test_a_local_sweep_times_its_phases_and_stops_ray_fully(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    import pcviz.sweep.driver as driver

    if ray.is_initialized():
        pytest.skip("Ray is already running in this process")
    spec = small(tmp_path, steps=100)
    found = []
    real = driver.local_ray_monitor
    monkeypatch.setattr(driver, "local_ray_monitor", lambda: found.append(real()) or found[-1])
    cpu = proc_cpu.DescendantCPU()
    tm = SweepTimings()
    t0 = time.perf_counter()
    rows = driver.run_sweep(spec, tmp_path / "out", workers=2, timings=tm, ray_temp_dir=tempfile.mkdtemp(prefix="pcvray"),
                            on_update=lambda p, r: cpu.sample())
    wall = time.perf_counter() - t0
    assert [r["status"] for r in rows] == ["done", "done"]
    assert all(r["cpu_seconds"] > 0 for r in rows)
    # the phases are parts of the whole, in the order they happen
    assert 0 < tm.total_s <= wall
    assert tm.prepare_s + tm.ray_start_s + tm.runs_s + tm.shutdown_s <= tm.total_s + 1e-6
    assert tm.ray_start_s > 0 and tm.shutdown_s > 0
    assert len(tm.run_waits) == 2 and 0 <= tm.first_run_wait_s <= tm.runs_s
    assert tm.first_run_wait_s <= max(tm.run_waits)
    # the installed Ray keeps its autoscaler monitor where shutdown_local_ray looks for it
    assert len(found) == 1 and found[0] is not None, "Ray's monitor process was not found: shutdown waits 1 s"
    assert found[0].poll() is not None
    assert not ray.is_initialized()
    # Ray's services ran under this process, and none of them is left
    assert {"raylet", "gcs_server"} <= set(cpu.by_name())
    left = proc_cpu.DescendantCPU()

    def gone() -> bool:
        left.seen.clear()
        left.sample()
        return not {"raylet", "gcs_server", "monitor.py"} & set(left.by_name())

    t_end = time.monotonic() + 60
    while not gone():
        assert time.monotonic() < t_end, f"Ray processes left after the sweep: {left.by_name()}"
        time.sleep(0.1)
