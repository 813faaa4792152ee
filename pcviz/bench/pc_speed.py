"""Speed of the PC model's inference step: against a plain torch loop (pc_vs_plain),
against its own floor of per-call costs, and on CUDA eager against a captured graph.

Keys of the report's ``pc_speed`` section:

* ``pc_vs_plain_supervised``, ``pc_vs_plain_generative``: the issue's two directions,
  tanh on every prediction (:mod:`pcviz.bench.pc_vs_plain`), with ``matmul_bound``
  (the step's products alone over the step: the most any saving elsewhere can give);
  on CPU also the same model with torch's calls only, side by side
  (``torch_calls_vs_plain``, ``pc_vs_torch_calls``: what the fused passes give).
* ``pc_vs_plain_generative_linear_input``: the generative direction with the image
  predicted linearly, as the presets do; there the image's error enters the step in
  Gram form (:mod:`pcviz.models.pc_fast`). No goal of its own.
* ``default_step_floor``: the default preset's step (``step_us``) against
  ``unavoidable_calls`` times one minimal call (``floor_us``; ``step_vs_floor`` is the
  goal's figure), the sum of the step's own calls each timed alone
  (``calls_alone_us``, ``step_vs_calls_alone``) and the reference step. On CPU these
  are the thread's CPU time.
* ``cuda_graph`` (CUDA only): eager against captured, and the fraction of the
  device's matmul rate.

Every comparison is interleaved in one run and repeated; figures are medians with
their min-max.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import numpy as np
import torch

from pcviz.bench import pc_vs_plain
from pcviz.bench.roofline import matmul_flops_per_second, step_flops
from pcviz.bench.timing import Measure, interleaved, paired_ratio
from pcviz.models import DataInfo, PCConfig, PCModel
from pcviz.models.pc_fast import gram_layers


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _per_step(fn: Callable[[], None], device: torch.device, n: int) -> float:
    """Seconds per call of ``fn``, over ``n`` calls: on CPU the calling thread's CPU
    time (torch runs one thread here, so all the work is on it; time spent descheduled
    on a shared machine does not count), on CUDA wall time to a synchronisation."""
    clock = time.perf_counter if device.type == "cuda" else time.thread_time
    fn()
    _sync(device)
    t = clock()
    for _ in range(n):
        fn()
    _sync(device)
    return (clock() - t) / n


def unavoidable_calls(model: PCModel) -> int:
    """Torch calls one inference step cannot do without, counted from the model's
    structure (not from the implementation): one product per prediction from a layer
    that moves and one per gradient into a free layer, and one call per elementwise
    stage over all layers at once (activation and its derivative per activation kind,
    error, precision weighting, the drive Π ε ⊙ f′, the update, a prior term). A held
    layer whose error enters in Gram form (:func:`gram_layers`) needs no prediction per
    step but one addition of its per-hold constant: the count stays the same."""
    L, cfg = model.L, model.config
    free = [l for l in range(L + 1) if not model._all_fixed[l]]
    gram = gram_layers(model)
    moved = [l for l in range(L) if not model._all_fixed[l + 1] and l not in gram]
    products = len(moved) + len([l for l in free if l >= 1]) + (1 if 0 in free else 0)
    kinds = {model._kinds[l] for l in moved} - {"linear"}
    stages = 2 * len(kinds) + 2 + len(gram)  # f and f′ per kind; error; precision weighting; + c
    if any(l >= 1 and model._kinds[l - 1] != "linear" for l in free):
        stages += 1  # the drive
    stages += 1  # the update
    if cfg.prior in ("gaussian", "cauchy"):
        stages += len({cfg.prior_at(l) for l in free if cfg.prior_at(l) > 0})  # one run per distinct λ
    return products + stages


def _calls_alone(model: PCModel, device: torch.device, n: int) -> float:
    """Seconds of the step's own calls, each repeated ``n`` times by itself, summed.
    Repeating one call moves the state (an update applied n times), so the state is
    put back afterwards."""
    saved = [t.clone() for t in model._buffers.flat.values()]
    total = sum(_per_step(op, device, n) for op in model._fast.plan.ops)
    for t, s in zip(model._buffers.flat.values(), saved):
        t.copy_(s)
    return total


def default_preset_floor(device: torch.device, repeats: int = 5, n: int = 2000) -> dict:
    """The default preset's step time against its floor: unavoidable calls times the
    cost of one minimal torch call (an elementwise multiply into an existing output,
    on the preset's smallest layer), both measured in the same rounds. Also the sum of
    the step's own calls each timed alone in a loop (``calls_alone_us``): the step
    minus that sum is what running them in sequence adds (Python, caches). On CPU the
    step binds numpy calls on these small layers (:mod:`pcviz.models.pc_kernels`), so
    the same rounds also time the step with torch calls (``torch_kernels_step_us``)
    and a floor priced at one minimal numpy call (``numpy_floor_us``)."""
    from pcviz.sim import Engine, load_preset

    model = Engine(load_preset("digits-pc"), device=str(device)).model
    model.step(False)
    calls = unavoidable_calls(model)
    smallest = min(model.sizes)
    a = torch.rand(model.batch_size, smallest, device=device)
    b = torch.rand_like(a)
    out = torch.empty_like(a)
    timed = {"steps": Measure(), "per_call": Measure(), "ref": Measure(), "alone": Measure(),
             "torch_steps": Measure(), "per_numpy_call": Measure()}

    def with_kernels(name: str, fn: Callable[[], float]) -> float:
        model.config.cpu_kernels = name
        model.param_changed("cpu_kernels")  # as a settings change does: the plan is rebuilt
        model.step(False)
        try:
            return fn()
        finally:
            model.config.cpu_kernels = "auto"
            model.param_changed("cpu_kernels")
            model.step(False)

    for _ in range(repeats):
        timed["steps"].values.append(_per_step(lambda: model.step(False), device, n) * 1e6)
        timed["per_call"].values.append(_per_step(lambda: torch.mul(a, b, out=out), device, n * 5) * 1e6)
        timed["alone"].values.append(_calls_alone(model, device, n) * 1e6)
        model.config.implementation = "reference"
        timed["ref"].values.append(_per_step(lambda: model.step(False), device, n) * 1e6)
        model.config.implementation = "fast"
        if device.type == "cpu":
            an, bn, on = a.numpy(), b.numpy(), out.numpy()
            timed["per_numpy_call"].values.append(_per_step(lambda: np.multiply(an, bn, out=on), device, n * 5) * 1e6)
            timed["torch_steps"].values.append(
                with_kernels("torch", lambda: _per_step(lambda: model.step(False), device, n)) * 1e6)
    steps = timed["steps"]
    floor = Measure([c * calls for c in timed["per_call"].values])
    out_ = {"sizes": model.sizes, "batch": model.batch_size, "unavoidable_calls": calls,
            "kernels": model._fast.plan.kernels.name if model._fast.plan is not None else None,
            "plan_calls": len(model._fast.plan.ops) if model._fast.plan is not None else None,
            "step_us": steps.as_dict(), "reference_step_us": timed["ref"].as_dict(),
            "per_call_us": timed["per_call"].as_dict(),
            "floor_us": floor.as_dict(), "calls_alone_us": timed["alone"].as_dict(),
            "step_vs_floor": paired_ratio(steps, floor).as_dict(),
            "step_vs_calls_alone": paired_ratio(steps, timed["alone"]).as_dict()}
    if device.type == "cpu":
        numpy_floor = Measure([c * calls for c in timed["per_numpy_call"].values])
        out_.update({"per_numpy_call_us": timed["per_numpy_call"].as_dict(), "numpy_floor_us": numpy_floor.as_dict(),
                     "step_vs_numpy_floor": paired_ratio(steps, numpy_floor).as_dict(),
                     "torch_kernels_step_us": timed["torch_steps"].as_dict(),
                     "torch_kernels_vs_step": paired_ratio(timed["torch_steps"], steps).as_dict()})
    return out_


def matmul_bound(direction: str, device: torch.device, batch: int = 64, repeats: int = 5,
                 input_activation: str | None = None) -> dict:
    """How far the model's step is from its products alone: the time of the step's
    matrix products (run by themselves) over the step's time. The ratio against the
    plain loop cannot exceed plain-step-time / products-time."""
    cfg = pc_vs_plain.comparison_config(direction, input_activation=input_activation)
    n_in = 784
    model = PCModel(cfg, DataInfo(n_in, (28, 28), n_classes=10), device, seed=0)
    model.set_batch(torch.rand(batch, n_in, device=device), torch.randint(0, 10, (batch,), device=device), True)
    model.step(True)
    plan = model._fast.plan
    products = [op for op in plan.ops if op.func in (torch.mm, torch.addmm)]

    def only_products() -> None:
        for op in products:
            op()

    m = interleaved({"step": lambda: _per_step(lambda: model.step(True), device, 50),
                     "products": lambda: _per_step(only_products, device, 50)}, repeats)
    return {"step_ms": Measure([v * 1e3 for v in m["step"].values]).as_dict(),
            "products_ms": Measure([v * 1e3 for v in m["products"].values]).as_dict(),
            "products_share": paired_ratio(m["products"], m["step"]).as_dict()}


def cuda_graph_speedup(device: torch.device, sizes: list[int], batch: int, repeats: int = 5,
                       n: int = 200) -> dict:
    """Steps/s of the fast step eager and replayed as a CUDA graph, same model and
    state; FLOP/s of the step against a plain matmul on the device."""
    cfg = PCConfig(sizes=sizes, activation="tanh", preconditioner="diagonal")
    model = PCModel(cfg, DataInfo(sizes[0], (sizes[0],)), device, seed=0)
    model.set_batch(torch.rand(batch, sizes[0], device=device), None, False)
    model.step(False)  # builds the plan and, on CUDA, captures it
    captured = model._fast.plan.graph is not None
    if device.type == "cuda" and not captured:
        raise RuntimeError(f"CUDA graph benchmark {sizes} batch {batch}: the fast step did not capture a graph")

    def run(graph: bool) -> float:
        model.config.cuda_graph = graph
        return 1.0 / _per_step(lambda: model.step(False), device, n)

    m = interleaved({"eager": lambda: run(False), "captured": lambda: run(True)}, repeats)
    model.config.cuda_graph = False
    flops = step_flops(model)  # the plan's products
    peak = statistics.median(matmul_flops_per_second(device, repeats=3))
    frac = Measure([flops * v / peak for v in m["captured"].values])
    return {"sizes": sizes, "batch": batch, "graph_captured": captured, "flops_per_step": flops,
            "peak_matmul_gflops": peak / 1e9, "eager_steps_per_s": m["eager"].as_dict(),
            "captured_steps_per_s": m["captured"].as_dict(),
            "captured_vs_eager": paired_ratio(m["captured"], m["eager"]).as_dict(),
            "captured_fraction_of_matmul_rate": frac.as_dict()}


def run(device: torch.device, quick: bool, log=print) -> dict:
    """The section of ``pcviz bench`` for the step's speed (see the module docstring)."""
    out: dict = {}
    repeats = 3 if quick else 7
    # the two directions, tanh on every prediction; and the generative one with a
    # linear prediction of the image (the presets' input_activation), where the image's
    # error enters the step in Gram form
    runs = (("supervised", None, "supervised"), ("generative", None, "generative"),
            ("generative", "linear", "generative_linear_input"))
    for direction, input_activation, key in runs:
        r = pc_vs_plain.measure(direction, device=str(device), repeats=repeats, n_batches=2 if quick else 5,
                                input_activation=input_activation)
        r["matmul_bound"] = matmul_bound(direction, device, repeats=repeats, input_activation=input_activation)
        out[f"pc_vs_plain_{key}"] = r
        log(f"   {key} {r['sizes']} ({r['mode']}): PC {r['pc_steps_per_s']['median']:.0f} steps/s,"
            f" plain {r['plain_steps_per_s']['median']:.0f}; ratio {r['pc_vs_plain']['median']:.2f}"
            f" ({r['pc_vs_plain']['min']:.2f}-{r['pc_vs_plain']['max']:.2f});"
            f" the reference step {r['reference_vs_plain']['median']:.2f};"
            f" products are {r['matmul_bound']['products_share']['median']:.0%} of the PC step")
        if "pc_vs_torch_calls" in r:
            log(f"     the step binds {r['kernels']} calls; with torch calls only the ratio is"
                f" {r['torch_calls_vs_plain']['median']:.2f}; {r['kernels']} / torch calls"
                f" {r['pc_vs_torch_calls']['median']:.2f} ({r['pc_vs_torch_calls']['min']:.2f}"
                f"-{r['pc_vs_torch_calls']['max']:.2f})")
    fl = default_preset_floor(device, repeats=repeats, n=500 if quick else 2000)
    out["default_step_floor"] = fl
    log(f"   default preset {fl['sizes']} batch {fl['batch']}: {fl['step_us']['median']:.1f} us/step;"
        f" floor {fl['unavoidable_calls']} calls x {fl['per_call_us']['median']:.2f} us ="
        f" {fl['floor_us']['median']:.1f} us; step/floor {fl['step_vs_floor']['median']:.2f}"
        f" ({fl['step_vs_floor']['min']:.2f}-{fl['step_vs_floor']['max']:.2f}); the step's own"
        f" {fl['plan_calls']} calls timed alone {fl['calls_alone_us']['median']:.1f} us;"
        f" the reference step {fl['reference_step_us']['median']:.1f} us")
    if device.type == "cpu":
        log(f"   the step binds {fl['kernels']} calls; with torch calls {fl['torch_kernels_step_us']['median']:.1f}"
            f" us/step (x{fl['torch_kernels_vs_step']['median']:.2f}); against a floor priced at one numpy call"
            f" ({fl['per_numpy_call_us']['median']:.2f} us) step/floor {fl['step_vs_numpy_floor']['median']:.2f}"
            f" ({fl['step_vs_numpy_floor']['min']:.2f}-{fl['step_vs_numpy_floor']['max']:.2f})")
    if device.type == "cuda":
        big = cuda_graph_speedup(device, [784, 1024, 1024, 10], 4096, repeats=repeats, n=50 if quick else 200)
        small = cuda_graph_speedup(device, [784, 1024, 1024, 10], 64, repeats=repeats, n=200 if quick else 1000)
        dflt = cuda_graph_speedup(device, [64, 36, 16, 9], 32, repeats=repeats, n=200 if quick else 1000)
        out["cuda_graph"] = {"batch_4096": big, "batch_64": small, "default_sizes_batch_32": dflt}
        for name, r in out["cuda_graph"].items():
            log(f"   CUDA {r['sizes']} batch {r['batch']}: eager {r['eager_steps_per_s']['median']:.0f} steps/s,"
                f" captured {r['captured_steps_per_s']['median']:.0f} (x{r['captured_vs_eager']['median']:.2f});"
                f" {r['captured_fraction_of_matmul_rate']['median']:.1%} of the matmul rate")
    return out
