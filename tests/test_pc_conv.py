"""Convolutional predictive coding: equal to the dense model with the unrolled
convolution, adjoints checked against autograd, energy descent, precisions,
interventions, and kernels that become localised and oriented on patches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pcviz.config import ConfigError, build
from pcviz.models import DataInfo, ModelError, build_model
from pcviz.models.pc import PCConfig, PCModel
from pcviz.models.kernel_measures import kernel_localisation, kernel_orientation
from pcviz.models.pc_conv import PCConvConfig, PCConvModel

D64 = torch.float64


# (input side, conv geometry): the second needs an output padding (11 = 2*5 - 2 + 4 + 1)
GEOMETRIES = [
    (10, dict(channels=[3, 4], kernel_sizes=[4, 3], strides=[2, 1], paddings=[1, 1])),
    (11, dict(channels=[2, 3], kernel_sizes=[4, 2], strides=[2, 2], paddings=[1, 0])),
]


def conv_model(side: int, seed: int = 0, **kw) -> PCConvModel:
    cfg = PCConvConfig(**kw)
    cfg.validate()
    return PCConvModel(cfg, DataInfo(side * side, (side, side)), seed=seed, dtype=D64)


def unroll(model: PCConvModel, l: int) -> torch.Tensor:
    """The dense (n_l, n_{l+1}) matrix of x ↦ K_l ⊛ᵀ x, built column by column from
    unit impulses (independently of the model's own maps)."""
    cfg = model.config
    c1, h1, w1 = model.shapes[l + 1]
    _, h0, w0 = model.shapes[l]
    k, s, p = cfg.kernel_sizes[l], cfg.strides[l], cfg.paddings[l]
    op = (h0 - ((h1 - 1) * s - 2 * p + k), w0 - ((w1 - 1) * s - 2 * p + k))
    n1 = c1 * h1 * w1
    impulses = torch.eye(n1, dtype=D64).view(n1, c1, h1, w1)
    cols = F.conv_transpose2d(impulses, model.W[l], None, stride=s, padding=p, output_padding=op)
    return cols.reshape(n1, -1).T.contiguous()  # (n_l, n_{l+1})


def fold(model: PCConvModel, l: int, dense_grad: torch.Tensor) -> torch.Tensor:
    """Σ over the positions where each kernel weight appears: ⟨G, ∂M/∂K_e⟩ for every
    kernel entry e, with ∂M/∂K_e the unrolled matrix of the one-hot kernel e."""
    saved = model.W[l].clone()
    out = torch.zeros_like(saved)
    for idx in np.ndindex(*saved.shape):
        model.W[l].zero_()
        model.W[l][idx] = 1.0
        out[idx] = (dense_grad * unroll(model, l)).sum()
    model.W[l].copy_(saved)
    return out


def twin(conv: PCConvModel, **kw) -> PCModel:
    """The dense model whose weights are the unrolled convolutions, zero biases."""
    c = conv.config
    cfg = PCConfig(sizes=list(conv.sizes), activation=c.activation, input_activation=c.input_activation,
                   dt=c.dt, preconditioner=c.preconditioner, precision=kw.pop("precision", c.precision),
                   precision_init=c.precision_init, prior=c.prior, prior_strength=c.prior_strength,
                   weight_decay=0.0, lr_weights=c.lr_weights, lr_precision=c.lr_precision, state_init="keep",
                   precision_update="point")  # the convolutional family has only the point update
    dense = PCModel(cfg, DataInfo(conv.sizes[0], conv.data.display_shape), dtype=D64)
    for l in range(conv.L):
        dense.W[l].copy_(unroll(conv, l))
    for l in range(conv.L + 1):
        dense.var[l].copy_(conv.var[l].expand_as(dense.var[l]) if conv.var[l].numel() == 1
                           else conv.precision(l).reciprocal())
    return dense


def random_state(models, B: int, side: int, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, side * side, generator=g, dtype=D64)
    hidden = [torch.randn(B, n, generator=g, dtype=D64) * 0.7 for n in models[0].sizes[1:]]
    for m in models:
        m.config.state_init = "keep"
        m.set_batch(x, None, learning=True)
        for l, h in enumerate(hidden, start=1):
            m.x[l].copy_(h)
        m.forward()


@pytest.mark.parametrize("side,geom", GEOMETRIES)
@pytest.mark.parametrize("activation,precision,prior", [
    ("linear", "fixed", "gaussian"), ("tanh", "scalar", "cauchy"), ("sigmoid", "scalar", "l1")])
def test_equals_dense_model_with_unrolled_convolution(side, geom, activation, precision, prior):
    conv = conv_model(side, activation=activation, precision=precision, prior=prior, prior_strength=0.2,
                      preconditioner="diagonal", **geom)
    for l in range(conv.L + 1):  # unequal precisions per layer
        conv.var[l].fill_(1.0 / (0.5 + l))
    dense = twin(conv)
    random_state([conv, dense], B=3, side=side)
    for l in range(conv.L + 1):
        torch.testing.assert_close(conv.pred[l], dense.pred[l])
        torch.testing.assert_close(conv.err[l], dense.err[l])
    torch.testing.assert_close(conv.energies(), dense.energies())
    for a, b in zip(conv.gradients(), dense.gradients()):
        torch.testing.assert_close(a, b)
    for a, b in zip(conv.curvature_diagonal(), dense.curvature_diagonal()):
        torch.testing.assert_close(a, b)
    # weight and bias updates: the dense update folded back onto the kernels / channels
    dWc, dbc = conv.weight_gradients()
    dWd, dbd = dense.weight_gradients()
    for l in range(conv.L):
        torch.testing.assert_close(dWc[l], fold(conv, l, dWd[l]))
    for l in range(conv.L + 1):
        torch.testing.assert_close(dbc[l], dbd[l].view(conv.shapes[l][0], -1).sum(1))
    # the precision step (scalar: one group per layer in both)
    conv.update_precision(0.3)
    dense.update_precision(0.3)
    for l in range(conv.L + 1):
        torch.testing.assert_close(conv.var[l], dense.var[l])
    # inference steps (preconditioned Euler, with the L1 proximal step) stay equal
    for m in (conv, dense):
        for _ in range(5):
            m.step(True)
    for l in range(conv.L + 1):
        torch.testing.assert_close(conv.x[l], dense.x[l])


def test_per_channel_precision_equals_dense_with_the_same_diagonal():
    side, geom = GEOMETRIES[0]
    conv = conv_model(side, precision="channel", activation="tanh", **geom)
    for l in range(conv.L + 1):
        conv.var[l].copy_(torch.linspace(0.5, 2.0, conv.shapes[l][0], dtype=D64))
    dense = twin(conv, precision="diagonal")
    random_state([conv, dense], B=2, side=side)
    torch.testing.assert_close(conv.energies(), dense.energies())
    for a, b in zip(conv.gradients(), dense.gradients()):
        torch.testing.assert_close(a, b)


def functional_energy(model: PCConvModel, xs, Ks, bs):
    """F written directly with conv_transpose2d (Gaussian prior), for autograd."""
    cfg = model.config
    B = xs[0].shape[0]
    total = 0.0
    for l in range(model.L + 1):
        if l < model.L:
            k, s, p = cfg.kernel_sizes[l], cfg.strides[l], cfg.paddings[l]
            above = xs[l + 1].view(B, *model.shapes[l + 1])
            h_out = (model.shapes[l + 1][1] - 1) * s - 2 * p + k
            w_out = (model.shapes[l + 1][2] - 1) * s - 2 * p + k
            op = (model.shapes[l][1] - h_out, model.shapes[l][2] - w_out)
            a = F.conv_transpose2d(above, Ks[l], bs[l], stride=s, padding=p, output_padding=op).reshape(B, -1)
            pred = torch.tanh(a) if l > 0 else a
        else:
            pred = bs[l].repeat_interleave(model.shapes[l][1] * model.shapes[l][2]).expand(B, -1)
        prec = model.precision(l).expand(model.sizes[l])
        total = total + 0.5 * (prec * (xs[l] - pred) ** 2).sum()
        if l >= 1:  # λ_l: prior_strengths[l - 1] where given per level, else prior_strength
            lam = cfg.prior_strengths[l - 1] if cfg.prior_strengths else cfg.prior_strength
            total = total + 0.5 * lam * (xs[l] ** 2).sum()
    return total / B


# one λ for every level, or one per level (two levels here)
PRIORS = [dict(prior_strength=0.1), dict(prior_strength=0.1, prior_strengths=[0.02, 0.4])]


@pytest.mark.parametrize("prior", PRIORS, ids=["one-lambda", "per-level"])
@pytest.mark.parametrize("side,geom", GEOMETRIES)
def test_adjoint_and_weight_gradients_match_autograd(side, geom, prior):
    m = conv_model(side, activation="tanh", precision="channel", prior="gaussian", **prior, **geom)
    for l in range(m.L + 1):
        m.var[l].uniform_(0.5, 2.0)
        m.b[l].normal_(0.0, 0.3)
    random_state([m], B=3, side=side)
    xs = [x.clone().requires_grad_(True) for x in m.x]
    Ks = [w.clone().requires_grad_(True) for w in m.W]
    bs = [b.clone().requires_grad_(True) for b in m.b]
    functional_energy(m, xs, Ks, bs).backward()
    torch.testing.assert_close(m.energy().mean(), functional_energy(m, m.x, m.W, m.b) + sum(
        -0.5 * torch.log(m.precision(l)).expand(m.sizes[l]).sum() for l in range(m.L + 1)))
    for l, dx in enumerate(m.gradients()):  # −∂F/∂x per sample = −B ∂(F/B)/∂x
        torch.testing.assert_close(dx, -xs[l].grad * 3)
    dW, db = m.weight_gradients()
    for l in range(m.L):
        torch.testing.assert_close(dW[l], -Ks[l].grad)
    for l in range(m.L + 1):
        torch.testing.assert_close(db[l], -bs[l].grad)


@pytest.mark.parametrize("precond,prior,dt", [("none", "gaussian", 0.02), ("diagonal", "l1", 0.1),
                                               ("bound", "cauchy", 1.0), ("bound", "l1", 1.5)])
def test_energy_non_increasing_over_inference(precond, prior, dt):
    side, geom = 16, dict(channels=[4, 5], kernel_sizes=[6, 3], strides=[2, 1], paddings=[4, 1])
    m = conv_model(side, activation="tanh", precision="scalar", preconditioner=precond, prior=prior,
                   prior_strength=0.2, dt=dt, **geom)
    m.var[0].fill_(0.5)
    random_state([m], B=4, side=side)
    energies = [float(m.energy().sum())]
    for _ in range(150):
        m.step(False)
        energies.append(float(m.energy().sum()))
    diffs = np.diff(energies)
    assert diffs.max() <= 1e-9 * abs(energies[0]), f"energy rose by {diffs.max():.3g}"
    assert energies[-1] < energies[0] - 1.0


def test_bound_preconditioned_weight_step_lowers_the_energy():
    """With η ≤ 1 the step on (K, b) divided by the curvature bound lowers F at the
    held state, even with large precisions and activities (linear f: F is quadratic)."""
    side, geom = 12, dict(channels=[3, 4], kernel_sizes=[4, 3], strides=[2, 1], paddings=[2, 1])
    m = conv_model(side, activation="linear", precision="fixed", weight_preconditioner="bound",
                   lr_weights=1.0, learn_precision=False, **geom)
    for l in range(m.L + 1):
        m.var[l].fill_(1.0 / 40.0)
    random_state([m], B=4, side=side)
    for l in range(1, m.L + 1):
        m.x[l].mul_(6.0)
    m.forward()
    before = float(m.energy().mean())
    m.end_hold(True)
    assert float(m.energy().mean()) < before


def test_precision_fixed_point_is_inverse_error_variance_per_channel():
    side, geom = GEOMETRIES[0]
    m = conv_model(side, precision="channel", precision_min=1e-3, precision_max=1e3, **geom)
    random_state([m], B=5, side=side)
    m.occlude([0, 1, 2, 13])  # occluded inputs do not count
    for _ in range(200):
        m.update_precision(0.2)
    for l in range(m.L + 1):
        err = m.maps(m.err[l], l) ** 2  # (B, C, H, W)
        if l == 0:
            keep = (~m._occluded).view(1, *m.shapes[0]).to(D64)
            want = (err * keep).sum((0, 2, 3)) / (keep.sum() * err.shape[0])
        else:
            want = err.mean((0, 2, 3))
        torch.testing.assert_close(m.precision(l).view(m.shapes[l][0], -1)[:, 0], 1.0 / want)


# ----------------------------------------------------------------- interventions
def small_model(**kw):
    side, geom = GEOMETRIES[0]
    return conv_model(side, activation="tanh", preconditioner="bound", dt=1.0, **geom, **kw), side


def test_occluded_pixels_follow_the_prediction_and_carry_no_energy():
    m, side = small_model()
    random_state([m], B=2, side=side)
    units = [r * side + c for r in range(2, 6) for c in range(3, 7)]
    m.occlude(units)
    for _ in range(20):
        m.step(False)
    torch.testing.assert_close(m.x[0][:, units], m.pred[0][:, units])
    frame = m.frame_tensors()[0]
    assert float(frame["precision"][0].reshape(-1)[units].abs().max()) == 0.0
    others = [u for u in range(side * side) if u not in units]
    torch.testing.assert_close(m.x[0][:, others], m._data_x[:, others])
    m.unocclude()
    torch.testing.assert_close(m.x[0], m._data_x)


def test_clamped_channel_holds_its_value_and_release_frees_it():
    m, side = small_model()
    random_state([m], B=2, side=side)
    c, h, w = m.shapes[1]
    channel = list(range(2 * h * w, 3 * h * w))  # every position of cause 2
    m.clamp(1, channel, 0.8)
    for _ in range(10):
        m.step(False)
    assert torch.all(m.maps(m.x[1], 1)[:, 2] == 0.8)
    m.release(1)
    for _ in range(10):
        m.step(False)
    assert not torch.all(m.maps(m.x[1], 1)[:, 2] == 0.8)


def test_lesioned_error_no_longer_drives_the_layer_above():
    m, side = small_model(prior_strength=0.0)
    m.var[0].fill_(0.5)
    random_state([m], B=2, side=side)
    m.lesion(0, 0.0)
    torch.testing.assert_close(m.gradients()[1], -m.perr[1])  # only its own error remains
    # the input's error term is gone; its −½ log Π term stays
    torch.testing.assert_close(m.energies()[0], torch.full((2,), -0.5 * m.sizes[0] * math.log(2.0), dtype=D64))


def test_set_label_is_refused_clearly():
    m, _ = small_model()
    with pytest.raises(ModelError, match="no label layer"):
        m.set_label(3)


# ------------------------------------------------------------------ kernel measures
def test_kernel_measures_on_closed_forms():
    h = 9
    yy, xx = np.mgrid[0:h, 0:h] - (h - 1) / 2
    delta = np.zeros((h, h))
    delta[4, 4] = 1.0
    flat = np.ones((h, h))
    sigma = 1.2
    blob = np.exp(-(yy**2 + xx**2) / (2 * sigma**2))  # energy ∝ exp(−r²/σ²): variance σ²/2 per axis
    grating = np.cos(2 * np.pi * 0.25 * xx) * np.exp(-(yy**2 + xx**2) / (2 * 2.5**2))
    k = torch.tensor(np.stack([delta, flat, blob, grating, grating.T]))
    loc = kernel_localisation(k)
    assert loc[0] == pytest.approx(1.0)
    assert loc[1] == pytest.approx(0.0, abs=1e-12)
    assert loc[2] == pytest.approx(1.0 - sigma**2 / ((h * h - 1) / 6), abs=1e-3)
    ori = kernel_orientation(k)
    assert ori[0] == pytest.approx(0.0, abs=1e-12)  # a delta has a flat spectrum
    assert ori[2] == pytest.approx(0.0, abs=1e-12)  # any kernel symmetric under 90° turns
    assert ori[3] > 0.8 and ori[4] == pytest.approx(float(ori[3]))  # a Gabor, turned by 90°
    noise = torch.randn(200, 8, 8, generator=torch.Generator().manual_seed(0), dtype=D64)
    assert float(kernel_orientation(noise).mean()) < 0.25
    assert abs(float(kernel_localisation(noise).mean())) < 0.1


def test_kernels_become_localised_and_oriented_on_patches():
    """A short training run of the preset (smaller data, same model): both measures of
    layer 1's kernels rise well above their values at initialisation."""
    from pcviz.sim import Engine, load_preset

    cfg = load_preset("patches-conv-pc", ["engine.checkpoint=''", "data.n_samples=600", "data.batch_size=16",
                                          "data.hold_steps=20", "engine.learning=true"])
    engine = Engine(cfg, device="cpu")
    k0 = engine.model.kernels().clone()
    loc0, ori0 = float(kernel_localisation(k0).mean()), float(kernel_orientation(k0).mean())
    engine.run_steps(1200)
    assert engine.diverged is None
    k1 = engine.model.kernels()
    loc1, ori1 = float(kernel_localisation(k1).mean()), float(kernel_orientation(k1).mean())
    assert loc1 > loc0 + 0.15, (loc0, loc1)
    assert ori1 > ori0 + 0.08, (ori0, ori1)
    scalars = engine.model.scalar_tensors(0)  # the streamed measures follow the weights
    assert float(scalars["basis/localisation"]) == pytest.approx(loc1, rel=1e-5)
    assert float(scalars["basis/orientation"]) == pytest.approx(ori1, rel=1e-5)


# ------------------------------------------------------------- engine, presets, data
def test_preset_streams_image_shaped_layers_and_the_basis():
    from pcviz.sim import Engine, load_preset

    cfg = load_preset("patches-conv-pc", ["engine.checkpoint=''", "data.n_samples=100", "data.batch_size=4"])
    engine = Engine(cfg, device="cpu")
    spec = engine.spec
    assert [l.display_shape for l in spec.layers] == [(16, 16), (8, 5, 5), (10, 3, 3)]
    for layer in spec.layers:
        for q in ("activity", "prediction", "error", "precision"):
            assert layer.quantities[q] == layer.display_shape
    slot = engine.subscribe_latest(with_basis=True)
    queue = engine.subscribe_queue(every=2)
    engine.run_steps(10)
    frame = slot.take()
    assert frame.extras["basis"].shape == (8, 8, 8)
    assert frame.layers[1]["activity"].shape == (8, 5, 5)
    assert {"basis/localisation", "basis/orientation", "energy/total"} <= set(frame.scalars)
    assert queue.qsize() == 5 and queue.dropped == 0
    np.testing.assert_allclose(frame.extras["basis"], engine.model.W[0][:, 0].numpy())


def test_shipped_checkpoint_loads_and_its_basis_is_structured():
    from pcviz.paths import resources_dir
    from pcviz.sim import Engine, load_preset

    path = resources_dir() / "checkpoints" / "patches-conv-pc.pt"
    if not path.exists():
        pytest.fail(f"{path} is missing: make it with `pcviz train --preset patches-conv-pc --out {path}`")
    cfg = load_preset("patches-conv-pc", ["data.n_samples=100"])
    trained = Engine(cfg, device="cpu").model.kernels()
    fresh = Engine(load_preset("patches-conv-pc", ["data.n_samples=100", "engine.checkpoint=''"]),
                   device="cpu").model.kernels()
    assert float(kernel_localisation(trained).mean()) > float(kernel_localisation(fresh).mean()) + 0.3
    assert float(kernel_orientation(trained).mean()) > float(kernel_orientation(fresh).mean()) + 0.2


def test_checkpoint_round_trip(tmp_path):
    from pcviz.sim.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

    a, _ = small_model()
    a.W[0].normal_()
    path = save_checkpoint(a, tmp_path / "c.pt")
    b, _ = small_model()
    load_checkpoint(b, path)
    torch.testing.assert_close(b.W[0], a.W[0])
    other = conv_model(10, channels=[3, 5], kernel_sizes=[4, 3], strides=[2, 1], paddings=[1, 1])
    with pytest.raises(CheckpointError, match="channels"):
        load_checkpoint(other, path)


def test_runs_on_digits_and_on_a_photo_folder(tmp_path):
    from PIL import Image

    from pcviz.sim import Engine, load_preset

    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray((rng.random((40, 48)) * 255).astype(np.uint8)).save(tmp_path / f"p{i}.png")
    for over in (["data.source=digits", "model.kernel_sizes=[4,3]", "model.strides=[2,1]", "model.paddings=[2,1]"],
                 ["data.source=photos", f"data.path={tmp_path}", "data.n_samples=50"]):
        cfg = load_preset("patches-conv-pc", ["engine.checkpoint=''", "data.batch_size=4"] + over)
        engine = Engine(cfg, device="cpu")
        engine.run_steps(40)
        assert engine.diverged is None
        assert np.isfinite(engine.model.layer_energies().numpy()).all()


def test_bad_geometry_is_refused_with_the_field_named():
    with pytest.raises(ModelError, match=r"kernel_sizes\[0\] = 20"):
        conv_model(8, kernel_sizes=[20, 3])
    with pytest.raises(ConfigError, match="strides"):
        build(PCConvConfig, {"channels": [8, 10], "kernel_sizes": [8, 3], "strides": [2]}, prefix="model")
    with pytest.raises(ConfigError, match=r"paddings\[1\] = 3"):
        build(PCConvConfig, {"paddings": [4, 3]}, prefix="model")
    with pytest.raises(ModelError, match="image input"):
        build_model(PCConvConfig(), DataInfo(10, (10,)))


def test_a_new_batch_size_is_taken_with_its_data():
    """(the dense model shares set-up order with this one: both are checked)"""
    conv, side = small_model()
    dense = twin(conv)
    for m in (conv, dense):
        for B in (3, 5, 2):
            x = torch.randn(B, side * side, dtype=D64)
            m.set_batch(x, None, learning=False)
            torch.testing.assert_close(m.x[0], x)


@pytest.mark.parametrize("k,s,p,size,op", [(8, 4, 4, 5, (0, 0)), (3, 1, 0, 5, (0, 0)), (5, 2, 1, 4, (1, 0)),
                                           (4, 4, 0, 3, (2, 3)), (7, 3, 2, 6, (0, 0))])
def test_matmul_fold_form_equals_conv_transpose(k, s, p, size, op):
    """The CPU form of the prediction's transposed convolution against torch's own."""
    from pcviz.models.conv_maps import conv_transpose_fold

    gen = torch.Generator().manual_seed(k * 10 + s)
    x = torch.randn(3, 4, size, size + 1, generator=gen, dtype=torch.float64)
    w = torch.randn(4, 2, k, k, generator=gen, dtype=torch.float64)
    b = torch.randn(2, generator=gen, dtype=torch.float64)
    want = torch.nn.functional.conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op)
    got = conv_transpose_fold(x, w, b, s, p, op)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
