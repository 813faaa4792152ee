"""Learned precisions against closed forms: with hidden layers inferred (not clamped),
the laplace update (Σ ← ⟨ε²⟩ + diag(J C Jᵀ)) must find the true noise precisions of
linear-Gaussian data and the maximum-likelihood noise of factor analysis (computed here
by an independent numpy EM); the point update must not (it is biased, which is why the
laplace update is the default). The posterior variance itself is checked against
autograd's Jacobian and an explicit matrix inverse."""

import numpy as np
import pytest
import torch

from pcviz.models import DataInfo, PCConfig, PCModel
from pcviz.models.pc_precision import posterior_error_variance

F64 = torch.float64


def make(sizes, seed=0, **kw):
    cfg = PCConfig(sizes=list(sizes), activation="linear", input_activation="linear", dt=0.5,
                   preconditioner="diagonal", state_init="keep", lr_weights=0.0, precision_min=1e-3,
                   precision_max=1e4, **kw)
    cfg.validate()
    return PCModel(cfg, DataInfo(sizes[0], (sizes[0],)), "cpu", seed=seed, dtype=F64)


def linear_gaussian(sizes, variances, n, seed):
    """Samples of x_L ~ N(0, Σ_L), x_l = W_l x_{l+1} + N(0, Σ_l): (data (n, n_0), weights)."""
    g = torch.Generator().manual_seed(seed)
    Ws = [torch.randn(sizes[l], sizes[l + 1], generator=g, dtype=F64) / np.sqrt(sizes[l + 1])
          for l in range(len(sizes) - 1)]
    x = torch.randn(n, sizes[-1], generator=g, dtype=F64) * variances[-1].sqrt()
    for l in range(len(sizes) - 2, -1, -1):
        x = x @ Ws[l].T + torch.randn(n, sizes[l], generator=g, dtype=F64) * variances[l].sqrt()
    return x, Ws


def em_iterate(model, x, iterations, steps=15):
    """Precision learning with rate 1 on one fixed batch: each hold re-settles the
    inferred layers (warm-started) and sets Σ to its target, an EM iteration."""
    for _ in range(iterations):
        model.set_batch(x, None, learning=True)
        for _ in range(steps):
            model.step(learning=True)
        model.end_hold(learning=True)


@pytest.mark.parametrize("update", ["laplace", "point"])
def test_scalar_input_precision_of_linear_net_with_inferred_causes(update):
    """8 → 4 linear net with the true weights, input noise variance 0.1 (precision 10),
    causes N(0, 1) (precision 1), both learned. Laplace: both within 5 % of the truth.
    Point: the input precision is biased high (its closed form is ≈ 19; the test only
    asks that it misses by more than 5 %, so that this test can tell the two apart)."""
    sizes = [8, 4]
    var = [torch.tensor(0.1, dtype=F64), torch.tensor(1.0, dtype=F64)]
    x, Ws = linear_gaussian(sizes, var, 5000, seed=1)
    model = make(sizes, precision="scalar", lr_precision=1.0, precision_update=update)
    model.W[0].copy_(Ws[0])
    em_iterate(model, x, 100)
    p0, p1 = float(model.precision(0)), float(model.precision(1))
    if update == "laplace":
        assert abs(p0 - 10.0) / 10.0 < 0.05, p0
        assert abs(p1 - 1.0) < 0.05, p1
    else:
        assert abs(p0 - 10.0) / 10.0 > 0.05, p0


def test_diagonal_precisions_of_three_layer_linear_net():
    """8 → 4 → 2, every layer's noise different per unit, the two upper layers inferred:
    every learned diagonal precision within 5 % of its true value."""
    sizes = [8, 4, 2]
    var = [torch.linspace(0.05, 0.2, 8, dtype=F64), torch.linspace(0.1, 0.3, 4, dtype=F64),
           torch.tensor([1.0, 1.0], dtype=F64)]
    x, Ws = linear_gaussian(sizes, var, 10000, seed=2)
    model = make(sizes, precision="diagonal", lr_precision=1.0)
    for l, w in enumerate(Ws):
        model.W[l].copy_(w)
    em_iterate(model, x, 100)
    for l in range(3):
        rel = (model.precision(l) * var[l] - 1).abs().max()
        assert float(rel) < 0.05, (l, model.precision(l), 1 / var[l])


