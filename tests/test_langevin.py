"""Monte Carlo PC: Langevin inference samples the model's posterior. Checked against
the closed form of a linear Gaussian hierarchy (tests/gaussian_posterior.py:
conditioning the joint Gaussian, none of pcviz's code), from long-run sample
statistics of many chains at once; and the sample window's statistics against numpy."""

import numpy as np
import pytest
import torch

from gaussian_posterior import posterior
from pcviz.models.base import DataInfo
from pcviz.models.pc import PCConfig, PCModel
from pcviz.models.pc_sampling import SampleWindow

F64 = torch.float64


def linear_model(sizes, precisions, tau, dt, preconditioner, seed=3):
    cfg = PCConfig(sizes=list(sizes), activation="linear", input_activation="linear", precision="fixed",
                   dt=dt, langevin_temperature=tau, preconditioner=preconditioner, state_init="zeros",
                   implementation="reference")
    cfg.validate()
    model = PCModel(cfg, DataInfo(sizes[0], (sizes[0],), 0), "cpu", seed=seed, dtype=F64)
    g = torch.Generator().manual_seed(seed)
    for l, w in enumerate(model.W):
        w.copy_(torch.randn(w.shape, generator=g, dtype=F64) * 0.8)
    for l, b in enumerate(model.b):
        b.copy_(torch.randn(b.shape, generator=g, dtype=F64) * 0.5)
    for l, p in enumerate(precisions):
        model.var[l].fill_(1.0 / p)
    model.forward()
    return model


def chains(model, x0, n_chains, burn, keep, occlude=()):
    """Samples of the free layers (x_1..x_L stacked), (keep * n_chains, n)."""
    model.set_batch(torch.as_tensor(np.repeat(x0[None], n_chains, 0)), None, learning=False)
    if occlude:
        model.occlude(list(occlude))
    for _ in range(burn):
        model.step(False)
    out = []
    for _ in range(keep):
        model.step(False)
        out.append(torch.cat([model.x[l] for l in range(1, model.L + 1)], 1).clone())
    return torch.cat(out).numpy()


def euler_maruyama_covariance(H: np.ndarray, dt: float, tau: float) -> np.ndarray:
    """The stationary covariance C of x ← x − dt H (x − μ) + √(2 dt τ) ξ, the Euler step
    of Langevin dynamics on a Gaussian of precision H/τ: C = A C Aᵀ + 2 dt τ I with
    A = I − dt H, solved as (I − A⊗A) vec C = vec(2 dt τ I). As dt → 0 it tends to τ H⁻¹;
    for dt > 0 it is what an exact implementation of that step samples."""
    n = len(H)
    A = np.eye(n) - dt * H
    return np.linalg.solve(np.eye(n * n) - np.kron(A, A), (2 * dt * tau * np.eye(n)).ravel()).reshape(n, n)


