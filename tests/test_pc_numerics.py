"""The hierarchical PC model against the maths: energy descent, the closed-form
posterior of a linear network, backprop equivalence (Whittington & Bogacz 2017),
precision fixed points, clamps and occlusion."""

import numpy as np
import pytest
import torch

from pcviz.models import DataInfo, PCConfig, PCModel

F64 = torch.float64


def make(sizes, data_shape=None, n_classes=0, dtype=F64, seed=0, **kw):
    data_dim = sizes[-1] if kw.get("mode") == "discriminative" else sizes[0]
    shape = data_shape or (data_dim,)
    cfg = PCConfig(sizes=list(sizes), **kw)
    cfg.validate()
    return PCModel(cfg, DataInfo(int(np.prod(shape)), tuple(shape), n_classes), "cpu", seed=seed, dtype=dtype)


def total_energy(model):
    return float(model.energy().sum())


@pytest.mark.parametrize(
    "mode,extra",
    [
        ("unsupervised", {}),
        ("unsupervised", {"prior": "l1", "prior_strength": 0.05}),
        ("unsupervised", {"prior": "cauchy", "prior_strength": 0.1, "preconditioner": "diagonal"}),
        ("supervised", {}),
        ("discriminative", {}),
    ],
)
def test_energy_non_increasing_during_inference(mode, extra):
    torch.manual_seed(1)
    n_in, n_cls = 12, 3
    if mode == "discriminative":
        sizes = [n_cls, 8, n_in]
    elif mode == "supervised":
        sizes = [n_in, 8, n_cls]
    else:
        sizes = [n_in, 8, 5]
    model = make(sizes, n_classes=n_cls if mode != "unsupervised" else 0, mode=mode, activation="tanh",
                 dt=0.05, precision="diagonal", state_init="zeros", init_scale=1.5, **extra)
    for l in range(len(sizes)):  # unequal precisions, so the weighting matters
        model.var[l].copy_(torch.linspace(0.5, 2.0, sizes[l], dtype=F64))
    x = torch.rand(6, n_in, dtype=F64)
    labels = torch.randint(0, n_cls, (6,))
    model.set_batch(x, labels if mode != "unsupervised" else None, learning=True)
    energies = [total_energy(model)]
    for _ in range(300):
        model.step(learning=True)
        energies.append(total_energy(model))
    diffs = np.diff(energies)
    assert np.all(diffs <= 1e-10 * (1 + abs(energies[0]))), f"energy rose by {diffs.max():.3g}"
    assert energies[-1] < energies[0] - 1e-3  # and inference did something


