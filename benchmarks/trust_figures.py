"""The before/after figures of the precision, preconditioner and backprop fixes.

    python benchmarks/trust_figures.py

1. Learned vs true precision, linear 8 → 4 net with the true weights, input noise
   variance 0.1 (precision 10), causes N(0, 1) (precision 1), hidden layer inferred,
   scalar precisions learned by EM iterations (rate 1) on 20,000 samples:
   point update (before) and laplace update (after).
2. Total energy over 200 inference steps on ill-conditioned weights (nearly collinear
   columns, precisions at their caps) with the digits-pc architecture at dt = 0.2
   (the old preset) and 1.0 (the new), per preconditioner.
3. bp_cosine per layer at output precision γ = 1e-3 and 1 (discriminative 4 → 5 → 6 → 3).
"""
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_pc_backprop_cosine import settled_model  # noqa: E402
from test_pc_preconditioner import ill_conditioned  # noqa: E402
from test_pc_precision_laplace import em_iterate, linear_gaussian, make  # noqa: E402

from pcviz.sim.presets import load_preset  # noqa: E402

F64 = torch.float64


def precisions() -> None:
    var = [torch.tensor(0.1, dtype=F64), torch.tensor(1.0, dtype=F64)]
    x, Ws = linear_gaussian([8, 4], var, 20000, seed=1)
    for update in ("point", "laplace"):
        m = make([8, 4], precision="scalar", lr_precision=1.0, precision_update=update)
        m.W[0].copy_(Ws[0])
        em_iterate(m, x, 100)
        print(f"  {update:8s} learned input precision {float(m.precision(0)):7.3f} (true 10),"
              f" cause precision {float(m.precision(1)):6.3f} (true 1)")


def traces() -> None:
    for dt in (0.2, 1.0):
        for pre in ("none", "diagonal", "bound"):
            cfg = load_preset("digits-pc").model
            cfg.preconditioner, cfg.dt = pre, dt
            m = ill_conditioned(cfg, 64, 0)
            g = torch.Generator().manual_seed(1)
            m.set_batch(torch.randn(8, 64, generator=g, dtype=F64), None, learning=False)
            e = [float(m.energy().sum())]
            for _ in range(200):
                m.step(False)
                e.append(float(m.energy().sum()))
            e = np.array(e)
            with np.errstate(invalid="ignore"):
                rises = int((np.diff(e) > 1e-10 * np.abs(e[:-1])).sum())
            print(f"  dt {dt}  {pre:8s} energy at steps 0/10/30/200: {e[0]:.4g} {e[10]:.4g} {e[30]:.4g}"
                  f" {e[200]:.4g}; rose on {rises} of 200 steps")


def cosines() -> None:
    for gamma in (1e-3, 1.0):
        m, _, _ = settled_model(gamma)
        m.end_hold(learning=True)
        print(f"  γ = {gamma:g}: bp_cosine per layer {np.round(m.bp_cosine.numpy(), 4)}")


if __name__ == "__main__":
    print("1. learned vs true precision (linear 8 → 4, hidden inferred)")
    precisions()
    print("2. ill-conditioned energy traces, digits-pc architecture, precisions at the cap 1000")
    traces()
    print("3. discriminative PC vs backprop")
    cosines()
