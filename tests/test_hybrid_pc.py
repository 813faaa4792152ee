"""Hybrid predictive coding against the maths: the amortised map a linear-Gaussian
network learns is the exact posterior-mean map, refinement from any start reaches the
closed-form posterior mean, a lesioned forward path is plain PC, and on the shipped
digits network the amortised start settles in a few steps where the top-down start
needs many, at the same fixed point."""

import numpy as np
import pytest
import torch

from pcviz.models import DataInfo, PCConfig, PCModel
from pcviz.models.hybrid_measures import compare_starts
from pcviz.models.hybrid_pc import HybridPCConfig, HybridPCModel
from pcviz.sim import Engine, load_preset

F64 = torch.float64


def linear_gaussian(D=6, n=3, seed=0, **kw):
    """x_0 = W x_1 + noise(Π₀), x_1 ~ N(0, Π₁⁻¹), with W, Π₀, Π₁ fixed; numpy copies."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(D, n))
    p0 = rng.uniform(0.5, 1.5, D)
    p1 = rng.uniform(0.5, 1.5, n)
    opts = dict(sizes=[D, n], activation="linear", input_activation="linear", precision="diagonal",
                learn_precision=False, lr_weights=0.0, forward_precision="fixed", lr_forward=0.05, dt=0.5,
                preconditioner="diagonal")
    opts.update(kw)
    cfg = HybridPCConfig(**opts)
    cfg.validate()
    model = HybridPCModel(cfg, DataInfo(D, (D,)), "cpu", seed=seed, dtype=F64)
    model.W[0].copy_(torch.from_numpy(W))
    model.var[0].copy_(torch.from_numpy(1 / p0))
    model.var[1].copy_(torch.from_numpy(1 / p1))
    # the exact posterior-mean map, by numpy: (Π₁ + WᵀΠ₀W)⁻¹ WᵀΠ₀
    M = np.linalg.solve(np.diag(p1) + W.T @ np.diag(p0) @ W, W.T @ np.diag(p0))
    return model, M, rng


def test_amortised_map_learns_the_exact_posterior_mean_map():
    model, M, rng = linear_gaussian()
    for _ in range(300):
        x = torch.from_numpy(rng.normal(size=(32, 6)) * 1.5)
        model.set_batch(x, None, learning=True)
        for _ in range(60):
            model.step(True)
        model.end_hold(True)
    V = model.V[0].numpy()
    rel = np.linalg.norm(V - M) / np.linalg.norm(M)
    assert rel < 0.02, f"relative Frobenius error {rel:.3g}"
    assert np.abs(model.c[0].numpy()).max() < 0.02 * np.abs(M).max()  # zero prior mean: no offset


@pytest.mark.parametrize("start", ["amortised", "topdown", "zeros"])
def test_refinement_from_any_start_reaches_the_closed_form_posterior_mean(start):
    model, M, rng = linear_gaussian(seed=1, state_init=start)
    model.V[0].copy_(torch.from_numpy(rng.normal(size=M.shape) * 2))  # an arbitrary, wrong guess
    model.c[0].copy_(torch.from_numpy(rng.normal(size=M.shape[0])))
    x = rng.normal(size=(8, 6))
    model.set_batch(torch.from_numpy(x), None, learning=False)
    start_err = np.abs(model.x[1].numpy() - x @ M.T).max()
    for _ in range(300):
        model.step(False)
    assert start_err > 0.1
    np.testing.assert_allclose(model.x[1].numpy(), x @ M.T, atol=1e-8)


def test_amortised_start_is_the_forward_sweep_and_the_gap_is_its_energy_excess():
    model, M, rng = linear_gaussian(seed=2)
    model.V[0].copy_(torch.from_numpy(M + 0.3 * rng.normal(size=M.shape)))
    x = rng.normal(size=(5, 6))
    model.set_batch(torch.from_numpy(x), None, learning=False)
    guess = x @ model.V[0].numpy().T
    np.testing.assert_allclose(model.x[1].numpy(), guess, atol=1e-12)
    for _ in range(200):
        model.step(False)

    def energy(z):  # the generative energy by hand: ½ εᵀΠ₀ε + ½ zᵀΠ₁z − ½ log|Π|
        p0, p1 = 1 / model.var[0].numpy(), 1 / model.var[1].numpy()
        e = x - z @ model.W[0].numpy().T
        return 0.5 * (e * e * p0).sum(1) + 0.5 * (z * z * p1).sum(1) - 0.5 * (np.log(p0).sum() + np.log(p1).sum())

    gap = model.scalar_tensors(None)["amortisation_gap"].item()
    np.testing.assert_allclose(gap, (energy(guess) - energy(x @ M.T)).mean(), rtol=1e-8)
    assert gap > 0


def test_lesioned_forward_path_is_plain_pc():
    torch.manual_seed(3)
    sizes = [12, 8, 5]
    common = dict(sizes=sizes, activation="tanh", dt=0.1, precision="diagonal", lr_weights=0.05)
    pc = PCModel(PCConfig(state_init="topdown", **common), DataInfo(12, (12,)), "cpu", seed=3, dtype=F64)
    hy = HybridPCModel(HybridPCConfig(forward_gain=0.0, **common), DataInfo(12, (12,)), "cpu", seed=3, dtype=F64)
    for l in range(2):
        hy.V[l].copy_(torch.randn_like(hy.V[l]))  # a forward model that would change the start
    for name, t in pc.state_tensors().items():
        hy.state_tensors()[name].copy_(t)
    for hold in range(3):
        x = torch.rand(4, 12, dtype=F64)
        for m in (pc, hy):
            m.set_batch(x, None, learning=True)
            for _ in range(20):
                m.step(True)
            m.end_hold(True)
        for a, b in zip(pc.x, hy.x):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
        torch.testing.assert_close(pc.W[0], hy.W[0], rtol=0, atol=1e-12)


def test_clamped_units_hold_in_the_forward_sweep():
    model, M, rng = linear_gaussian(D=6, n=3, seed=4)
    model.V[0].copy_(torch.from_numpy(M))
    model.clamp(1, [0, 2], 0.7)
    model.set_batch(torch.from_numpy(rng.normal(size=(3, 6))), None, learning=False)
    assert np.allclose(model.amortised[1][:, [0, 2]].numpy(), 0.7)
    assert np.allclose(model.x[1][:, [0, 2]].numpy(), 0.7)


def test_forward_precision_reaches_the_inverse_forward_error_variance():
    """With the forward weights held (lr_forward = 0) the precision step's fixed point is
    Φ = 1/⟨δ²⟩, δ the refined state minus the amortised guess, computed here by numpy."""
    model, M, rng = linear_gaussian(seed=5, forward_precision="scalar", lr_forward=0.0, lr_forward_precision=0.2)
    model.config.learn_precision = True
    model.config.precision = "fixed"  # keep the generative precisions
    V = M + 0.2 * rng.normal(size=M.shape)
    model.V[0].copy_(torch.from_numpy(V))
    xs = rng.normal(size=(64, 6))
    for _ in range(80):
        model.set_batch(torch.from_numpy(xs), None, learning=True)
        for _ in range(60):
            model.step(True)
        model.end_hold(True)
    delta = xs @ M.T - xs @ V.T
    np.testing.assert_allclose(1 / model.fvar[0].item(), 1 / (delta ** 2).mean(), rtol=1e-3)


def test_digits_hybrid_settles_in_a_few_steps_from_the_amortised_start():
    engine = Engine(load_preset("digits-hybrid", ["engine.learning=false"]), "cpu")
    x = torch.from_numpy(engine.test_data.x[:128])
    r = compare_starts(engine.model, x, steps=1000)
    s = r.summary()
    assert s["median_steps_amortised"] <= 4, s
    assert s["median_steps_topdown"] >= 3 * max(s["median_steps_amortised"], 1), s
    assert s["max_fixed_point_gap"] < 1e-3, s


def test_supervised_forward_sweep_learns_to_guess_the_label():
    """In the supervised mode the label sits at the top and is held while learning, so
    the forward model learns to guess it from the input: an amortised classifier, scored
    here on held-out digits against chance (10 %)."""
    from pcviz.data import load_digits

    d = load_digits()
    x, y = torch.from_numpy(d.x), torch.from_numpy(d.labels)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))
    train, test = idx[:1400], idx[1400:]
    cfg = HybridPCConfig(sizes=[64, 32, 10], mode="supervised", activation="tanh", dt=0.2,
                         preconditioner="diagonal", precision_layers=[0], lr_weights=0.05, lr_forward=0.02)
    model = HybridPCModel(cfg, DataInfo(64, (8, 8), 10), "cpu", seed=0)
    for _ in range(250):
        b = train[rng.integers(0, len(train), 32)]
        model.set_batch(x[b], y[b], learning=True)
        for _ in range(15):
            model.step(True)
        model.end_hold(True)
    model.set_batch(x[test], y[test], learning=False)  # the label is free at test
    accuracy = float((model.amortised[2].argmax(1) == y[test]).double().mean())
    assert accuracy > 0.75, accuracy
