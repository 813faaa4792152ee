"""Convolutional hierarchical predictive coding: the equations of :mod:`pcviz.models.pc`
with convolutional generative weights (Rao & Ballard 1999, in the layout of the
classic convnet port: 8 causes with 8×8 kernels over the image, 10 causes with 3×3
kernels over the first layer's maps).

Every layer l is a stack of maps (C_l, H_l, W_l); the input is (C_0, H, W) with C_0 = 1
for grey images. A cause paints its kernel wherever it is active:

    a_l = K_l ⊛ᵀ x_{l+1} + b_l        (conv_transpose2d, stride s_l, padding p_l)
    x̂_l = f_l(a_l),   ε_l = x_l − x̂_l,   x̂_L = b_L (the top prior mean, per channel)

The energy is the dense model's, F = Σ_l ½ Σ Π ε² − ½ Σ log Π + λ Σ ρ(x), and the
gradient to the layer above is the adjoint of the transposed convolution, the
convolution with the same kernels:

    dx_l/dt = −Π_l ε_l + K_{l−1} ⊛ (Π_{l−1} ε_{l−1} ⊙ f′(a_{l−1})) − λ ρ′(x_l)   (conv2d)

After each hold, ΔK_l = −η ∂F/∂K_l: the dense Hebbian update of the unrolled matrix
summed over every position where a kernel weight appears (``conv2d_weight``), minus
η κ K_l (a Gaussian prior on the kernels). Biases are per channel (translation
invariance). Precisions are fixed, a learned scalar or learned per channel, with the
dense model's *point* update Σ ← Σ + ρ(⟨ε²⟩ − Σ) (fixed point Π = 1/⟨ε²⟩ at the
inferred state). That fixed point is biased low whenever hidden layers are inferred:
it leaves out the posterior's spread diag(J C Jᵀ) that the dense family's default
``precision_update = "laplace"`` adds (:mod:`pcviz.models.pc_precision`). The
convolutional family does not implement that correction, so ``precision_update`` is
``"point"`` here and ``"laplace"`` is refused at validation with a message saying so.
The shipped preset (``patches-conv-pc``) keeps ``precision = "fixed"``, so no shipped
conv number depends on the biased update; learned conv precisions are an explicit
opt-in (``--set model.precision=scalar``) to the point rule.

Stability. Overlapping kernels couple neighbouring causes, so dividing by the
curvature's diagonal (``preconditioner = "diagonal"``, as in the dense model) can
still oscillate; ``"bound"`` divides by the Gauss-Newton curvature's absolute row
sums, which bound it (Gershgorin), so with linear layers the energy falls at every
step for dt < 2; with nonlinear ones the ε·f″ term is outside the bound (as in the
dense model, :mod:`pcviz.models.pc_curvature`), and the tests check the preset on
ill-conditioned kernels. The same bound
in the weights (``weight_preconditioner = "bound"``) keeps the weight step safe as
precisions and activities grow, and ``kernel_norm`` holds each cause's kernel at a
fixed norm (Olshausen & Field), so a sparse prior cannot be dodged by growing kernels.

State, masks and interventions (clamp, pulse, lesion, occlusion) are the dense
model's: every quantity is kept as a flat (B, n_l) tensor, n_l = C_l·H_l·W_l, and
viewed as maps (B, C_l, H_l, W_l) for the convolutions. A unit index is a flat index
into (C_l, H_l, W_l): unit c·H_l·W_l + h·W_l + w.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch.nn.grad import conv2d_weight

from pcviz.config import meta
from pcviz.models.base import DataInfo, GenerativeModel, LayerSpec, ModelError
from pcviz.models.conv_maps import conv_transpose
from pcviz.models.kernel_measures import kernel_localisation, kernel_orientation
from pcviz.models.pc import PCDynamicsConfig, PCModel
from pcviz.models.pc_fast import FastStep


@dataclass
class PCConvConfig(PCDynamicsConfig):
    kind: str = field(default="pc_conv", metadata=meta("model family", choices=("pc_conv",)))
    preconditioner: str = field(
        default="none",
        metadata=meta("inference flow: plain gradient (none), or divided per unit by the Gauss-Newton"
                      " diagonal of the curvature (diagonal), or by a bound of the whole curvature's row"
                      " (bound: smaller steps, but with linear layers the energy falls for any dt < 2);"
                      " same fixed points",
                      choices=("none", "diagonal", "bound")),
    )
    precision: str = field(
        default="scalar",
        metadata=meta("precision per layer: fixed, learned scalar, learned per channel",
                      choices=("fixed", "scalar", "channel")),
    )
    channels: list[int] = field(
        default_factory=lambda: [8, 10],
        metadata=meta("causes (channels) per layer above the input, bottom to top", min=1, max=4096),
    )
    kernel_sizes: list[int] = field(
        default_factory=lambda: [8, 3],
        metadata=meta("side of each layer's kernels (layer l+1 predicts layer l)", min=1, max=256),
    )
    strides: list[int] = field(default_factory=lambda: [4, 1], metadata=meta("stride per layer", min=1, max=64))
    paddings: list[int] = field(default_factory=lambda: [4, 0], metadata=meta("zero padding per layer", min=0, max=128))
    weight_preconditioner: str = field(
        default="none",
        metadata=meta("weight step: −η ∂F/∂K (none), or divided per weight by a bound of the energy's"
                      " curvature in the weights (bound: η is then the fraction of a step that is safe"
                      " however large precisions and activities grow; same fixed points)",
                      choices=("none", "bound")),
    )
    precision_update: str = field(
        default="point",
        metadata=meta("learned variances: Σ_g ← ⟨ε²⟩_g at the inferred point (point: biased low when hidden"
                      " layers are inferred). The dense family's laplace correction is not implemented for"
                      " convolutional layers and is refused; every shipped conv preset keeps precision = fixed",
                      choices=("laplace", "point")),
    )
    kernel_norm: float = field(
        default=0.0,
        metadata=meta("after each weight step, rescale every cause's kernel to this L2 norm"
                      " (Olshausen & Field's constraint: fixes the scale between causes and kernels); 0 = off",
                      min=0.0),
    )

    def validate(self) -> None:
        if self.sample_window:
            raise ValueError(f"sample_window = {self.sample_window}: the convolutional family does not keep samples"
                             " (the dense family does)")
        n = len(self.channels)
        if n < 1:
            raise ValueError("channels = []: need at least one layer above the input")
        self.check_prior_strengths(n + 1)
        for name in ("kernel_sizes", "strides", "paddings"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} = {getattr(self, name)}: need one value per layer of channels ({n})")
        for l, (k, p) in enumerate(zip(self.kernel_sizes, self.paddings)):
            if p >= k:
                raise ValueError(f"paddings[{l}] = {p}: must be smaller than kernel_sizes[{l}] = {k}")
        if self.precision_update != "point":
            raise ValueError(
                f"model.precision_update = {self.precision_update!r}: the convolutional family has only the"
                " point update of learned precisions (Σ ← ⟨ε²⟩ at the inferred state, biased low when hidden"
                " layers are inferred); the laplace correction exists for the dense families (kind = 'pc',"
                " 'hybrid_pc'). Use precision_update = 'point', or precision = 'fixed' as the shipped preset does")
        super().validate()


def map_shapes(config: PCConvConfig, data: DataInfo) -> list[tuple[int, int, int]]:
    """(C_l, H_l, W_l) of every layer, input first: H_{l+1} = ⌊(H_l + 2p − k)/s⌋ + 1."""
    ds = tuple(data.display_shape)
    if len(ds) == 2:
        shape = (1, int(ds[0]), int(ds[1]))
    elif len(ds) == 3:
        shape = tuple(int(v) for v in ds)
    else:
        raise ModelError(f"model.kind = 'pc_conv' needs image input; the data's shape is {ds}")
    shapes = [shape]
    for l, c in enumerate(config.channels):
        k, s, p = config.kernel_sizes[l], config.strides[l], config.paddings[l]
        _, h, w = shapes[-1]
        ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        if ho < 1 or wo < 1:
            raise ModelError(
                f"model.kernel_sizes[{l}] = {k} (padding {p}) does not fit layer {l}'s {h}x{w} maps;"
                f" use a smaller kernel, more padding, or larger input (data.patch_size)"
            )
        shapes.append((int(c), ho, wo))
    return shapes


class PCConvModel(PCModel):
    """Convolutional PC. Shares the dense model's flat state, masks, interventions,
    energy and inference loop (:meth:`PCModel.step`); the maps between layers,
    their adjoints, the curvature, the weight gradients and the precision groups
    are convolutional here."""

    kind: ClassVar[str] = "pc_conv"
    structural: ClassVar[frozenset[str]] = frozenset(
        {"kind", "channels", "kernel_sizes", "strides", "paddings", "precision", "init_scale"})
    fast_path_supported: ClassVar[bool] = False  # its maps are convolutions: the reference step

    def __init__(self, config: PCConvConfig, data: DataInfo, device: torch.device | str = "cpu", seed: int = 0,
                 dtype: torch.dtype = torch.float32):
        GenerativeModel.__init__(self, config, data, device, seed)
        self.dtype = dtype
        self.shapes = map_shapes(config, data)  # [(C_l, H_l, W_l)]
        self.sizes = [c * h * w for c, h, w in self.shapes]
        self.L = len(self.shapes) - 1
        self.layers = self._layer_specs(self.sizes, data)
        self._geom = []  # per layer below the top: (stride, padding, output_padding)
        for l in range(self.L):
            k, s, p = config.kernel_sizes[l], config.strides[l], config.paddings[l]
            h_out = (self.shapes[l + 1][1] - 1) * s - 2 * p + k
            w_out = (self.shapes[l + 1][2] - 1) * s - 2 * p + k
            self._geom.append((s, p, (self.shapes[l][1] - h_out, self.shapes[l][2] - w_out)))
        self._gen = torch.Generator(device=self.device).manual_seed(seed)
        dev, dt = self.device, dtype
        self.W: list[torch.Tensor] = []  # W[l]: (C_{l+1}, C_l, k_l, k_l), the conv_transpose2d layout
        for l in range(self.L):
            c_in, c_out, k, s = self.shapes[l + 1][0], self.shapes[l][0], config.kernel_sizes[l], config.strides[l]
            fan = c_in * math.ceil(k / s) ** 2  # (cause, position) pairs that reach one unit below
            w = torch.randn(c_in, c_out, k, k, generator=self._gen, device=dev, dtype=dt)
            self.W.append(w * (config.init_scale / math.sqrt(fan)))
        self._normalise_kernels()
        self.b = [torch.zeros(s[0], device=dev, dtype=dt) for s in self.shapes]  # (C_l,); b[L]: top prior mean
        pshape = (lambda c: (c,)) if config.precision == "channel" else (lambda c: (1,))
        self.var = [torch.full(pshape(s[0]), 1.0 / config.precision_init, device=dev, dtype=dt) for s in self.shapes]
        self.gain = [torch.ones(n, device=dev, dtype=dt) for n in self.sizes]  # (n_l,)
        self._clamps = [dict() for _ in self.sizes]
        self._occluded = torch.zeros(self.sizes[0], dtype=torch.bool, device=dev)
        self._label_override = None
        self._imagine = False
        self._data_x = None
        self._data_labels = None
        self._learning = True
        self._diag = None
        self._fast = FastStep(self)  # declines this family: the reference step runs
        self._basis_stats: tuple[torch.Tensor, torch.Tensor] | None = None
        self.param_changed("")
        self._alloc(1)

    # ----------------------------------------------------------------- set-up
    def _layer_specs(self, sizes: list[int], data: DataInfo) -> list[LayerSpec]:
        specs = [LayerSpec("input", "input", sizes[0], tuple(data.display_shape))]
        for l in range(1, len(sizes)):
            role = "top" if l == len(sizes) - 1 else "hidden"
            specs.append(LayerSpec("top" if role == "top" else f"x{l}", role, sizes[l], self.shapes[l]))
        return specs

    @property
    def streams_bp_cosine(self) -> bool:
        return False  # no discriminative mode

    @property
    def data_layer(self) -> int:
        return 0

    @property
    def label_layer(self) -> int | None:
        return None

    def maps(self, t: torch.Tensor, l: int) -> torch.Tensor:
        """A flat (B, n_l) tensor of layer l viewed as maps (B, C_l, H_l, W_l)."""
        return t.view(t.shape[0], *self.shapes[l])

    def predict_pre(self, l: int, above: torch.Tensor) -> torch.Tensor:
        """a_l = K_l ⊛ᵀ x_{l+1} + b_l: maps (B, C_{l+1}, H, W) -> (B, C_l, H_l, W_l)."""
        s, p, op = self._geom[l]
        return conv_transpose(above, self.W[l], self.b[l], s, p, op)  # matmul + fold on CPU (faster there)

    def adjoint(self, l: int, below: torch.Tensor) -> torch.Tensor:
        """The adjoint of x ↦ K_l ⊛ᵀ x: maps (B, C_l, H_l, W_l) -> (B, C_{l+1}, H_{l+1}, W_{l+1})."""
        s, p, _ = self._geom[l]
        return F.conv2d(below, self.W[l], None, stride=s, padding=p)

    def precision(self, l: int) -> torch.Tensor:
        """Π_l = 1/Σ_l: (1,) for a fixed or scalar precision, (n_l,) per channel."""
        p = 1.0 / self.var[l]
        if p.numel() == 1:
            return p
        c, h, w = self.shapes[l]
        return p.repeat_interleave(h * w)  # (n_l,)

    def effective_precision(self, l: int) -> torch.Tensor:
        """Π_l times the intervention gain (lesions, occlusion), (n_l,)."""
        return self.gain[l] * self.precision(l)

    # ---------------------------------------------------------------- dynamics
    def set_batch(self, x: torch.Tensor, labels: torch.Tensor | None, learning: bool) -> None:
        x = x.to(self.device, self.dtype).reshape(x.shape[0], -1)  # (B, n_0)
        if x.shape[1] != self.sizes[0]:
            raise ModelError(f"pc_conv: a batch of {x.shape[1]} values per sample; the model's input has"
                             f" {self.sizes[0]} ({'x'.join(map(str, self.shapes[0]))})")
        self._data_x = x  # before _alloc: a new batch size rebuilds the masks from it
        self._data_labels = None  # labels are not modelled
        self._learning = learning
        if x.shape[0] != self.batch_size:
            self._alloc(x.shape[0])
        if self.config.state_init == "zeros":
            for t in self.x:
                t.zero_()
        self._rebuild_masks()
        if self.config.state_init == "topdown":  # sweep the prior mean down, keeping held units
            L, B = self.L, x.shape[0]
            top = self.b[L].view(1, -1, 1, 1).expand(B, *self.shapes[L]).reshape(B, -1)
            self.x[L].copy_(torch.where(self._fixed[L], self.x[L], top))
            for l in range(L - 1, -1, -1):
                f, _ = self._f[l]
                pred = f(self.predict_pre(l, self.maps(self.x[l + 1], l + 1))).reshape(B, -1)  # (B, n_l)
                self.x[l].copy_(torch.where(self._fixed[l], self.x[l], pred))
        self.forward()

    def forward(self, params_changed: bool = True) -> None:
        """Predictions, errors and precision-weighted errors for the current state."""
        L = self.L
        if params_changed:
            self._diag = None
            self._scale = None
        for l in range(L):
            f, df = self._f[l]
            self.maps(self.a[l], l).copy_(self.predict_pre(l, self.maps(self.x[l + 1], l + 1)))  # (B, C_l, H, W)
            if df is None:
                self.pred[l].copy_(self.a[l])
            else:
                self.pred[l].copy_(f(self.a[l]))
                self.fprime[l].copy_(df(self.a[l], self.pred[l]))
        self.maps(self.pred[L], L).copy_(self.b[L].view(1, -1, 1, 1))  # broadcast over positions
        if self._any_occluded:  # occluded inputs are free and follow the prediction
            self.x[0].copy_(torch.where(self._occ_mask, self.pred[0], self.x[0]))
        for l in range(L + 1):
            torch.sub(self.x[l], self.pred[l], out=self.err[l])
            torch.mul(self.err[l], self.effective_precision(l), out=self.perr[l])

    def _drive(self, l: int) -> torch.Tensor:
        """Π_l ε_l ⊙ f′(a_l), (B, n_l): the signal layer l sends up (= −∂F/∂a_l)."""
        return self.perr[l] if self._f[l][1] is None else self.perr[l] * self.fprime[l]

    def curvature_diagonal(self) -> list[torch.Tensor]:
        """D_l (n_l,) that the preconditioned flow divides by.

        ``diagonal``: Π_l + (K_{l−1}∘K_{l−1}) ⊛ Π_{l−1}, the exact Gauss-Newton diagonal.
        ``bound``: the row sums of |H|, H the Gauss-Newton curvature of F in the whole
        state (all layers; for linear f it is ∂²F/∂x²). With M_l the unrolled K_l ⊛ᵀ,
        row j of layer l sums Π_lj (own error) + Π_lj (|M_l| 1)_j (coupling to the layer
        above) + (|M_{l−1}|ᵀ Π_{l−1} (|M_{l−1}| 1))_j (overlapping causes) + (|M_{l−1}|ᵀ
        Π_{l−1})_j (coupling to the layer below). Then D − H is diagonally dominant, so
        H ≼ D and a step −dt D⁻¹∇F lowers a quadratic F (linear layers) for every dt < 2;
        with nonlinear layers the ε·f″ part of the curvature is not bounded.
        Both add λ (Gaussian prior) or 2λ (Cauchy) and bound the curvature for |f′| ≤ 1."""
        cfg = self.config
        bound = cfg.preconditioner == "bound"
        prec = [self.effective_precision(l).expand(self.sizes[l]) for l in range(self.L + 1)]  # (n_l,)
        out = []
        for l in range(self.L + 1):
            d = prec[l].clone()  # (n_l,)
            if bound and l < self.L:  # Π_l |M_l| 1: every cause above that paints unit j
                ones = torch.ones(1, *self.shapes[l + 1], device=self.device, dtype=self.dtype)
                s, p, op = self._geom[l]
                reach = F.conv_transpose2d(ones, self.W[l].abs(), None, stride=s, padding=p, output_padding=op)
                d = d + prec[l] * reach.reshape(-1)
            if l >= 1:
                s, p, op = self._geom[l - 1]
                pm = prec[l - 1].view(1, *self.shapes[l - 1])  # (1, C, H, W)
                if bound:
                    ones = torch.ones(1, *self.shapes[l], device=self.device, dtype=self.dtype)
                    reach = F.conv_transpose2d(ones, self.W[l - 1].abs(), None, stride=s, padding=p,
                                               output_padding=op)  # |M_{l-1}| 1, (1, C_{l-1}, H, W)
                    v = pm * (1.0 + reach)
                    d = d + F.conv2d(v, self.W[l - 1].abs(), None, stride=s, padding=p).reshape(-1)
                else:
                    d = d + F.conv2d(pm, self.W[l - 1] ** 2, None, stride=s, padding=p).reshape(-1)
                if cfg.prior_at(l) > 0 and cfg.prior in ("gaussian", "cauchy"):
                    d = d + (2 if cfg.prior == "cauchy" else 1) * cfg.prior_at(l)
            out.append(d.clamp_(min=1e-3))
        return out

    def gradients(self, skip_held: bool = False) -> list[torch.Tensor]:
        """−∂F/∂x_l for every layer (before masks), into ``self.dx``."""
        cfg = self.config
        B = self.batch_size
        for l in range(self.L + 1):
            torch.neg(self.perr[l], out=self.dx[l])
            if l >= 1:
                self.dx[l].add_(self.adjoint(l - 1, self.maps(self._drive(l - 1), l - 1)).reshape(B, -1))
                lam = cfg.prior_at(l)
                if lam > 0 and cfg.prior == "gaussian":
                    self.dx[l].add_(self.x[l], alpha=-lam)
                elif lam > 0 and cfg.prior == "cauchy":
                    self.dx[l].sub_(2 * lam * self.x[l] / (1 + self.x[l] ** 2))
        return self.dx

    def weight_gradients(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(−∂F/∂K_l, −∂F/∂b_l) averaged over the batch, the kernels' prior included:
        the dense gradient summed over the positions where each weight appears."""
        B = self.batch_size
        dW, db = [], []
        for l in range(self.L):
            g = self.maps(self._drive(l), l)  # (B, C_l, H_l, W_l)
            s, p, _ = self._geom[l]
            gw = conv2d_weight(g, self.W[l].shape, self.maps(self.x[l + 1], l + 1), stride=s, padding=p) / B
            if self.config.weight_decay > 0:
                gw = gw - self.config.weight_decay * self.W[l]
            dW.append(gw)  # (C_{l+1}, C_l, k, k)
            db.append(g.sum((2, 3)).mean(0))  # (C_l,)
        db.append(self.maps(self.perr[self.L], self.L).sum((2, 3)).mean(0))  # top prior mean
        return dW, db

    def weight_curvature_bound(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per weight, the row sums of |H|, H the Gauss-Newton curvature of the batch-mean
        F in (K_l, b_l) for |f′| ≤ 1 (κ included). Weight e = K[c, c′, i, j] reaches unit
        q through |∂a_q/∂K_e| = |x_{l+1}| at the painting position, and every weight that
        reaches q sums to u_q = (|x_{l+1}| ⊛ᵀ 1)_q + 1 (the 1: the bias), so row e sums
        Σ_q Π_q u_q |∂a_q/∂K_e|: a Hebbian product of Π u with |x_{l+1}|. A step
        η D⁻¹(−∂F/∂K) with η < 2 then lowers a quadratic F at the held state."""
        B = self.batch_size
        hW, hb = [], []
        for l in range(self.L):
            s, p, op = self._geom[l]
            xa = self.maps(self.x[l + 1], l + 1).abs()  # (B, C_{l+1}, H, W)
            k = self.W[l].shape[2]
            ones = torch.ones(xa.shape[1], 1, k, k, device=self.device, dtype=self.dtype)
            u = F.conv_transpose2d(xa, ones, None, stride=s, padding=p, output_padding=op) + 1.0  # (B, 1, H_l, W_l)
            v = self.effective_precision(l).expand(self.sizes[l]).view(1, *self.shapes[l]) * u  # (B, C_l, H_l, W_l)
            h = conv2d_weight(v, self.W[l].shape, xa, stride=s, padding=p) / B + self.config.weight_decay
            hW.append(h.clamp_(min=1e-8))
            hb.append(v.sum((2, 3)).mean(0).clamp_(min=1e-8))  # (C_l,)
        top = self.effective_precision(self.L).expand(self.sizes[self.L]).view(*self.shapes[self.L])
        hb.append(top.sum((1, 2)).clamp_(min=1e-8))  # (C_L,)
        return hW, hb

    def _normalise_kernels(self) -> None:
        if self.config.kernel_norm > 0:
            for w in self.W:  # (C_{l+1}, C_l, k, k): one kernel per cause
                norms = w.flatten(1).norm(dim=1).clamp(min=1e-12)  # (C_{l+1},)
                w.mul_((self.config.kernel_norm / norms).view(-1, 1, 1, 1))

    def frozen_parameters(self) -> list[str]:
        return []  # the convolutional family has no frozen_weights: it trains in one stage

    def end_hold(self, learning: bool = True) -> None:
        if not learning:
            return
        cfg = self.config
        if cfg.lr_weights > 0:
            dW, db = self.weight_gradients()
            if cfg.weight_preconditioner == "bound":
                hW, hb = self.weight_curvature_bound()
                dW = [g / h for g, h in zip(dW, hW)]
                db = [g / h for g, h in zip(db, hb)]
            for l in range(self.L):
                self.W[l].add_(dW[l], alpha=cfg.lr_weights)
            for l in range(self.L + 1):
                self.b[l].add_(db[l], alpha=cfg.lr_weights)
            self._normalise_kernels()
            self._basis_stats = None
        if cfg.precision != "fixed" and cfg.learn_precision and cfg.lr_precision > 0:
            self.update_precision(cfg.lr_precision)
        self.forward()

    def update_precision(self, rate: float) -> None:
        """Σ_g ← Σ_g + ρ(⟨ε²⟩_g − Σ_g) for each precision group g (the layer, or one
        channel), the mean over the batch and the group's units; occluded and
        lesioned-to-zero units do not count."""
        cfg = self.config
        lo, hi = 1.0 / cfg.precision_max, 1.0 / cfg.precision_min
        self._diag = self._scale = None  # precisions change: the step's caches are stale
        for l in range(self.L + 1):
            groups = self.var[l].numel()  # 1 or C_l
            valid = (self.gain[l] > 0).to(self.dtype)  # (n_l,)
            if l == 0 and self._any_occluded:
                valid = valid * (~self._occ_mask).to(self.dtype)
            sq = (self.err[l] ** 2).mean(0).view(groups, -1)  # (G, n_l/G)
            valid = valid.view(groups, -1)
            n = valid.sum(1)  # (G,)
            target = (sq * valid).sum(1) / n.clamp(min=1)
            self.var[l].add_(rate * (n > 0).to(self.dtype) * (target - self.var[l]))
            self.var[l].clamp_(lo, hi)

    # -------------------------------------------------------------- streaming
    def frame_tensors(self) -> list[dict[str, torch.Tensor]]:
        out = []
        B = self.batch_size
        for l in range(self.L + 1):
            shape = tuple(self.layers[l].display_shape)
            out.append({
                "activity": self.x[l].view(B, *shape),
                "prediction": self.pred[l].view(B, *shape),
                "error": self.err[l].view(B, *shape),
                "precision": self.effective_precision(l).expand(self.sizes[l]).view(1, *shape).expand(B, *shape),
            })
        return out

    def scalar_tensors(self, index: int | None) -> dict[str, torch.Tensor]:
        out = super().scalar_tensors(index)
        if self._basis_stats is None:  # the kernels change only at the end of a hold
            k = self.kernels()
            self._basis_stats = (kernel_localisation(k).mean().to(self.dtype),
                                 kernel_orientation(k).mean().to(self.dtype))
        out["basis/localisation"], out["basis/orientation"] = self._basis_stats
        return out

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        super().load_state_tensors(tensors)
        self._basis_stats = None

    def kernels(self) -> torch.Tensor:
        """Layer 1's kernels as (C_1·C_0, k, k) images (C_0 = 1 for grey input)."""
        w = self.W[0]  # (C_1, C_0, k, k)
        return w.reshape(-1, w.shape[2], w.shape[3])

    def basis(self) -> torch.Tensor | None:
        """The learned kernels of layer 1, (C_1, k, k) for grey input, (C_1, C_0, k, k) else."""
        return self.W[0][:, 0] if self.W[0].shape[1] == 1 else self.W[0]

    # ------------------------------------------------------------- interventions
    def set_label(self, label: int | None, imagine: bool = False) -> None:
        raise ModelError("set_label: the convolutional PC model has no label layer")

    def architecture(self) -> dict[str, Any]:
        cfg = self.config
        return {"kind": self.kind, "input_shape": list(self.shapes[0]), "channels": list(cfg.channels),
                "kernel_sizes": list(cfg.kernel_sizes), "strides": list(cfg.strides),
                "paddings": list(cfg.paddings), "precision": cfg.precision}
