"""The fast inference step (pcviz.models.pc_fast) computes what the reference step
computes: two models from the same seed, one per implementation, driven through the
same batches, holds, clamps, lesions, occlusion, label changes and setting changes,
agree after every step (float64, to rounding)."""

import pytest
import torch

from pcviz.bench.pc_vs_plain import comparison_config, run_model, run_plain_pc
import copy
import dataclasses

from pcviz.data import make_dataset
from pcviz.models import MODEL_FAMILIES, DataInfo, PCConfig, PCModel
from pcviz.models.pc_fast import fast_path_covers
from pcviz.sim import list_presets, load_preset

TOL = dict(rtol=1e-9, atol=1e-11)
STATE = ("x", "pred", "err", "perr", "fprime")


def _pair(cfg, data: DataInfo, model_cls=PCModel):
    fast = model_cls(dataclasses.replace(cfg, implementation="fast"), data, "cpu", seed=3, dtype=torch.float64)
    ref = model_cls(dataclasses.replace(cfg, implementation="reference"), data, "cpu", seed=3, dtype=torch.float64)
    return fast, ref


def _same(fast, ref, where: str) -> None:
    for name in STATE:
        for l, (a, b) in enumerate(zip(getattr(fast, name), getattr(ref, name))):
            torch.testing.assert_close(a, b, **TOL, msg=lambda m: f"{where}: {name}[{l}]: {m}")
    for name in ("W", "b", "var"):
        for l, (a, b) in enumerate(zip(getattr(fast, name), getattr(ref, name))):
            torch.testing.assert_close(a, b, **TOL, msg=lambda m: f"{where}: {name}[{l}]: {m}")


def _drive(fast, ref, batches, labels, interventions, hold: int = 6) -> None:
    """Holds of ``hold`` steps; ``interventions[(h, t)]`` is applied to both models
    before step t of hold h."""
    for h, (x, y) in enumerate(zip(batches, labels)):
        learning = h != len(batches) - 1  # the last hold runs with learning off
        for m in (fast, ref):
            m.set_batch(x, y, learning)
        _same(fast, ref, f"hold {h} start")
        for t in range(hold):
            act = interventions.get((h, t))
            if act is not None:
                for m in (fast, ref):
                    act(m)
            for m in (fast, ref):
                m.step(learning)
            _same(fast, ref, f"hold {h} step {t}")
        for m in (fast, ref):
            m.end_hold(learning)
        _same(fast, ref, f"hold {h} end")


def _interventions(mode: str):
    acts = {
        (0, 2): lambda m: m.clamp(1, [0, 2], 0.5),
        (0, 4): lambda m: m.lesion(1, 0.3, [1, 3]),
        (1, 1): lambda m: m.release(1),
        (1, 3): lambda m: m.lesion(0, 0.0, [0, 1, 2]),
        (2, 2): lambda m: m.clear_interventions(),
        (2, 4): lambda m: m.pulse(2, [0], 0.7),
    }
    if mode != "discriminative":
        acts[(1, 4)] = lambda m: m.occlude([4, 5, 6])
    if mode == "supervised":
        acts[(3, 2)] = lambda m: m.set_label(1)
    return acts


ACTIVATIONS = ("linear", "tanh", "sigmoid", "relu", "softplus")
PRIORS = (("gaussian", 0.05), ("cauchy", 0.05), ("l1", 0.05), ("gaussian", 0.0))


MODES = ("unsupervised", "supervised", "discriminative")
# every activation with every prior, the mode turning with them (each mode meets every
# activation and every prior)
CASES = [(a, p, MODES[(i + j) % 3]) for i, a in enumerate(ACTIVATIONS) for j, p in enumerate(PRIORS)]


