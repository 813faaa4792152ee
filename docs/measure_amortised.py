"""The figures of docs/amortised-inference.md, measured side by side in one run:

1. digits-hybrid (shipped checkpoint): inference steps to settle from the amortised
   start and from the top-down start of the same generative model, on held-out digits
   (pcviz.models.hybrid_measures: settled = F − F* ≤ 1 % of the top-down start's gap).
2. digits-hybrid from scratch with early stop: the streamed steps_to_settle per hold
   as the amortised model learns.
3. digits-lvae and digits-bvae (shipped checkpoints), learning off, refine mode: the
   amortisation and approximation gaps per held-out sample, in nats, the amortisation
   gap also on fresh draws.

    .venv/bin/python docs/measure_amortised.py [--samples N]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch

from pcviz.models.hybrid_measures import compare_starts
from pcviz.sim import Engine, load_preset


def hybrid_steps(n: int) -> None:
    engine = Engine(load_preset("digits-hybrid", ["engine.learning=false"]), "cpu")
    x = torch.from_numpy(engine.test_data.x[:n])
    r = compare_starts(engine.model, x, steps=2000)
    s = r.summary()
    print(f"digits-hybrid, {s['samples']} held-out digits, 2000 inference steps to the fixed point:")
    for name, steps in (("amortised", r.steps_amortised), ("top-down", r.steps_topdown)):
        q = np.percentile(steps, [10, 50, 90])
        print(f"  steps to settle from the {name:9s} start: median {q[1]:.0f} (10th-90th percentile {q[0]:.0f}-{q[2]:.0f})")
    gap_am = r.energy_amortised[:, 0] - r.fixed_energy
    gap_td = r.energy_topdown[:, 0] - r.fixed_energy
    print(f"  energy above the fixed point at the start: amortised {np.median(gap_am):.3g},"
          f" top-down {np.median(gap_td):.3g} (medians)")
    print(f"  largest |F_amortised − F_topdown| / |F*| after 2000 steps: {s['max_fixed_point_gap']:.2g}")


def hybrid_learning(holds: int, every: int) -> None:
    engine = Engine(load_preset("digits-hybrid", ["engine.checkpoint=''", "engine.learning=true",
                                                "model.early_stop=true"]), "cpu")
    hold = engine.config.data.hold_steps
    print(f"digits-hybrid from scratch, early stop (settle_tol {engine.config.model.settle_tol}), hold {hold}:")
    for h in range(0, holds + 1, every):
        engine.run_steps(hold * (every if h else 1))
        s = engine.model.settle_steps.numpy()
        print(f"  after {h:5d} holds: steps_to_settle over the batch median {np.median(s):.0f}, mean {s.mean():.1f}")


def vae_gaps(name: str, n: int, steps: int) -> None:
    engine = Engine(load_preset(name, ["engine.learning=false", "model.inference=refine"]), "cpu")
    model = engine.model
    x = torch.from_numpy(engine.test_data.x[:n])
    model.set_batch(x, None, learning=False)
    for _ in range(steps):
        model.step(False)
    ref = model.refinement
    x = model.frame_tensors()[0]["activity"]  # what the model scores: the binarised digits (Bernoulli)
    am_gap = (ref.elbo_refined - ref.elbo_amortised).numpy()
    ref.iw_bound = ref.importance_bound(x)
    ap_gap = (ref.iw_bound - ref.elbo_refined).numpy()
    zero = [(torch.zeros_like(a), torch.zeros_like(b)) for a, b in ref.offsets]
    with torch.no_grad():
        after = ref.elbo_draws(x, 1024, torch.Generator().manual_seed(11))
        before = ref.elbo_draws(x, 1024, torch.Generator().manual_seed(11), zero)
    fresh = (after - before).double()
    se = (fresh.std(0) / math.sqrt(fresh.shape[0])).numpy()
    fresh = fresh.mean(0).numpy()
    print(f"{name}, {n} held-out digits, {steps} refinement steps (nats per sample):")
    print(f"  ELBO amortised {ref.elbo_amortised.mean():.3f}, refined {ref.elbo_refined.mean():.3f},"
          f" IW bound ({model.config.refine_iw_samples} draws) {ref.iw_bound.mean():.3f}")
    print(f"  amortisation gap: mean {am_gap.mean():.3f}, min {am_gap.min():.3f}, max {am_gap.max():.3f};"
          f" on 1024 fresh draws mean {fresh.mean():.3f}, min {fresh.min():.3f} (standard error there {se[fresh.argmin()]:.3f})")
    print(f"  approximation gap: mean {ap_gap.mean():.3f}, min {ap_gap.min():.3f}, max {ap_gap.max():.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(1)
    hybrid_steps(args.samples)
    hybrid_learning(1000, 200)
    for name in ("digits-lvae", "digits-bvae"):
        vae_gaps(name, min(args.samples, 128), 50)


if __name__ == "__main__":
    main()
