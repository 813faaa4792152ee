"""``pcviz bench``: the benchmark table. Every figure is measured side by side in the
same run and reported as a ratio (or a latency), with the median over repeats and
the min-max, because these machines are noisy. Nothing here is asserted in tests.

    pcviz bench [--quick] [--device auto|cpu|cuda] [--only pc,roofline,...] [--out report.json]

Sections: engine, roofline, pc (the PC step against a plain loop, its floor, and on
CUDA eager against a captured graph), scaling, recording, display, memory.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import torch

from pcviz.bench.timing import Measure
from pcviz.sim.threads import BENCH_THREADS, use_torch_threads

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
    "pc_vs_plain_supervised": ">= 1.5",
    "pc_vs_plain_generative": ">= 1.5",
    "pc_vs_plain_generative_linear_input": "(none)",
    "roofline_large": ">= 0.6",
    "default_step_vs_floor": "<= 1.5",
    "cuda_large_fraction_of_matmul_rate": ">= 0.5",
    "cuda_captured_vs_eager_batch_64": ">= 2",
}
SECTIONS = ("engine", "roofline", "pc", "scaling", "recording", "display", "memory")


def _fmt(m: dict | float | None, digits: int = 2) -> str:
    if m is None:
        return "n/a"
    if isinstance(m, dict):
        return f"{m['median']:.{digits}f} ({m['min']:.{digits}f}-{m['max']:.{digits}f})"
    return f"{m:.{digits}f}"


def run(quick: bool = False, device: str = "auto", log=print, display: bool = True,
        scaling_plot: str | None = None, only: set[str] | None = None) -> dict[str, Any]:
    """The benchmark report; ``only`` limits it to some of :data:`SECTIONS`."""
    from pcviz.bench import pc_speed
    from pcviz.sim import pick_device

    dev = pick_device(device)
    use_torch_threads(BENCH_THREADS)
    t_start = time.perf_counter()
    report: dict[str, Any] = {
        "device": str(dev), "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor()
        or platform.machine(), "torch": torch.__version__, "cpus": os.cpu_count(), "quick": quick, "goals": GOALS,
    }
    unknown = (only or set()) - set(SECTIONS)
    if unknown:
        raise ValueError(f"bench --only {','.join(sorted(unknown))}: unknown section (known: {', '.join(SECTIONS)})")

    def want(name: str) -> bool:
        return not only or name in only

    if want("engine"):
        _engine_section(report, dev, quick, log)
    if want("roofline"):
        _roofline_section(report, dev, quick, log)
    if want("pc"):
        log("2b. the PC step: against a plain torch loop of the same equations, its call floor, CUDA graphs")
        pc = pc_speed.run(dev, quick, log=log)
        report["pc_speed"] = pc
        report["pc_vs_plain_supervised"] = pc["pc_vs_plain_supervised"]["pc_vs_plain"]["median"]
        report["pc_vs_plain_generative"] = pc["pc_vs_plain_generative"]["pc_vs_plain"]["median"]
        report["pc_vs_plain_generative_linear_input"] = (
            pc["pc_vs_plain_generative_linear_input"]["pc_vs_plain"]["median"])
        report["default_step_vs_floor"] = pc["default_step_floor"]["step_vs_floor"]["median"]
        report["default_step_us"] = pc["default_step_floor"]["step_us"]["median"]
        if "cuda_graph" in pc:
            report["cuda_large_fraction_of_matmul_rate"] = \
                pc["cuda_graph"]["batch_4096"]["captured_fraction_of_matmul_rate"]["median"]
            report["cuda_captured_vs_eager_batch_64"] = pc["cuda_graph"]["batch_64"]["captured_vs_eager"]["median"]
            report["cuda_captured_vs_eager_batch_4096"] = \
                pc["cuda_graph"]["batch_4096"]["captured_vs_eager"]["median"]
    if want("scaling"):
        _scaling_section(report, dev, quick, log, scaling_plot)
    if want("recording"):
        _recording_section(report, quick, log)
    if want("display") and display:
        _display_section(report, dev, quick, log)
    if want("memory"):
        _memory_section(report, dev, quick, log)
    report["seconds"] = time.perf_counter() - t_start
    return report


def _engine_section(report: dict, dev: torch.device, quick: bool, log) -> None:
    from pcviz.bench import engine_overhead

    log("1. engine overhead: engine + display at 60 Hz + HDF5 recorder of every step, against a plain torch loop")
    eo = engine_overhead.measure(steps=1500 if quick else 6000, repeats=3 if quick else 7, device=str(dev))
    report["engine"] = eo
    report["engine_overhead_ratio"] = eo["engine_overhead_ratio"]["median"]
    log(f"   bare {_fmt(eo['bare_steps_per_s'], 0)} steps/s, engine {_fmt(eo['engine_steps_per_s'], 0)},"
        f" ratio {_fmt(eo['engine_overhead_ratio'])}; headless/bare {_fmt(eo['headless_ratio'])}")


def _roofline_section(report: dict, dev: torch.device, quick: bool, log) -> None:
    from pcviz.bench import roofline
    from pcviz.models import DataInfo, PCConfig, PCModel
    from pcviz.sim import Engine, load_preset

    log("2. distance from the matmul limit (counted matmul FLOPs of one inference step / time, against a"
        " plain matmul timed in the same round)")
    cfg = load_preset("digits-pc")
    nets = [("digits-pc", Engine(cfg, device=str(dev)).model)]
    batches = [256] if dev.type == "cpu" else [256, 4096]
    for batch in batches:
        big = PCModel(PCConfig(sizes=[784, 1024, 1024, 10], activation="tanh", preconditioner="diagonal"),
                      DataInfo(784, (28, 28)), dev)
        big.set_batch(torch.rand(batch, 784, device=dev), None, False)
        nets.append((f"[784, 1024, 1024, 10] batch {batch}", big))
    flops = [roofline.step_flops(model) for _, model in nets]
    rounds = 3 if quick else 5
    peaks: list[float] = []
    times: list[list[float]] = [[] for _ in nets]
    for _ in range(rounds):  # the machine's rate drifts: each round pairs a peak with the step times
        peaks.append(roofline.matmul_flops_per_second(dev, repeats=1)[0])
        for k, (_, model) in enumerate(nets):
            times[k].append(roofline.step_time(model, n=10 if quick else 30, repeats=1)[0])
    roof = {"peak_matmul_gflops": Measure([p / 1e9 for p in peaks]).as_dict(), "nets": []}
    for (name, _), f, ts in zip(nets, flops, times):
        frac = Measure([f / t / p for t, p in zip(ts, peaks)])
        t = Measure(ts).median
        roof["nets"].append({"net": name, "flops_per_step": f, "step_ms": t * 1e3, "gflops": f / t / 1e9,
                             "fraction_of_peak": frac.median, "fraction_of_peak_spread": frac.as_dict()})
        log(f"   {name}: {f / 1e6:.2f} MFLOP/step, {t * 1e3:.3f} ms/step, {f / t / 1e9:.1f} GFLOP/s ="
            f" {_fmt(frac.as_dict())} of a plain matmul's rate ({_fmt(roof['peak_matmul_gflops'], 0)} GFLOP/s)")
    report["roofline"] = roof
    report["roofline_large"] = roof["nets"][1]["fraction_of_peak"]  # [784, 1024, 1024, 10] at batch 256


def _scaling_section(report: dict, dev: torch.device, quick: bool, log, scaling_plot: str | None) -> None:
    from pcviz.bench import scaling

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


def _recording_section(report: dict, quick: bool, log) -> None:
    from pcviz.bench import recording

    log("4. recorder and reader")
    rec = recording.run(quick=True if quick else False, size_mb=128 if quick else 1024,
                        steps=500 if quick else 3000, log=lambda s: log("   " + s))
    report["recording"] = rec
    ratios = [r["ratio"] for r in rec["throughput"]]
    report["recorder_vs_raw_ratio"] = ratios[0]
    cold = [r.get("cold", r.get("warm")) for r in rec["random_access"]]
    report["seek_p95_ms"] = cold[0]["p95_ms"] if cold and cold[0] else None
    report["dropped_frames"] = sum(r.get("dropped", 0) for r in rec["presets"])


def _display_section(report: dict, dev: torch.device, quick: bool, log) -> None:
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


def _memory_section(report: dict, dev: torch.device, quick: bool, log) -> None:
    from pcviz.bench import memory

    log("6. memory: resident set over a long run with recording and a display consumer")
    mem = memory.measure(steps=20_000 if quick else 100_000, device=str(dev))
    report["memory"] = mem
    report["rss_growth"] = mem["rss_growth"]
    log(f"   {mem['rss_start_mb']:.0f} MB -> {mem['rss_end_mb']:.0f} MB after {mem['steps']} steps"
        f" ({mem['rss_growth']:+.1%}), {mem['dropped']} frames dropped")


def table(report: dict[str, Any]) -> str:
    """The headline figures against their goals (figures of sections not run: n/a)."""
    out = [f"pcviz bench on {report['device']} ({report['device_name']}, torch {report['torch']},"
           f" {report['cpus']} CPUs){' --quick' if report['quick'] else ''}", "",
           f"{'figure':<36} {'measured':>12}   goal", "-" * 60]
    for name, goal in GOALS.items():
        v = report.get(name)
        val = "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
        out.append(f"{name:<36} {val:>12}   {goal}")
    for n in report.get("roofline", {}).get("nets", []):
        out.append(f"{'matmul roofline':<36} {n['fraction_of_peak']:>12.1%}   ({n['net']})")
    out.append(f"\n{report.get('seconds', 0):.0f} s in all")
    return "\n".join(out)
