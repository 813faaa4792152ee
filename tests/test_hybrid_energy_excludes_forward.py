"""The hybrid family's inference lowers the generative energy of ``pc`` alone: the
forward (amortised) model sets where a hold starts, not what inference descends.
So the ``bound`` preconditioner's guarantee (built from W and Π only) carries over.

Checked against an independent computation of F = Σ_l ½ Σ Π_l ε_l² − ½ Σ log Π_l
written here from the equations, and by changing the forward model between two copies
of one state: F, the preconditioner and one inference step are unchanged."""

import numpy as np
import torch

from pcviz.models import DataInfo, HybridPCConfig, HybridPCModel

F64 = torch.float64


def hand_energy(model: HybridPCModel) -> np.ndarray:
    """F per sample from W, b, Σ and the states (tanh hidden predictions, linear input
    prediction, the top predicted by its bias)."""
    x = [t.detach().numpy() for t in model.x]
    W = [w.numpy() for w in model.W]
    b = [v.numpy() for v in model.b]
    L = len(W)
    F = np.zeros(x[0].shape[0])
    for l in range(L + 1):
        if l < L:
            a = x[l + 1] @ W[l].T + b[l]
            pred = a if l == 0 else np.tanh(a)
        else:
            pred = np.broadcast_to(b[L], x[L].shape)
        eps = x[l] - pred
        prec = np.broadcast_to(1.0 / model.var[l].numpy(), (x[l].shape[1],))
        F += 0.5 * (prec * eps * eps).sum(1) - 0.5 * np.log(prec).sum()
    return F


def make(seed_v: int) -> HybridPCModel:
    cfg = HybridPCConfig(sizes=[10, 6, 4], activation="tanh", input_activation="linear", dt=0.2,
                         preconditioner="bound", precision="diagonal", state_init="keep")
    model = HybridPCModel(cfg, DataInfo(10, (10,)), "cpu", seed=0, dtype=F64)
    g = torch.Generator().manual_seed(0)
    for w in model.W:
        w.copy_(torch.randn(w.shape, generator=g, dtype=F64))
    for v in model.var:
        v.copy_(0.1 + torch.rand(v.shape, generator=g, dtype=F64))
    gv = torch.Generator().manual_seed(seed_v)
    for v, c in zip(model.V, model.c):
        v.copy_(5 * torch.randn(v.shape, generator=gv, dtype=F64))
        c.copy_(torch.randn(c.shape, generator=gv, dtype=F64))
    return model


def test_energy_is_the_generative_one_and_ignores_the_forward_model():
    a, b = make(1), make(2)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 10, generator=g, dtype=F64)
    states = [torch.randn(5, n, generator=g, dtype=F64) for n in (6, 4)]
    for m in (a, b):
        m.set_batch(x, None, learning=False)
        for l, s in enumerate(states, start=1):
            m.x[l].copy_(s)
        m.forward()
    assert not torch.allclose(a.V[0], b.V[0])
    np.testing.assert_allclose(a.energy().numpy(), hand_energy(a), rtol=1e-10)
    np.testing.assert_allclose(b.energy().numpy(), hand_energy(b), rtol=1e-10)
    for da, db in zip(a.curvature_diagonal(), b.curvature_diagonal()):
        torch.testing.assert_close(da, db)
    for _ in range(3):
        a.step(learning=False)
        b.step(learning=False)
    for ta, tb in zip(a.x, b.x):
        torch.testing.assert_close(ta, tb)
    np.testing.assert_allclose(a.energy().numpy(), hand_energy(a), rtol=1e-10)
