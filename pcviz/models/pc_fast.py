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
  or temporary allocation per step. Products are plain ``mm`` calls; the biases and
  −Π ε_l are added by one call per run of layers (an ``addmm`` with a bias or β ≠ 0
  copies its input first and measured about one elementwise call dearer on small
  layers). Precisions, biases and step scales that change between holds are copied
  into the plan's own tensors, so the plan (and a captured graph) survives weight and
  precision updates.
* **Layers batched.** The model's state is one flat tensor per quantity, layer after
  layer (:class:`LayerBuffers`; each layer a contiguous (B, n_l) view), so the
  elementwise stages of consecutive layers (activation, derivative, error, precision
  weighting, drive, update) are one call each.
* **Gram form for a held layer's error.** When a held layer s (clamped data, a
  wholly clamped layer) has a linear prediction x̂_s = x_{s+1} W_sᵀ + b_s from a
  layer that moves, the only thing a step needs of its error is the term it sends
  up, Π_s ε_s W_s = c_s − x_{s+1} G_s with c_s = ((x_s − b_s) ⊙ Π_s) W_s (B, n_{s+1})
  and G_s = W_sᵀ diag(Π_s) W_s (n_{s+1}, n_{s+1}): both are constant over a hold
  and computed when the plan is refreshed (after every full ``forward()``: a new
  batch, clamp, weight or precision step). A step then makes one (B, n_{s+1},
  n_{s+1}) product instead of two (B, n_s, n_{s+1}) ones. Layer s's prediction,
  error and weighted error are then *deferred*: computed, by the same calls the
  plan would have made, only when someone reads them (a frame, the energy, the
  weight or precision step): the model's ``pred``/``err``/``perr`` are
  :class:`DeferredQuantities` properties that complete them first. Used where it
  saves FLOPs by at least half (n_{s+1} ≤ n_s) and the layer is not occluded.
* **CUDA graphs.** On a CUDA device (``cuda_graph = true``) the plan of one step is
  captured as a CUDA graph and replayed: one launch per step instead of one per
  operation, and no host synchronisation.

Not covered (the model runs the reference step for them, same results): Langevin
noise (τ > 0), the L1 prior (its proximal step), families that declare other maps
between layers (the convolutional family) or override the step's equations
(``forward``, ``gradients``, ``reference_step``, ``_step_scale``), and a model before
its first batch.
"""

from __future__ import annotations

from functools import lru_cache, partial
from typing import TYPE_CHECKING, Callable

import torch

from pcviz.models.pc_kernels import TorchKernels, choose_kernels, prepare_kernels

if TYPE_CHECKING:
    from pcviz.models.pc import PCModel

Op = Callable[[], object]


def fast_path_covers(model: "PCModel") -> str | None:
    """None when the fast step computes this model's step; otherwise why not."""
    cfg = model.config
    reason = _family_reason(type(model))
    if reason is not None:
        return reason
    if cfg.langevin_temperature > 0:
        return "Langevin noise (langevin_temperature > 0)"
    if cfg.prior == "l1" and cfg.any_prior:
        return "the L1 prior's proximal step"
    return None


@lru_cache(maxsize=None)
def _family_reason(cls: type) -> str | None:
    """Why a model class cannot take the fast step (None if it can), once per class."""
    from pcviz.models.pc import PCModel  # pc imports this module

    if not cls.fast_path_supported:
        return f"the {cls.kind} family has its own maps between layers"
    own = {"forward": cls.forward is not PCModel.forward, "gradients": cls.gradients is not PCModel.gradients,
           "reference_step": cls.reference_step is not PCModel.reference_step,
           "_step_scale": cls._step_scale is not PCModel._step_scale}
    changed = [name for name, differs in own.items() if differs]
    if changed:  # a family that changes the step's equations
        return f"{cls.__name__} overrides {', '.join(changed)}: the fast step would not follow it"
    return None


def gram_layers(m: "PCModel") -> list[int]:
    """Held layers s whose error the fast step takes in Gram form (see the module
    docstring): held whole, a linear prediction from a layer that moves, not the
    occluded input, and n_{s+1} ≤ n_s, so that the step's one (n_{s+1} x n_{s+1})
    product costs at most half the two (n_s x n_{s+1}) products it replaces."""
    out = []
    for s in range(m.L):
        if not m._all_fixed[s] or m._all_fixed[s + 1] or m._kinds[s] != "linear":
            continue
        if s == 0 and m._any_occluded:  # occluded inputs follow their prediction every step
            continue
        if m.sizes[s + 1] <= m.sizes[s]:
            out.append(s)
    return out