def test_linear_fixed_point_is_the_closed_form_posterior_mean():
    """Linear network, x0 clamped: F is quadratic in z = (x1, x2), so the fixed point
    solves (AᵀΠA) z = AᵀΠ c, the Gaussian posterior mean."""
    torch.manual_seed(2)
    sizes = [6, 4, 3]
    model = make(sizes, activation="linear", input_activation="linear", precision="diagonal",
                 dt=0.05, state_init="zeros")
    W0, W1 = model.W
    b0, b1, b2 = (torch.randn(n, dtype=F64) * 0.3 for n in sizes)
    for b, v in zip(model.b, (b0, b1, b2)):
        b.copy_(v)
    pis = [torch.rand(n, dtype=F64) + 0.5 for n in sizes]
    for var, pi in zip(model.var, pis):
        var.copy_(1 / pi)
    d = torch.randn(1, sizes[0], dtype=F64)
    # residuals r = A z - c with z = [x1; x2]
    n1, n2 = sizes[1], sizes[2]
    A = torch.zeros(sum(sizes), n1 + n2, dtype=F64)
    c = torch.zeros(sum(sizes), dtype=F64)
    A[:6, :n1] = W0  # eps0 = d - W0 x1 - b0  ->  W0 x1 - (d - b0)
    c[:6] = d[0] - b0
    A[6:10, :n1] = torch.eye(n1, dtype=F64)  # eps1 = x1 - W1 x2 - b1
    A[6:10, n1:] = -W1
    c[6:10] = b1
    A[10:, n1:] = torch.eye(n2, dtype=F64)  # eps2 = x2 - b2
    c[10:] = b2
    P = torch.diag(torch.cat(pis))
    z = torch.linalg.solve(A.T @ P @ A, A.T @ P @ c)
    model.set_batch(d, None, learning=False)
    for _ in range(4000):
        model.step(learning=False)
    got = torch.cat([model.x[1][0], model.x[2][0]])
    torch.testing.assert_close(got, z, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("input_activation", ["linear", "sigmoid"])
def test_discriminative_updates_equal_backprop_gradients(input_activation):
    """Whittington & Bogacz (2017): with the input clamped at the top, the target
    clamped at the bottom and the output error weighted by a small precision γ (so the
    hidden nodes barely leave their feed-forward values), the equilibrium weight
    updates of PC divided by γ equal minus backprop's gradients of ½‖y − h0‖² in the
    equivalent feed-forward net."""
    torch.manual_seed(3)
    gamma = 1e-5
    sizes = [3, 6, 5, 4]  # label (3) at the bottom, input (4) at the top
    model = make(sizes, n_classes=3, mode="discriminative", activation="tanh",
                 input_activation=input_activation, precision="fixed", dt=0.2, state_init="topdown")
    model.var[0].fill_(1 / gamma)  # output precision γ
    for b in model.b:
        b.copy_(torch.randn_like(b) * 0.2)
    x_in = torch.randn(1, 4, dtype=F64)
    # feed-forward pass with autograd
    Ws = [w.clone().requires_grad_(True) for w in model.W]
    bs = [b.clone().requires_grad_(True) for b in model.b]
    acts = [torch.sigmoid if input_activation == "sigmoid" else (lambda a: a), torch.tanh, torch.tanh]
    h = x_in[0]
    for l in range(len(sizes) - 2, -1, -1):
        h = acts[l](Ws[l] @ h + bs[l])
    y = torch.tensor([1.0, 0.0, 0.0], dtype=F64)  # a one-hot target: an O(1) output error
    loss = 0.5 * ((y - h) ** 2).sum()
    grads = torch.autograd.grad(loss, Ws + bs[:-1])
    # PC: input clamped at the top, output clamped to y at the bottom
    model.set_batch(x_in, None, learning=True)
    for u in range(3):
        model.clamp(0, [u], float(y[u]))
    for _ in range(400):
        model.step(learning=True)
    dW, db = model.weight_gradients()
    for name, pcs, bps in (("W", dW, grads[: len(Ws)]), ("b", db, grads[len(Ws):])):
        for l, g in enumerate(bps):
            rel = float((pcs[l] / gamma + g).norm() / g.norm())
            assert rel < 1e-3, f"{name}{l}: relative difference {rel:.2e}"


def test_learned_precision_converges_to_inverse_error_variance():
    """Supervised linear net with the true weights: with the label clamped, the
    input error is exactly the noise, so Π_0,i → 1/σ_i²; the label layer's error is
    the one-hot code itself, so Π_top,k → 1/p_k (class frequency)."""
    torch.manual_seed(4)
    n_in, n_cls = 5, 4
    model = make([n_in, n_cls], n_classes=n_cls, mode="supervised", activation="linear",
                 input_activation="linear", precision="diagonal", lr_weights=0.0, lr_precision=0.02,
                 precision_min=1e-3, precision_max=1e4)
    sigma = torch.tensor([0.05, 0.1, 0.2, 0.4, 0.8], dtype=F64)
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=F64)
    W, b = model.W[0], model.b[0]
    for _ in range(1500):
        labels = torch.multinomial(probs, 512, replacement=True)
        x = W[:, labels].T + b + torch.randn(512, n_in, dtype=F64) * sigma
        model.set_batch(x, labels, learning=True)
        model.step(learning=True)  # all layers held: inference changes nothing
        model.end_hold(learning=True)
    torch.testing.assert_close(model.precision(0), 1 / sigma**2, rtol=0.08, atol=0)
    torch.testing.assert_close(model.precision(1), 1 / probs, rtol=0.08, atol=0)


def test_scalar_precision_is_inverse_mean_squared_error():
    torch.manual_seed(5)
    model = make([3, 2], n_classes=2, mode="supervised", activation="linear", precision="scalar",
                 lr_weights=0.0, lr_precision=0.05)
    sigma = torch.tensor([0.1, 0.2, 0.3], dtype=F64)
    for _ in range(800):
        labels = torch.randint(0, 2, (256,))
        x = model.W[0][:, labels].T + torch.randn(256, 3, dtype=F64) * sigma
        model.set_batch(x, labels, learning=True)
        model.step()
        model.end_hold()
    expected = 1 / (sigma**2).mean()
    assert abs(float(model.precision(0)) - float(expected)) / float(expected) < 0.08


