"""The engine's optimised inference and learning compute what the plain equations
compute: the benchmark's baseline loop (written plainly) and the model agree."""

import pytest
import torch

from pcviz.bench.bare_pc import run_bare_pc
from pcviz.models import DataInfo, PCConfig, PCModel


@pytest.mark.parametrize("activation,preconditioner,precision", [
    ("tanh", "diagonal", "scalar"), ("sigmoid", "none", "diagonal"), ("linear", "diagonal", "fixed")])
def test_model_matches_the_plain_loop_after_learning(activation, preconditioner, precision):
    torch.manual_seed(0)
    cfg = PCConfig(sizes=[20, 12, 6, 3], activation=activation, input_activation="linear", dt=0.15,
                   preconditioner=preconditioner, precision=precision, lr_weights=0.05, lr_precision=0.05,
                   weight_decay=1e-3, state_init="topdown",
                   precision_update="point")  # the plain loop's rule (laplace: test_pc_precision_laplace.py)
    model = PCModel(cfg, DataInfo(20, (4, 5)), "cpu", seed=1, dtype=torch.float64)
    hold, holds = 8, 6
    batches = [torch.rand(5, 20, dtype=torch.float64) for _ in range(holds)]
    plain = run_bare_pc(cfg, model.W, model.b, model.var, batches, hold * holds, hold)
    for h in range(holds):
        model.set_batch(batches[h], None, learning=True)
        for _ in range(hold):
            model.step(True)
        model.end_hold(True)
    for name, got, want in (("W", model.W, plain.W), ("b", model.b, plain.b), ("var", model.var, plain.var)):
        for l, (g, w) in enumerate(zip(got, want)):
            torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12, msg=f"{name}{l}")
