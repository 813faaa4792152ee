"""Display benchmark of the live window (reported, not asserted).

Measures, in one run and side by side:
- the display frame rate: frames the window pulled and drew per second, offscreen,
  with the default preset running as fast as it can and all default panels visible;
- the engine's steps per second with the window open divided by its steps per second
  headless (the engine thread alone), alternating the two conditions.

    QT_QPA_PLATFORM=offscreen python -m pcviz.gui.bench_display [--preset digits-pc]
        [--seconds 6] [--rounds 2] [--engine process,thread] [--out report.json]

Both kinds of live source are measured in the same run: the engine in its own
process (the window's default) and the engine thread in the window's process.
Goals: at least 60 fps, a ratio of at least 0.9, frame latency (engine step to painted
pixels) p95 at most 50 ms, and the first painted frame within 3 s of launching ``pcviz``
(measured on a new interpreter, :func:`startup_first_paint`; also reported from
opening the source in this one).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from PyQt6 import QtCore, QtWidgets

from pcviz.paths import resolve_resource
from pcviz.sim import Engine, load_preset
from pcviz.sim.commands import Play
from pcviz.sim.threads import BENCH_THREADS, use_torch_threads


def preset_overrides(name: str) -> list[str]:
    """Run at full speed; start from scratch when the preset's checkpoint is not here."""
    cfg = load_preset(name)
    out = ["engine.steps_per_second=0"]
    if cfg.engine.checkpoint and not resolve_resource(cfg.engine.checkpoint).exists():
        out.append("engine.checkpoint=''")
    return out


def thread_cpu(native_id: int) -> float:
    """CPU seconds (user + system) a thread of this process has used (Linux; else nan)."""
    try:
        fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def headless_rate(preset: str, overrides: list[str], seconds: float, device: str) -> dict:
    engine = Engine(load_preset(preset, overrides), device=device)
    engine.start(running=False)
    engine.submit(Play())
    time.sleep(0.5)  # warm-up
    tid = engine._thread.native_id
    s0, t0, c0 = engine.step_count, time.perf_counter(), thread_cpu(tid)
    time.sleep(seconds)
    s1, t1, c1 = engine.step_count, time.perf_counter(), thread_cpu(tid)
    engine.stop()
    return {"steps_per_second": (s1 - s0) / (t1 - t0), "engine_thread_cpu": (c1 - c0) / (t1 - t0)}


class PaintCounter(QtCore.QObject):
    """Counts the hierarchy's paints; at each, the latency of the frame it shows (engine
    step to painted pixels: the paint's time minus the step's, both on the machine's
    monotonic clock, which the engine process shares)."""

    def __init__(self, source, t_open: float):
        super().__init__()
        self.count = 0
        self.source = source
        self.t0 = None  # the engine's clock origin (perf_counter) once known
        self.t_open = t_open
        self.first_paint: float | None = None
        self.latencies: list[float] = []
        self.record = False

    def eventFilter(self, obj, ev):  # noqa: N802 (Qt's name)
        if ev.type() == QtCore.QEvent.Type.Paint:
            self.count += 1
            f = self.source.last_frame
            if f is not None:
                now = time.perf_counter()
                if self.first_paint is None:
                    self.first_paint = now - self.t_open
                if self.record and self.t0 is not None:
                    self.latencies.append(now - (self.t0 + f.wall))
        return False


class _FirstPaint(QtCore.QObject):
    def __init__(self, app, source):
        super().__init__()
        self.app, self.source, self.done = app, source, False

    def eventFilter(self, obj, ev):  # noqa: N802 (Qt's name)
        if not self.done and ev.type() == QtCore.QEvent.Type.Paint and self.source.last_frame is not None:
            self.done = True
            # after this paint returns: the frame's pixels are drawn
            QtCore.QTimer.singleShot(0, self._said)
        return False

    def _said(self) -> None:
        print(f"pcviz first paint {time.perf_counter():.6f}", flush=True)
        self.app.quit()