# the calls the plan binds (pcviz.models.pc_kernels); fused: float64 runs the kernels with math.tanh,
# the float32 rational tanh is checked in tests/test_pc_fused.py
@pytest.mark.parametrize("kernels", ["torch", "numpy", "fused"])
@pytest.mark.parametrize("input_activation", ["tanh", "linear"])  # linear: the input's error in Gram form
@pytest.mark.parametrize("activation,prior,mode", CASES)
def test_fast_step_equals_reference(activation, prior, mode, input_activation, kernels):
    prior_name, lam = prior
    sizes = [3, 7, 5, 12] if mode == "discriminative" else [12, 7, 5, 3]
    n_in = sizes[-1] if mode == "discriminative" else sizes[0]
    cfg = PCConfig(sizes=sizes, mode=mode, activation=activation, input_activation=input_activation, dt=0.1,
                   preconditioner={"tanh": "bound", "relu": "diagonal"}.get(activation, "none"),
                   precision="diagonal" if activation == "sigmoid" else "scalar", prior=prior_name,
                   prior_strength=lam, lr_weights=0.05, lr_precision=0.05, weight_decay=1e-3,
                   state_init="keep" if activation == "softplus" else "topdown", cpu_kernels=kernels)
    data = DataInfo(n_in, (3, 4), n_classes=3 if mode != "unsupervised" else 0)
    fast, ref = _pair(cfg, data)
    gen = torch.Generator().manual_seed(0)
    batches = [torch.rand(4, n_in, generator=gen, dtype=torch.float64) for _ in range(4)]
    labels = [torch.randint(0, 3, (4,), generator=gen) if mode != "unsupervised" else None for _ in range(4)]
    _drive(fast, ref, batches, labels, _interventions(mode))
    covered = fast_path_covers(fast) is None
    assert covered == (prior_name != "l1" or lam == 0)
    assert (fast._fast.plan is not None) == covered  # the fast step did run where it covers the model
    if covered:  # the Gram form ran where the input is held and predicted linearly (12 >= 7 units)
        assert bool(fast._fast.plan.gram) == (input_activation == "linear" and mode != "discriminative")
        assert fast._fast.plan.kernels.name == kernels
        if kernels == "fused":  # the fused calls did run: every free layer's update, every tanh prediction
            assert fast._fast.plan.fused_update
            assert bool(fast._fast.plan.fused) == ("tanh" in (activation, input_activation))


def test_setting_changes_mid_hold_match_the_reference():
    cfg = PCConfig(sizes=[12, 7, 5], activation="tanh", dt=0.1, preconditioner="diagonal")
    fast, ref = _pair(cfg, DataInfo(12, (3, 4)))
    x = torch.rand(4, 12, dtype=torch.float64)

    def change(name, value):
        def act(m):
            setattr(m.config, name, value)
            m.param_changed(name)
        return act

    acts = {(0, 1): change("activation", "sigmoid"), (0, 3): change("dt", 0.05),
            (1, 2): change("prior_strength", 0.1), (1, 4): change("preconditioner", "none")}
    _drive(fast, ref, [x, x.flip(0), x], [None] * 3, acts)


def test_a_batch_of_another_size_rebuilds_the_plan():
    cfg = PCConfig(sizes=[12, 7, 5], activation="tanh")
    fast, ref = _pair(cfg, DataInfo(12, (3, 4)))
    gen = torch.Generator().manual_seed(1)
    batches = [torch.rand(n, 12, generator=gen, dtype=torch.float64) for n in (4, 2, 4)]
    _drive(fast, ref, batches, [None] * 3, {})


def test_hoisting_skips_the_prediction_from_a_clamped_layer():
    """In the supervised direction (image clamped at the top) the big product from
    the image is not in the step's plan; the count of matmuls says so."""
    cfg = comparison_config("supervised", width=16, n_in=30, n_out=4)
    model = PCModel(cfg, DataInfo(30, (5, 6), n_classes=4), "cpu", seed=0)
    model.set_batch(torch.rand(3, 30), torch.tensor([0, 1, 2]), True)
    model.step(True)
    plan = model._fast.plan
    # free layers 1, 2: two gradient products; predictions of layers 0 and 1 (from 1 and 2);
    # the prediction of layer 2 comes from the clamped image: hoisted
    assert len(plan.products) == 4
    assert not any(a is model.x[3] for a, _ in plan.products)


PC_PRESETS = [e.name for e in list_presets() if issubclass(MODEL_FAMILIES[e.model_kind][1], PCModel)]


