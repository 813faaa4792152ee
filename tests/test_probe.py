"""The stimulus probe against closed forms: a linear predictive-coding network's
steady state is the solution of a linear system, computed here with numpy."""

import csv

import numpy as np
import pytest
import torch

from pcviz.cli import main
from pcviz.data.stimuli import stimulus_set
from pcviz.models import DataInfo, PCConfig, PCModel
from pcviz.sim.probe import ProbeError, parse_condition, probe

PI0, PI1, LAM = 2.0, 0.5, 0.3


def linear_model(state_init="zeros"):
    cfg = PCConfig(sizes=[16, 3], activation="linear", input_activation="linear", precision="fixed",
                   precision_init=1.0, prior="gaussian", prior_strength=LAM, dt=0.5, preconditioner="diagonal",
                   state_init=state_init, learn_precision=False)
    m = PCModel(cfg, DataInfo(16, (4, 4)), seed=3)
    rng = np.random.default_rng(0)
    tensors = m.state_tensors()
    tensors["W.0"].copy_(torch.from_numpy(rng.normal(0, 0.5, (16, 3)).astype(np.float32)))
    tensors["b.0"].copy_(torch.from_numpy(rng.normal(0, 0.1, 16).astype(np.float32)))
    tensors["b.1"].copy_(torch.tensor([0.2, -0.1, 0.4]))
    tensors["var.0"].fill_(1 / PI0)
    tensors["var.1"].fill_(1 / PI1)
    m.forward()
    return m


def closed_form(m, images, pi0=PI0, pi1=PI1):
    """argmin_x1 ½π0|x0 − W x1 − b0|² + ½π1|x1 − b1|² + ½λ|x1|²: (x1, ε0), per image."""
    W = m.W[0].numpy().astype(np.float64)
    b0, b1 = m.b[0].numpy().astype(np.float64), m.b[1].numpy().astype(np.float64)
    A = pi0 * W.T @ W + (pi1 + LAM) * np.eye(3)
    x0 = images.reshape(len(images), -1).astype(np.float64)
    x1 = np.linalg.solve(A, (pi0 * (x0 - b0) @ W + pi1 * b1).T).T  # (S, 3)
    return x1, x0 - x1 @ W.T - b0


@pytest.fixture
def bars():
    return stimulus_set("bars", (4, 4), "length", [1, 2, 3, 4], {"orientation": 0, "position": 0.5})


def test_steady_state_activity_and_error_match_the_closed_form(bars):
    m = linear_model()
    x1, e0 = closed_form(m, bars.images)
    act = probe(m, bars, 1, quantity="activity", units=[0, 1, 2], hold_steps=400)
    err = probe(m, bars, 0, quantity="error", units=list(range(16)), hold_steps=400)
    np.testing.assert_allclose(act.responses[0], x1, atol=1e-4)
    np.testing.assert_allclose(err.responses[0], e0, atol=1e-4)


def test_conditions_match_their_closed_forms(bars):
    m = linear_model()
    res = probe(m, bars, 1, quantity="activity", units=[0, 1, 2], hold_steps=600,
                conditions=["intact", "no-feedback", "weak=lesion:0:0.5", "both=lesion:0:0.5+gain:1:3"])
    for name, pi0, pi1 in (("intact", PI0, PI1), ("no-feedback", PI0, 0.0), ("weak", PI0 / 2, PI1),
                           ("both", PI0 / 2, 3 * PI1)):
        x1, _ = closed_form(m, bars.images, pi0, pi1)
        np.testing.assert_allclose(res.responses[res.conditions.index(name)], x1, atol=1e-4, err_msg=name)


def test_a_clamp_condition_holds_the_unit():
    m = linear_model()
    st = stimulus_set("bars", (4, 4), "orientation", [0, 90])
    res = probe(m, st, 1, quantity="activity", units=[1], hold_steps=20, conditions=["c=clamp:1:1:0.7"])
    np.testing.assert_allclose(res.responses[0, :, 0], 0.7, atol=1e-6)


def test_mean_response_is_the_mean_over_the_hold(bars):
    """Euler on a linear system from zero: x_t = (I − (I − hA)^t) x*, summed in closed form."""
    m = linear_model()
    steps = 7
    res = probe(m, bars, 1, quantity="activity", units=[0, 1, 2], hold_steps=steps, response="mean")
    W = m.W[0].numpy().astype(np.float64)
    A = PI0 * W.T @ W + (PI1 + LAM) * np.eye(3)
    D = PI1 + (W ** 2).T @ np.full(16, PI0) + LAM  # the diagonal preconditioner
    M = np.eye(3) - 0.5 * A / D[:, None]
    x1, _ = closed_form(m, bars.images)
    mean = np.zeros_like(x1)
    P = np.eye(3)
    for _ in range(steps):
        P = M @ P
        mean += (x1 - x1 @ P.T)
    np.testing.assert_allclose(res.responses[0], mean / steps, atol=1e-5)


