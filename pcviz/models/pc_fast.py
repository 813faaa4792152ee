"""The fast inference step of the dense predictive-coding model: the same equations
as :meth:`PCModel.reference_step`, with less work per step.

* **Hoisting.** A prediction x̂_l = f(W_l x_{l+1} + b_l) whose source layer x_{l+1}
  is held whole (clamped data, a clamped label, a fully clamped layer) does not
  change during a hold: it is computed by the full ``forward()`` that every change of
  batch, weights, clamps, gains or precisions already runs, and skipped by the
  steps. So is the error of a held layer whose prediction is hoisted (or is the
  top's prior mean).
* **A fixed plan.** Per structure (batch size, which layers are held, activations,
  prior, preconditioner) the step is built once as a list of torch calls bound to
  their output buffers (``functools.partial``): no Python branching, list indexing
  or temporary allocation per step. The gradient −Π ε_l + (Π ε ⊙ f′)_{l−1} W is one
  ``addmm`` with β = −1. Precisions and step scales that change between holds are
  copied into the plan's own tensors, so the plan (and a captured graph) survives
  weight and precision updates.
* **CUDA graphs.** On a CUDA device (``cuda_graph = true``) the plan of one step is
  captured as a CUDA graph and replayed: one launch per step instead of one per
  operation, and no host synchronisation.

Not covered (the model runs the reference step for them, same results): Langevin
noise (τ > 0), the L1 prior (its proximal step), models that override the maps
between layers (the convolutional family), and a model before its first batch.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Callable

import torch

if TYPE_CHECKING:
    from pcviz.models.pc import PCModel

Op = Callable[[], object]


def fast_path_covers(model: "PCModel") -> str | None:
    """None when the fast step computes this model's step; otherwise why not."""
    cfg = model.config
    if not model.fast_path_supported:
        return f"the {model.kind} family has its own maps between layers"
    if cfg.langevin_temperature > 0:
        return "Langevin noise (langevin_temperature > 0)"
    if cfg.prior == "l1" and cfg.prior_strength > 0:
        return "the L1 prior's proximal step"
    return None


