"""Steps/s of inference and of learning as batch size, layer width and depth grow,
with the expected cost (linear in batch x sum of n_l n_{l+1}) beside it."""

from __future__ import annotations

import time
from dataclasses import replace

import torch

from pcviz.models import DataInfo, PCConfig, PCModel


def _rate(model: PCModel, x: torch.Tensor, learning: bool, min_time: float, hold: int = 10) -> float:
    model.set_batch(x, None, learning)
    model.step(learning)
    n, t0 = 0, time.perf_counter()
    while True:
        model.step(learning)
        n += 1
        if learning and n % hold == 0:
            model.end_hold(True)
        if n >= 3 and time.perf_counter() - t0 >= min_time:
            break
    if model.device.type == "cuda":
        torch.cuda.synchronize(model.device)
    return n / (time.perf_counter() - t0)


def matmul_work(sizes: list[int], batch: int) -> int:
    return batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def sweep(device: torch.device, quick: bool, min_time: float = 0.2) -> dict:
    """Three sweeps around a base network; each point: sizes, batch, work, steps/s."""
    base_batch, base_width, base_depth = (16, 128, 3) if quick else (64, 256, 3)
    batches = [1, 16, 256] if quick else [1, 4, 16, 64, 256, 1024, 4096]
    widths = [64, 256, 1024] if quick else [64, 128, 256, 512, 1024, 2048, 4096]
    depths = [2, 4, 8] if quick else [2, 3, 4, 6, 8]
    base_cfg = PCConfig(activation="tanh", input_activation="linear", precision="scalar",
                        preconditioner="diagonal", dt=0.1)

    def point(width: int, depth: int, batch: int) -> dict:
        sizes = [width] * depth
        cfg = replace(base_cfg, sizes=sizes)
        model = PCModel(cfg, DataInfo(width, (width,)), device)
        x = torch.rand(batch, width, device=device)
        res = {"sizes": sizes, "batch": batch, "work": matmul_work(sizes, batch)}
        res["inference_steps_per_s"] = _rate(model, x, False, min_time)
        res["learning_steps_per_s"] = _rate(model, x, True, min_time)
        return res

    return {
        "batch": [point(base_width, base_depth, b) for b in batches],
        "width": [point(w, base_depth, base_batch) for w in widths],
        "depth": [point(base_width, d, base_batch) for d in depths],
    }


def plot(result: dict, path: str) -> str | None:
    """Log-log plot of steps/s against matmul work per step; the dashed line is the
    expected 1/work from the smallest point of each sweep. None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), constrained_layout=True)
    for ax, key, label in zip(axes, ("batch", "width", "depth"), ("batch size", "layer width", "depth (layers)")):
        pts = result[key]
        xs = [p["batch"] if key == "batch" else (p["sizes"][0] if key == "width" else len(p["sizes"])) for p in pts]
        for q, style in (("inference_steps_per_s", "o-"), ("learning_steps_per_s", "s-")):
            ys = [p[q] for p in pts]
            ax.plot(xs, ys, style, label=q.replace("_steps_per_s", ""))
        # expected: rate ∝ 1/work, anchored at the largest point (where overheads matter least)
        ref = pts[-1]
        ax.plot(xs, [ref["inference_steps_per_s"] * ref["work"] / p["work"] for p in pts], "k--", lw=1,
                label="expected ∝ 1/(batch·Σ n_l n_{l+1})")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("steps/s")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("pcviz PC inference and learning: steps/s as the network grows")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
