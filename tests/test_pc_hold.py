"""The end of a learning hold, against autograd of the energy written out here: the
weight step is one gradient step on F (weight decay included), and what the model
shows afterwards (predictions, errors, energy) is computed with the new weights even
though the model recomputes it only when read."""

import pytest
import torch

from pcviz.models import DataInfo, PCConfig, PCModel

F64 = torch.float64
ACTS = {"linear": lambda a: a, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def energy(cfg, x, W, b, prec):
    """Σ over layers and the batch of ½ Π ε², ε_l = x_l − f(W_l x_{l+1} + b_l) (the top's mean b_L)."""
    L = len(W)
    total = 0.0
    for l in range(L + 1):
        f = ACTS[cfg.input_activation if l == 0 else cfg.activation]
        pred = f(x[l + 1] @ W[l].T + b[l]) if l < L else b[L].expand_as(x[L])
        total = total + 0.5 * (prec[l] * (x[l] - pred) ** 2).sum()
    return total


def _model(activation, mode="unsupervised", decay=0.0):
    sizes = [6, 5, 4] if mode == "unsupervised" else [6, 5, 3]
    cfg = PCConfig(sizes=sizes, mode=mode, activation=activation, input_activation=activation, precision="diagonal",
                   learn_precision=False, lr_weights=0.3, weight_decay=decay, state_init="topdown")
    model = PCModel(cfg, DataInfo(6, (6,), n_classes=3 if mode != "unsupervised" else 0), "cpu", seed=0, dtype=F64)
    gen = torch.Generator().manual_seed(1)
    for l, n in enumerate(sizes):
        model.var[l].copy_(torch.rand(n, generator=gen, dtype=F64) + 0.2)
        model.b[l].copy_(torch.randn(n, generator=gen, dtype=F64) * 0.3)
    labels = torch.tensor([0, 2, 1]) if mode != "unsupervised" else None
    model.set_batch(torch.randn(3, 6, generator=gen, dtype=F64), labels, learning=True)
    for _ in range(5):
        model.step(True)
    return model


@pytest.mark.parametrize("activation", ["linear", "tanh", "sigmoid"])
@pytest.mark.parametrize("mode,decay", [("unsupervised", 0.0), ("supervised", 0.05)])
def test_the_weight_step_is_a_gradient_step_on_the_energy(activation, mode, decay):
    model = _model(activation, mode, decay)
    cfg, B, lr = model.config, model.batch_size, model.config.lr_weights
    x = [t.clone() for t in model.x]
    W = [w.clone().requires_grad_(True) for w in model.W]
    b = [v.clone().requires_grad_(True) for v in model.b]
    prec = [1 / v for v in model.var]
    grads = torch.autograd.grad(energy(cfg, x, W, b, prec), W + b)
    model.end_hold(True)
    for l in range(model.L):  # W ← W − lr (∂F/∂W / B + κ W)
        expected = W[l].detach() - lr * (grads[l] / B + decay * W[l].detach())
        torch.testing.assert_close(model.W[l], expected, rtol=1e-12, atol=1e-12)
    for l in range(model.L + 1):
        expected = b[l].detach() - lr * grads[model.L + l] / B
        torch.testing.assert_close(model.b[l], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", ["linear", "tanh"])
def test_after_a_learning_hold_the_model_shows_the_new_weights_predictions(activation):
    model = _model(activation)
    before = [p.clone() for p in model.pred]
    model.end_hold(True)
    cfg = model.config
    for l in range(model.L):
        f = ACTS[activation]
        expected = f(model.x[l + 1] @ model.W[l].T + model.b[l])
        torch.testing.assert_close(model.pred[l], expected)
        torch.testing.assert_close(model.err[l], model.x[l] - expected)
        torch.testing.assert_close(model.perr[l], (model.x[l] - expected) / model.var[l])
    assert not torch.allclose(model.pred[0], before[0])  # the weights did move
    prec = [1 / v for v in model.var]
    torch.testing.assert_close(model.energy().sum(), energy(cfg, model.x, model.W, model.b, prec)
                               - 0.5 * sum(torch.log(p).sum() for p in prec) * model.batch_size)


def test_the_modular_family_learns_only_each_modules_own_patch():
    from pcviz.models.pc_modular import PCModularConfig, PCModularModel

    cfg = PCModularConfig(modules=2, module_width=3, module_step=2, module_units=2, sizes=[12, 4, 2],
                          activation="linear", input_activation="linear", lr_weights=0.5, learn_precision=False)
    model = PCModularModel(cfg, DataInfo(10, (2, 5)), "cpu", seed=0, dtype=F64)
    model.set_batch(torch.randn(3, 10, dtype=F64), None, learning=True)
    for _ in range(3):
        model.step(True)
    x = [t.clone() for t in model.x]
    W = [w.clone().requires_grad_(True) for w in model.W]
    b = [v.clone() for v in model.b]
    (g0,) = torch.autograd.grad(energy(cfg, x, W, b, [1 / v for v in model.var]), [W[0]])
    model.end_hold(True)
    expected = W[0].detach() - cfg.lr_weights * g0 / 3 * model.mask
    torch.testing.assert_close(model.W[0], expected, rtol=1e-12, atol=1e-12)
    assert (model.W[0][~model.mask.bool()] == 0).all()