def test_the_preset_list_covers_the_pc_families():
    kinds = {e.model_kind for e in list_presets() if e.name in PC_PRESETS}
    assert {"pc", "pc_conv"} <= kinds


@pytest.mark.parametrize("kernels", ["auto", "fused"])  # auto: numpy calls at this batch size
@pytest.mark.parametrize("preset", PC_PRESETS)
def test_every_preset_family_matches_the_reference(preset, kernels):
    cfg = load_preset(preset)
    train, _ = make_dataset(cfg.data, seed=0)
    data = DataInfo(train.dim, tuple(train.display_shape), train.n_classes)
    model_cfg = dataclasses.replace(copy.deepcopy(cfg.model), cpu_kernels=kernels)  # every PC family has it
    fast, ref = _pair(model_cfg, data, MODEL_FAMILIES[cfg.model.kind][1])
    n = fast.sizes[fast.data_layer]
    gen = torch.Generator().manual_seed(2)
    batches = [torch.rand(3, n, generator=gen, dtype=torch.float64) for _ in range(3)]
    labels = [torch.randint(0, 10, (3,), generator=gen) if fast.label_layer is not None else None
              for _ in range(3)]
    _drive(fast, ref, batches, labels, {(0, 2): lambda m: m.clamp(1, [0], 0.2),
                                        (1, 1): lambda m: m.lesion(1, 0.5, [1])}, hold=4)


