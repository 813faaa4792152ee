"""Training a hierarchy in stages: ``model.frozen_weights`` (layers whose weights and
bias stay), ``model.learn_biases = false`` (Rao & Ballard's bias-free model),
``model.prior_strengths`` (one activity prior per level) and ``pcviz train --init``
(take the frozen parameters from an earlier stage's checkpoint)."""

import dataclasses

import pytest
import torch

from pcviz.cli.main import main
from pcviz.models import DataInfo, PCConfig, PCModel
from pcviz.sim.checkpoint import CheckpointError, load_frozen_parameters, read_checkpoint, save_checkpoint

F64 = torch.float64


def _model(implementation="fast", **kw):
    cfg = PCConfig(sizes=[12, 7, 5], activation="tanh", dt=0.1, precision="fixed", prior="cauchy",
                   lr_weights=0.05, weight_decay=0.0, implementation=implementation, **kw)
    return PCModel(cfg, DataInfo(12, (3, 4)), "cpu", seed=2, dtype=F64)


def _hold(model, x, steps=8):
    model.set_batch(x, None, learning=True)
    for _ in range(steps):
        model.step(True)


def _energy(model, xs, Ws, bs, lams):
    """F summed over the batch from the definition, with λ per layer given here."""
    total = 0.0
    for l in range(model.L + 1):
        if l < model.L:
            f = (lambda a: a) if l == 0 and model.config.input_activation == "linear" else torch.tanh
            pred = f(xs[l + 1] @ Ws[l].T + bs[l])
        else:
            pred = bs[l].expand_as(xs[l])
        e = xs[l] - pred
        prec = model.gain[l] / model.var[l]
        total = total + 0.5 * (prec * e * e).sum() - 0.5 * torch.log(1 / model.var[l]).expand(model.sizes[l]).sum() * len(e)
        if l >= 1:
            total = total + lams[l - 1] * torch.log1p(xs[l] * xs[l]).sum()
    return total


@pytest.mark.parametrize("implementation", ["fast", "reference"])
def test_frozen_layer_keeps_its_weights_and_the_layer_above_takes_the_gradient_step(implementation):
    model = _model(implementation, frozen_weights=[0], prior_strength=0.2)
    x = torch.rand(4, 12, generator=torch.Generator().manual_seed(0), dtype=F64)
    _hold(model, x)
    W0, b0 = model.W[0].clone(), model.b[0].clone()
    # the step the unfrozen layer should take: −η ∂F/∂W_1 / B, by autograd of F written out
    Ws = [w.clone().requires_grad_(True) for w in model.W]
    bs = [b.clone().requires_grad_(True) for b in model.b]
    F = _energy(model, [t.clone() for t in model.x], Ws, bs, [0.2, 0.2])
    gW1, gb1, gb2 = torch.autograd.grad(F, [Ws[1], bs[1], bs[2]])
    W1, b1, b2 = model.W[1].clone(), model.b[1].clone(), model.b[2].clone()
    model.end_hold(True)
    assert torch.equal(model.W[0], W0) and torch.equal(model.b[0], b0)
    torch.testing.assert_close(model.W[1], W1 - 0.05 * gW1 / 4)
    torch.testing.assert_close(model.b[1], b1 - 0.05 * gb1 / 4)
    torch.testing.assert_close(model.b[2], b2 - 0.05 * gb2 / 4)
    assert model.frozen_parameters() == ["W.0", "b.0"]


def test_a_frozen_basis_is_not_renormalised():
    model = _model(frozen_weights=[0], normalize_basis=True)
    model.W[0].mul_(3.0)  # columns of norm about 3, as a checkpoint might hold them
    W0 = model.W[0].clone()
    _hold(model, torch.rand(4, 12, dtype=F64))
    model.end_hold(True)
    assert torch.equal(model.W[0], W0)


def test_without_learned_biases_the_weights_learn_and_every_bias_stays_zero():
    model = _model(learn_biases=False, prior_strength=0.1)
    W = [w.clone() for w in model.W]
    for seed in range(3):
        _hold(model, torch.rand(4, 12, generator=torch.Generator().manual_seed(seed), dtype=F64))
        model.end_hold(True)
    assert all(not torch.equal(a, b) for a, b in zip(W, model.W))
    assert all(torch.count_nonzero(b) == 0 for b in model.b)


@pytest.mark.parametrize("lams", [(0.1, 0.8), (0.0, 0.5), (0.6, 0.0)])
def test_per_layer_prior_gradients_and_energy_equal_autograd(lams):
    model = _model(prior_strengths=list(lams), input_activation="linear", state_init="keep")
    model.set_batch(torch.rand(3, 12, dtype=F64), None, learning=True)
    for l in (1, 2):
        model.x[l].copy_(torch.randn(3, model.sizes[l], generator=torch.Generator().manual_seed(l), dtype=F64))
    model.forward()
    xs = [x.clone().requires_grad_(True) for x in model.x]
    F = _energy(model, xs, model.W, model.b, lams)
    gx = torch.autograd.grad(F, xs)
    torch.testing.assert_close(model.energy().sum(), F.detach())
    dx = model.gradients()
    for l in (1, 2):
        torch.testing.assert_close(dx[l], -gx[l], msg=f"−∂F/∂x_{l}")


