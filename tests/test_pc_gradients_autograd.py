"""The dense model's hand-written gradients against autograd of its energy, for every
activation × prior, with lesion gains on the precisions. The L1 prior enters inference
as a proximal step, so its gradients are compared without the L1 term."""

import pytest
import torch

from pcviz.models import DataInfo, PCConfig, PCModel
from pcviz.models.pc import ACTIVATIONS, PRIORS

F64 = torch.float64


def energy_from(model, xs, Ws, bs, with_l1):
    """F summed over the batch, written from the definition: Σ ½ Π ε² − ½ log Π + λ ρ(x)."""
    cfg = model.config
    acts = {"linear": lambda a: a, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
            "softplus": torch.nn.functional.softplus}
    L = model.L
    total = 0.0
    for l in range(L + 1):
        if l < L:
            f = acts[cfg.input_activation if l == 0 else cfg.activation]
            pred = f(xs[l + 1] @ Ws[l].T + bs[l])
        else:
            pred = bs[L].expand_as(xs[L])
        prec = model.gain[l] / model.var[l]
        e = xs[l] - pred
        total = total + 0.5 * (prec * e * e).sum() - 0.5 * torch.log(1 / model.var[l]).expand(model.sizes[l]).sum() * len(e)
        if l >= 1 and cfg.prior_strength > 0 and (cfg.prior != "l1" or with_l1):
            x = xs[l]
            rho = {"gaussian": 0.5 * x * x, "l1": x.abs(), "cauchy": torch.log1p(x * x)}[cfg.prior]
            total = total + cfg.prior_strength * rho.sum()
    return total


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("prior", PRIORS)
def test_state_and_weight_gradients_equal_autograd(activation, prior):
    torch.manual_seed(7)
    sizes = [6, 5, 4]
    cfg = PCConfig(sizes=sizes, activation=activation, input_activation=activation, precision="diagonal",
                   prior=prior, prior_strength=0.3, weight_decay=0.0, state_init="keep")
    model = PCModel(cfg, DataInfo(6, (6,)), "cpu", seed=0, dtype=F64)
    for l in range(3):
        model.var[l].copy_(torch.rand(sizes[l], dtype=F64) + 0.2)
        model.b[l].copy_(torch.randn(sizes[l], dtype=F64) * 0.3)
    model.set_batch(torch.randn(3, 6, dtype=F64), None, learning=True)
    model.lesion(1, 0.3, [0, 2])
    model.lesion(0, 2.0)
    for l in (1, 2):
        model.x[l].copy_(torch.randn(3, sizes[l], dtype=F64))
    model.forward()
    xs = [x.clone().requires_grad_(True) for x in model.x]
    Ws = [w.clone().requires_grad_(True) for w in model.W]
    bs = [b.clone().requires_grad_(True) for b in model.b]
    F = energy_from(model, xs, Ws, bs, with_l1=False)
    gx = torch.autograd.grad(F, xs + Ws + bs)
    torch.testing.assert_close(model.energy().sum(), energy_from(model, model.x, model.W, model.b, with_l1=True))
    dx = model.gradients()
    for l in range(3):
        torch.testing.assert_close(dx[l], -gx[l], msg=f"−∂F/∂x_{l}")
    dW, db = model.weight_gradients()
    for l in range(2):
        torch.testing.assert_close(dW[l], -gx[3 + l] / 3, msg=f"−∂F/∂W_{l}")
    for l in range(3):
        torch.testing.assert_close(db[l], -gx[5 + l] / 3, msg=f"−∂F/∂b_{l}")
