"""Do learned hidden precisions run away? Train a preset from scratch with every
layer's precision learned and print the precisions and the held-out reconstruction
MSE now and then, for the laplace and the point update side by side.

    python benchmarks/trust_hidden_precisions.py digits-supervised 20000
"""
import sys

from pcviz.sim import Engine, load_preset
from pcviz.sim.train import heldout_reconstruction


def main(name: str, steps: int) -> None:
    for update in ("laplace", "point"):
        ov = ["engine.checkpoint=''", "model.precision_layers=[]", f"model.precision_update='{update}'"]
        e = Engine(load_preset(name, ov + ["engine.learning=true"]), "cpu")
        probe = Engine(load_preset(name, ov + ["engine.learning=false"]), "cpu")
        hold = e.config.data.hold_steps
        for k in range(4):
            e.run_steps(steps // 4)
            probe.model.load_state_tensors(e.model.state_tensors())
            mse = heldout_reconstruction(probe.model, probe.test_data, hold)
            prec = [round(float(e.model.precision(l).mean()), 1) for l in range(e.model.L + 1)]
            print(f"{name} {update}: step {(k + 1) * steps // 4}: precisions {prec}, held-out MSE {mse:.4f}",
                  flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
