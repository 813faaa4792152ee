"""Closed-form checks of the hierarchical VAEs: the precision merge, the KL, the
warm-up schedule, and the ELBO as a lower bound on the log-likelihood."""

import math

import numpy as np
import pytest
import torch

from pcviz.models import DataInfo, build_model
from pcviz.models.lvae import BVAEConfig, LVAEConfig
from pcviz.models.vae_parts import kl_diag_gaussians, kl_weights, precision_merge



def test_merge_is_the_normalised_product_of_the_two_gaussians():
    """Integrate N(a, 1/πa) N(b, 1/πb) numerically on a grid and compare its mean and
    variance with the merge."""
    rng = np.random.default_rng(0)
    n = 12
    mu_a, mu_b = rng.normal(0, 2, n), rng.normal(0, 2, n)
    prec_a, prec_b = np.exp(rng.normal(0, 1, n)), np.exp(rng.normal(0, 1, n))
    grid = np.linspace(-30, 30, 300_001)[None, :]  # (1, G)
    dens = np.exp(-0.5 * prec_a[:, None] * (grid - mu_a[:, None]) ** 2
                  - 0.5 * prec_b[:, None] * (grid - mu_b[:, None]) ** 2)  # (n, G)
    dens /= dens.sum(1, keepdims=True)
    mean_num = (dens * grid).sum(1)
    var_num = (dens * (grid - mean_num[:, None]) ** 2).sum(1)
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    mu, var = precision_merge(t(mu_a), t(prec_a), t(mu_b), t(prec_b))
    np.testing.assert_allclose(mu.numpy(), mean_num, rtol=0, atol=1e-6)
    np.testing.assert_allclose(var.numpy(), var_num, rtol=1e-5)


def test_merge_moves_toward_the_more_precise_source():
    g = torch.Generator().manual_seed(1)
    mu_a, mu_b = torch.randn(1000, generator=g) * 3, torch.randn(1000, generator=g) * 3
    prec_a, prec_b = torch.rand(1000, generator=g) * 5 + 0.01, torch.rand(1000, generator=g) * 5 + 0.01
    mu, var = precision_merge(mu_a, prec_a, mu_b, prec_b)
    da, db = (mu - mu_a).abs(), (mu - mu_b).abs()
    a_wins = prec_a > prec_b
    assert bool((da[a_wins] <= db[a_wins] + 1e-6).all())
    assert bool((db[~a_wins] <= da[~a_wins] + 1e-6).all())
    lo, hi = torch.minimum(mu_a, mu_b), torch.maximum(mu_a, mu_b)
    assert bool(((mu >= lo - 1e-6) & (mu <= hi + 1e-6)).all())  # between the two
    assert bool((var < torch.minimum(1 / prec_a, 1 / prec_b)).all())  # tighter than either
    # a source with vanishing precision leaves the other one unchanged
    mu0, var0 = precision_merge(mu_a, prec_a, mu_b, torch.zeros_like(prec_b))
    torch.testing.assert_close(mu0, mu_a)
    torch.testing.assert_close(var0, 1 / prec_a)


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(2)
    shape = (7, 5)
    mq, mp = torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(shape, generator=g, dtype=torch.float64)
    vq = torch.rand(shape, generator=g, dtype=torch.float64) * 3 + 0.05
    vp = torch.rand(shape, generator=g, dtype=torch.float64) * 3 + 0.05
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mq, vq.sqrt()),
                                            torch.distributions.Normal(mp, vp.sqrt()))
    torch.testing.assert_close(kl_diag_gaussians(mq, vq, mp, vp), ref)
    assert float(kl_diag_gaussians(mq, vq, mq, vq).abs().max()) < 1e-12


def test_warmup_schedules():
    assert kl_weights("none", 0, 100, 10, 3) == [1.0, 1.0, 1.0]
    assert kl_weights("shared", 0, 100, 10, 3) == [0.0, 0.0, 0.0]
    assert kl_weights("shared", 50, 100, 10, 3) == [0.5, 0.5, 0.5]
    assert kl_weights("shared", 500, 100, 10, 3) == [1.0, 1.0, 1.0]
    # top_first: level L starts at 0, each level below `stagger` steps later
    assert kl_weights("top_first", 50, 100, 20, 3) == [pytest.approx(0.1), pytest.approx(0.3), pytest.approx(0.5)]
    assert kl_weights("top_first", 140, 100, 20, 3) == [1.0, 1.0, 1.0]
    assert kl_weights("top_first", 0, 0, 20, 3) == [1.0, 1.0, 1.0]


