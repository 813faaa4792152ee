"""The dense model's preconditioners against what their docstrings promise.

``bound`` claims H ≼ D (Gershgorin on the Gauss-Newton curvature), so the energy of a
linear network cannot rise for dt < 2: checked directly against autograd's Hessian of
the energy, and over 200 steps on ill-conditioned weights (nearly collinear columns,
precisions at their caps) with every dense preset's architecture and dt. ``diagonal``
promises nothing of the kind, and the same weights make its energy rise (so the test
can tell the two apart)."""

import numpy as np
import pytest
import torch

from pcviz.models import MODEL_FAMILIES, DataInfo, HybridPCModel, PCConfig, PCModel
from pcviz.sim.presets import load_preset

F64 = torch.float64
DENSE_PRESETS = ["digits-pc", "digits-pc-scratch", "digits-supervised", "patches-rao-ballard", "digits-hybrid"]


def ill_conditioned(cfg: PCConfig, data_dim: int, n_classes: int, seed=0) -> PCModel:
    """The preset's model with nearly collinear columns in every W and every precision
    at its cap."""
    model_cls = MODEL_FAMILIES[cfg.kind][1]  # PCModel, or HybridPCModel (its F is PC's)
    model = model_cls(cfg, DataInfo(data_dim, (data_dim,), n_classes), "cpu", seed=seed, dtype=F64)
    g = torch.Generator().manual_seed(seed)
    for l, w in enumerate(model.W):
        base = torch.randn(w.shape[0], 1, generator=g, dtype=F64)
        w.copy_((base + 0.05 * torch.randn(w.shape, generator=g, dtype=F64)) / np.sqrt(w.shape[0]))
    for v in model.V if isinstance(model, HybridPCModel) else []:  # a large guess far from F's minimum
        v.copy_(3.0 * torch.randn(v.shape, generator=g, dtype=F64))
    for v in model.var:
        v.fill_(1.0 / cfg.precision_max)
    return model


def energy_trace(preset: str, preconditioner: str | None, steps=200):
    """Total energy over ``steps`` inference steps at the preset's dt, with its own
    preconditioner (None) or another."""
    run = load_preset(preset)
    cfg = run.model
    if preconditioner is not None:
        cfg.preconditioner = preconditioner
    cfg.precision_max = max(cfg.precision_max, 1000.0) if cfg.precision != "fixed" else cfg.precision_max
    n_classes = 10 if cfg.mode != "unsupervised" else 0
    data_dim = cfg.sizes[-1] if cfg.mode == "discriminative" else cfg.sizes[0]
    model = ill_conditioned(cfg, data_dim, n_classes)
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 10, (8,), generator=g) if n_classes else None
    model.set_batch(torch.randn(8, data_dim, generator=g, dtype=F64), labels, learning=False)
    trace = [float(model.energy().sum())]
    for _ in range(steps):
        model.step(learning=False)
        trace.append(float(model.energy().sum()))
    return np.array(trace), cfg.dt


@pytest.mark.parametrize("preset", DENSE_PRESETS)
def test_presets_never_raise_the_energy_on_ill_conditioned_weights(preset):
    """Every dense preset's own preconditioner at its own dt."""
    assert load_preset(preset).model.preconditioner == "bound"
    trace, dt = energy_trace(preset, None)
    assert np.all(np.isfinite(trace))
    rises = np.diff(trace) > 1e-10 * np.abs(trace[:-1])
    assert not rises.any(), f"{preset} at dt = {dt}: energy rose at steps {np.flatnonzero(rises)[:5]}"


@pytest.mark.parametrize("preset", ["digits-pc", "patches-rao-ballard", "digits-hybrid"])
def test_diagonal_can_raise_the_energy_on_the_same_weights(preset):
    trace, _ = energy_trace(preset, "diagonal", steps=30)
    with np.errstate(invalid="ignore", over="ignore"):
        assert (np.diff(trace) > 0).sum() > 10 or not np.all(np.isfinite(trace))


@pytest.mark.parametrize("activation", ["linear", "tanh", "sigmoid"])
@pytest.mark.parametrize("prior", ["gaussian", "cauchy"])
def test_bound_dominates_the_gauss_newton_curvature(activation, prior):
    """D − H ≽ 0, H the Gauss-Newton curvature over the free units computed by
    autograd (for linear layers the full Hessian of the energy: checked against it)."""
    torch.manual_seed(2)
    sizes = [6, 5, 4]
    cfg = PCConfig(sizes=sizes, activation=activation, input_activation=activation, precision="diagonal",
                   preconditioner="bound", prior=prior, prior_strength=0.2, state_init="keep")
    model = PCModel(cfg, DataInfo(6, (6,)), "cpu", seed=0, dtype=F64)
    for l in range(3):
        model.var[l].copy_(1 / (torch.rand(sizes[l], dtype=F64) * 5 + 0.1))
    model.set_batch(torch.randn(1, 6, dtype=F64), None, learning=False)
    act = {"linear": lambda a: a, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[activation]
    prec = torch.cat([model.precision(l) for l in range(3)])

    def errors(z):
        x1, x2 = z[:5], z[5:]
        e0 = model.x[0][0] - act(model.W[0] @ x1 + model.b[0])
        e1 = x1 - act(model.W[1] @ x2 + model.b[1])
        return torch.cat([e0, e1, x2 - model.b[2]])

    D = torch.cat(model.curvature_diagonal()[1:])  # the free layers
    for _ in range(5):  # several states: the bound must hold everywhere
        z = torch.randn(9, dtype=F64) * 2
        J = torch.autograd.functional.jacobian(errors, z)
        x2 = z**2
        prior_curv = (torch.full((9,), 0.2, dtype=F64) if prior == "gaussian"
                      else 0.4 * (1 - x2) / (1 + x2) ** 2)
        H = J.T @ (prec[:, None] * J) + torch.diag(prior_curv)
        if activation == "linear":
            def energy(z):
                e = errors(z)
                rho = 0.5 * z**2 if prior == "gaussian" else torch.log1p(z**2)
                return 0.5 * (prec * e * e).sum() + 0.2 * rho.sum()
            torch.testing.assert_close(torch.autograd.functional.hessian(energy, z), H)
        assert float(torch.linalg.eigvalsh(torch.diag(D) - H).min()) > -1e-9


def test_conv_preset_never_raises_the_energy_on_ill_conditioned_kernels():
    """The convolutional preset's own "bound" at its dt: every cause's kernel nearly
    the same (overlapping, nearly collinear causes), precisions at their cap."""
    from pcviz.models.pc_conv import PCConvModel

    run = load_preset("patches-conv-pc")
    cfg = run.model
    assert cfg.preconditioner == "bound"
    side = run.data.patch_size
    model = PCConvModel(cfg, DataInfo(side * side, (side, side)), "cpu", seed=0, dtype=F64)
    g = torch.Generator().manual_seed(0)
    for w in model.W:  # (C_{l+1}, C_l, k, k)
        base = torch.randn(1, *w.shape[1:], generator=g, dtype=F64)
        w.copy_((base + 0.05 * torch.randn(w.shape, generator=g, dtype=F64)) / np.sqrt(w[0].numel()))
    for v in model.var:
        v.fill_(1.0 / cfg.precision_max)
    model.set_batch(torch.randn(4, side * side, generator=g, dtype=F64), None, learning=False)
    trace = [float(model.energy().sum())]
    for _ in range(200):
        model.step(learning=False)
        trace.append(float(model.energy().sum()))
    trace = np.array(trace)
    assert np.all(np.isfinite(trace))
    assert not (np.diff(trace) > 1e-10 * np.abs(trace[:-1])).any()
