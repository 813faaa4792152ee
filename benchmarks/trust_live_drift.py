"""Held-out reconstruction MSE of a trained preset before and after N live steps with
learning on (does the preset hold its checkpoint?).

    python benchmarks/trust_live_drift.py digits-pc 5000 [key=value ...]
"""
import sys

from pcviz.sim import Engine, load_preset
from pcviz.sim.train import heldout_reconstruction


def main(name: str, steps: int, overrides: list[str]) -> None:
    probe = Engine(load_preset(name, overrides + ["engine.learning=false"]), "cpu")
    hold = probe.config.data.hold_steps
    before = heldout_reconstruction(probe.model, probe.test_data, hold)
    live = Engine(load_preset(name, overrides + ["engine.learning=true"]), "cpu")
    live.run_steps(steps)
    precisions = [round(float(live.model.precision(l).mean()), 2) for l in range(live.model.L + 1)]
    probe.model.load_state_tensors(live.model.state_tensors())
    after = heldout_reconstruction(probe.model, probe.test_data, hold)
    print(f"{name} {' '.join(overrides)}: held-out MSE {before:.5f} -> {after:.5f} after {steps} live steps"
          f" ({after / before:.3f}x); precisions {precisions}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:])
