"""``pcviz bench``: the benchmark table. Every figure is measured side by side in the
same run and reported as a ratio (or a latency), with the median over repeats and
the min-max, because these machines are noisy. Nothing here is asserted in tests.

    pcviz bench [--quick] [--device auto|cpu|cuda] [--out report.json]
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import torch

GOALS = {
    "engine_overhead_ratio": ">= 0.95",
    "recorder_vs_raw_ratio": ">= 0.8",
    "seek_p95_ms": "< 5",
    "display_fps": ">= 60",
    "gui_vs_headless_ratio": ">= 0.9",
    "frame_latency_p95_ms": "<= 50",
    "first_paint_s": "<= 3",
    "rss_growth": "< 0.05",
    "dropped_frames": "0",
}


def _fmt(m: dict | float | None, digits: int = 2) -> str:
    if m is None:
        return "n/a"
    if isinstance(m, dict):
        return f"{m['median']:.{digits}f} ({m['min']:.{digits}f}-{m['max']:.{digits}f})"
    return f"{m:.{digits}f}"


def run(quick: bool = False, device: str = "auto", log=print, display: bool = True,
        scaling_plot: str | None = None) -> dict[str, Any]:
    from pcviz.bench import engine_overhead, memory, recording, roofline, scaling
    from pcviz.models import DataInfo, PCConfig, PCModel
    from pcviz.sim import Engine, load_preset, pick_device

    dev = pick_device(device)
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    report: dict[str, Any] = {
        "device": str(dev), "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor()
        or platform.machine(), "torch": torch.__version__, "cpus": os.cpu_count(), "quick": quick, "goals": GOALS,
    }

    log("1. engine overhead: engine + display at 60 Hz + HDF5 recorder of every step, against a plain torch loop")
    eo = engine_overhead.measure(steps=1500 if quick else 6000, repeats=3 if quick else 7, device=str(dev))
    report["engine"] = eo
    report["engine_overhead_ratio"] = eo["engine_overhead_ratio"]["median"]
    log(f"   bare {_fmt(eo['bare_steps_per_s'], 0)} steps/s, engine {_fmt(eo['engine_steps_per_s'], 0)},"
        f" ratio {_fmt(eo['engine_overhead_ratio'])}; headless/bare {_fmt(eo['headless_ratio'])}")

    log("2. distance from the matmul limit (counted matmul FLOPs of one inference step / time)")
    peak = roofline.matmul_flops_per_second(dev, repeats=3)
    peak_med = sorted(peak)[len(peak) // 2]
    roof = {"peak_matmul_gflops": peak_med / 1e9, "nets": []}
    cfg = load_preset("digits-pc")
    nets = [("digits-pc", Engine(cfg, device=str(dev)).model)]
    big_sizes, big_batch = ([784, 1024, 1024, 10], 256) if quick or dev.type == "cpu" else ([784, 1024, 1024, 10], 4096)
    big = PCModel(PCConfig(sizes=big_sizes, activation="tanh", preconditioner="diagonal"), DataInfo(784, (28, 28)), dev)
    big.set_batch(torch.rand(big_batch, 784, device=dev), None, False)
    nets.append((f"{big_sizes} batch {big_batch}", big))
    for name, model in nets:
        flops = roofline.step_flops(model)
        times = roofline.step_time(model, n=20 if quick else 50, repeats=3)
        t = sorted(times)[len(times) // 2]
        roof["nets"].append({"net": name, "flops_per_step": flops, "step_ms": t * 1e3,
                             "gflops": flops / t / 1e9, "fraction_of_peak": flops / t / peak_med})
        log(f"   {name}: {flops / 1e6:.2f} MFLOP/step, {t * 1e3:.3f} ms/step, {flops / t / 1e9:.1f} GFLOP/s ="
            f" {flops / t / peak_med:.1%} of a plain matmul's {peak_med / 1e9:.0f} GFLOP/s")
    report["roofline"] = roof

    log("3. scaling: steps/s as batch, width and depth grow")
    sc = scaling.sweep(dev, quick=quick, min_time=0.1 if quick else 0.3)
    report["scaling"] = sc
    if scaling_plot:
        path = scaling.plot(sc, scaling_plot)
        report["scaling_plot"] = path
        log(f"   plot: {path}" if path else "   (matplotlib not installed: no plot)")
    for key in ("batch", "width", "depth"):
        pts = sc[key]
        log(f"   {key:<6}: " + ", ".join(
            f"{p['batch'] if key == 'batch' else (p['sizes'][0] if key == 'width' else len(p['sizes']))}:"
            f"{p['inference_steps_per_s']:.0f}" for p in pts) + " inference steps/s")

    log("4. recorder and reader")
    rec = recording.run(quick=True if quick else False, size_mb=128 if quick else 1024,
                        steps=500 if quick else 3000, log=lambda s: log("   " + s))
    report["recording"] = rec
    ratios = [r["ratio"] for r in rec["throughput"]]
    report["recorder_vs_raw_ratio"] = ratios[0]
    cold = [r.get("cold", r.get("warm")) for r in rec["random_access"]]
    report["seek_p95_ms"] = cold[0]["p95_ms"] if cold and cold[0] else None
    report["dropped_frames"] = sum(r.get("dropped", 0) for r in rec["presets"])

    if display:
        log("5. display (offscreen window, default preset, all default panels)")
        try:
            from pcviz.gui.bench_display import measure as measure_display
        except ImportError as exc:
            log(f"   skipped: the window is not available ({exc})")
        else:
            disp = measure_display(seconds=3 if quick else 6, rounds=1 if quick else 3, device=str(dev),
                                   log=lambda s: log("   " + s))
            report["display"] = disp
            report["display_fps"] = disp.get("display_fps")
            report["gui_vs_headless_ratio"] = disp.get("gui_vs_headless_ratio")
            report["frame_latency_p95_ms"] = disp.get("latency_p95_ms")
            report["first_paint_s"] = disp.get("first_paint_s")
            for kind, m in disp["by_engine"].items():
                log(f"   engine {kind}: {_fmt(m['display_fps'], 1)} fps; engine with the window / headless:"
                    f" {_fmt(m['gui_vs_headless_ratio'])}; frame latency p95 {_fmt(m['latency_p95_ms'], 0)} ms;"
                    f" first paint {_fmt(m['first_paint_s'])} s")

    log("6. memory: resident set over a long run with recording and a display consumer")
    mem = memory.measure(steps=20_000 if quick else 100_000, device=str(dev))
    report["memory"] = mem
    report["rss_growth"] = mem["rss_growth"]
    log(f"   {mem['rss_start_mb']:.0f} MB -> {mem['rss_end_mb']:.0f} MB after {mem['steps']} steps"
        f" ({mem['rss_growth']:+.1%}), {mem['dropped']} frames dropped")
    report["seconds"] = time.perf_counter() - t_start
    return report


def table(report: dict[str, Any]) -> str:
    rows = [
        ("engine_overhead_ratio", report.get("engine_overhead_ratio")),
        ("recorder_vs_raw_ratio", report.get("recorder_vs_raw_ratio")),
        ("seek_p95_ms", report.get("seek_p95_ms")),
        ("display_fps", report.get("display_fps")),
        ("gui_vs_headless_ratio", report.get("gui_vs_headless_ratio")),
        ("frame_latency_p95_ms", report.get("frame_latency_p95_ms")),
        ("first_paint_s", report.get("first_paint_s")),
        ("rss_growth", report.get("rss_growth")),
        ("dropped_frames", report.get("dropped_frames")),
    ]
    out = [f"pcviz bench on {report['device']} ({report['device_name']}, torch {report['torch']},"
           f" {report['cpus']} CPUs){' --quick' if report['quick'] else ''}", "",
           f"{'figure':<24} {'measured':>12}   goal", "-" * 48]
    for name, v in rows:
        val = "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
        out.append(f"{name:<24} {val:>12}   {GOALS[name]}")
    for n in report.get("roofline", {}).get("nets", []):
        out.append(f"{'matmul roofline':<24} {n['fraction_of_peak']:>12.1%}   ({n['net']})")
    out.append(f"\n{report.get('seconds', 0):.0f} s in all")
    return "\n".join(out)
