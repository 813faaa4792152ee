"""How many inference steps the amortised start saves: the acceptance measure of the
hybrid family, run side by side on the same trained generative model.

For each sample, inference runs ``steps`` steps from the amortised start and from the
top-down start of ``pc``, learning off. F* is the lower of the two final energies (the
fixed point, when both converged); a start has settled at the first step k at which
F_k − F* ≤ ``fraction`` (F_topdown,0 − F*): one absolute tolerance for both starts,
1 % of the top-down start's gap by default. ``same_fixed_point`` reports
|F_amortised − F_topdown| / |F*| at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pcviz.models.hybrid_pc import HybridPCModel


@dataclass(frozen=True)
class SettleComparison:
    steps_amortised: np.ndarray  # (N,) steps to settle from the amortised start
    steps_topdown: np.ndarray  # (N,) from the top-down start
    energy_amortised: np.ndarray  # (N, steps + 1) energy along the way
    energy_topdown: np.ndarray  # (N, steps + 1)
    fixed_point_gap: np.ndarray  # (N,) |F_am − F_td| / |F*| after ``steps`` steps
    fixed_energy: np.ndarray  # (N,) F*

    def summary(self) -> dict[str, float]:
        return {"median_steps_amortised": float(np.median(self.steps_amortised)),
                "median_steps_topdown": float(np.median(self.steps_topdown)),
                "max_fixed_point_gap": float(self.fixed_point_gap.max()),
                "samples": int(len(self.steps_amortised))}


@torch.no_grad()
def _trajectory(model: HybridPCModel, x: torch.Tensor, start: str, steps: int) -> np.ndarray:
    cfg = model.config
    saved = (cfg.state_init, cfg.forward_gain, cfg.early_stop)
    cfg.state_init, cfg.forward_gain, cfg.early_stop = start, 1.0, False
    try:
        model.set_batch(x, None, learning=False)
        out = [model.energy().clone()]
        for _ in range(steps):
            model.step(False)
            out.append(model.energy().clone())
    finally:
        cfg.state_init, cfg.forward_gain, cfg.early_stop = saved
    return torch.stack(out, 1).double().cpu().numpy()  # (B, steps + 1)


def first_below(energy: np.ndarray, level: np.ndarray) -> np.ndarray:
    """(N,) the first index k with energy[:, k] <= level (the length when never)."""
    below = energy <= level[:, None]
    return np.where(below.any(1), below.argmax(1), energy.shape[1])


def compare_starts(model: HybridPCModel, x: torch.Tensor, steps: int = 2000, fraction: float = 0.01,
                   batch: int = 256) -> SettleComparison:
    """Steps to settle from both starts for the samples ``x`` (N, D); see the module doc."""
    fa, ft = [], []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch].to(model.device)
        fa.append(_trajectory(model, xb, "amortised", steps))
        ft.append(_trajectory(model, xb, "topdown", steps))
    fa, ft = np.concatenate(fa), np.concatenate(ft)
    f_star = np.minimum(fa[:, -1], ft[:, -1])
    level = f_star + fraction * (ft[:, 0] - f_star)
    return SettleComparison(first_below(fa, level), first_below(ft, level), fa, ft,
                            np.abs(fa[:, -1] - ft[:, -1]) / np.abs(f_star), f_star)