def numpy_factor_analysis(X, k, iterations, seed=0):
    """Maximum-likelihood factor analysis by EM (Rubin & Thayer 1982), written from the
    textbook, not from the model: x = μ + W z + e, z ~ N(0, I), e ~ N(0, diag ψ)."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    Xc = X - X.mean(0)
    S = Xc.T @ Xc / n
    W = rng.standard_normal((d, k))
    psi = np.diag(S).copy()
    for _ in range(iterations):
        beta = W.T @ np.linalg.inv(W @ W.T + np.diag(psi))  # (k, d)
        Ezz = np.eye(k) - beta @ W + beta @ S @ beta.T  # E[z zᵀ] averaged
        W = S @ beta.T @ np.linalg.inv(Ezz)
        psi = np.diag(S - W @ beta @ S)
    return W, psi


def test_factor_analysis_noise_matches_maximum_likelihood():
    """Factor-analysis data (6 observed, 2 factors, unequal noise). With the
    maximum-likelihood loadings from an independent EM as weights, the factor prior
    N(0, I) (top precision 1, not learned) and the input's diagonal precision learned
    with the laplace update, the fixed point is the ML noise ψ within 5 % (ψ-only EM from
    ψ = 1 is within 1 % after 150 iterations on this data)."""
    rng = np.random.default_rng(3)
    d, k, n = 6, 2, 5000
    W_true = rng.standard_normal((d, k)) * 0.7
    psi_true = np.array([0.2, 0.3, 0.4, 0.5, 0.6, 0.8])
    X = rng.standard_normal((n, k)) @ W_true.T + rng.standard_normal((n, d)) * np.sqrt(psi_true) + 0.3
    W_ml, psi_ml = numpy_factor_analysis(X, k, 3000)
    model = make([d, k], precision="diagonal", lr_precision=1.0, precision_layers=[0])
    model.W[0].copy_(torch.from_numpy(W_ml))
    model.b[0].copy_(torch.from_numpy(X.mean(0)))
    em_iterate(model, torch.from_numpy(X), 150)
    learned = 1 / model.precision(0).numpy()
    np.testing.assert_allclose(learned, psi_ml, rtol=0.05)
    # and the point rule would not: its noise is too small
    point = make([d, k], precision="diagonal", lr_precision=1.0, precision_layers=[0], precision_update="point")
    point.W[0].copy_(torch.from_numpy(W_ml))
    point.b[0].copy_(torch.from_numpy(X.mean(0)))
    em_iterate(point, torch.from_numpy(X), 150)
    assert np.max(np.abs(1 / point.precision(0).numpy() / psi_ml - 1)) > 0.05


@pytest.mark.parametrize("activation,prior", [("tanh", "gaussian"), ("sigmoid", "cauchy"), ("softplus", "l1")])
def test_posterior_error_variance_against_autograd(activation, prior):
    """diag(J_l C J_lᵀ) with J from autograd's Jacobian of the stacked errors in the
    free units and C the explicit inverse of the Gauss-Newton curvature Jᵀ Π J + prior;
    and, for the diagonal method, with C replaced by 1/diag."""
    torch.manual_seed(5)
    sizes = [7, 5, 3]
    cfg = PCConfig(sizes=sizes, activation=activation, input_activation=activation, precision="diagonal",
                   prior=prior, prior_strength=0.3, state_init="keep")
    model = PCModel(cfg, DataInfo(7, (7,)), "cpu", seed=0, dtype=F64)
    for l in range(3):
        model.var[l].copy_(torch.rand(sizes[l], dtype=F64) + 0.2)
    model.b[1].copy_(torch.randn(5, dtype=F64) * 0.3)
    model.set_batch(torch.randn(2, 7, dtype=F64), None, learning=True)
    model.clamp(1, [2], 0.4)  # a held hidden unit is not inferred
    for l in (1, 2):
        model.x[l].copy_(torch.where(model._fixed[l], model.x[l], torch.randn(2, sizes[l], dtype=F64)))
    model.forward()
    full = posterior_error_variance(model, "full")
    diag = posterior_error_variance(model, "diagonal")
    acts = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "softplus": torch.nn.functional.softplus}[activation]
    free1 = [0, 1, 3, 4]
    for b in range(2):
        def errors(z):
            x1 = model.x[1][b].clone()
            x1[free1] = z[:4]
            x2 = z[4:]
            e0 = model.x[0][b] - acts(model.W[0] @ x1 + model.b[0])
            e1 = x1 - acts(model.W[1] @ x2 + model.b[1])
            e2 = x2 - model.b[2]
            return torch.cat([e0, e1, e2])
        z = torch.cat([model.x[1][b][free1], model.x[2][b]])
        J = torch.autograd.functional.jacobian(errors, z)  # (15, 7)
        prec = torch.cat([model.precision(l) for l in range(3)])
        lam = 0.3
        if prior == "gaussian":
            curv = torch.full((7,), lam, dtype=F64)
        elif prior == "cauchy":
            curv = (2 * lam * (1 - z**2) / (1 + z**2) ** 2).clamp_min(0)
        else:
            curv = torch.zeros(7, dtype=F64)
        H = J.T @ (prec[:, None] * J) + torch.diag(curv)
        want = torch.diag(J @ torch.linalg.inv(H) @ J.T)
        got = torch.cat([full[l][b] for l in range(3)])
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10)
        want_diag = torch.diag(J @ torch.diag(1 / torch.diag(H)) @ J.T)
        got_diag = torch.cat([diag[l][b] for l in range(3)])
        torch.testing.assert_close(got_diag, want_diag, rtol=1e-8, atol=1e-10)
