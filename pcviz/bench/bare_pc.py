"""The baseline of the engine-overhead benchmark: the hierarchical PC equations of
DESIGN.md written plainly as a torch loop: no engine, no frames, no commands.

It runs the same network (sizes, activations, dt, T, preconditioner, precision and
weight updates) on the same batches as the engine, so the ratio of step rates
measures what the engine and its instrumentation cost on top of the maths.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from pcviz.models.pc_activations import activation


def plain_activation(name):
    """(f, f′ from (a, f(a))) of the model's activations, f′ always a function (the
    plain loops multiply by it unconditionally, as a straightforward loop does)."""
    f, df = activation(name)
    return f, df if df is not None else (lambda a, y: torch.ones_like(a))


@dataclass
class BareResult:
    seconds: float
    W: list[torch.Tensor]
    b: list[torch.Tensor]
    var: list[torch.Tensor]


@torch.no_grad()
def run_bare_pc(cfg, W, b, var, batches, steps: int, hold: int, learning: bool = True) -> BareResult:
    """Run ``steps`` steps of unsupervised PC; returns the wall time in seconds and
    the final parameters.

    ``cfg`` is a PCConfig; ``W``, ``b``, ``var`` lists of tensors (copied);
    ``batches`` a list of (B, n_0) tensors cycled through, one per hold."""
    W = [w.clone() for w in W]
    b = [v.clone() for v in b]
    var = [v.clone() for v in var]
    L = len(W)
    fs = [plain_activation(cfg.input_activation if l == 0 else cfg.activation) for l in range(L)]
    precond = cfg.preconditioner == "diagonal"
    learn_prec = learning and cfg.precision != "fixed" and cfg.learn_precision
    dt = cfg.dt
    x = pred = err = perr = fp = D = None
    t0 = time.perf_counter()
    for step in range(steps):
        if step % hold == 0:  # a new batch, state from the prior, top down
            data = batches[(step // hold) % len(batches)]
            x = [None] * (L + 1)
            x[L] = b[L].expand(data.shape[0], -1).clone()
            for l in range(L - 1, 0, -1):
                x[l] = fs[l][0](x[l + 1] @ W[l].T + b[l])
            x[0] = data.clone()
            prec = [(1 / v).expand(w) for v, w in zip(var, [t.shape[0] for t in W] + [b[L].shape[0]])]
            if precond:
                D = [prec[0]] + [(prec[l] + (W[l - 1] ** 2).T @ prec[l - 1]).clamp(min=1e-3) for l in range(1, L + 1)]
        # predictions and errors
        pred, fp = [None] * (L + 1), [None] * L
        for l in range(L):
            a = x[l + 1] @ W[l].T + b[l]
            pred[l] = fs[l][0](a)
            fp[l] = fs[l][1](a, pred[l])
        pred[L] = b[L].expand_as(x[L])
        err = [x[l] - pred[l] for l in range(L + 1)]
        perr = [err[l] * prec[l] for l in range(L + 1)]
        # inference: every layer but the clamped input
        for l in range(1, L + 1):
            dx = -perr[l] + (perr[l - 1] * fp[l - 1]) @ W[l - 1]
            if precond:
                dx = dx / D[l]
            x[l] = x[l] + dt * dx
        if (step + 1) % hold == 0 and learning:
            for l in range(L + 1):  # errors of the final state
                if l < L:
                    a = x[l + 1] @ W[l].T + b[l]
                    pred_l = fs[l][0](a)
                    fp[l] = fs[l][1](a, pred_l)
                else:
                    pred_l = b[L].expand_as(x[L])
                err[l] = x[l] - pred_l
                perr[l] = err[l] * prec[l]
            B = x[0].shape[0]
            for l in range(L):
                g = perr[l] * fp[l]
                W[l] += cfg.lr_weights * (g.T @ x[l + 1] / B - cfg.weight_decay * W[l])
                b[l] += cfg.lr_weights * g.mean(0)
            b[L] += cfg.lr_weights * perr[L].mean(0)
            if learn_prec:
                for l in range(L + 1):
                    sq = (err[l] ** 2).mean(0)
                    target = sq.mean() if var[l].numel() == 1 else sq
                    var[l] += cfg.lr_precision * (target - var[l])
                    var[l].clamp_(1 / cfg.precision_max, 1 / cfg.precision_min)
    if x is not None and x[0].device.type == "cuda":
        torch.cuda.synchronize()
    return BareResult(time.perf_counter() - t0, W, b, var)
