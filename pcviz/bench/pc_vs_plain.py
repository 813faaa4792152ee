"""The PC model against a plain torch loop of the same equations, side by side.

The plain loop is what a straightforward implementation of supervised predictive
coding does (and what public PyTorch PC libraries do): every step it recomputes
every prediction, including the one that comes from the clamped layer, then the
errors and the free layers' gradients; after T steps one weight step. It runs the
same sizes, batches, T, dt, activations and thread count as the model, and its
parameters end where the model's do (checked in the tests), so the ratio of step
rates is a like-for-like measure of the model's implementation.

Two directions, in the usual library naming (input first):

* **supervised** 784-256-256-10: the image predicts the label through the hidden
  layers. In pcviz this is ``mode = "discriminative"``, ``sizes = [10, 256, 256, 784]``
  (the label at the bottom, the image clamped at the top).
* **generative** 10-256-256-784: the label predicts the image. In pcviz this is
  ``mode = "supervised"``, ``sizes = [784, 256, 256, 10]`` (the image clamped at the
  bottom, the label clamped at the top).

Both clamp the image and the label while learning; the hidden layers are inferred.
"""

from __future__ import annotations

import dataclasses
import time

import torch

from pcviz.bench.bare_pc import plain_activation
from pcviz.bench.timing import interleaved, paired_ratio
from pcviz.models import DataInfo, PCConfig, PCModel


@dataclasses.dataclass
class PlainResult:
    seconds: float
    W: list[torch.Tensor]
    b: list[torch.Tensor]


@torch.no_grad()
def run_plain_pc(cfg: PCConfig, W, b, var, batches, labels, hold: int) -> PlainResult:
    """One hold of ``hold`` Euler steps and one weight step per batch, data and label
    clamped (at the layers ``cfg.mode`` puts them), fixed precisions ``1/var``.
    Returns the wall time and the final parameters (copies of ``W``, ``b``)."""
    W = [w.clone() for w in W]
    b = [v.clone() for v in b]
    L = len(W)
    fs = [plain_activation(cfg.input_activation if l == 0 else cfg.activation) for l in range(L)]
    prec = [1 / v for v in var]
    dl, ll = (L, 0) if cfg.mode == "discriminative" else (0, L)
    dt = cfg.dt
    t0 = time.perf_counter()
    for data, lab in zip(batches, labels):
        B = data.shape[0]
        onehot = torch.zeros(B, W[0].shape[0] if ll == 0 else b[L].shape[0], device=data.device, dtype=data.dtype)
        onehot[torch.arange(B, device=data.device), lab] = 1.0
        # state from the top, down: the top is held (data or label)
        x = [None] * (L + 1)
        x[L] = data.clone() if dl == L else onehot
        for l in range(L - 1, 0, -1):
            x[l] = fs[l][0](x[l + 1] @ W[l].T + b[l])
        x[0] = onehot if ll == 0 else data.clone()
        for _ in range(hold + 1):  # hold inference steps, then the errors of the final state
            pred, fp = [None] * (L + 1), [None] * L
            for l in range(L):
                a = x[l + 1] @ W[l].T + b[l]
                pred[l] = fs[l][0](a)
                fp[l] = fs[l][1](a, pred[l])
            pred[L] = b[L].expand_as(x[L])
            err = [x[l] - pred[l] for l in range(L + 1)]
            perr = [err[l] * prec[l] for l in range(L + 1)]
            if _ == hold:
                break
            for l in range(1, L):  # the hidden layers; the data and the label are clamped
                x[l] = x[l] + dt * (-perr[l] + (perr[l - 1] * fp[l - 1]) @ W[l - 1])
        for l in range(L):
            g = perr[l] * fp[l]
            W[l] += cfg.lr_weights * (g.T @ x[l + 1] / B)
            b[l] += cfg.lr_weights * g.mean(0)
        if dl != L:
            b[L] += cfg.lr_weights * perr[L].mean(0)
    if batches and batches[0].device.type == "cuda":
        torch.cuda.synchronize()
    return PlainResult(time.perf_counter() - t0, W, b)