class StepPlan:
    """One inference step of a model with a given structure, as bound torch calls."""

    def __init__(self, m: "PCModel", key: tuple):
        self.key = key
        self.x_list = m.x  # the state buffers the calls are bound to (reallocated with the batch size)
        cfg = m.config
        L = m.L
        self.peff = [t.clone() for t in m._peff]  # (n_l,) static copies
        scale = m._step_scale()
        self.scale = [t.clone() for t in scale]  # (n_l,)
        self.occ = m._occ_mask.to(m.dtype).clone() > 0  # (n_0,) static copy
        free = [not m._all_fixed[l] for l in range(L + 1)]
        lam = cfg.prior_strength
        infer: list[Op] = []
        for l in range(L + 1):  # −∂F/∂x_l of the free layers
            if not free[l]:
                continue
            if l == 0:
                infer.append(partial(torch.neg, m.perr[0], out=m.dx[0]))
                continue
            if m._kinds[l - 1] == "linear":
                g = m.perr[l - 1]
            else:
                g = m._g[l - 1]
                infer.append(partial(torch.mul, m.perr[l - 1], m.fprime[l - 1], out=g))  # (B, n_{l-1})
            infer.append(partial(torch.addmm, m.perr[l], g, m.W[l - 1], beta=-1, out=m.dx[l]))  # (B, n_l)
            if lam > 0 and cfg.prior == "gaussian":
                infer.append(partial(m.dx[l].add_, m.x[l], alpha=-lam))
            elif lam > 0 and cfg.prior == "cauchy":
                t = torch.empty_like(m.x[l])
                infer += [partial(torch.mul, m.x[l], m.x[l], out=t), partial(t.add_, 1.0),
                          partial(torch.div, m.x[l], t, out=t), partial(m.dx[l].add_, t, alpha=-2 * lam)]
        for l in range(L + 1):  # x += dt D⁻¹ (−∂F/∂x) on free units
            if free[l]:
                infer.append(partial(m.x[l].addcmul_, m.dx[l], self.scale[l]))
        fwd: list[Op] = []
        one = m._one
        for l in range(L):  # predictions from layers that moved; the others are hoisted
            if not free[l + 1]:
                continue
            kind, wt = m._kinds[l], m.W[l].T
            if kind == "linear":
                fwd.append(partial(torch.addmm, m.b[l], m.x[l + 1], wt, out=m.pred[l]))
                continue
            fwd.append(partial(torch.addmm, m.b[l], m.x[l + 1], wt, out=m.a[l]))
            if kind == "tanh":
                fwd += [partial(torch.tanh, m.a[l], out=m.pred[l]),
                        partial(torch.addcmul, one, m.pred[l], m.pred[l], value=-1.0, out=m.fprime[l])]
            elif kind == "sigmoid":
                fwd += [partial(torch.sigmoid, m.a[l], out=m.pred[l]),
                        partial(torch.addcmul, m.pred[l], m.pred[l], m.pred[l], value=-1.0, out=m.fprime[l])]
            else:
                fwd.append(partial(_generic_activation, m._f[l], m.a[l], m.pred[l], m.fprime[l]))
        if m._any_occluded:  # occluded inputs are free and follow the prediction
            fwd.append(partial(_follow, m.x[0], m.pred[0], self.occ))
        for l in range(L + 1):
            constant = not free[l] and (l == L or not free[l + 1])  # held, and so is its prediction
            if constant:
                continue
            fwd += [partial(torch.sub, m.x[l], m.pred[l], out=m.err[l]),
                    partial(torch.mul, m.err[l], self.peff[l], out=m.perr[l])]
        self.infer, self.forward = infer, fwd
        self.ops = infer + fwd
        self.graph: torch.cuda.CUDAGraph | None = None

    def refresh(self, m: "PCModel") -> None:
        """Copy precisions, step scales and the occlusion mask into the plan's tensors."""
        for dst, src in zip(self.peff, m._peff):
            dst.copy_(src)
        for dst, src in zip(self.scale, m._step_scale()):
            dst.copy_(src)
        self.occ.copy_(m._occ_mask)

    def capture(self, m: "PCModel") -> None:
        """Record one step (``ops``) as a CUDA graph. Capturing needs warm-up runs,
        which move the state: it is saved before and put back after."""
        buffers = [t for group in (m.x, m.pred, m.a, m.fprime, m.err, m.perr, m.dx, m._g) for t in group]
        saved = [t.clone() for t in buffers]
        stream = torch.cuda.Stream(m.device)
        stream.wait_stream(torch.cuda.current_stream(m.device))
        with torch.cuda.stream(stream):  # warm-up off the default stream, as capture requires
            for _ in range(2):
                for op in self.ops:
                    op()
        torch.cuda.current_stream(m.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for op in self.ops:
                op()
        for t, s in zip(buffers, saved):
            t.copy_(s)
        self.graph = graph


def _generic_activation(fns, a: torch.Tensor, pred: torch.Tensor, fprime: torch.Tensor) -> None:
    f, df = fns
    pred.copy_(f(a))
    fprime.copy_(df(a, pred))


def _follow(x0: torch.Tensor, pred0: torch.Tensor, occ: torch.Tensor) -> None:
    x0.copy_(torch.where(occ, pred0, x0))


class FastStep:
    """The fast step of one model: keeps its plan, refreshes it when precisions or
    scales change, rebuilds it when the structure does."""

    def __init__(self, model: "PCModel"):
        self.m = model
        self.plan: StepPlan | None = None
        self._peff_src: list | None = None
        self._scale_src: list | None = None
        self.captures = 0  # CUDA graphs recorded (tests and benchmarks read it)

    def _key(self) -> tuple:
        m, cfg = self.m, self.m.config
        return (m.batch_size, tuple(m._all_fixed), m._any_occluded, tuple(m._kinds), cfg.preconditioner,
                cfg.prior, cfg.prior_strength)

    def _use_graph(self) -> bool:
        m = self.m
        return m.device.type == "cuda" and m.config.cuda_graph

    def step(self) -> None:
        """One inference step (the learning flag is settled by the caller)."""
        m = self.m
        new_params = m._peff is not self._peff_src  # a full forward() ran: every prediction is fresh
        stale = m._scale is None or m._scale is not self._scale_src
        if new_params or stale:
            key = self._key()
            plan = self.plan
            if plan is None or plan.key != key or plan.x_list is not m.x:
                plan = self.plan = StepPlan(m, key)
            else:
                plan.refresh(m)
            self._peff_src, self._scale_src = m._peff, m._scale
            if not new_params:  # settings changed (activation, dt, prior) without a forward(): as the reference
                for op in plan.infer:
                    op()
                m.forward(params_changed=False)
                return
            if self._use_graph() and plan.graph is None:
                plan.capture(m)
                self.captures += 1
        plan = self.plan
        if plan.graph is not None:
            plan.graph.replay()
        else:
            for op in plan.ops:
                op()
