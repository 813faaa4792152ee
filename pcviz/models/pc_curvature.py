"""What the dense predictive-coding model's preconditioned inference divides by, and
what each choice guarantees.

Inference is x ← x − dt D⁻¹ ∂F/∂x on the free units. If the curvature of F satisfies
H ≼ D along the step, a quadratic-upper-bound argument gives
F(x_new) ≤ F(x) − dt (1 − dt/2) ∇Fᵀ D⁻¹ ∇F, so the energy does not rise for dt < 2.

H is the Gauss-Newton part Σ_l J_lᵀ Π_l J_l (J_l = ∂ε_l/∂x) plus the prior's curvature
plus, for nonlinear layers, the term Σ_k Π_k ε_k f″(a_k) ∂a_k ∂a_kᵀ that Gauss-Newton
drops.

- ``diagonal``: D_l = Π_l + (W_{l−1}∘W_{l−1})ᵀ Π_{l−1} (+ λ, Gaussian prior; 2λ, Cauchy),
  the Gauss-Newton diagonal with |f′| ≤ 1. It bounds the diagonal of H, not H: when
  causes overlap (nearly collinear columns of W) the largest eigenvalue of D⁻¹H reaches
  the number of overlapping causes, and the energy rises for dt above 2 over that
  number. No guarantee in general.
- ``bound``: a per-layer bound of the whole curvature. With f′ in [0, s] (s = sup |f′|:
  1 for tanh, relu, softplus and linear; ¼ for sigmoid), every error term obeys
  ‖Π_l^½ (v_l − F_l W_l v_{l+1})‖² ≤ a ‖Π_l^½ v_l‖² + a s² ‖Π_l^½ W_l v_{l+1}‖², with a = 2 when
  both layers have free units and 1 when one side is held (the clamped input, the
  top's prior). So H_GN ≼ blockdiag(B_l), B_l = a Π_l + a s² W_{l−1}ᵀ Π_{l−1} W_{l−1} + c
  (c = λ, Gaussian prior, or 2λ, Cauchy: their curvature everywhere), a bound that no
  longer couples layers; then D_l = μ_l diag(B_l) with μ_l the largest eigenvalue of
  diag(B_l)^−½ B_l diag(B_l)^−½ (exact, by eigvalsh, up to 2048 units; beyond, the
  Gershgorin row sums of |B_l|, a looser bound). Hence H_GN ≼ D everywhere, and
  **with linear layers the energy does not rise for any dt < 2** (the L1 prior's
  proximal step keeps the descent). With nonlinear layers the ε·f″ term is not in the
  bound: the guarantee holds while that term stays below (2/dt − 1) D; the tests
  check it on ill-conditioned weights at the presets' dt (1.0, half the limit).
  D is recomputed when weights, precisions, gains or held units change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from pcviz.models.pc_activations import FPRIME_SUP

if TYPE_CHECKING:
    from pcviz.models.pc import PCModel

def _prior_bound(model: "PCModel", l: int) -> float:
    """A bound of ∂²(λ_l ρ(x))/∂x² (the Cauchy prior's is 2λ at x = 0)."""
    cfg = model.config
    lam = cfg.prior_at(l)
    if lam > 0 and cfg.prior in ("gaussian", "cauchy"):
        return (2 if cfg.prior == "cauchy" else 1) * lam
    return 0.0


#: above this many units a layer's bound uses Gershgorin row sums instead of eigvalsh
EIG_MAX_UNITS = 2048


def curvature_scale(model: "PCModel") -> list[torch.Tensor]:
    """D_l (n_l,) for ``model.config.preconditioner`` ("diagonal" or "bound")."""
    if model.config.preconditioner == "bound":
        return _bound(model)
    L = model.L
    prec = [model.effective_precision(l).expand(model.sizes[l]) for l in range(L + 1)]  # (n_l,)
    out = []
    for l in range(L + 1):
        d = prec[l].clone()  # (n_l,)
        if l >= 1:
            d = d + (model.W[l - 1] ** 2).T @ prec[l - 1]
            d = d + _prior_bound(model, l)
        out.append(d.clamp_(min=1e-3))
    return out


def _bound(model: "PCModel") -> list[torch.Tensor]:
    L = model.L
    prec = [model.effective_precision(l).expand(model.sizes[l]) for l in range(L + 1)]  # (n_l,)
    free = [not model._all_fixed[l] for l in range(L + 1)]
    out = []
    for l in range(L + 1):
        # a of the error below (ε_{l−1}, which sees x_l through W_{l−1}) and of x_l's own error ε_l
        a_own = 2.0 if l < L and free[l] and free[l + 1] else 1.0
        own = a_own * prec[l]  # (n_l,)
        if l == 0:
            out.append(own.clamp(min=1e-3))
            continue
        a_below = 2.0 if free[l - 1] and free[l] else 1.0
        s = FPRIME_SUP[model._kinds[l - 1]]
        pw = a_below * s * s * prec[l - 1]  # (n_{l-1},)
        W = model.W[l - 1]  # (n_{l-1}, n_l)
        n = model.sizes[l]
        c = _prior_bound(model, l)
        if n <= EIG_MAX_UNITS:
            B = W.T @ (pw[:, None] * W)  # (n_l, n_l)
            B.diagonal().add_(own + c)
            d = B.diagonal().clamp(min=1e-3)
            r = d.rsqrt()
            mu = torch.linalg.eigvalsh(r[:, None] * B * r[None, :]).max().clamp(min=1.0)
            out.append(mu * d)
        else:  # Gershgorin: row sums of |B|
            absW = W.abs()
            out.append((own + c + absW.T @ (pw * (absW @ torch.ones(n, device=W.device, dtype=W.dtype))))
                       .clamp(min=1e-3))
    return out
