"""Discriminative PC's weight update against backprop, as streamed in
``bp_cosine/layer_l``: the equivalence (Whittington & Bogacz 2017) holds as the output
precision γ goes to 0, so the cosine is ≥ 0.999 at γ = 1e-3 and visibly lower at γ = 1.
Backprop's gradient here comes from an independent feed-forward pass with autograd."""

import numpy as np
import pytest
import torch

from pcviz.models import DataInfo, PCConfig, PCModel
from pcviz.sim import Engine, load_preset

F64 = torch.float64


def settled_model(gamma, seed=3):
    torch.manual_seed(seed)
    sizes = [3, 6, 5, 4]  # label (3) at the bottom, input (4) at the top
    cfg = PCConfig(sizes=sizes, mode="discriminative", activation="tanh", input_activation="sigmoid",
                   precision="fixed", dt=0.2, state_init="topdown", lr_weights=0.0)
    model = PCModel(cfg, DataInfo(4, (4,), 3), "cpu", seed=seed, dtype=F64)
    model.var[0].fill_(1 / gamma)
    for b in model.b:
        b.copy_(torch.randn_like(b) * 0.2)
    x = torch.randn(16, 4, dtype=F64)
    labels = torch.randint(0, 3, (16,))
    model.set_batch(x, labels, learning=True)
    for _ in range(400):
        model.step(learning=True)
    return model, x, labels


def independent_cosines(model, x, labels):
    Ws = [w.clone().requires_grad_(True) for w in model.W]
    bs = [b.clone().requires_grad_(True) for b in model.b[:3]]
    acts = [torch.sigmoid, torch.tanh, torch.tanh]
    h = x
    for l in (2, 1, 0):
        h = acts[l](h @ Ws[l].T + bs[l])
    y = torch.nn.functional.one_hot(labels, 3).to(F64)
    loss = 0.5 * ((y - h) ** 2).sum(1).mean()
    gW = torch.autograd.grad(loss, Ws + bs)
    dW, db = model.weight_gradients()
    out = []
    for l in range(3):
        pc = torch.cat([dW[l].reshape(-1), db[l]])
        bp = -torch.cat([gW[l].reshape(-1), gW[3 + l]])
        out.append(float(pc @ bp / (pc.norm() * bp.norm())))
    return np.array(out)


def test_cosine_is_one_at_small_output_precision_and_lower_at_one():
    cos = {}
    for gamma in (1e-3, 1.0):
        model, x, labels = settled_model(gamma)
        want = independent_cosines(model, x, labels)
        model.end_hold(learning=True)  # measures bp_cosine before any weight step
        got = model.bp_cosine.numpy()
        np.testing.assert_allclose(got, want, atol=1e-9)
        cos[gamma] = got
    assert np.all(cos[1e-3] >= 0.999), cos
    assert np.any(cos[1.0] < 0.999), cos  # the equivalence is a limit, not an identity


def test_engine_streams_bp_cosine_in_discriminative_mode():
    cfg = load_preset("digits-supervised", ["engine.checkpoint=''", "model.mode='discriminative'",
                                            "model.sizes=[10, 16, 64]", "model.precision_layers=[]",
                                            "data.batch_size=4", "data.hold_steps=10", "engine.learning=true"])
    e = Engine(cfg, "cpu")
    assert {"bp_cosine/layer_0", "bp_cosine/layer_1"} <= set(e.spec.scalars)
    e.run_steps(25)
    for batch in (False, True):
        f = e.snapshot(batch=batch)
        for l in range(2):
            v = f.scalars[f"bp_cosine/layer_{l}"]
            assert np.isfinite(v) and -1 <= v <= 1
            assert v == pytest.approx(float(e.model.bp_cosine[l]), abs=1e-5)


def test_cosine_is_measured_on_every_kth_learning_hold_and_held_between():
    """The autograd pass costs about a hold's inference: ``bp_cosine_every = k`` measures
    on learning holds 0, k, 2k, ... and the streamed value holds the last measurement."""
    model, _, _ = settled_model(1e-3)
    model.config.bp_cosine_every = 3
    measured = []
    for _ in range(7):
        model.bp_cosine.fill_(float("nan"))  # a measurement overwrites this marker
        model.end_hold(learning=True)  # lr_weights = 0: the state, hence the cosine, stays
        measured.append(bool(torch.isfinite(model.bp_cosine).all()))
    assert measured == [True, False, False, True, False, False, True]
    model.end_hold(learning=False)  # holds without learning are not counted
    model.bp_cosine.fill_(float("nan"))
    model.end_hold(learning=True)
    assert not torch.isfinite(model.bp_cosine).any()
