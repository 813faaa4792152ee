"""The Monte Carlo PC presets against the closed form. Their model (label → image,
linear, Gaussian) has an exact posterior over the label vector given the visible
pixels (tests/gaussian_posterior.py), so the class probabilities that the Langevin
samples estimate, and the class that attention makes the network infer, are known
without pcviz's code."""

import numpy as np
import pytest
import torch

from gaussian_posterior import class_probabilities, posterior
from pcviz.sim import Engine, load_preset

BOTTOM = list(range(32, 64))  # rows 4-7 of the 8x8 input
TOP = list(range(0, 32))


def exact(model, x0, gain):
    """(mean, covariance) of the label given x0 with the input precision times ``gain``
    per pixel (0: occluded, left out)."""
    W = [model.W[0].double().numpy()]
    b = [t.double().numpy() for t in model.b]
    p0, p1 = float(model.precision(0)), float(model.precision(1))
    obs = gain > 0
    var0 = np.where(obs, 1 / (p0 * np.where(obs, gain, 1)), np.inf)
    return posterior(W, b, [var0, np.full(10, 1 / p1)], x0.astype(np.float64), obs)


def sampled_fractions(model, x0, n_chains=400, burn=600, keep=600, occlude=(), gains=()):
    """Fractions of the Langevin samples' label argmax per class, over many chains."""
    model.clear_interventions()
    model.set_batch(torch.as_tensor(np.repeat(x0[None], n_chains, 0)), None, learning=False)
    if occlude:
        model.occlude(list(occlude))
    for units, factor in gains:
        model.lesion(0, factor, list(units))
    counts = torch.zeros(10, dtype=torch.float64)
    for t in range(burn + keep):
        model.step(False)
        if t >= burn:
            counts += torch.bincount(model.x[1].argmax(1), minlength=10)
    return (counts / counts.sum()).numpy()


@pytest.fixture(scope="module")
def langevin():
    engine = Engine(load_preset("digits-langevin"), "cpu")
    return engine.model, engine.dataset.x[0], int(engine.dataset.labels[0])


def test_the_langevin_preset_shows_a_nine(langevin):
    _, _, label = langevin
    assert label == 9


@pytest.mark.parametrize("occluded", [False, True], ids=["intact", "bottom-occluded"])
def test_langevin_class_fractions_match_the_exact_posterior(langevin, occluded):
    """The preset's own sampler (τ = 1, dt = 0.2, bound preconditioner) against exact
    Gaussian draws from the closed-form posterior: intact the 9 is sure (P ≥ 0.95);
    with the bottom half occluded the samples split between 9 and 8."""
    model, x0, _ = langevin
    gain = np.ones(64)
    if occluded:
        gain[BOTTOM] = 0
    p = class_probabilities(*exact(model, x0, gain), n=100_000)
    got = sampled_fractions(model, x0, occlude=BOTTOM if occluded else ())
    np.testing.assert_allclose(got, p, atol=0.05)
    if occluded:
        assert set(np.argsort(p)[-2:]) == {8, 9} and p[8] > 0.2 and p[9] > 0.4
    else:
        assert p[9] > 0.95


@pytest.fixture(scope="module")
def attention():
    engine = Engine(load_preset("digits-attention"), "cpu")
    return engine


def test_attention_flips_the_inferred_class_as_the_closed_form_says(attention):
    """The chimera (top of a 9 over the bottom of a 0): a precision gain ×8 on the top
    half makes the exact posterior's most likely class 9, on the bottom half 0."""
    model, x0 = attention.model, attention.dataset.x[0]
    none, top, bottom = np.ones(64), np.ones(64), np.ones(64)
    top[TOP] = 8.0
    bottom[BOTTOM] = 8.0
    p_none, p_top, p_bottom = (class_probabilities(*exact(model, x0, g), n=100_000) for g in (none, top, bottom))
    assert p_none.max() < 0.5  # ambiguous without attention
    assert p_top.argmax() == 9 and p_top[9] > 0.8
    assert p_bottom.argmax() == 0 and p_bottom[0] > 0.9
    got = sampled_fractions(model, x0, gains=[(TOP, 8.0)])
    np.testing.assert_allclose(got, p_top, atol=0.05)


def test_the_attention_schedule_moves_inference_to_the_closed_form_means():
    """Without noise, the preset's schedule (lesion commands with a region and a
    factor of 8) settles the label on the closed-form posterior mean of each phase."""
    engine = Engine(load_preset("digits-attention", ["model.langevin_temperature=0.0"]), "cpu")
    model, x0 = engine.model, engine.dataset.x[0]
    for end, gain_rows in ((1500, None), (3500, TOP), (5500, BOTTOM)):
        engine.run_steps(end - engine.step_count)
        gain = np.ones(64)
        if gain_rows is not None:
            gain[gain_rows] = 8.0
        mean, _ = exact(model, x0, gain)
        np.testing.assert_allclose(model.x[1][0].double().numpy(), mean, atol=2e-3)
    assert [e.step for e in engine.events.all() if e.kind == "lesion"] == [1500, 3500, 3500]
