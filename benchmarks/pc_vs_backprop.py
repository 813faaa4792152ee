"""Predictive coding ≈ backprop (issue 15's acceptance): discriminative PC and its
backprop twin (the same MLP, the same initial weights, SGD at the same rate on the same
batches) after the same number of epochs, on the held-out digits.

    python benchmarks/pc_vs_backprop.py [--epochs 20] [--seeds 0,1,2] [--cost]

The preset ``digits-discriminative`` without its schedule: 64 → 32 → 32 → 10 (tanh,
linear output), batches of 32 of the 1,437 training digits (45 per epoch), 40 inference
steps per batch at dt 1.9 (``preconditioner = "bound"``), learning rate 0.1, hidden
precisions 1000. Rows: the output precision γ against the hidden ones, γ / Π_hidden =
1e-3 (the preset), 1 and 10, with the learning rate divided by γ (both nets' gradients
scale with γ, so backprop takes the same steps in every row).

PC's held-out accuracy is read from its own inference (the held-out set presented with
learning off, the label layer free, one hold); backprop's from the twin's forward pass.
``bp_cosine`` is the per-layer cosine of PC's update with backprop's gradient on the
same batch and state (layer 0 is the output weights), min and mean over the per-epoch
readings; ``|ΔW|`` the largest relative distance between PC's weights and the twin's
at the end.

``--cost``: the twin's price, the preset's steps with and without ``backprop_twin``
(and its held-out measurement), timed alternately, 7 repeats of 2 epochs each; the
ratio of the medians.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pcviz.sim.engine import Engine  # noqa: E402
from pcviz.sim.presets import load_preset  # noqa: E402

HOLDS_PER_EPOCH = 45  # 1,437 training digits / 32 per batch, rounded up


def pc_inferred_accuracy(e: Engine) -> float:
    m = e.model
    x, labels = torch.from_numpy(e.test_data.x), torch.from_numpy(e.test_data.labels)
    m.set_batch(x, labels, learning=False)
    for _ in range(e.config.data.hold_steps):
        m.step(learning=False)
    return float((m.x[0].argmax(1) == labels).float().mean())


def run(ratio: float, epochs: int, seed: int) -> dict:
    cfg = load_preset("digits-discriminative", [f"engine.seed={seed}"])
    cfg.interventions = []  # the schedule's precision rise is a demo, not part of the measurement
    gamma = ratio * cfg.model.precision_init
    cfg.model.label_precision = gamma
    cfg.model.lr_weights = cfg.model.lr_weights / gamma
    e = Engine(cfg, "cpu")
    cos = []
    for _ in range(epochs):
        e.run_steps(HOLDS_PER_EPOCH * cfg.data.hold_steps)
        cos.append(e.model.bp_cosine.numpy().copy())
    twin = e.model.twin
    bp_acc = float((twin.predict(torch.from_numpy(e.test_data.x)).argmax(1)
                    == torch.from_numpy(e.test_data.labels)).float().mean())
    dist = max(float((a - b.detach()).norm() / b.detach().norm()) for a, b in zip(e.model.W, twin.W))
    return {"pc": pc_inferred_accuracy(e), "bp": bp_acc, "cos": np.array(cos), "dist": dist,
            "holds": twin.steps, "n": len(e.test_data.x)}


def cost(repeats: int = 7) -> None:
    import time

    times: dict[bool, list[float]] = {True: [], False: []}
    engines = {twin: Engine(load_preset("digits-discriminative", [f"model.backprop_twin={str(twin).lower()}"]), "cpu")
               for twin in (True, False)}
    for e in engines.values():
        e.config.interventions = []
        e.run_steps(HOLDS_PER_EPOCH * 40)  # warm up
    for _ in range(repeats):
        for twin, e in engines.items():
            t = time.perf_counter()
            e.run_steps(2 * HOLDS_PER_EPOCH * 40)
            times[twin].append(time.perf_counter() - t)
    on, off = np.median(times[True]), np.median(times[False])
    print(f"steps with the twin / without: {on / off:.3f} (medians of {repeats}: {on:.2f} s and {off:.2f} s"
          f" for {2 * HOLDS_PER_EPOCH * 40} steps)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--cost", action="store_true", help="time the steps with and without the twin instead")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.cost:
        cost()
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"{args.epochs} epochs ({HOLDS_PER_EPOCH} batches of 32 each) for both nets; held-out digits")
    print(f"{'γ/Π_hidden':>10} {'seed':>4} {'PC acc':>7} {'BP acc':>7} {'PC−BP':>7}  "
          f"{'bp_cosine min (layers 0,1,2)':>30}  {'mean':>24}  {'|ΔW|':>6}")
    for ratio in (1e-3, 1.0, 10.0):
        diffs = []
        for seed in seeds:
            r = run(ratio, args.epochs, seed)
            diffs.append(100 * (r["pc"] - r["bp"]))
            cmin = " ".join(f"{c:.5f}" for c in r["cos"].min(0))
            cmean = " ".join(f"{c:.5f}" for c in r["cos"].mean(0))
            print(f"{ratio:>10g} {seed:>4} {100 * r['pc']:6.2f}% {100 * r['bp']:6.2f}% {diffs[-1]:+6.2f}  "
                  f"{cmin:>30}  {cmean:>24}  {r['dist']:.4f}   ({r['holds']} weight steps, {r['n']} held-out)",
                  flush=True)
        print(f"{'':>10} mean PC − BP {np.mean(diffs):+.2f} points, largest |PC − BP| {np.max(np.abs(diffs)):.2f}")


if __name__ == "__main__":
    main()