@pytest.mark.parametrize("direction", ["supervised", "generative"])
def test_the_benchmarks_plain_loop_is_the_same_equations(direction):
    """The plain loop the speed figures compare against ends where the model does."""
    cfg = comparison_config(direction, width=9, n_in=20, n_out=4)
    model = PCModel(cfg, DataInfo(20, (4, 5), n_classes=4), "cpu", seed=0, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    batches = [torch.rand(5, 20, generator=gen, dtype=torch.float64) for _ in range(3)]
    labels = [torch.randint(0, 4, (5,), generator=gen) for _ in range(3)]
    plain = run_plain_pc(cfg, model.W, model.b, model.var, batches, labels, 7)
    run_model(model, batches, labels, 7)
    for l, (a, b) in enumerate(zip(model.W, plain.W)):
        torch.testing.assert_close(a, b, **TOL, msg=lambda m: f"W{l}: {m}")
    for l, (a, b) in enumerate(zip(model.b, plain.b)):
        torch.testing.assert_close(a, b, **TOL, msg=lambda m: f"b{l}: {m}")
    moved = sum(float((a - b).abs().sum()) for a, b in zip(model.W, PCModel(cfg, DataInfo(20, (4, 5), 4), "cpu",
                                                                             seed=0, dtype=torch.float64).W))
    assert moved > 1e-3  # the weights did learn: the comparison is not of untouched parameters


def test_cuda_graph_setting_is_harmless_on_cpu():
    cfg = PCConfig(sizes=[12, 7, 5], activation="tanh", cuda_graph=True)
    fast, ref = _pair(cfg, DataInfo(12, (3, 4)))
    _drive(fast, ref, [torch.rand(4, 12, dtype=torch.float64)] * 2, [None] * 2, {})
    assert fast._fast.captures == 0


def test_unavoidable_calls_of_the_default_preset_counted_by_hand():
    """digits-pc, [64, 36, 16, 9], the input clamped and predicted linearly from 36 <= 64
    units, so its error enters in Gram form (no prediction of the input per step):
    predictions of layers 1, 2 (from the moving layers 2, 3) and gradients into layers
    1, 2, 3 are five products; tanh and its derivative (one hidden kind), the error,
    the precision weighting, the drive, the update and the addition of the Gram form's
    per-hold constant are seven elementwise stages."""
    from pcviz.bench.pc_speed import unavoidable_calls
    from pcviz.sim import Engine

    model = Engine(load_preset("digits-pc"), device="cpu").model
    model.config.cpu_kernels = "torch"
    model.step(False)
    assert unavoidable_calls(model) == 12
    plan = model._fast.plan
    assert list(plan.gram) == [0]
    # the plan makes two more: the biases and −Π ε are added by their own call (one each
    # for all layers) instead of inside the products, which is cheaper on small layers
    assert len(plan.ops) == 14
    assert sum(op.func is torch.mm for op in plan.ops) == len(plan.products) == 5
    # numpy has no fused multiply-add: the update and f′ = 1 − y² take one call more each
    model.config.cpu_kernels = "numpy"
    model.param_changed("cpu_kernels")  # as a settings change does
    model.step(False)
    assert model._fast.plan.kernels.name == "numpy"
    assert len(model._fast.plan.ops) == 16 and len(model._fast.plan.products) == 5


def test_cuda_graph_benchmark_runs_eagerly_on_cpu():
    from pcviz.bench.pc_speed import cuda_graph_speedup

    r = cuda_graph_speedup(torch.device("cpu"), [12, 8, 4], 4, repeats=1, n=3)
    assert r["graph_captured"] is False
    # the input is held and predicted linearly from 8 <= 12 units: its error enters in Gram form,
    # one 8x8 product; the prediction of 1 (from 2) and the gradient into 2 are 8x4 each
    assert r["flops_per_step"] == 2 * 4 * (8 * 8 + 8 * 4 + 4 * 8)


def test_bench_rejects_an_unknown_section():
    from pcviz.bench import run

    with pytest.raises(ValueError, match="unknown section"):
        run(device="cpu", only={"pc", "nonsense"})


def test_bench_command_writes_the_report_and_its_table(tmp_path):
    import json

    from pcviz.cli import main

    out = tmp_path / "r.json"
    assert main(["bench", "--only", "roofline", "--quick", "--device", "cpu", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert 0 < report["roofline_large"] < 2
    assert "roofline_large" in out.with_suffix(".md").read_text()


def test_a_family_that_overrides_the_equations_runs_the_reference_step():
    class Damped(PCModel):
        def gradients(self, skip_held: bool = False):
            out = super().gradients(skip_held)
            for d in out:
                d.mul_(0.5)
            return out

    cfg = PCConfig(sizes=[12, 7, 5], activation="tanh")
    model = Damped(cfg, DataInfo(12, (3, 4)), "cpu", seed=0)
    assert "overrides gradients" in fast_path_covers(model)
    model.set_batch(torch.rand(4, 12), None, False)
    x1 = model.x[1].clone()
    model.step(False)
    plain = PCModel(cfg, DataInfo(12, (3, 4)), "cpu", seed=0)
    plain.set_batch(model._data_x, None, False)
    plain.step(False)
    moved, moved_plain = model.x[1] - x1, plain.x[1] - x1
    torch.testing.assert_close(moved, 0.5 * moved_plain)  # the override was followed


def test_numpy_calls_on_small_cpu_layers_fused_calls_elsewhere():
    from pcviz.models.pc_kernels import NUMPY_MAX_ELEMENTS, choose_kernels

    cpu = torch.device("cpu")
    assert choose_kernels("auto", cpu, [64, 36, 16, 9], 32).name == "numpy"  # the default preset
    assert choose_kernels("auto", cpu, [784, 256, 256, 10], 64).name == "fused"
    assert choose_kernels("auto", cpu, [NUMPY_MAX_ELEMENTS + 1, 4], 1).name == "fused"
    assert choose_kernels("fused", cpu, [4, 2], 1).name == "fused"
    assert choose_kernels("auto", cpu, [784, 256], 64, torch.float64).name == "torch"  # float64 tanh is scalar
    assert choose_kernels("fused", cpu, [784, 256], 64, torch.float64).name == "fused"
    assert choose_kernels("fused", torch.device("meta"), [4, 2], 1).name == "torch"  # compiled for CPU memory
    assert choose_kernels("torch", cpu, [4, 2], 1).name == "torch"
    assert choose_kernels("numpy", cpu, [784, 256], 64).name == "numpy"
    assert choose_kernels("numpy", torch.device("meta"), [4, 2], 1).name == "torch"  # numpy reads CPU memory only