def test_stimuli_do_not_share_state_and_the_model_is_untouched(bars):
    m = linear_model(state_init="keep")
    before = {k: v.clone() for k, v in m.state_tensors().items()}
    fwd = probe(m, bars, 1, quantity="activity", units=[0, 1, 2], hold_steps=50)
    rev = stimulus_set("bars", (4, 4), "length", [4, 3, 2, 1], {"orientation": 0, "position": 0.5})
    back = probe(m, rev, 1, quantity="activity", units=[0, 1, 2], hold_steps=50)
    np.testing.assert_allclose(fwd.responses[0], back.responses[0][::-1], atol=1e-6)
    for k, v in m.state_tensors().items():
        assert torch.equal(v, before[k]), k


def test_auto_units_are_those_most_driven_by_the_centre_stimulus(bars):
    m = linear_model()
    x1, _ = closed_form(m, bars.images)
    res = probe(m, bars, 1, quantity="activity", units="auto", n_auto=2, hold_steps=400)
    assert res.units == list(np.argsort(-x1[bars.centre_index])[:2])


def test_curves_and_ratio(bars):
    m = linear_model()
    res = probe(m, bars, 1, quantity="activity", units=[0, 1, 2], hold_steps=400)
    x1, _ = closed_form(m, bars.images)
    curve = x1.mean(1)
    assert res.last_to_peak("intact") == pytest.approx(curve[-1] / curve.max(), rel=1e-3)
    assert len(list(res.rows())) == 4 * 3


def test_bad_requests_are_clear_errors(bars):
    m = linear_model()
    with pytest.raises(ProbeError, match="layers 0..1"):
        probe(m, bars, 5)
    with pytest.raises(ProbeError, match="streams"):
        probe(m, bars, 1, quantity="spikes")
    with pytest.raises(ProbeError, match="units 0..2"):
        probe(m, bars, 1, units=[7])
    with pytest.raises(ProbeError, match="use intact, no-feedback or NAME=SPEC"):
        parse_condition("lesioned", 1)
    with pytest.raises(ProbeError, match="not an intervention"):
        parse_condition("x=poke:1", 1)
    with pytest.raises(ProbeError, match="condition 'x'"):
        probe(m, bars, 1, conditions=["x=lesion:9"])


def test_probe_command_writes_csv_and_png(tmp_path, capsys):
    out = tmp_path / "curves.csv"
    assert main(["probe", "--preset", "patches-conv-pc", "--set", "data.n_samples=200", "--stimulus", "bars",
                 "--vary", "length", "--values", "2,6,12", "--hold", "5", "--condition", "intact",
                 "--condition", "no-feedback", "--condition", "l2=lesion:2", "--n-auto", "4",
                 "--normalise", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert sum("last/peak" in line for line in text.splitlines()) == 3
    rows = list(csv.DictReader(out.open()))
    assert set(rows[0]) == {"condition", "parameter", "unit", "response"}
    assert len(rows) == 3 * 3 * 4
    assert {r["condition"] for r in rows} == {"intact", "no-feedback", "l2"}
    png = out.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_probe_command_errors_are_messages(tmp_path, capsys):
    assert main(["probe", "--preset", "digits-pc", "--stimulus", "bars", "--vary", "colour",
                 "--out", str(tmp_path / "c.csv")]) == 2
    assert "no parameter 'colour'" in capsys.readouterr().err


def test_auto_units_among_a_subset(bars):
    m = linear_model()
    x1, _ = closed_form(m, bars.images)
    res = probe(m, bars, 1, quantity="activity", units="auto", n_auto=1, among=[0, 2], hold_steps=400)
    assert res.units == [[0, 2][int(np.argmax(x1[bars.centre_index, [0, 2]]))]]
    with pytest.raises(ProbeError, match="--among"):
        probe(m, bars, 1, among=[5])


def test_session_probe_matches_the_function_and_leaves_the_run_alone():
    from pcviz import Session

    with Session("patches-conv-pc", set={"data.n_samples": 200, "engine.learning": False}, device="cpu") as s:
        before = s.step_count
        res = s.probe("bars", "length", [2, 6, 12], layer=1, conditions=["intact", "no-feedback"], hold_steps=5)
        st = stimulus_set("bars", (16, 16), "length", [2, 6, 12])
        direct = probe(s.engine.model, st, 1, units=res.units, hold_steps=5, conditions=["intact", "no-feedback"])
        np.testing.assert_allclose(res.responses, direct.responses, rtol=1e-5, atol=1e-7)
        assert s.step_count == before