# ----------------------------------------------------------------- the bound
def _digits_like(n, seed=0):
    from pcviz.data import load_digits

    x = load_digits().x
    return torch.from_numpy(x[np.random.default_rng(seed).choice(len(x), n, replace=False)])


@pytest.mark.parametrize("cls", [LVAEConfig, BVAEConfig])
def test_importance_sampled_loglik_is_at_least_the_elbo(cls):
    cfg = cls(latents=[6, 3], hidden=24)
    model = build_model(cfg, DataInfo(64, (8, 8)), seed=3)
    x = _digits_like(16)
    g = torch.Generator().manual_seed(0)
    elbo = model.elbo(x.repeat(200, 1), generator=g).reshape(200, -1).mean(0)  # (B,) 200 draws each
    iw = model.importance_log_likelihood(x, k=1000, generator=g)  # (B,)
    assert bool(torch.isfinite(iw).all())
    # per sample and on average: the k-sample bound sits above the 1-sample one
    assert float((iw - elbo).min()) > 0
    assert float((iw - elbo).mean()) > 0.5


@pytest.mark.parametrize("kind", ["lvae", "bvae"])
def test_linear_gaussian_elbo_matches_closed_form_and_bounds_exact_loglik(kind):
    """One latent level, linear maps and a Gaussian likelihood make a probabilistic PCA:
    log p(x) = log N(x; c, A Aᵀ + Ψ) and the ELBO have closed forms."""
    D, K = 5, 2
    cls = LVAEConfig if kind == "lvae" else BVAEConfig
    cfg = cls(latents=[K], hidden_layers=0, activation="linear", likelihood="gaussian", warmup="none", lr=0.01)
    model = build_model(cfg, DataInfo(D, (1, D)), seed=4)
    net = model.net
    with torch.no_grad():  # a non-trivial decoder and noise level
        net["lik"]["logvar"].copy_(torch.linspace(-2.0, 0.5, D))
        net["dec"][-1].weight.mul_(3.0)
    dec = net["dec"]
    x = torch.randn(6, D, generator=torch.Generator().manual_seed(5)) * 2
    model.set_batch(x, None, learning=True)
    for _ in range(300):  # fit a little, so that q is a fair importance proposal
        model.step(True)
    with torch.no_grad():
        c = dec(torch.zeros(1, K))[0]  # (D,)
        A = torch.stack([dec(torch.eye(K)[j : j + 1])[0] - c for j in range(K)], 1)  # (D, K)
        psi = torch.nn.functional.softplus(net["lik"]["logvar"]) + 1e-3  # (D,)
        cov = A @ A.T + torch.diag(psi)
        exact = torch.distributions.MultivariateNormal(c.double(), cov.double()).log_prob(x.double())  # (B,)
        # the encoder's q(z|x) = N(m, diag(s2)), read from the frame of one pass
        model.set_batch(x, None, learning=False)
        layer = model.frame_tensors()[1]
        m = layer["activity"].double()  # (B, K)
        mu_p, prec_p = layer["prediction"].double(), layer["precision"].double()
    s2 = (1.0 / (layer["bu_precision"].double() + prec_p)) if kind == "lvae" else None
    if s2 is None:  # bvae: the posterior variance is the head's output
        with torch.no_grad():
            h = net["bu"][0](x)
            s2 = net["q_head"][0](net["q_block"][0](h))[1].double()
    Ad, cd, psid, xd = A.double(), c.double(), psi.double(), x.double()
    resid = xd - (m @ Ad.T + cd)
    exp_ll = -0.5 * (math.log(2 * math.pi) * D + torch.log(psid).sum()
                     + ((resid ** 2 + s2 @ (Ad ** 2).T) / psid).sum(1))
    kl = 0.5 * (s2 + (m - mu_p) ** 2 - 1 - torch.log(s2)).sum(1)  # against N(0, I)
    elbo_closed = exp_ll - kl
    assert bool((elbo_closed <= exact + 1e-9).all())
    g = torch.Generator().manual_seed(6)
    n = 20_000
    draws = model.elbo(x.repeat(n, 1), n_samples=1, generator=g).double().reshape(n, -1)  # (n, B)
    elbo_mc, se = draws.mean(0), draws.std(0) / math.sqrt(n)
    # the Monte Carlo ELBO agrees with the closed form within a few standard errors
    assert bool(((elbo_mc - elbo_closed).abs() <= 5 * se + 1e-4).all())
    iw = model.importance_log_likelihood(x, k=20000, generator=g, chunk=5000).double()
    assert bool((iw >= elbo_closed).all())
    # with many samples the importance-sampled estimate closes most of the gap to log p(x)
    assert bool(((exact - iw).abs() < 0.05 * (exact - elbo_closed) + 0.02).all())
