"""The VAEs' numbers in nats: the likelihood is a normalised density of what the model
sees (binary images under Bernoulli, by enumeration; real pixels under Gaussian, by
numerical integration), the inputs a Bernoulli model sees are binary, the free-bits
objective is Σ_l β_l max(λ_l, batch-mean KL_l) − recon, and active units match an
independent computation (Burda et al. 2016: Var_x E_q[z_u] > threshold)."""

import itertools

import numpy as np
import pytest
import torch

from pcviz.models import DataInfo, build_model
from pcviz.models.lvae import BVAEConfig, LVAEConfig
from pcviz.models.vae_parts import likelihood_note, log_likelihood, positive_variance


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("cls", [LVAEConfig, BVAEConfig])
def test_bernoulli_likelihood_sums_to_one_over_every_binary_image(cls):
    """A 3x3 model: for decoder outputs of a few latent draws, Σ over all 512 binary
    images of p(x | z) is 1 within 1e-6."""
    torch.manual_seed(0)
    model = build_model(cls(latents=[3, 2], hidden=8, likelihood="bernoulli"), DataInfo(9, (3, 3)), seed=1)
    images = torch.tensor(list(itertools.product([0.0, 1.0], repeat=9)))  # (512, 9)
    x = (torch.rand(4, 9) > 0.5).float()
    with torch.no_grad():
        out = model._run(x, ["q"] * model.L, None, interventions=False).out  # (4, 9) logits
    for b in range(4):
        ll = log_likelihood("bernoulli", images, out[b].expand(512, 9), None).sum(1).double()  # (512,)
        assert abs(float(torch.logsumexp(ll, 0).exp()) - 1.0) < 1e-6


def test_gaussian_likelihood_integrates_to_one_per_pixel():
    """Per pixel the Gaussian likelihood is a density of real values: its numerical
    integral (trapezoid, ±12 standard deviations) is 1 within 1e-6."""
    mean = torch.tensor([0.2, -1.0, 3.0], dtype=torch.float64)
    logvar = torch.tensor([-3.0, 0.0, 1.5], dtype=torch.float64)
    sd = positive_variance(logvar).sqrt()
    for i in range(3):
        grid = torch.linspace(float(mean[i] - 12 * sd[i]), float(mean[i] + 12 * sd[i]), 200001, dtype=torch.float64)
        dens = log_likelihood("gaussian", grid[:, None], mean[i].expand(len(grid), 1), logvar[i:i + 1]).exp()[:, 0]
        assert abs(float(torch.trapezoid(dens, grid)) - 1.0) < 1e-6


def test_bernoulli_models_see_binary_inputs_drawn_from_the_grey_levels():
    """Dynamic binarisation: a grey level g becomes 1 with probability g, freshly at
    every presentation; evaluations binarise once, with a fixed seed."""
    model = build_model(LVAEConfig(latents=[3], hidden=8), DataInfo(4, (2, 2)), seed=0)
    grey = torch.tensor([[0.0, 0.25, 0.5, 1.0]]).repeat(4000, 1)
    model.set_batch(grey, None, learning=False)
    seen = model.frame_tensors()[0]["activity"]  # (4000, 4)
    assert bool(((seen == 0) | (seen == 1)).all())
    np.testing.assert_allclose(seen.mean(0).numpy(), [0.0, 0.25, 0.5, 1.0], atol=0.03)
    model.set_batch(grey, None, learning=False)
    assert not torch.equal(model.frame_tensors()[0]["activity"], seen)  # a fresh draw
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    torch.testing.assert_close(model.elbo(grey[:8], generator=g1), model.elbo(grey[:8], generator=g2))
    assert "Bernoulli" in likelihood_note("bernoulli") and "nats" in model.scalar_notes()["elbo"]


@pytest.mark.parametrize("fb", [[0.0, 0.0], [0.3, 5.0], [50.0, 0.1]])
def test_free_bits_objective_is_max_of_floor_and_batch_mean_kl_per_level(fb):
    torch.manual_seed(1)
    model = build_model(LVAEConfig(latents=[4, 2], hidden=8, free_bits=fb, warmup="none"), DataInfo(9, (3, 3)),
                        seed=2)
    recon = torch.randn(5)
    kl = [torch.rand(5, 4) * 0.5, torch.rand(5, 2) * 0.5]
    want = -float(recon.mean())
    for level in range(2):
        batch_mean = float(kl[level].sum(1).mean())
        want += max(fb[level], batch_mean)
    assert float(model._objective(recon, kl)) == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("cls", [LVAEConfig, BVAEConfig])
def test_active_units_against_an_independent_count(cls):
    """Active units from the posterior means of held-out data, computed here with
    numpy (Var over samples of E_q[z_u] above the threshold), not read from the model's
    stream."""
    torch.manual_seed(3)
    model = build_model(cls(latents=[6, 3], hidden=16, likelihood="gaussian", active_threshold=0.01),
                        DataInfo(9, (3, 3)), seed=4)
    x = torch.randn(256, 9)  # diagnostics_samples: diagnose uses them all
    model.set_reference_data(x)
    with torch.no_grad():
        means = model.posterior_means(x)  # per level (N, n_l)
    var = [np.var(m.numpy().astype(np.float64), axis=0) for m in means]
    # a threshold between the units' variances, so that the count is neither 0 nor all
    srt = np.sort(var[0])
    model.config.active_threshold = float(0.5 * (srt[2] + srt[3]))
    diag = model.diagnose()
    for level, v in enumerate(var):
        assert int(diag["active"][level]) == int((v > model.config.active_threshold).sum())
    assert int(diag["active"][0]) == 3


def test_recordings_say_which_likelihood_the_elbo_is_of(tmp_path, capsys):
    import h5py

    from pcviz.cli import main
    from pcviz.io import open_recording

    out = tmp_path / "vae.h5"
    rc = main(["record", "--preset", "digits-lvae", "--steps", "5", "--out", str(out), "--device", "cpu",
               "--set", "engine.checkpoint=''", "--set", "data.batch_size=3"])
    assert rc == 0, capsys.readouterr().err
    rec = open_recording(out)
    try:
        assert "Bernoulli" in rec.spec.scalar_notes["elbo"] and "nats" in rec.spec.scalar_notes["elbo"]
    finally:
        rec.close()
    with h5py.File(out, "r") as f:
        assert "Bernoulli" in f["scalars/elbo"].attrs["description"]
        assert "Bernoulli" in f["scalars/heldout/elbo"].attrs["description"]
