"""The fused CPU calls of the fast step (pcviz.models.pc_numba): each kernel against its
formula computed here in float64 numpy, the float32 rational tanh against float64
tanh, and whole models with the fused calls against the reference step and the
benchmark's plain loop (holds run without reading anything in between, so the
deferred predictions of held layers are computed only when the weight step reads them)."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from pcviz.bench.pc_vs_plain import comparison_config, run_model, run_plain_pc
from pcviz.models import DataInfo, PCModel
from pcviz.models import pc_numba


def test_rational_tanh_is_within_four_tenths_of_a_millionth_of_tanh():
    v = np.linspace(-12, 12, 1_000_001).astype(np.float32)
    exact = np.array([math.tanh(float(t)) for t in v[::97]])  # an independent tanh, float64
    approx = pc_numba.tanh_rational(v)
    assert np.abs(approx[::97] - exact).max() < 4e-7
    assert np.abs(approx - np.tanh(v.astype(np.float64))).max() < 4e-7
    assert np.abs(approx).max() <= 1.0
    np.testing.assert_array_equal(approx, -pc_numba.tanh_rational(-v))  # odd
    assert pc_numba.tanh_rational(np.float32(0.0)) == 0.0
    huge = np.float32([50.0, 1e30, np.inf])  # clamped before the polynomial, which would overflow to inf/inf
    np.testing.assert_allclose(pc_numba.tanh_rational(huge), 1.0, rtol=0, atol=1.2e-7)
    np.testing.assert_allclose(pc_numba.tanh_rational(-huge), -1.0, rtol=0, atol=1.2e-7)
    tiny = np.float32([1e-30, 1e-8, 1e-4])
    np.testing.assert_allclose(pc_numba.tanh_rational(tiny), tiny, rtol=1e-7)  # tanh v ≈ v near 0


def _arrays(dtype, B=5, n=37, seed=0):
    rng = np.random.default_rng(seed)
    return {"a": (rng.standard_normal((B, n)) * 3).astype(dtype), "bias": rng.standard_normal(n).astype(dtype),
            "x": rng.standard_normal((B, n)).astype(dtype), "peff": rng.random(n).astype(dtype) + 0.5,
            "dx": rng.standard_normal((B, n)).astype(dtype), "perr": rng.standard_normal((B, n)).astype(dtype),
            "scale": rng.random(n).astype(dtype) * 0.1, "pred": rng.standard_normal((B, n)).astype(dtype)}


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-6), (np.float64, 1e-13)])
def test_prediction_kernels_compute_their_formulas(dtype, tol):
    d = _arrays(dtype)
    y = np.tanh(d["a"].astype(np.float64) + d["bias"])
    want = {"pred": y, "fprime": 1 - y * y, "err": d["x"] - y, "perr": d["peff"] * (d["x"] - y)}
    want["g"] = want["perr"] * want["fprime"]
    out = {k: np.full_like(d["a"], np.nan) for k in want}
    pc_numba.predict_tanh(d["a"], d["bias"], d["x"], d["peff"], *[out[k] for k in ("pred", "fprime", "err", "perr", "g")])
    for k, v in want.items():
        np.testing.assert_allclose(out[k], v, rtol=0, atol=tol, err_msg=k)
    g = np.full_like(d["a"], np.nan)
    pc_numba.drive_tanh(d["a"], d["bias"], d["x"], d["peff"], g)
    np.testing.assert_allclose(g, want["g"], rtol=0, atol=tol)


@pytest.mark.parametrize("prior", ["none", "gaussian", "cauchy"])
@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-6), (np.float64, 1e-13)])
def test_update_kernels_compute_an_euler_step(prior, dtype, tol):
    d = _arrays(dtype, seed=1)
    lam = 0.3
    x = d["x"].astype(np.float64)
    prior_grad = {"none": 0 * x, "gaussian": lam * x, "cauchy": 2 * lam * x / (1 + x * x)}[prior]
    want = x + d["scale"] * (d["dx"] - d["perr"] - prior_grad)
    gauss, cauchy = (lam if prior == "gaussian" else 0.0), (lam if prior == "cauchy" else 0.0)
    xs = d["x"].copy()
    pc_numba.update_state(xs, d["dx"], d["perr"].copy(), d["scale"], gauss, cauchy)
    np.testing.assert_allclose(xs, want, rtol=0, atol=tol)
    xs, perr, err = d["x"].copy(), d["perr"].copy(), np.full_like(d["x"], np.nan)
    pc_numba.update_state_and_error(xs, d["dx"], perr, d["scale"], gauss, cauchy, d["pred"], d["peff"], err)
    np.testing.assert_allclose(xs, want, rtol=0, atol=tol)
    np.testing.assert_allclose(err, want - d["pred"], rtol=0, atol=tol)
    np.testing.assert_allclose(perr, d["peff"] * (want - d["pred"]), rtol=0, atol=tol)


def _batches(n_in, n_out, B=6, n=3, dtype=torch.float64):
    gen = torch.Generator().manual_seed(0)
    return ([torch.rand(B, n_in, generator=gen, dtype=dtype) for _ in range(n)],
            [torch.randint(0, n_out, (B,), generator=gen) for _ in range(n)])


@pytest.mark.parametrize("direction", ["supervised", "generative"])
def test_fused_holds_end_where_the_plain_loop_does(direction):
    """Whole holds with nothing read between steps: the prediction of the held layer at
    the bottom (the image, or the label) is left to the weight step to complete."""
    cfg = dataclasses.replace(comparison_config(direction, width=9, n_in=20, n_out=4), cpu_kernels="fused")
    model = PCModel(cfg, DataInfo(20, (4, 5), n_classes=4), "cpu", seed=0, dtype=torch.float64)
    batches, labels = _batches(20, 4)
    plain = run_plain_pc(cfg, model.W, model.b, model.var, batches, labels, 7)
    run_model(model, batches, labels, 7)
    plan = model._fast.plan
    assert plan.kernels.name == "fused" and 0 in plan.fused and plan.defers
    for l, (a, b) in enumerate(zip(model.W + model.b, plain.W + plain.b)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11, msg=lambda m: f"parameter {l}: {m}")


def test_float32_fused_step_agrees_with_the_reference_to_float32_rounding():
    """The benchmark's generative network (smaller), float32, three learning holds of 20
    steps: the fused calls (rational tanh, within 4e-7 of tanh) and torch's calls end
    within a few float32 roundings (1e-6 of the weights' scale) of the reference step."""
    cfg = comparison_config("generative", width=48, n_in=100, n_out=10)
    data = DataInfo(100, (10, 10), n_classes=10)
    models = {k: PCModel(dataclasses.replace(cfg, cpu_kernels=k, implementation=impl), data, "cpu", seed=1)
              for k, impl in (("fused", "fast"), ("torch", "fast"), ("auto", "reference"))}
    batches, labels = _batches(100, 10, B=16, dtype=torch.float32)
    for m in models.values():
        run_model(m, batches, labels, 20)
    assert models["fused"]._fast.plan.kernels.name == "fused"
    ref = models["auto"]
    gap = {k: max(float((a - b).abs().max()) for a, b in zip(models[k].W + models[k].x, ref.W + ref.x))
           for k in ("fused", "torch")}
    scale = max(float(w.abs().max()) for w in ref.W)
    assert gap["fused"] < 1e-6 * scale and gap["torch"] < 1e-6 * scale, gap


def test_a_diverging_state_stays_not_a_number():
    """The passes are compiled with fast-math but without its no-NaN/no-infinity
    assumptions: a NaN goes through (the engine's divergence check looks for it), and
    an infinite pre-activation saturates."""
    a = np.float32([[np.nan, np.inf, -np.inf, 0.5]])
    row, zeros = np.ones(4, np.float32), np.zeros((1, 4), np.float32)
    out = [np.full_like(a, 7.0) for _ in range(5)]
    pc_numba.predict_tanh(a, row * 0, zeros, row, *out)
    pred, fprime, err, perr, g = out
    assert np.isnan(pred[0, 0]) and np.isnan(g[0, 0]) and np.isnan(err[0, 0])
    np.testing.assert_allclose(pred[0, 1:], [1.0, -1.0, math.tanh(0.5)], atol=2e-7)
    drive = np.full_like(a, 7.0)
    pc_numba.drive_tanh(a, row * 0, zeros, row, drive)
    assert np.isnan(drive[0, 0]) and np.isfinite(drive[0, 1:]).all()
    x = np.float32([[1.0, 2.0, 3.0, 4.0]])
    dx = np.float32([[np.nan, 0.0, 0.0, 0.0]])
    for gauss, cauchy in ((0.0, 0.0), (0.1, 0.0), (0.0, 0.1)):
        xs = x.copy()
        pc_numba.update_state(xs, dx, zeros, row * 0.1, gauss, cauchy)
        assert np.isnan(xs[0, 0]) and np.isfinite(xs[0, 1:]).all()


def test_a_model_with_large_layers_compiles_its_passes_when_built_not_in_its_first_step():
    """Building the model compiles (or loads) every pass, for the argument types the
    plan then binds (numba compiles once per type signature), so the first step
    compiles nothing."""
    import numba

    cfg = comparison_config("generative", width=64, n_in=300, n_out=10)
    model = PCModel(cfg, DataInfo(300, (15, 20), n_classes=10), "cpu", seed=0)
    passes = (pc_numba.predict_tanh, pc_numba.drive_tanh, pc_numba.update_state, pc_numba.update_state_and_error)
    assert all(p.signatures for p in passes)
    batches, labels = _batches(300, 10, B=40, n=2, dtype=torch.float32)
    run_model(model, batches, labels, 3)
    plan = model._fast.plan
    assert plan.kernels.name == "fused" and plan.fused and plan.fused_update
    # the types warm_up compiled for, and those of every fused call the plan binds
    warm = {numba.typeof(np.zeros((1, 2), np.float32)), numba.typeof(np.zeros(2, np.float32)), numba.typeof(0.0)}
    bound = [op for op in plan.ops if op.func in passes]
    assert len(bound) == 4  # two updates, the image's drive, layer 1's prediction stage
    for op in bound:
        assert {numba.typeof(a) for a in op.args} <= warm, op.func


def test_without_a_writable_cache_the_passes_are_compiled_in_the_process(monkeypatch):
    """A read-only install with no user cache folder: numba finds no place for its cache
    and would refuse to compile a cached function; the passes compile uncached."""
    from numba.core import caching

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])

    def triple(a):
        for i in range(a.shape[0]):
            a[i] *= 3

    f = pc_numba._compiled_pass(triple)
    a = np.ones(3, np.float32)
    f(a)
    np.testing.assert_array_equal(a, [3, 3, 3])


def test_where_the_passes_cannot_load_auto_takes_torch_calls_and_fused_says_why(monkeypatch):
    """numba missing, or built for another numpy: ``auto`` warns and binds torch's calls
    (the model still builds and steps), ``fused`` is refused
    with the reason when the model is built."""
    from pcviz.models import pc_kernels
    from pcviz.models.base import ModelError

    monkeypatch.setattr(pc_kernels, "compiled_passes", lambda: (None, "Numba needs NumPy 2.4 or less"))
    cfg = comparison_config("generative", width=64, n_in=300, n_out=10)
    data = DataInfo(300, (15, 20), n_classes=10)
    with pytest.warns(UserWarning, match="NumPy 2.4"):
        model = PCModel(cfg, data, "cpu", seed=0)
    batches, labels = _batches(300, 10, B=40, n=1, dtype=torch.float32)
    with pytest.warns(UserWarning, match="torch's calls instead"):
        run_model(model, batches, labels, 3)
    assert model._fast.plan.kernels.name == "torch"
    with pytest.raises(ModelError, match="cpu_kernels = fused.*NumPy 2.4.*auto, torch or numpy"):
        PCModel(dataclasses.replace(cfg, cpu_kernels="fused"), data, "cpu", seed=0)