def test_clamped_units_hold_and_release_frees_them():
    torch.manual_seed(6)
    model = make([10, 6, 4], dt=0.1)
    model.set_batch(torch.rand(3, 10, dtype=F64), None, learning=False)
    model.clamp(2, [1, 3], 0.7)
    model.clamp(1, [0], -0.4)
    for _ in range(50):
        model.step(False)
        assert torch.all(model.x[2][:, [1, 3]] == 0.7)
        assert torch.all(model.x[1][:, 0] == -0.4)
    free_before = model.x[2][:, 0].clone()
    assert not torch.allclose(free_before, torch.zeros_like(free_before))
    model.release(2, [1])
    for _ in range(50):
        model.step(False)
    assert not torch.all(model.x[2][:, 1] == 0.7)  # released: it moved
    assert torch.all(model.x[2][:, 3] == 0.7)  # still clamped


def test_zero_input_precision_region_is_filled_from_above():
    """Occluded pixels (precision 0) carry no information upward: two inputs that
    differ only there give the same hidden states and the same reconstruction, and
    the occluded pixels equal the top-down prediction."""
    torch.manual_seed(7)
    model = make([16, 8, 4], data_shape=(4, 4), dt=0.1, state_init="zeros")
    region = [0, 1, 4, 5]  # top-left 2x2 block
    x = torch.rand(2, 16, dtype=F64)
    x2 = x.clone()
    x2[:, region] = torch.rand(2, 4, dtype=F64) * 5  # very different pixels there
    results = []
    for inp in (x, x2):
        model.set_batch(inp, None, learning=False)
        model.occlude(region)
        for _ in range(200):
            model.step(False)
        results.append([t.clone() for t in model.x] + [model.pred[0].clone()])
        torch.testing.assert_close(model.x[0][:, region], model.pred[0][:, region])
        assert torch.all(model.effective_precision(0)[region] == 0)
        model.unocclude()
    for a, b in zip(results[0][1:], results[1][1:]):
        torch.testing.assert_close(a, b)
    # outside the region the input is still the data
    keep = [i for i in range(16) if i not in region]
    torch.testing.assert_close(results[1][0][:, keep], x2[:, keep])


def test_lesion_scales_precision_and_undo_restores_it():
    model = make([6, 4, 2])
    model.set_batch(torch.rand(2, 6, dtype=F64), None, learning=False)
    before = model.effective_precision(1).clone()
    model.lesion(1, 0.25, [0, 2])
    after = model.effective_precision(1)
    torch.testing.assert_close(after[[0, 2]], before[[0, 2]] * 0.25)
    torch.testing.assert_close(after[[1, 3]], before[[1, 3]])
    model.clear_interventions()
    torch.testing.assert_close(model.effective_precision(1), before)


def test_langevin_inference_samples_the_linear_posterior():
    """Monte Carlo PC: with τ = 1, Langevin inference in a linear-Gaussian model has
    the posterior as its stationary law; its variance is 1/(Π_1 + w²Π_0)."""
    torch.manual_seed(8)
    model = make([1, 1], activation="linear", input_activation="linear", precision="fixed", dt=0.02,
                 langevin_temperature=1.0, state_init="zeros")
    model.W[0].fill_(2.0)
    model.var[0].fill_(1 / 4.0)  # Π0 = 4
    model.var[1].fill_(1.0)  # Π1 = 1 (prior N(0, 1))
    d = torch.full((4096, 1), 1.5, dtype=F64)
    model.set_batch(d, None, learning=False)
    for _ in range(600):
        model.step(False)
    samples = model.x[1][:, 0]
    post_prec = 1.0 + 4.0 * 4.0
    post_mean = 4.0 * 2.0 * 1.5 / post_prec
    assert abs(float(samples.mean()) - post_mean) < 0.02
    # Euler-Maruyama with step dt inflates the variance by about 1/(1 - dt·λ/2)
    var_expected = (1 / post_prec) / (1 - 0.02 * post_prec / 2)
    assert abs(float(samples.var()) / var_expected - 1) < 0.1