class _Completed:
    """A per-layer list of the model (``pred``, ``err``, ``perr``) that completes what
    the fast step deferred before it is read."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, m, owner=None):
        if m is None:
            return self
        if m._deferred or m._stale:
            m.complete_deferred()
        return m.__dict__[self.slot]

    def __set__(self, m, value: list[torch.Tensor]) -> None:
        m.__dict__[self.slot] = value


class DeferredQuantities:
    """The prediction, error, precision-weighted error and f′ of every layer (lists of
    (B, n_l) views), up to date whenever read: the fast step may leave a held layer's
    prediction and errors to be computed on reading (Gram form, see the module
    docstring), and a weight or precision step leaves every layer's to the next
    ``forward()`` (usually the next batch's, so they are not computed twice). A mixin
    of :class:`pcviz.models.pc.PCModel`; code that keeps views of them across steps
    calls :meth:`complete_deferred` before reading the views."""

    _deferred: bool = False  # the fast step left some held layers' pred/err/perr to compute
    _stale: bool = False  # the parameters moved since the last forward(): all of them are out of date
    pred = _Completed()
    err = _Completed()
    perr = _Completed()
    fprime = _Completed()

    def complete_deferred(self) -> None:
        """Compute what was left to compute (nothing if nothing was)."""
        if self._stale:
            self.forward()  # clears both flags
        elif self._deferred:
            self._fast.complete()


class LayerBuffers:
    """The per-layer state of a dense PC model, stored layer after layer in one flat
    tensor per quantity: layer l is the contiguous block ``[B·o_l, B·o_{l+1})`` viewed
    as (B, n_l). Elementwise work on consecutive layers is then one call on a slice."""

    NAMES = ("x", "pred", "err", "perr", "a", "fprime", "dx", "g")

    def __init__(self, sizes: list[int], batch: int, device: torch.device, dtype: torch.dtype):
        self.batch = batch
        self.offsets = [0]
        for n in sizes:
            self.offsets.append(self.offsets[-1] + n)
        total = batch * self.offsets[-1]
        self.flat = {name: torch.zeros(total, device=device, dtype=dtype) for name in self.NAMES}
        self.flat["fprime"].fill_(1.0)
        self.sizes = sizes

    def views(self, name: str, layers: int | None = None) -> list[torch.Tensor]:
        """(B, n_l) views of the first ``layers`` layers (all by default)."""
        n = len(self.sizes) if layers is None else layers
        return [self.span(name, l, l + 1).view(self.batch, self.sizes[l]) for l in range(n)]

    def span(self, name: str, first: int, stop: int) -> torch.Tensor:
        """The flat block of layers ``first .. stop-1``."""
        B, o = self.batch, self.offsets
        return self.flat[name][B * o[first] : B * o[stop]]


def _runs(layers: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs [first, stop) of sorted layer indices."""
    out: list[tuple[int, int]] = []
    for l in layers:
        if out and out[-1][1] == l:
            out[-1] = (out[-1][0], l + 1)
        else:
            out.append((l, l + 1))
    return out


class StepPlan:
    """One inference step of a model with a given structure, as bound torch calls."""

    def __init__(self, m: "PCModel", key: tuple, k: TorchKernels):
        self.key = key
        self.kernels = k
        self.products: list[tuple[torch.Tensor, torch.Tensor]] = []  # the step's matrix products (a, b)
        self.x_list = m.x  # the state buffers the calls are bound to (reallocated with the batch size)
        buf: LayerBuffers = m._buffers
        cfg = m.config
        L, B = m.L, m.batch_size
        total = buf.flat["x"].numel()
        # per-element precisions and step scales, refreshed in place between holds
        self.peff = torch.zeros(total, device=m.device, dtype=m.dtype)
        self.scale = torch.zeros(total, device=m.device, dtype=m.dtype)
        self.occ = torch.zeros(m.sizes[0], dtype=torch.bool, device=m.device)
        self._seen: dict[str, list[torch.Tensor]] = {}  # the rows last spread into peff and scale
        self._buf = buf
        pred, err, perr = m._pred, m._err, m._perr  # the buffers, without completing deferred layers
        # Gram form: per held layer s, −G_s (n_{s+1}, n_{s+1}) and c_s (B, n_{s+1}), set by refresh()
        self.gram = {s: (torch.zeros(m.sizes[s + 1], m.sizes[s + 1], device=m.device, dtype=m.dtype),
                         torch.zeros(B, m.sizes[s + 1], device=m.device, dtype=m.dtype)) for s in gram_layers(m)}
        free = [l for l in range(L + 1) if not m._all_fixed[l]]
        kinds = m._kinds
        span = buf.span
        moved = [l for l in range(L) if not m._all_fixed[l + 1]]  # predictions from layers that moved
        # tanh layers whose prediction stage is one fused call (which also makes the
        # drive Π ε ⊙ f′ for the next step); not an occluded input (it follows its prediction)
        self.fused = [l for l in moved if k.fuses_tanh and kinds[l] == "tanh" and not (l == 0 and m._any_occluded)]
        # free layers whose Euler step is one fused call (which also makes the error of a
        # layer whose prediction does not move)
        self.fused_update = [l for l in free if k.fuses_update and l >= 1]
        # rows (n_l,) of the biases, precisions and step scales the fused calls read, refreshed with the weights
        self.rows = {name: {l: torch.zeros(m.sizes[l], device=m.device, dtype=m.dtype) for l in layers}
                     for name, layers in (("bias", self.fused), ("peff", self.fused + self.fused_update),
                                          ("scale", self.fused_update))}
        infer: list[Op] = []
        # the drive Π ε ⊙ f′ of layers below free layers, one call per run of nonlinear layers
        drive = [l - 1 for l in free if l >= 1 and kinds[l - 1] != "linear" and l - 1 not in self.fused]
        for a, b in _runs(drive):
            infer += k.mul(span("perr", a, b), span("fprime", a, b), span("g", a, b))
        # −∂F/∂x_l = drive_{l−1} W_{l−1} − Π ε_l: a plain product per layer, then one
        # subtraction per run of layers (a product with a bias or β ≠ 0 costs about one
        # elementwise call more on small layers: ``addmm`` copies its input first)
        for l in free:
            if l == 0:
                infer += k.neg(perr[0], m.dx[0])
                continue
            if l - 1 in self.gram:  # Π ε_{l−1} W_{l−1} = c − x_l G: x_l (−G), then + c
                neg_g, c = self.gram[l - 1]
                infer += self._mm(m.x[l], neg_g, m.dx[l]) + k.add_(m.dx[l], c)
                continue
            g = perr[l - 1] if kinds[l - 1] == "linear" else m._g[l - 1]
            infer += self._mm(g, m.W[l - 1], m.dx[l])  # (B, n_l)
        unfused_free = [l for l in free if l not in self.fused_update]
        hoisted = [l for l in self.fused_update if l == L or m._all_fixed[l + 1]]  # prediction held this hold
        for l in self.fused_update:
            lam = cfg.prior_at(l)
            gauss, cauchy = (lam if cfg.prior == "gaussian" else 0.0), (lam if cfg.prior == "cauchy" else 0.0)
            scale = self.rows["scale"][l]
            if l in hoisted:
                peff = self.rows["peff"][l]
                infer += k.update_state_and_error(m.x[l], m.dx[l], perr[l], scale, gauss, cauchy,
                                                  pred[l], peff, err[l])
            else:
                infer += k.update_state(m.x[l], m.dx[l], perr[l], scale, gauss, cauchy)
        for a, b in _runs([l for l in unfused_free if l >= 1]):
            infer += k.sub_(span("dx", a, b), span("perr", a, b))
        lams = {l: cfg.prior_at(l) for l in unfused_free if l >= 1 and cfg.prior_at(l) > 0}  # λ per layer
        for lam, a, b in [(v, a, b) for v in sorted(set(lams.values()))
                          for a, b in _runs([l for l in lams if lams[l] == v])]:
            x, dx = span("x", a, b), span("dx", a, b)
            if cfg.prior == "gaussian":
                infer += k.add_(dx, x, alpha=-lam)
            elif cfg.prior == "cauchy":
                t = torch.empty_like(x)
                infer += k.mul(x, x, t) + k.add_(t, 1.0) + k.div(x, t, t) + k.add_(dx, t, alpha=-2 * lam)
        for a, b in _runs(unfused_free):  # x += dt D⁻¹ (−∂F/∂x) on free units (the scale is 0 on held ones)
            scale = self.scale[B * buf.offsets[a] : B * buf.offsets[b]]
            infer += k.addcmul_(span("x", a, b), span("dx", a, b), scale)
        fwd: list[Op] = []
        # Wᵀ as its own contiguous copy (refreshed with the precisions): a product with a
        # transposed view measured up to 1.5x slower on small layers
        self.wt = {l: m.W[l].T.contiguous() for l in moved}  # (n_{l+1}, n_l)
        # a deferred layer's prediction, error and weighted error: the calls the step would make
        self.complete_ops: list[Op] = []
        for s in self.gram:
            peff = self.peff[B * buf.offsets[s] : B * buf.offsets[s + 1]].view(B, m.sizes[s])
            self.complete_ops += [partial(torch.addmm, m.b[s], m.x[s + 1], self.wt[s], out=pred[s]),
                                  partial(torch.sub, m.x[s], pred[s], out=err[s]),
                                  partial(torch.mul, err[s], peff, out=perr[s])]
        moved = [l for l in moved if l not in self.gram]
        for l in moved:  # a_l = x_{l+1} W_lᵀ (into the prediction itself where f is linear), then + b_l
            out = pred[l] if kinds[l] == "linear" else m.a[l]
            fwd += self._mm(m.x[l + 1], self.wt[l], out)
        # the biases, per element (refreshed with the weights), one addition per run of layers
        self.bias = torch.zeros(total, device=m.device, dtype=m.dtype)
        unfused = [l for l in moved if l not in self.fused]
        self.bias_layers = unfused
        for linear in (True, False):
            for a, b in _runs([l for l in unfused if (kinds[l] == "linear") == linear]):
                target = span("pred" if linear else "a", a, b)
                fwd += k.add_(target, self.bias[B * buf.offsets[a] : B * buf.offsets[b]])
        for kind in ("tanh", "sigmoid", "relu", "softplus"):
            for a, b in _runs([l for l in unfused if kinds[l] == kind]):
                pre, y, fp = span("a", a, b), span("pred", a, b), span("fprime", a, b)
                if kind == "tanh":
                    fwd += k.tanh(pre, y, fp)
                elif kind == "sigmoid":
                    fwd += k.sigmoid(pre, y, fp)
                else:
                    fwd.append(partial(_generic_activation, m._f[a], pre, y, fp))
        if m._any_occluded:  # occluded inputs are free and follow the prediction
            fwd.append(partial(_follow, m.x[0], pred[0], self.occ))
        # the fused tanh layers, from a = x_{l+1} W_lᵀ (without the bias, which the call adds);
        # a held layer's call makes only the drive, its prediction and errors are deferred to reading
        for l in self.fused:
            bias, peff = self.rows["bias"][l], self.rows["peff"][l]
            whole = k.predict_tanh(m.a[l], bias, m.x[l], peff, pred[l], m._fprime[l], err[l], perr[l], m._g[l])
            if m._all_fixed[l]:
                fwd += k.drive_tanh(m.a[l], bias, m.x[l], peff, m._g[l])
                self.complete_ops += whole
            else:
                fwd += whole
        # errors, except of held layers whose prediction is hoisted (or is the top's prior mean),
        # of deferred layers, and of those the fused calls make
        varying = [l for l in range(L + 1) if not (m._all_fixed[l] and (l == L or m._all_fixed[l + 1]))
                   and l not in self.gram and l not in self.fused and l not in hoisted]
        for a, b in _runs(varying):
            fwd += k.sub(span("x", a, b), span("pred", a, b), span("err", a, b))
            fwd += k.mul(span("err", a, b), self.peff[B * buf.offsets[a] : B * buf.offsets[b]], span("perr", a, b))
        self.infer, self.forward = infer, fwd
        self.ops = infer + fwd
        self.defers = bool(self.complete_ops)  # a step leaves Gram and held fused layers' pred/err/perr to complete()
        self.graph: torch.cuda.CUDAGraph | None = None
        self.refresh(m)

    def _mm(self, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> list[Op]:
        self.products.append((a, b))
        return self.kernels.mm(a, b, out)

    def refresh(self, m: "PCModel") -> None:
        """Copy precisions, step scales, the occlusion mask, Wᵀ and the biases into the
        plan's tensors, and compute the Gram form's −G and c (after every full
        ``forward()``: they hold the weights, precisions and held values of this hold)."""
        self._spread(m, self.peff, "peff", m._peff)
        self._spread(m, self.scale, "scale", m._step_scale())
        B, o = m.batch_size, self._buf.offsets
        self.occ.copy_(m._occ_mask)
        for l, wt in self.wt.items():
            wt.copy_(m.W[l].T)
        for l in self.bias_layers:
            self.bias[B * o[l] : B * o[l + 1]].view(B, m.sizes[l]).copy_(m.b[l].expand(B, m.sizes[l]))
        sources = {"bias": m.b, "peff": m._peff, "scale": m._step_scale()}
        for name, rows in self.rows.items():
            for l, row in rows.items():
                row.copy_(sources[name][l].expand(m.sizes[l]))
        for s, (neg_g, c) in self.gram.items():  # in place: a captured graph reads these tensors
            peff = m._peff[s]  # (n_s,)
            torch.mm(self.wt[s], m.W[s] * -peff[:, None], out=neg_g)  # −W_sᵀ diag(Π_s) W_s
            torch.mm((m.x[s] - m.b[s]) * peff, m.W[s], out=c)  # ((x_s − b_s) ⊙ Π_s) W_s
        self.fused_drive(m)

    def fused_drive(self, m: "PCModel") -> None:
        """The drive Π ε ⊙ f′ of the fused layers, which their call leaves for the next
        step, for errors that something else computed (a full ``forward()``)."""
        for l in self.fused:
            torch.mul(m._perr[l], m._fprime[l], out=m._g[l])

    def _spread(self, m: "PCModel", flat: torch.Tensor, name: str, rows: list[torch.Tensor]) -> None:
        """Copy per-layer rows (n_l,) over the batch into the plan's ``flat`` tensor (``name``).
        On CPU the copy is skipped where the rows equal those copied last (fixed
        precisions and step scales: most holds), comparing n values instead of
        writing B·n; on CUDA it always copies (comparing would wait for the device)."""
        seen = self._seen.get(name)
        if m.device.type == "cpu" and seen is not None and all(torch.equal(a, r) for a, r in zip(seen, rows)):
            return
        B, o = m.batch_size, self._buf.offsets
        for l, n in enumerate(m.sizes):
            flat[B * o[l] : B * o[l + 1]].view(B, n).copy_(rows[l].expand(B, n))
        self._seen[name] = [r.clone() for r in rows]

    def capture(self, m: "PCModel") -> None:
        """Record one step (``ops``) as a CUDA graph. Capturing needs warm-up runs,
        which move the state: it is saved before and put back after."""
        buffers = list(m._buffers.flat.values())
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
        if _family_reason(type(model)) is None:
            cfg = model.config
            prepare_kernels(cfg.cpu_kernels, model.device, model.sizes, model.dtype)
        self._peff_src: list | None = None
        self._scale_src: list | None = None
        self.captures = 0  # CUDA graphs recorded (tests and benchmarks read it)

    def _key(self) -> tuple:
        m, cfg = self.m, self.m.config
        return (m.batch_size, tuple(m._all_fixed), m._any_occluded, tuple(m._kinds), cfg.preconditioner,
                cfg.prior, cfg.prior_strength, tuple(cfg.prior_strengths), cfg.cpu_kernels)

    def _use_graph(self) -> bool:
        m = self.m
        return m.device.type == "cuda" and m.config.cuda_graph

    def step(self) -> bool:
        """One inference step (the learning flag is settled by the caller); False, and
        nothing done, where the fast step does not cover the model (the caller then
        runs the reference step)."""
        m = self.m
        if fast_path_covers(m) is not None or m.config.implementation != "fast" or m._peff is None:
            self._peff_src = None  # the reference step moves the state: the plan is refreshed when it is back
            return False
        new_params = m._peff is not self._peff_src  # a full forward() ran: every prediction is fresh
        stale = m._scale is None or m._scale is not self._scale_src
        if new_params or stale:
            if m._deferred:  # settings changed without a forward(): the errors as the last step left them
                self.complete()
            key = self._key()
            plan = self.plan
            if plan is None or plan.key != key or plan.x_list is not m.x:
                k = choose_kernels(m.config.cpu_kernels, m.device, m.sizes, m.batch_size, m.dtype)
                plan = self.plan = StepPlan(m, key, k)
            else:
                plan.refresh(m)
            self._peff_src, self._scale_src = m._peff, m._scale
            if not new_params:  # settings changed (activation, dt, prior) without a forward(): as the reference
                for op in plan.infer:
                    op()
                m.forward(params_changed=False)
                plan.fused_drive(m)
                return True
            if self._use_graph() and plan.graph is None:
                plan.capture(m)
                self.captures += 1
        plan = self.plan
        if plan.graph is not None and m.config.cuda_graph:
            plan.graph.replay()
        else:
            for op in plan.ops:
                op()
        m._deferred = plan.defers
        return True

    def complete(self) -> None:
        """Compute the deferred layers' prediction, error and weighted error for the
        current state (:class:`DeferredQuantities` calls it on reading them)."""
        self.m._deferred = False
        for op in self.plan.complete_ops:
            op()
