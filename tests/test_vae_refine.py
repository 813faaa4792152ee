"""Semi-amortised refinement of the hierarchical VAEs: on a linear-Gaussian model it
reaches the mean-field optimum of the ELBO (closed form, computed here), and on the
shipped digit VAEs it never ends below the encoder's posterior."""

import math

import numpy as np
import pytest
import torch

from pcviz.models import DataInfo, build_model
from pcviz.models.lvae import BVAEConfig, LVAEConfig
from pcviz.sim import Engine, load_preset


def closed_form_elbo(m, s2, A, c, psi, x):
    """E_q log N(x; A z + c, diag ψ) − KL(q ‖ N(0, I)) for q = N(m, diag s2), per sample."""
    D = x.shape[1]
    resid = x - (m @ A.T + c)
    exp_ll = -0.5 * (D * math.log(2 * math.pi) + np.log(psi).sum() + ((resid ** 2 + s2 @ (A ** 2).T) / psi).sum(1))
    kl = 0.5 * (s2 + m ** 2 - 1 - np.log(s2)).sum(1)
    return exp_ll - kl


@pytest.mark.parametrize("kind", ["lvae", "bvae"])
def test_refinement_reaches_the_mean_field_optimum_of_a_linear_gaussian_vae(kind):
    D, K = 5, 2
    cls = LVAEConfig if kind == "lvae" else BVAEConfig
    cfg = cls(latents=[K], hidden_layers=0, activation="linear", likelihood="gaussian", warmup="none",
              inference="refine", refine_lr=0.1, refine_fixed_noise=True, refine_eval_samples=8192,
              refine_accept_se=0.0, refine_iw_every=1000)
    model = build_model(cfg, DataInfo(D, (1, D)), seed=4)
    net = model.net
    with torch.no_grad():
        net["lik"]["logvar"].copy_(torch.linspace(-1.5, 0.5, D))
        net["dec"][-1].weight.mul_(3.0)
    x = torch.randn(6, D, generator=torch.Generator().manual_seed(5)) * 2
    model.set_batch(x, None, learning=False)
    with torch.no_grad():  # the decoder's affine map and noise, read off the network
        dec = net["dec"]
        c = dec(torch.zeros(1, K))[0].double().numpy()
        A = np.stack([dec(torch.eye(K)[j : j + 1])[0].double().numpy() - c for j in range(K)], 1)  # (D, K)
        psi = (torch.nn.functional.softplus(net["lik"]["logvar"]) + 1e-3).double().numpy()
    xd = x.double().numpy()
    # the mean-field optimum: Λ = I + Aᵀ Ψ⁻¹ A, m* = Λ⁻¹ Aᵀ Ψ⁻¹ (x − c), s2*_i = 1 / Λ_ii
    lam = np.eye(K) + A.T @ np.diag(1 / psi) @ A
    m_opt = np.linalg.solve(lam, A.T @ np.diag(1 / psi) @ (xd - c).T).T
    s2_opt = np.broadcast_to(1 / np.diag(lam), m_opt.shape)
    best = closed_form_elbo(m_opt, s2_opt, A, c, psi, xd)
    model.step(False)  # the first step starts from the encoder's posterior
    (m_a, v_a), = model.refinement.posterior(x)
    start = closed_form_elbo(m_a.double().numpy(), v_a.double().numpy(), A, c, psi, xd)
    for _ in range(120):
        model.step(False)
    (m_r, v_r), = model.refinement.posterior(x)
    refined = closed_form_elbo(m_r.double().numpy(), v_r.double().numpy(), A, c, psi, xd)
    assert np.all(best - start > 0.05), best - start  # the encoder's posterior was not already optimal
    assert np.all(best - refined < 1e-3), best - refined
    assert np.all(refined <= best + 1e-9)  # the optimum is the optimum


@pytest.mark.parametrize("preset", ["digits-lvae", "digits-bvae"])
def test_refinement_never_ends_below_the_encoder_on_held_out_digits(preset):
    engine = Engine(load_preset(preset, ["engine.learning=false", "model.inference=refine"]), "cpu")
    model = engine.model
    x = torch.from_numpy(engine.test_data.x[:64])
    model.set_batch(x, None, learning=False)
    for _ in range(30):
        model.step(False)
    s = {k: v.item() for k, v in model.scalar_tensors(None).items()}
    ref = model.refinement
    streamed = (ref.elbo_refined - ref.elbo_amortised).numpy()  # nats, per sample
    assert np.all(streamed >= 0)
    assert s["amortisation_gap"] == pytest.approx(streamed.mean(), rel=1e-5)
    assert s["refine_steps"] == 30 and math.isfinite(s["approximation_gap"])
    # the same gap on fresh draws, common to both posteriors: the estimate that accepted the
    # steps cannot flatter itself here
    refined_offsets = ref.offsets
    zero = [(torch.zeros_like(a), torch.zeros_like(b)) for a, b in refined_offsets]
    x = model.frame_tensors()[0]["activity"]  # what the model scores: the binarised digits (Bernoulli)
    with torch.no_grad():
        after = ref.elbo_draws(x, 1024, torch.Generator().manual_seed(11), refined_offsets)
        before = ref.elbo_draws(x, 1024, torch.Generator().manual_seed(11), zero)
    diff = (after - before).double()
    gap, se = diff.mean(0).numpy(), (diff.std(0) / math.sqrt(diff.shape[0])).numpy()
    assert np.all(gap >= -3 * se), (gap.min(), se[gap.argmin()])  # ≥ 0 within the estimate's noise
    assert gap.mean() > 0.02  # and the refinement gains something on average (nats per sample)