def test_per_layer_prior_fast_step_equals_reference_step():
    x = torch.rand(4, 12, generator=torch.Generator().manual_seed(5), dtype=F64)
    models = [_model(impl, prior_strengths=[0.05, 0.7], preconditioner="bound") for impl in ("fast", "reference")]
    for m in models:
        for _ in range(2):
            _hold(m, x)
            m.end_hold(True)
        _hold(m, x)
    for name in ("x", "err", "W", "b"):
        for a, b in zip(getattr(models[0], name), getattr(models[1], name)):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11, msg=name)
    assert models[0]._fast.plan is not None  # the fast step ran


def test_equal_per_layer_priors_are_the_single_prior():
    x = torch.rand(4, 12, generator=torch.Generator().manual_seed(6), dtype=F64)
    a, b = _model(prior_strength=0.3), _model(prior_strengths=[0.3, 0.3])
    for m in (a, b):
        _hold(m, x)
    for u, v in zip(a.x, b.x):
        torch.testing.assert_close(u, v)


def test_settings_that_do_not_fit_the_layers_are_refused():
    with pytest.raises(ValueError, match="frozen_weights"):
        PCConfig(sizes=[12, 7, 5], frozen_weights=[2]).validate()
    with pytest.raises(ValueError, match="prior_strengths"):
        PCConfig(sizes=[12, 7, 5], prior_strengths=[0.1]).validate()
    with pytest.raises(ValueError, match="prior_strengths"):
        PCConfig(sizes=[12, 7, 5], prior_strengths=[0.1, -1.0]).validate()


def test_init_takes_only_the_frozen_parameters_and_refuses_a_mismatch(tmp_path):
    stage1 = _model()
    stage1.W[0].normal_()
    path = save_checkpoint(stage1, tmp_path / "stage1.pt")
    wider = dataclasses.replace(stage1.config, sizes=[12, 7, 9], frozen_weights=[0])
    stage2 = PCModel(wider, DataInfo(12, (3, 4)), "cpu", seed=4, dtype=F64)
    W1 = stage2.W[1].clone()
    assert load_frozen_parameters(stage2, path) == ["W.0", "b.0"]
    torch.testing.assert_close(stage2.W[0], read_checkpoint(path)["tensors"]["W.0"].to(F64))
    assert torch.equal(stage2.W[1], W1)  # another shape: left as initialised
    with pytest.raises(CheckpointError, match="freezes no parameters"):
        load_frozen_parameters(_model(), path)
    from pcviz.sim.engine import Engine
    from pcviz.sim.presets import load_preset

    conv = Engine(load_preset("patches-conv-pc", ["engine.checkpoint=''"]), "cpu").model
    with pytest.raises(CheckpointError, match="freezes no parameters"):
        load_frozen_parameters(conv, path)
    other = PCModel(dataclasses.replace(wider, sizes=[12, 6, 9]), DataInfo(12, (3, 4)), "cpu", seed=4, dtype=F64)
    with pytest.raises(CheckpointError, match=r"W\.0 has shape"):
        load_frozen_parameters(other, path)


def test_pcviz_train_in_two_stages(tmp_path, capsys):
    """Stage 1 trains everything; stage 2 (``--init``) another level 2 on the frozen level 1."""
    first, second = tmp_path / "one.pt", tmp_path / "two.pt"
    run = ["train", "--preset", "digits-pc", "--steps", "200", "--device", "cpu"]
    assert main([*run, "--out", str(first), "--set", "model.sizes=[64,16,8]"]) == 0
    assert main([*run, "--out", str(second), "--init", str(first), "--set", "model.sizes=[64,16,4]",
                 "--set", "model.frozen_weights=[0]"]) == 0
    one, two = read_checkpoint(first)["tensors"], read_checkpoint(second)["tensors"]
    assert torch.equal(one["W.0"], two["W.0"]) and torch.equal(one["b.0"], two["b.0"])
    assert tuple(two["W.1"].shape) == (16, 4)
    assert "W.0, b.0 (frozen)" in capsys.readouterr().out


def test_training_a_model_with_frozen_layers_needs_the_earlier_stage(tmp_path, capsys):
    """Without --init, a frozen level 1 would be its random initial weights: refused, saying what to do."""
    code = main(["train", "--preset", "patches-end-stopping", "--steps", "30", "--device", "cpu",
                 "--out", str(tmp_path / "x.pt"), "--set", "data.n_samples=100"])
    assert code == 2
    err = capsys.readouterr().err
    assert "W.0, b.0" in err and "--init" in err and "frozen_weights=[]" in err
    assert not (tmp_path / "x.pt").exists()
