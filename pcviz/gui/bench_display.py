"""Display benchmark of the live window (reported, not asserted).

Measures, in one run and side by side:
- the display frame rate: frames the window pulled and drew per second, offscreen,
  with the default preset running as fast as it can and all default panels visible;
- the engine's steps per second with the window open divided by its steps per second
  headless (the engine thread alone), alternating the two conditions.

    QT_QPA_PLATFORM=offscreen python -m pcviz.gui.bench_display [--preset digits-pc]
        [--seconds 6] [--rounds 2] [--out report.json]

Goals of the issue: at least 60 fps and a ratio of at least 0.8.
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
    def __init__(self):
        super().__init__()
        self.count = 0

    def eventFilter(self, obj, ev):  # noqa: N802 (Qt's name)
        if ev.type() == QtCore.QEvent.Type.Paint:
            self.count += 1
        return False


def window_rate(app, preset: str, overrides: list[str], seconds: float, device: str) -> dict:
    from pcviz.gui.app import open_engine
    from pcviz.gui.window.main_window import MainWindow

    bridge = open_engine(preset, device, overrides)
    win = MainWindow(bridge, theme="light", persist=False, restore=False)
    win.resize(1920, 1080)
    win.default_layout()
    win.show()
    counter = PaintCounter()
    win.hierarchy.canvas.installEventFilter(counter)
    bridge.start(play=True)
    marks: dict[str, tuple] = {}

    def mark(name: str) -> None:
        marks[name] = (bridge.engine.step_count, time.perf_counter(), time.thread_time(),
                       counter.count, frames[0], thread_cpu(bridge.engine._thread.native_id))

    frames = [0]
    bridge.frame_ready.connect(lambda f: frames.__setitem__(0, frames[0] + 1))
    QtCore.QTimer.singleShot(500, lambda: mark("start"))
    QtCore.QTimer.singleShot(int(500 + seconds * 1000), lambda: (mark("end"), app.quit()))
    app.exec()
    win.close()
    (s0, t0, g0, p0, f0, e0), (s1, t1, g1, p1, f1, e1) = marks["start"], marks["end"]
    dt = t1 - t0
    visible = [k for k, d in win.docks.items() if d.isVisible()] + ["hierarchy"]
    return {"steps_per_second": (s1 - s0) / dt, "display_fps": (f1 - f0) / dt,
            "hierarchy_paints_per_second": (p1 - p0) / dt, "gui_thread_cpu": (g1 - g0) / dt,
            "engine_thread_cpu": (e1 - e0) / dt, "panels": sorted(visible)}


def measure(preset: str = "digits-pc", seconds: float = 6.0, rounds: int = 2, device: str = "cpu",
            log=print) -> dict:
    """Alternate headless and windowed runs; display fps and the steps/s ratio."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["bench_display"])
    overrides = preset_overrides(preset)
    headless, windowed = [], []
    for r in range(rounds):  # alternate, so drifts of a shared machine hit both
        headless.append(headless_rate(preset, overrides, seconds, device))
        windowed.append(window_rate(app, preset, overrides, seconds, device))
        hd, wd = headless[-1], windowed[-1]
        log(f"round {r + 1}: headless {hd['steps_per_second']:.0f} steps/s (engine thread "
            f"{hd['engine_thread_cpu']:.2f} cpu); window {wd['steps_per_second']:.0f} steps/s "
            f"(engine thread {wd['engine_thread_cpu']:.2f} cpu, GUI thread {wd['gui_thread_cpu']:.2f} cpu) "
            f"at {wd['display_fps']:.1f} fps ({wd['hierarchy_paints_per_second']:.1f} hierarchy paints/s)")
    ratios = [w["steps_per_second"] / h["steps_per_second"] for h, w in zip(headless, windowed)]
    fps = [w["display_fps"] for w in windowed]
    return {
        "preset": preset, "overrides": overrides, "device": device, "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(), "platform": platform.platform(),
        "qt_platform": os.environ.get("QT_QPA_PLATFORM", ""), "seconds": seconds, "rounds": rounds,
        "headless": headless, "window": windowed,
        "display_fps": statistics.median(fps), "display_fps_min_max": [min(fps), max(fps)],
        "gui_vs_headless_ratio": statistics.median(ratios), "gui_vs_headless_min_max": [min(ratios), max(ratios)],
        "goals": {"display_fps": 60, "gui_vs_headless_ratio": 0.8},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="digits-pc")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--out", default=None, help="write the report as JSON")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    report = measure(args.preset, args.seconds, args.rounds, args.device)
    print(f"display: {report['display_fps']:.1f} fps (goal 60); engine with window / headless: "
          f"{report['gui_vs_headless_ratio']:.2f} (goal 0.8)")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