def exit_at_first_paint(app, win) -> None:
    """``pcviz`` with ``PCVIZ_EXIT_AT_FIRST_PAINT=1``: print the monotonic clock (which
    every process of the machine shares) when the hierarchy first paints a frame, and
    quit: :func:`startup_first_paint` measures from before the interpreter starts."""
    win._first_paint_filter = _FirstPaint(app, win.source)
    win.hierarchy.canvas.installEventFilter(win._first_paint_filter)


def startup_first_paint(preset: str, overrides: list[str], kind: str, device: str, timeout: float = 300.0) -> float:
    """Seconds from launching ``pcviz --preset P --engine KIND`` (a new interpreter,
    offscreen) to its first painted frame: the issue's "time from pcviz to first frame"."""
    import subprocess
    import sys
    import tempfile

    sets = [a for o in overrides for a in ("--set", o)]
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PCVIZ_EXIT_AT_FIRST_PAINT="1", HOME=home,
                   XDG_CONFIG_HOME=home)
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pcviz", "--preset", preset, "--engine", kind,
                               "--device", device, *sets], env=env, capture_output=True, text=True, timeout=timeout)
    for line in done.stdout.splitlines():
        if line.startswith("pcviz first paint "):
            return float(line.split()[-1]) - t0
    raise RuntimeError(f"pcviz --engine {kind} painted no frame (exit {done.returncode}): {done.stderr[-1500:]}")


def _open(kind: str, preset: str, overrides: list[str], device: str):
    """A started source on a new engine: "thread" (in this process) or "process"."""
    from pcviz.gui.app import open_engine, open_engine_process

    if kind == "process":
        src = open_engine_process(preset, device, overrides)
        return src, src.proc.engine_t0
    src = open_engine(preset, device, overrides)
    return src, src.engine.events.t0