def comparison_config(direction: str, width: int = 256, n_in: int = 784, n_out: int = 10,
                      activation: str = "tanh", input_activation: str | None = None) -> PCConfig:
    """The model's config for one direction (see the module docstring): fixed unit
    precisions, no preconditioner, no prior, learning the weights; ``activation`` on
    every layer's prediction, or ``input_activation`` on the bottom layer's."""
    sizes = [n_out, width, width, n_in] if direction == "supervised" else [n_in, width, width, n_out]
    mode = "discriminative" if direction == "supervised" else "supervised"
    return PCConfig(sizes=sizes, mode=mode, activation=activation, input_activation=input_activation or activation,
                    dt=0.1,
                    preconditioner="none", precision="fixed", learn_precision=False, lr_weights=0.01,
                    weight_decay=0.0, state_init="topdown")


def run_model(model: PCModel, batches, labels, hold: int) -> float:
    t0 = time.perf_counter()
    for data, lab in zip(batches, labels):
        model.set_batch(data, lab, learning=True)
        for _ in range(hold):
            model.step(True)
        model.end_hold(True)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def measure(direction: str, device: str = "cpu", batch: int = 64, hold: int = 20, n_batches: int = 5,
            repeats: int = 5, width: int = 256, input_activation: str | None = None) -> dict:
    """Steps/s of the model and of the plain loop, interleaved, ``repeats`` rounds;
    ``pc_vs_plain`` is the per-round ratio (model / plain)."""
    dev = torch.device(device)
    cfg = comparison_config(direction, width=width, input_activation=input_activation)
    n_in, n_out = 784, 10
    model = PCModel(cfg, DataInfo(n_in, (28, 28), n_classes=n_out), dev, seed=0)
    # on CPU the same model with torch's calls only (no fused passes), side by side
    torch_calls = (PCModel(dataclasses.replace(cfg, cpu_kernels="torch"), DataInfo(n_in, (28, 28), n_classes=n_out),
                           dev, seed=0) if dev.type == "cpu" else None)
    gen = torch.Generator().manual_seed(0)
    batches = [torch.rand(batch, n_in, generator=gen).to(dev) for _ in range(n_batches)]
    labels = [torch.randint(0, n_out, (batch,), generator=gen).to(dev) for _ in range(n_batches)]
    W0 = [w.clone() for w in model.W]
    b0 = [v.clone() for v in model.b]
    var = [v.clone() for v in model.var]
    steps = n_batches * hold

    def plain() -> float:
        return steps / run_plain_pc(cfg, W0, b0, var, batches, labels, hold).seconds

    def pc(implementation: str, m: PCModel = model) -> float:
        m.config.implementation = implementation
        for w, w0 in zip(m.W, W0):
            w.copy_(w0)
        for v, v0 in zip(m.b, b0):
            v.copy_(v0)
        return steps / run_model(m, batches, labels, hold)

    timed = {"plain": plain, "pc": lambda: pc("fast"), "reference": lambda: pc("reference")}
    if torch_calls is not None:
        timed["torch_calls"] = lambda: pc("fast", torch_calls)
    for fn in timed.values():  # warm up (and compile the fused passes)
        fn()
    m = interleaved(timed, repeats)
    model.config.implementation = "fast"
    out = {"sizes": cfg.sizes, "mode": cfg.mode, "batch": batch, "hold": hold,
           "activation": cfg.activation, "input_activation": cfg.input_activation,
           "kernels": model._fast.plan.kernels.name,
           "pc_steps_per_s": m["pc"].as_dict(), "plain_steps_per_s": m["plain"].as_dict(),
           "reference_steps_per_s": m["reference"].as_dict(),
           "pc_vs_plain": paired_ratio(m["pc"], m["plain"]).as_dict(),
           "reference_vs_plain": paired_ratio(m["reference"], m["plain"]).as_dict()}
    if torch_calls is not None:
        out["torch_calls_vs_plain"] = paired_ratio(m["torch_calls"], m["plain"]).as_dict()
        out["pc_vs_torch_calls"] = paired_ratio(m["pc"], m["torch_calls"]).as_dict()
    return out