@pytest.mark.parametrize("tau,preconditioner,occlude", [
    (1.0, "none", ()),
    (0.25, "none", ()),
    (1.0, "none", (0, 3)),  # occluded pixels leave the likelihood: the posterior given the rest
    (1.0, "bound", ()),
], ids=["tau1", "tau0.25", "occluded", "preconditioned"])
def test_langevin_samples_have_the_posterior_mean_and_covariance(tau, preconditioner, occlude):
    """x ← x − dt D⁻¹∇F + √(2 dt τ D⁻¹) ξ has exp(−F/τ) as its stationary law up to the
    Euler step's O(dt) bias: sample mean = posterior mean (no bias for a Gaussian),
    sample covariance = the Euler-Maruyama chain's (computed from the closed form's
    precision), itself within 12% of τ × the posterior covariance at this dt; for a
    6-4-3 linear network with a full covariance."""
    sizes, precisions = [6, 4, 3], [4.0, 2.0, 1.0]
    # burn-in 1500 steps: over 10 time constants 1/(dt λ_min) of the slowest mode (λ_min of
    # the curvature: 1.27 plain, 0.45 occluded; 0.07 preconditioned by D)
    dt = 0.02 if preconditioner == "none" else 0.1
    model = linear_model(sizes, precisions, tau, dt, preconditioner)
    x0 = np.array([0.9, -0.4, 1.3, 0.2, -1.1, 0.5])
    W = [w.numpy() for w in model.W]
    b = [t.numpy() for t in model.b]
    var = [np.full(n, 1 / p) for n, p in zip(sizes, precisions)]
    observed = np.ones(6, bool)
    observed[list(occlude)] = False
    mean, cov = posterior(W, b, var, x0, observed)
    samples = chains(model, x0, n_chains=2000, burn=1500, keep=40, occlude=occlude)
    got_mean, got_cov = samples.mean(0), np.cov(samples.T)
    sd = np.sqrt(tau * np.diag(cov))
    # 2000 independent chains: the mean's standard error is sd/45; allow 5 of them
    np.testing.assert_array_less(np.abs(got_mean - mean), 5 * sd / np.sqrt(2000))
    if preconditioner == "none":  # the chain's own law, computed from the closed form's precision
        target = euler_maruyama_covariance(np.linalg.inv(cov), dt, tau)
        assert np.abs(np.diag(target) / (tau * np.diag(cov)) - 1).max() < 0.12  # dt's bias (≈ dt λ_max / 2)
    else:  # D depends on the weights; at dt = 0.1 the bias is below dt·λ_max/2 = 4.7%
        target = tau * cov
    # sampling error of a covariance from 2000 chains: about 3% of the scale
    scale = np.sqrt(np.outer(np.diag(target), np.diag(target)))
    np.testing.assert_array_less(np.abs(got_cov - target) / scale, 0.1)
    ratio = np.diag(got_cov) / np.diag(target)
    assert np.abs(ratio - 1).max() < 0.08, ratio


def test_without_noise_inference_settles_on_the_posterior_mean():
    model = linear_model([6, 4, 3], [4.0, 2.0, 1.0], 0.0, 0.05, "none")
    x0 = np.array([0.9, -0.4, 1.3, 0.2, -1.1, 0.5])
    model.set_batch(torch.as_tensor(x0[None]), None, learning=False)
    for _ in range(4000):
        model.step(False)
    W = [w.numpy() for w in model.W]
    b = [t.numpy() for t in model.b]
    mean, _ = posterior(W, b, [np.full(n, 1 / p) for n, p in zip([6, 4, 3], [4.0, 2.0, 1.0])], x0)
    got = torch.cat([model.x[1], model.x[2]], 1)[0].numpy()
    np.testing.assert_allclose(got, mean, atol=1e-6)


def test_sample_window_mean_std_and_class_fractions_against_numpy():
    rng = np.random.default_rng(0)
    win = SampleWindow(7)
    values = rng.normal(size=(12, 3, 5))  # 12 steps, 3 batch items, layers of 2 and 3 units
    labels = rng.normal(size=(12, 3, 4))
    current = [torch.zeros(3, 2, dtype=F64), torch.zeros(3, 3, dtype=F64)]
    mean, std = win.mean_std(current)  # before any sample: the current values, spread 0
    assert all(float(s.abs().max()) == 0 for s in std)
    assert win.class_fractions(4) is None
    for t in range(12):  # wraps around the ring
        v = torch.as_tensor(values[t])
        win.push([v[:, :2], v[:, 2:]], torch.as_tensor(labels[t]))
    last = values[-7:]
    mean, std = win.mean_std(current)
    np.testing.assert_allclose(torch.cat(mean, 1).numpy(), last.mean(0))
    np.testing.assert_allclose(torch.cat(std, 1).numpy(), last.std(0))
    frac = win.class_fractions(4).numpy()
    expected = np.stack([np.bincount(labels[-7:, i].argmax(1), minlength=4) / 7 for i in range(3)])
    np.testing.assert_allclose(frac, expected)
    win.clear()
    assert win.class_fractions(4) is None
