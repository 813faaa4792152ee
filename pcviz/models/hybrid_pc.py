"""Hybrid predictive coding: amortised and iterative inference side by side
(Tschantz, Millidge, Seth & Buckley 2023, "Hybrid predictive coding: inferring, fast
and slow").

The generative (backward) model is the one of :mod:`pcviz.models.pc`: layers x_0
(input) ... x_L, predictions x̂_l = f(W_l x_{l+1} + b_l), errors ε_l = x_l − x̂_l,
precisions Π_l, energy F = Σ_l ½ ε_lᵀ Π_l ε_l − ½ log|Π_l| (+ activity priors).
Next to it, every hidden level has an amortised (forward) model that predicts it from
the level below, x̃_{l+1} = h(V_l x_l + c_l), with its own learned precision Φ_{l+1}.

A hold: one forward sweep x̃_1 = h(V_0 x_0 + c_0), x̃_2 = h(V_1 x̃_1 + c_1), ... gives
the amortised guess of every hidden level (held units keep their value); iterative
inference then lowers the generative energy F from there, exactly as in ``pc`` (the
forward model does not enter F, so both starts share F's fixed points). After the
hold both models learn: the backward one with the Hebbian step of ``pc``, the
forward one toward the refined states, with the forward error δ_{l+1} = x_{l+1} −
h(V_l x_l + c_l) (refined minus amortised, from the refined level below):

    ΔV_l = η_f (Φ_{l+1} δ_{l+1} ⊙ h′) x_lᵀ,      ΔΣ_f = ρ_f (⟨δ²⟩ − Σ_f),  Φ = 1/Σ_f,

the gradient of the forward energy F_f = Σ_l ½ δ_lᵀ Φ_l δ_l − ½ log|Φ_l| and the
natural-gradient precision step of ``pc``, whose fixed point is Φ = 1/⟨δ²⟩. The
−½ log|Φ| term matters: without it (the mean of (Φδ)², as in the note) the loss is
lowest at Φ = 0, and learning drives every precision to zero.

``forward_gain`` lesions the forward path: the start is x_td + g (x̃ − x_td) with x_td
the top-down start of ``pc``; g = 0 is plain iterative PC.

Settling: a sample counts as settled at the first inference step of a hold that
lowers its energy by less than ``settle_tol``; ``steps_to_settle`` is the number of
steps before that one (a stopping rule that needs no fixed point; the acceptance
measure of :mod:`pcviz.models.hybrid_measures` uses the fixed point instead). With
``early_stop`` a settled sample's state is frozen for the rest of the hold.

Streams, besides the four quantities of ``pc``: per hidden level ``amortised`` (the
forward guess x̃_l of this hold), ``forward_error`` (δ_l now) and ``forward_precision``
(Φ_l); scalars ``amortisation_gap`` (F at the guess minus F now), ``steps_to_settle``
and ``forward_loss`` (F_f now).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from pcviz.config import meta
from pcviz.models.base import DataInfo
from pcviz.models.pc import ACTIVATIONS, PCConfig, PCModel, activation

FORWARD_QUANTITIES = ("amortised", "forward_error", "forward_precision")
HYBRID_SCALARS = ("amortisation_gap", "steps_to_settle", "forward_loss")


@dataclass
class HybridPCConfig(PCConfig):
    kind: str = field(default="hybrid_pc", metadata=meta("model family", choices=("hybrid_pc",)))
    mode: str = field(
        default="unsupervised",
        metadata=meta("unsupervised (generative) or supervised (label at the top; the forward sweep then"
                      " guesses the label)", choices=("unsupervised", "supervised")),
    )
    state_init: str = field(
        default="amortised",
        metadata=meta("state at the start of a hold: the amortised guess of the forward sweep, top-down"
                      " from the prior, zeros, or keep", choices=("amortised", "topdown", "zeros", "keep")),
    )
    forward_activation: str = field(
        default="linear", metadata=meta("h of the forward (amortised) predictions", choices=ACTIVATIONS))
    forward_gain: float = field(
        default=1.0,
        metadata=meta("weight of the forward guess in the start, x_td + g (x̃ − x_td): 1 amortised,"
                      " 0 the forward path lesioned (plain iterative PC)", min=0.0, max=1.0))
    forward_precision: str = field(
        default="scalar",
        metadata=meta("forward precision per level: fixed, learned scalar, learned diagonal",
                      choices=("fixed", "scalar", "diagonal")))
    forward_precision_max: float = field(
        default=10.0, metadata=meta("upper bound of learned forward precisions", gt=0.0))
    lr_forward: float = field(default=0.01, metadata=meta("learning rate η_f of the forward model", min=0.0,
                                                           max=100.0))
    lr_forward_precision: float = field(
        default=0.01, metadata=meta("forward precision learning rate ρ_f", min=0.0, max=1.0))
    early_stop: bool = field(
        default=False, metadata=meta("freeze a sample's state once a step lowers its energy by less than"
                                     " settle_tol"))
    settle_tol: float = field(
        default=1e-3, metadata=meta("energy decrease per step below which a sample counts as settled", gt=0.0))

    def inert_settings(self) -> dict[str, str]:
        """As PC's, with the forward precisions: ``learn_precision`` acts while either
        kind of precision is learned."""
        out = super().inert_settings()
        if self.forward_precision == "fixed":
            out["lr_forward_precision"] = ('model.forward_precision = "fixed": the forward precisions stay as'
                                           ' configured and nothing learns them')
        else:
            out.pop("learn_precision", None)  # it still governs the forward precisions
        return out

    def validate(self) -> None:
        super().validate()
        if self.precision_min >= self.forward_precision_max:
            raise ValueError(f"forward_precision_max = {self.forward_precision_max} must be above"
                             f" precision_min = {self.precision_min}")


class HybridPCModel(PCModel):
    """PC with an amortised forward model per level (see the module docstring)."""

    kind: ClassVar[str] = "hybrid_pc"
    structural: ClassVar[frozenset[str]] = PCModel.structural | frozenset({"forward_precision"})

    def __init__(self, config: HybridPCConfig, data: DataInfo, device: torch.device | str = "cpu", seed: int = 0,
                 dtype: torch.dtype = torch.float32):
        super().__init__(config, data, device, seed, dtype)
        dev, dt, sizes = self.device, dtype, self.sizes
        # the forward model: V[l] predicts x_{l+1} from x_l; it starts at zero (no guess)
        self.V = [torch.zeros(sizes[l + 1], sizes[l], device=dev, dtype=dt) for l in range(self.L)]  # (n_{l+1}, n_l)
        self.c = [torch.zeros(sizes[l + 1], device=dev, dtype=dt) for l in range(self.L)]  # (n_{l+1},)
        fshape = (lambda n: (n,)) if config.forward_precision == "diagonal" else (lambda n: (1,))
        self.fvar = [torch.full(fshape(sizes[l + 1]), 1.0 / config.precision_init, device=dev, dtype=dt)
                     for l in range(self.L)]
        self._hybrid_alloc(1)

    # ----------------------------------------------------------------- set-up
    def _alloc(self, B: int) -> None:
        super()._alloc(B)
        if hasattr(self, "V"):  # PCModel.__init__ allocates before the forward model exists
            self._hybrid_alloc(B)

    def _hybrid_alloc(self, B: int) -> None:
        dev, dt = self.device, self.dtype
        self.amortised = [torch.zeros(B, n, device=dev, dtype=dt) for n in self.sizes]  # (B, n_l); [0] = input
        self.f_energy_guess = torch.zeros(B, device=dev, dtype=dt)  # F at the amortised guess
        self.f_prev = torch.zeros(B, device=dev, dtype=dt)  # F after the previous step
        self.settled = torch.zeros(B, dtype=torch.bool, device=dev)
        self.settle_steps = torch.zeros(B, device=dev, dtype=dt)

    def param_changed(self, name: str) -> None:
        super().param_changed(name)
        self._h = activation(self.config.forward_activation)

    def forward_precision_of(self, l: int) -> torch.Tensor:
        """Φ_l of hidden level ``l`` ≥ 1, (1,) or (n_l,)."""
        return 1.0 / self.fvar[l - 1]

    # --------------------------------------------------------------- forward model
    def forward_prediction(self, l: int, below: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(h(V_{l−1} x_{l−1} + c_{l−1}), h′ or None for linear) of level ``l`` ≥ 1 from
        ``below`` (B, n_{l−1})."""
        h, dh = self._h
        a = torch.addmm(self.c[l - 1], below, self.V[l - 1].T)  # (B, n_l)
        y = h(a)
        return y, (None if dh is None else dh(a, y))

    @torch.no_grad()
    def amortised_sweep(self) -> list[torch.Tensor]:
        """The forward guess of every level, bottom-up from the current input; held
        units (data, labels, clamps) keep their values. Stored in ``self.amortised``."""
        self.amortised[0].copy_(self.x[0])
        for l in range(1, self.L + 1):
            y, _ = self.forward_prediction(l, self.amortised[l - 1])
            self.amortised[l].copy_(torch.where(self._fixed[l], self.x[l], y))
        return self.amortised

    def forward_errors(self) -> list[torch.Tensor]:
        """δ_l = x_l − h(V_{l−1} x_{l−1} + c_{l−1}) for l = 1..L, from the current (refined) states."""
        return [self.x[l] - self.forward_prediction(l, self.x[l - 1])[0] for l in range(1, self.L + 1)]

    def forward_energy(self) -> torch.Tensor:
        """(B,) F_f = Σ_l ½ δ_lᵀ Φ_l δ_l − ½ log|Φ_l|."""
        out = torch.zeros(self.batch_size, device=self.device, dtype=self.dtype)
        for l, d in enumerate(self.forward_errors(), start=1):
            phi = self.forward_precision_of(l)
            out = out + 0.5 * (phi * d * d).sum(1) - 0.5 * torch.log(phi).expand(self.sizes[l]).sum()
        return out

    # ---------------------------------------------------------------- the loop
    def set_batch(self, x: torch.Tensor, labels: torch.Tensor | None, learning: bool) -> None:
        super().set_batch(x, labels, learning)  # "amortised" leaves the state alone, like "keep"
        cfg = self.config
        guess = self.amortised_sweep()
        if cfg.state_init == "amortised":
            g = cfg.forward_gain
            if g < 1.0:
                self.start_topdown()
            for l in range(1, self.L + 1):
                start = guess[l] if g >= 1.0 else self.x[l] + g * (guess[l] - self.x[l])
                self.x[l].copy_(torch.where(self._fixed[l], self.x[l], start))
            self.forward()
        self.f_energy_guess.copy_(self.energy_at(guess) if self._guess_differs() else self.energy())
        self.f_prev.copy_(self.energy())
        self.settled.zero_()
        self.settle_steps.zero_()

    def _guess_differs(self) -> bool:
        return self.config.state_init != "amortised" or self.config.forward_gain < 1.0

    @torch.no_grad()
    def energy_at(self, states: list[torch.Tensor]) -> torch.Tensor:
        """(B,) the generative energy with the free hidden units at ``states`` (the
        model's own state is left as it was)."""
        saved = [t.clone() for t in self.x]
        for l in range(1, self.L + 1):
            self.x[l].copy_(torch.where(self._fixed[l], self.x[l], states[l]))
        self.forward(params_changed=False)
        out = self.energy()
        for t, s in zip(self.x, saved):
            t.copy_(s)
        self.forward(params_changed=False)
        return out

    def step(self, learning: bool = True) -> None:
        cfg = self.config
        frozen = cfg.early_stop and bool(self.settled.any())
        saved = [t.clone() for t in self.x] if frozen else None
        super().step(learning)
        if frozen:
            keep = self.settled[:, None]  # (B, 1)
            for t, s in zip(self.x, saved):
                t.copy_(torch.where(keep, s, t))
            self.forward(params_changed=False)
        e = self.energy()  # (B,)
        active = ~self.settled
        newly = active & (self.f_prev - e < cfg.settle_tol)
        self.settle_steps.add_((active & ~newly).to(self.dtype))
        self.settled |= newly
        self.f_prev.copy_(e)

    def end_hold(self, learning: bool = True) -> None:
        if learning:
            self.update_forward()
        super().end_hold(learning)
        if learning:  # the gap compares two energies under the same (new) parameters
            self.f_energy_guess.copy_(self.energy_at(self.amortised))

    @torch.no_grad()
    def update_forward(self) -> None:
        """One step of the forward model toward the refined states, and of its precision."""
        cfg = self.config
        B = self.batch_size
        lo, hi = 1.0 / cfg.forward_precision_max, 1.0 / cfg.precision_min
        for l in range(1, self.L + 1):
            y, dh = self.forward_prediction(l, self.x[l - 1])
            d = self.x[l] - y  # (B, n_l) refined − amortised
            if cfg.lr_forward > 0:
                g = d * self.forward_precision_of(l)
                if dh is not None:
                    g = g * dh
                self.V[l - 1].add_(g.T @ self.x[l - 1], alpha=cfg.lr_forward / B)
                self.c[l - 1].add_(g.mean(0), alpha=cfg.lr_forward)
            if cfg.forward_precision != "fixed" and cfg.learn_precision and cfg.lr_forward_precision > 0:
                sq = (d * d).mean(0)  # (n_l,)
                v = self.fvar[l - 1]
                v.add_(cfg.lr_forward_precision * ((sq.mean() if v.numel() == 1 else sq) - v))
                v.clamp_(lo, hi)

    # --------------------------------------------------------------- streaming
    def frame_tensors(self) -> list[dict[str, torch.Tensor]]:
        out = super().frame_tensors()
        errs = self.forward_errors()
        for l in range(1, self.L + 1):
            out[l]["amortised"] = self.amortised[l]
            out[l]["forward_error"] = errs[l - 1]
            out[l]["forward_precision"] = self.forward_precision_of(l).expand(self.batch_size, self.sizes[l])
        return out

    def scalar_tensors(self, index: int | None) -> dict[str, torch.Tensor]:
        out = super().scalar_tensors(index)
        pick = (lambda t: t.mean()) if index is None else (lambda t: t[index])
        out["amortisation_gap"] = pick(self.f_energy_guess - self.energy())
        out["steps_to_settle"] = pick(self.settle_steps)
        out["forward_loss"] = pick(self.forward_energy())
        return out

    # -------------------------------------------------------------- parameters
    def state_tensors(self) -> dict[str, torch.Tensor]:
        out = super().state_tensors()
        for l in range(self.L):
            out[f"V.{l}"] = self.V[l]
            out[f"c.{l}"] = self.c[l]
            out[f"fvar.{l}"] = self.fvar[l]
        return out

    def architecture(self) -> dict[str, Any]:
        return {**super().architecture(), "forward_activation": self.config.forward_activation,
                "forward_precision": self.config.forward_precision}


__all__ = ["FORWARD_QUANTITIES", "HYBRID_SCALARS", "HybridPCConfig", "HybridPCModel"]