def window_rate(app, preset: str, overrides: list[str], seconds: float, device: str, kind: str = "thread") -> dict:
    from pcviz.gui.window.main_window import MainWindow

    t_open = time.perf_counter()
    source, t0 = _open(kind, preset, overrides, device)
    win = MainWindow(source, theme="light", persist=False, restore=False)
    win.resize(1920, 1080)
    win.default_layout()
    win.show()
    counter = PaintCounter(source, t_open)
    counter.t0 = t0
    win.hierarchy.canvas.installEventFilter(counter)
    source.start(play=True)
    marks: dict[str, tuple] = {}

    def step() -> int:
        f = source.last_frame
        return -1 if f is None else f.step  # the newest step shown (the same measure for both kinds)

    def engine_cpu() -> float:
        if kind == "process":
            return process_cpu(source.pid)
        return thread_cpu(source.engine._thread.native_id)

    def mark(name: str) -> None:
        marks[name] = (step(), time.perf_counter(), time.thread_time(), counter.count, frames[0], engine_cpu())
        counter.record = name == "start"

    frames = [0]
    source.frame_ready.connect(lambda f: frames.__setitem__(0, frames[0] + 1))
    QtCore.QTimer.singleShot(1000, lambda: mark("start"))
    QtCore.QTimer.singleShot(int(1000 + seconds * 1000), lambda: (mark("end"), app.quit()))
    app.exec()
    win.close()
    (s0, t0_, g0, p0, f0, e0), (s1, t1, g1, p1, f1, e1) = marks["start"], marks["end"]
    dt = t1 - t0_
    visible = [k for k, d in win.docks.items() if d.isVisible()] + ["hierarchy"]
    lat = sorted(counter.latencies)
    return {"engine": kind, "steps_per_second": (s1 - s0) / dt, "display_fps": (f1 - f0) / dt,
            "hierarchy_paints_per_second": (p1 - p0) / dt, "gui_thread_cpu": (g1 - g0) / dt,
            "engine_cpu": (e1 - e0) / dt, "panels": sorted(visible),
            "latency_p50_ms": 1e3 * lat[len(lat) // 2] if lat else None,
            "latency_p95_ms": 1e3 * lat[int(0.95 * (len(lat) - 1))] if lat else None,
            "first_paint_s": counter.first_paint}


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used (Linux; else nan)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(preset: str = "digits-pc", seconds: float = 6.0, rounds: int = 2, device: str = "cpu",
            log=print, kinds: tuple[str, ...] = ("process", "thread")) -> dict:
    """Alternate headless and windowed runs (the window on each kind of engine source);
    display fps, the steps/s ratio, frame latency and the time to the first painted
    frame. The headline figures are those of the first kind (the window's default)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["bench_display"])
    overrides = preset_overrides(preset)
    headless: list[dict] = []
    windowed: dict[str, list[dict]] = {k: [] for k in kinds}
    for r in range(rounds):  # alternate, so drifts of a shared machine hit every condition
        headless.append(headless_rate(preset, overrides, seconds, device))
        hd = headless[-1]
        log(f"round {r + 1}: headless {hd['steps_per_second']:.0f} steps/s (engine thread "
            f"{hd['engine_thread_cpu']:.2f} cpu)")
        for kind in kinds:
            windowed[kind].append(window_rate(app, preset, overrides, seconds, device, kind))
            wd = windowed[kind][-1]
            wd["startup_first_paint_s"] = startup_first_paint(preset, overrides, kind, device)
            log(f"  window, engine {kind}: {wd['steps_per_second']:.0f} steps/s (engine {wd['engine_cpu']:.2f} cpu,"
                f" GUI thread {wd['gui_thread_cpu']:.2f} cpu) at {wd['display_fps']:.1f} fps; latency p95 "
                f"{_ms(wd['latency_p95_ms'])}; first paint {wd['first_paint_s'] or float('nan'):.2f} s after opening"
                f" the source, {wd['startup_first_paint_s']:.2f} s after launching pcviz")
    per_kind = {}
    for kind, runs in windowed.items():
        ratios = [w["steps_per_second"] / h["steps_per_second"] for h, w in zip(headless, runs)]
        fps = [w["display_fps"] for w in runs]
        p95 = [w["latency_p95_ms"] for w in runs if w["latency_p95_ms"] is not None]
        first = [w["first_paint_s"] for w in runs if w["first_paint_s"] is not None]
        per_kind[kind] = {
            "display_fps": statistics.median(fps), "display_fps_min_max": [min(fps), max(fps)],
            "gui_vs_headless_ratio": statistics.median(ratios), "gui_vs_headless_min_max": [min(ratios), max(ratios)],
            "latency_p95_ms": statistics.median(p95) if p95 else None,
            "first_paint_s": statistics.median(first) if first else None,
            "startup_first_paint_s": statistics.median(w["startup_first_paint_s"] for w in runs),
        }
    head = per_kind[kinds[0]]
    return {
        "preset": preset, "overrides": overrides, "device": device, "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(), "platform": platform.platform(),
        "qt_platform": os.environ.get("QT_QPA_PLATFORM", ""), "seconds": seconds, "rounds": rounds,
        "headless": headless, "window": windowed, "by_engine": per_kind, "engine": kinds[0],
        **head,
        "goals": {"display_fps": 60, "gui_vs_headless_ratio": 0.9, "latency_p95_ms": 50, "first_paint_s": 3},
    }


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="digits-pc")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=BENCH_THREADS, help=f"torch threads (default {BENCH_THREADS})")
    ap.add_argument("--engine", default="process,thread",
                    help="engine sources to compare, the first is the headline (default process,thread)")
    ap.add_argument("--out", default=None, help="write the report as JSON")
    args = ap.parse_args(argv)
    use_torch_threads(args.threads)
    report = measure(args.preset, args.seconds, args.rounds, args.device,
                     kinds=tuple(k.strip() for k in args.engine.split(",") if k.strip()))
    for kind, m in report["by_engine"].items():
        print(f"engine {kind}: display {m['display_fps']:.1f} fps (goal 60); engine with window / headless "
              f"{m['gui_vs_headless_ratio']:.2f} (goal 0.9); latency p95 {_ms(m['latency_p95_ms'])} (goal 50 ms);"
              f" first paint {m['first_paint_s'] or float('nan'):.2f} s after opening the source,"
              f" {m['startup_first_paint_s']:.2f} s after launching pcviz (goal 3 s)")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
