"""Hierarchical predictive coding (Rao & Ballard 1999; Whittington & Bogacz 2017)
with learned precisions.

Layers x_0 (input) ... x_L. For l < L the prediction of layer l comes from the layer
above, x̂_l = f_l(a_l) with a_l = W_l x_{l+1} + b_l; the top layer's prediction is its
prior mean x̂_L = b_L. Errors ε_l = x_l − x̂_l, precisions Π_l (fixed, learned scalar
or learned diagonal) and energy, per sample,

    F = Σ_l [ ½ Σ_i Π_li ε_li² − ½ Σ_i log Π_li ] + λ Σ_{l≥1} Σ_i ρ(x_li)

with ρ the activity prior (Gaussian ½x², sparse L1 |x| or Cauchy log(1+x²)).
Inference is Euler on dx/dt = −∂F/∂x:

    dx_l/dt = −Π_l ε_l + W_{l−1}ᵀ (Π_{l−1} ε_{l−1} ⊙ f′(a_{l−1})) − λ ρ′(x_l)

(the L1 prior is applied as its proximal step, so the energy still decreases), with
optional Langevin noise √(2 dt τ) ξ (Monte Carlo predictive coding). With
``preconditioner = "diagonal"`` or ``"bound"`` the flow is dx_l/dt = −D_l⁻¹ ∂F/∂x_l:
the same fixed points, and a step size that stays stable when learned precisions and
weights grow (plain Euler needs dt < 2/λ_max). ``diagonal`` divides by the
Gauss-Newton diagonal and guarantees nothing when causes overlap; ``bound`` divides
by a bound of the whole curvature, and the energy then cannot rise for any dt < 2
with linear layers (:mod:`pcviz.models.pc_curvature` says exactly what each promises).
After each hold, the Hebbian weight step ΔW_l = η (Π_l ε_l ⊙ f′(a_l)) x_{l+1}ᵀ − η κ W_l (= −η ∂F/∂W_l),
and a precision step on the variances Σ_l = 1/Π_l, ΔΣ = ρ (⟨ε²⟩ + v − Σ), with v the
posterior variance of ε (variational Laplace, :mod:`pcviz.models.pc_precision`; 0 with
``precision_update = "point"``): the EM fixed point, maximum likelihood for a linear
network.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from pcviz.models.base import DataInfo, GenerativeModel, LayerSpec, ModelError, grid_shape
from pcviz.models.pc_activations import activation  # noqa: F401 - families that build on this one use it
from pcviz.models.pc_backprop import backprop_cosine
from pcviz.models.pc_curvature import curvature_scale
from pcviz.models.pc_fast import DeferredQuantities, FastStep, LayerBuffers
from pcviz.models.pc_interventions import PCInterventions
from pcviz.models.pc_precision import posterior_error_variance, update_variances
from pcviz.models.pc_sampling import PCSampling, SampleWindow
from pcviz.models.pc_streaming import PCStreaming
from pcviz.models.pc_twin import BackpropTwin

from pcviz.models.pc_config import ACTIVATIONS, PRIORS, PCConfig, PCDynamicsConfig  # noqa: F401 - re-exported


class PCModel(DeferredQuantities, PCSampling, PCStreaming, PCInterventions, GenerativeModel):
    kind: ClassVar[str] = "pc"
    structural: ClassVar[frozenset[str]] = frozenset({"kind", "sizes", "mode", "precision", "init_scale",
                                                      "sample_window", "backprop_twin"})
    fast_path_supported: ClassVar[bool] = True  # dense maps: pcviz.models.pc_fast covers this family
    twin: BackpropTwin | None = None  # model.backprop_twin: the same net trained by backprop on PC's batches

    def __init__(self, config: PCConfig, data: DataInfo, device: torch.device | str = "cpu", seed: int = 0,
                 dtype: torch.dtype = torch.float32):
        super().__init__(config, data, device, seed)
        self.dtype = dtype
        sizes = list(config.sizes)
        self.sizes = sizes
        self.L = len(sizes) - 1
        self.layers = self._layer_specs(sizes, data)
        self._gen = torch.Generator(device=self.device).manual_seed(seed)
        dev, dt = self.device, dtype
        self.W: list[torch.Tensor] = []  # parameters; W[l]: (n_l, n_{l+1})
        for l in range(self.L):
            w = torch.randn(sizes[l], sizes[l + 1], generator=self._gen, device=dev, dtype=dt)
            self.W.append(w * (config.init_scale / math.sqrt(sizes[l + 1])))
        self.b = [torch.zeros(n, device=dev, dtype=dt) for n in sizes]  # b[L] is the top prior mean
        pshape = (lambda n: (n,)) if config.precision == "diagonal" else (lambda n: (1,))
        init = config.layer_precisions or [config.precision_init] * len(sizes)
        self.var = [torch.full(pshape(n), 1.0 / p, device=dev, dtype=dt) for n, p in zip(sizes, init)]
        # interventions: precision gains, clamps, occlusion
        self.gain = [torch.ones(n, device=dev, dtype=dt) for n in sizes]
        self._clamps: list[dict[int, float]] = [dict() for _ in sizes]
        self._occluded = torch.zeros(sizes[0], dtype=torch.bool, device=dev)
        self._label_override, self._imagine = None, False  # a set label (int | None); imagining it
        self._data_x: torch.Tensor | None = None
        self._data_labels: torch.Tensor | None = None
        self._learning = True
        # caches (None: stale): curvature D, step scale, Π·gain per layer; frame rows; −½ log|Π|
        self._diag = self._scale = self._peff = None  # list[torch.Tensor] | None
        self._curvature = None  # (what D was computed from, D): see curvature_diagonal
        self._rows_key = self._logdet = self._logdet_key = None
        self._one = torch.ones((), device=self.device, dtype=dtype)
        self._fast = FastStep(self)
        self.samples = SampleWindow(config.sample_window)  # the last steps' states (Monte Carlo PC)
        # discriminative mode: cosine of each layer's update with backprop's (NaN until measured)
        self.bp_cosine, self._learned_holds = torch.full((self.L,), float("nan"), device=dev, dtype=dt), 0
        self.param_changed("label_precision")
        self.twin = BackpropTwin(self) if config.backprop_twin else None
        self._alloc(1)

    # ----------------------------------------------------------------- set-up
    def _layer_specs(self, sizes: list[int], data: DataInfo) -> list[LayerSpec]:
        mode = self.config.mode
        L = len(sizes) - 1
        data_layer = L if mode == "discriminative" else 0
        label_layer = {"supervised": L, "discriminative": 0}.get(mode)
        if sizes[data_layer] != data.dim:
            raise ModelError(
                f"model.sizes[{data_layer}] = {sizes[data_layer]}: the input has {data.dim} values per sample"
                f" ({'x'.join(map(str, data.display_shape))})"
            )
        if label_layer is not None:
            if data.n_classes == 0:
                raise ModelError(f"model.mode = {mode!r} needs labelled data (the input stream has no labels)")
            if sizes[label_layer] != data.n_classes:
                raise ModelError(
                    f"model.sizes[{label_layer}] = {sizes[label_layer]}: the label layer needs one unit per class"
                    f" ({data.n_classes})"
                )
        specs = []
        for l, n in enumerate(sizes):
            if l == data_layer:
                role, shape = "input", tuple(data.display_shape)
            elif l == label_layer:
                role, shape = "label", grid_shape(n)
            elif l == L:
                role, shape = "top", grid_shape(n)
            else:
                role, shape = "hidden", grid_shape(n)
            specs.append(LayerSpec(f"x{l}" if role == "hidden" else role, role, n, shape))
        return specs

    def _alloc(self, B: int) -> None:
        dev, dt, sizes = self.device, self.dtype, self.sizes
        self.batch_size = B
        self._buffers = buf = LayerBuffers(sizes, B, dev, dt)  # one flat tensor per quantity, layer after layer
        self.x, self.pred, self.err, self.perr, self.dx = (buf.views(n) for n in ("x", "pred", "err", "perr", "dx"))
        self.a, self.fprime, self._g = (buf.views(n, self.L) for n in ("a", "fprime", "g"))  # a, f′, Π ε ⊙ f′ for l < L
        self._fixed_value = [torch.zeros(B, n, device=dev, dtype=dt) for n in sizes]
        self._rebuild_masks()

    def param_changed(self, name: str) -> None:
        cfg = self.config
        if name == "label_precision" and self.label_layer is not None:  # γ: the label layer's precision
            self.var[self.label_layer].fill_(1.0 / (cfg.label_precision or cfg.precision_init))
        self._f = [activation(cfg.input_activation if l == 0 else cfg.activation) for l in range(self.L)]
        self._kinds = [cfg.input_activation if l == 0 else cfg.activation for l in range(self.L)]
        self._diag = None  # prior_strength may have changed
        self._scale = None  # dt may have changed

    @property
    def data_layer(self) -> int:
        return self.L if self.config.mode == "discriminative" else 0

    @property
    def streams_bp_cosine(self) -> bool:
        """Whether ``bp_cosine/layer_l`` is measured and streamed (discriminative mode)."""
        return self.config.mode == "discriminative"

    @property
    def label_layer(self) -> int | None:
        return {"supervised": self.L, "discriminative": 0}.get(self.config.mode)

    def precision(self, l: int) -> torch.Tensor:
        return 1.0 / self.var[l]  # the learned precision Π_l = 1/Σ_l, (1,) or (n_l,)

    def effective_precision(self, l: int) -> torch.Tensor:
        return self.gain[l] / self.var[l]  # Π_l times the intervention gain (lesions, occlusion), (n_l,)

    # ---------------------------------------------------------------- dynamics
    def set_batch(self, x: torch.Tensor, labels: torch.Tensor | None, learning: bool) -> None:
        x = x.to(self.device, self.dtype)  # (B, D)
        # every prediction and error is made anew below: what was stale or deferred is not computed first
        self._stale = self._deferred = False
        self._data_x = x  # before _alloc: a new batch size rebuilds the masks from it
        self._data_labels = None if labels is None else labels.to(self.device)
        self._learning = learning
        if x.shape[0] != self.batch_size:
            self._alloc(x.shape[0])
        if self.config.state_init == "zeros":
            for t in self.x:
                t.zero_()
        self._rebuild_masks()
        if self.config.state_init == "topdown":
            self.start_topdown()  # leaves every layer's prediction computed
            self.forward(predicted=True)
        else:
            self.forward()
        self.samples.clear()  # samples of another input are not samples of this posterior

    def start_topdown(self) -> None:
        """Start from the prior: sweep the prediction down from the top, keeping the
        units that are held (data, labels, clamps). Leaves every layer's prediction
        (and a, f′) computed for the new state, so ``forward(predicted=True)`` follows."""
        L = self.L
        self._keep_held(L, self.b[L].expand_as(self.x[L]))
        for l in range(L - 1, -1, -1):
            self._predict(l)  # from x_{l+1}, already final
            self._keep_held(l, self.pred[l])

    def _keep_held(self, l: int, value: torch.Tensor) -> None:
        """x_l = value on the units of layer l that are not held."""
        if self._all_fixed[l]:
            return
        if self._any_fixed[l]:
            self.x[l].copy_(torch.where(self._fixed[l], self.x[l], value))
        else:
            self.x[l].copy_(value)

    def _predict(self, l: int) -> None:
        """x̂_l = f(W_l x_{l+1} + b_l) into ``pred[l]`` (and a_l, f′(a_l) for a nonlinear f)."""
        kind = self._kinds[l]
        if kind == "linear":
            torch.addmm(self.b[l], self.x[l + 1], self.W[l].T, out=self.pred[l])  # (B, n_l)
            return
        torch.addmm(self.b[l], self.x[l + 1], self.W[l].T, out=self.a[l])  # (B, n_l)
        if kind == "tanh":
            torch.tanh(self.a[l], out=self.pred[l])
            torch.addcmul(self._one, self.pred[l], self.pred[l], value=-1.0, out=self.fprime[l])  # 1 − y²
        elif kind == "sigmoid":
            torch.sigmoid(self.a[l], out=self.pred[l])
            torch.addcmul(self.pred[l], self.pred[l], self.pred[l], value=-1.0, out=self.fprime[l])  # y − y²
        else:
            f, df = self._f[l]
            self.pred[l].copy_(f(self.a[l]))
            self.fprime[l].copy_(df(self.a[l], self.pred[l]))

    def forward(self, params_changed: bool = True, predicted: bool = False) -> None:
        """Predictions, errors and precision-weighted errors for the current state.
        ``params_changed`` (weights, precisions or gains may have changed) refreshes
        the cached effective precisions and marks the curvature diagonal stale;
        ``predicted``: the predictions are already those of the current state and
        parameters (:meth:`start_topdown` just made them), only the errors are computed."""
        L, self._deferred, self._stale = self.L, False, False  # every layer's prediction and error is computed here
        if params_changed or self._peff is None:
            self._diag = None
            self._scale = None
            self._peff = [self.effective_precision(l) for l in range(L + 1)]  # (n_l,)
            self.pred[L].copy_(self.b[L].expand_as(self.pred[L]))  # the top's prior mean
        if not predicted:
            for l in range(L):
                self._predict(l)
        if self._any_occluded:  # occluded inputs are free and follow the prediction
            self.x[0].copy_(torch.where(self._occ_mask, self.pred[0], self.x[0]))
        for l in range(L + 1):
            torch.sub(self.x[l], self.pred[l], out=self.err[l])
            torch.mul(self.err[l], self._peff[l], out=self.perr[l])

    def curvature_diagonal(self) -> list[torch.Tensor]:
        """D_l (n_l,) that the preconditioned flow divides by (see :func:`curvature_scale`),
        computed again only when something it depends on changed: the weights,
        precisions or gains (in place or replaced), which layers are held, the
        activations, the preconditioner or the prior. Each new batch asks for it, and
        with learning off (a demo, the default preset) nothing it depends on moves."""
        cfg = self.config
        fixed = (cfg.preconditioner, cfg.prior, tuple(cfg.prior_at(l) for l in range(self.L + 1)),
                 tuple(self._all_fixed), tuple(self._kinds))
        tensors = [*self.W, *self.var, *self.gain]
        versions = [t._version for t in tensors]  # torch counts a tensor's in-place changes
        if self._curvature is not None:
            old_fixed, old_tensors, old_versions, d = self._curvature
            if (old_fixed == fixed and len(old_tensors) == len(tensors)
                    and all(a is b for a, b in zip(old_tensors, tensors)) and old_versions == versions):
                return d
        d = curvature_scale(self)
        self._curvature = (fixed, tensors, versions, d)
        return d

    def gradients(self, skip_held: bool = False) -> list[torch.Tensor]:
        """−∂F/∂x_l for every layer (before masks), into ``self.dx``; with
        ``skip_held``, layers whose units are all held are left out."""
        cfg = self.config
        for l in range(self.L + 1):
            lam = cfg.prior_at(l)
            if skip_held and self._all_fixed[l]:
                continue
            torch.neg(self.perr[l], out=self.dx[l])
            if l >= 1:
                if self._kinds[l - 1] == "linear":
                    g = self.perr[l - 1]
                else:
                    g = torch.mul(self.perr[l - 1], self.fprime[l - 1], out=self._g[l - 1])  # (B, n_{l-1})
                self.dx[l].addmm_(g, self.W[l - 1])  # (B, n_{l-1}) @ (n_{l-1}, n_l)
                if lam > 0 and cfg.prior == "gaussian":
                    self.dx[l].add_(self.x[l], alpha=-lam)
                elif lam > 0 and cfg.prior == "cauchy":
                    self.dx[l].sub_(2 * lam * self.x[l] / (1 + self.x[l] ** 2))
        return self.dx

    def _step_scale(self) -> list[torch.Tensor]:
        """Per unit, dt × (1 if free else 0) / D (the preconditioner, or 1): one
        multiply-add per layer applies a whole inference step."""
        if self._scale is None:
            precond = self.config.preconditioner != "none"
            if precond and self._diag is None:
                self._diag = self.curvature_diagonal()
            self._scale = []
            for l in range(self.L + 1):
                s = torch.full((self.sizes[l],), self.config.dt, device=self.device, dtype=self.dtype)
                if precond:
                    s = s / self._diag[l]
                self._scale.append(s * self._free[l])  # (n_l,)
        return self._scale

    def step(self, learning: bool = True) -> None:
        if learning != self._learning:  # the label layer is held only while learning
            self._learning = learning
            self._rebuild_masks()
            self.forward()
        elif self._stale:  # the parameters moved since the last forward()
            self.forward()
        if not self._fast.step():  # False where the fast step does not cover the model
            self.reference_step()
        if self.config.sample_window:
            self.record_sample()

    def reference_step(self) -> None:
        """One Euler step of inference as the equations read (the fast step is tested equal)."""
        cfg = self.config
        dt = cfg.dt
        self.gradients(skip_held=True)
        scale = self._step_scale()
        tau = cfg.langevin_temperature
        precond = cfg.preconditioner != "none"
        for l in range(self.L + 1):
            if self._all_fixed[l]:
                continue
            self.x[l].addcmul_(self.dx[l], scale[l])  # x += dt D⁻¹ (−∂F/∂x) on free units
            if tau > 0:  # Langevin noise, covariance 2 dt τ D⁻¹ (preconditioned)
                noise = torch.randn(self.x[l].shape, generator=self._gen, device=self.device, dtype=self.dtype)
                self.x[l].addcmul_(noise, (2 * tau * scale[l]).sqrt())
            if l >= 1 and cfg.prior == "l1" and cfg.prior_at(l) > 0:
                # the proximal step of λ|x| in the flow's metric: threshold dt λ, or dt λ / D
                thr = dt * cfg.prior_at(l) / self._diag[l] if precond else dt * cfg.prior_at(l)
                shrunk = torch.sign(self.x[l]) * torch.clamp(self.x[l].abs() - thr, min=0)
                self.x[l].copy_(torch.where(self._fixed[l], self.x[l], shrunk))
        self.forward(params_changed=False)

    def weight_gradients(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(−∂F/∂W_l, −∂F/∂b_l) averaged over the batch, weight decay included."""
        B = self.batch_size
        dW, db = [], []
        for l in range(self.L):
            g = self.perr[l] if self._f[l][1] is None else self.perr[l] * self.fprime[l]  # (B, n_l)
            gw = g.T @ self.x[l + 1] / B  # (n_l, n_{l+1})
            if self.config.weight_decay > 0:
                gw = gw - self.config.weight_decay * self.W[l]
            dW.append(gw)
            db.append(g.mean(0))
        db.append(self.perr[self.L].mean(0))  # top prior mean
        return dW, db

    def weight_step(self, lr: float) -> None:
        """W_l += lr (−∂F/∂W_l) and b_l += lr (−∂F/∂b_l): :meth:`weight_gradients`
        applied in place, with weight decay as W_l (1 − lr κ); one product per layer
        accumulates into the weights, no gradient tensors are made. Layers in
        ``frozen_weights`` are skipped, and every bias without ``learn_biases``."""
        B, decay = self.batch_size, self.config.weight_decay
        frozen = set(self.config.frozen_weights)  # trained in an earlier stage: W_l and b_l stay
        biases = self.config.learn_biases
        for l in range(self.L):
            if l in frozen:
                continue
            g = self.perr[l] if self._f[l][1] is None else torch.mul(self.perr[l], self.fprime[l], out=self._g[l])
            if decay > 0:
                self.W[l].mul_(1.0 - lr * decay)
            self.W[l].addmm_(g.T, self.x[l + 1], alpha=lr / B)  # (n_l, B) @ (B, n_{l+1})
            if biases:
                self.b[l].add_(g.mean(0), alpha=lr)
        if self.config.mode != "discriminative" and biases:  # there the top is the input, with no prior to learn
            self.b[self.L].add_(self.perr[self.L].mean(0), alpha=lr)  # the top prior mean

    def end_hold(self, learning: bool = True) -> None:
        if not learning:
            return
        cfg = self.config
        learn_prec = cfg.precision != "fixed" and cfg.learn_precision and cfg.lr_precision > 0
        # the posterior variance at the inferred point, before the weights move
        post = self.posterior_error_variance() if learn_prec else None
        if self.streams_bp_cosine and self._learned_holds % cfg.bp_cosine_every == 0:
            self.bp_cosine.copy_(backprop_cosine(self))  # held between measurements
        self._learned_holds += 1
        if self.twin is not None and self._all_fixed[0]:  # the twin learns from PC's batch and target
            self.twin.learn(self.x[self.L], self.x[0])
        if cfg.lr_weights > 0:
            self.weight_step(cfg.lr_weights)
            if cfg.normalize_basis and 0 not in cfg.frozen_weights:
                self.W[0].div_(self.W[0].norm(dim=0, keepdim=True).clamp_min(1e-8))  # (n_0, n_1) unit columns
        if learn_prec:
            self.update_precision(cfg.lr_precision, post)
        if self.twin is not None and self._learned_holds % cfg.heldout_every == 0:
            self.twin.measure()
        if self._any_occluded:
            self.forward()  # occluded inputs follow the new prediction now (they are read as x)
        else:  # predictions and errors under the new parameters: on the next read or step (a new
            self._stale = True  # batch usually comes first, and its forward() makes them)

    def set_reference_data(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        if self.twin is not None and labels is not None:
            self.twin.set_heldout(x, labels)  # and measures

    def posterior_error_variance(self) -> list[torch.Tensor] | None:
        """Per layer, the posterior variance of ε_l (B, n_l) that the laplace precision
        update adds (:mod:`pcviz.models.pc_precision`); None for the point update."""
        cfg = self.config
        return posterior_error_variance(self, cfg.posterior_covariance) if cfg.precision_update == "laplace" else None

    def update_precision(self, rate: float, post: list[torch.Tensor] | None = None) -> None:
        """One step of the learned variances towards their target (see
        :func:`pcviz.models.pc_precision.update_variances`); ``post`` is the posterior
        variance of the errors if already computed."""
        update_variances(self, rate, post if post is not None else self.posterior_error_variance())

    def basis(self) -> torch.Tensor | None:
        if self.config.mode == "discriminative":
            return self.W[self.L - 1].reshape(self.sizes[self.L - 1], *self.data.display_shape)
        return self.W[0].T.reshape(self.sizes[1], *self.data.display_shape)

    # ------------------------------------------------------------- parameters
    def state_tensors(self) -> dict[str, torch.Tensor]:
        out = {}
        for name, tensors in (("W", self.W), ("b", self.b), ("var", self.var)):
            out.update({f"{name}.{l}": t for l, t in enumerate(tensors)})
        return out

    def frozen_parameters(self) -> list[str]:
        """W_l and b_l of every layer in ``model.frozen_weights``."""
        return [f"{name}.{l}" for l in sorted(set(self.config.frozen_weights)) for name in ("W", "b")]

    def checkpoint_tensors(self) -> dict[str, torch.Tensor]:
        out = self.state_tensors()
        if self.twin is not None:  # the twin's own weights, so that the comparison survives a save and load
            out.update(self.twin.state_tensors())
        return out

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.check_state_tensors(tensors)
        twin_saved = self.twin is not None and self.twin.check_saved(tensors)
        for name, t in self.state_tensors().items():
            t.copy_(tensors[name].to(self.device, self.dtype))
        if self.twin is not None:
            if twin_saved:  # saved with its twin: both go on from where they were
                self.twin.load(tensors)
            else:  # a checkpoint without one (older, or saved without a twin): from PC's weights
                self.twin.restart()
        self.forward()

    def architecture(self) -> dict[str, Any]:
        return {"kind": self.kind, "sizes": list(self.sizes), "mode": self.config.mode,
                "precision": self.config.precision}
