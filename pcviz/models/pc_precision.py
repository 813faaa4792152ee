"""The learned precisions' update of the dense predictive-coding model, and the
posterior uncertainty it needs (variational Laplace / EM).

The energy F is a negative log joint; inference finds its minimum x* in the free
units. Treating the posterior over the free units as Gaussian, q = N(x*, C) with C
the inverse curvature of F at x*, the M-step for a layer's variance is

    Σ_l ← ⟨ε_l²⟩ + diag(J_l C J_lᵀ)        J_l = ∂ε_l/∂x (free units only)

(averaged over the batch, and over units for a scalar precision). The second term
is what a point estimate leaves out: with it, Σ_l is the expected squared error under
the posterior, and its fixed point is maximum likelihood (for a linear network, the EM
fixed point of factor analysis); without it (``precision_update = "point"``) Σ_l is
biased low, by exactly the error variance that the inferred causes explain away.

ε_l = x_l − f(W_l x_{l+1} + b_l), so J_l is the identity on x_l and −diag(f′_l) W_l on
x_{l+1}. The curvature is the Gauss-Newton one, H = Σ_l J_lᵀ Π_l J_l + the prior's
(λ for a Gaussian prior, 2λ(1 − x²)/(1 + x²)² clipped at 0 for a Cauchy one, 0 for L1):
exact for linear layers, and for nonlinear ones the part that does not depend on the
errors (the ε·f″ term is left out, as Gauss-Newton does).

Two ways to get C, per sample (f′ differs between samples):

- ``full``: the whole (N, N) inverse over the N free units of all layers (a Cholesky
  factorisation per sample). Exact for the Gauss-Newton curvature.
- ``diagonal``: C ≈ diag(1/H_ii), with H_ii the exact Gauss-Newton diagonal. Exact when
  the free units share no errors (H diagonal: e.g. one hidden layer whose columns of W
  are orthogonal under Π_0); otherwise it under-counts the posterior variance (by
  Jensen, 1/H_ii ≤ (H⁻¹)_ii), so the precision bias is reduced, not removed.

``auto`` (the default) takes ``full`` up to :data:`FULL_MAX_UNITS` free units and
``diagonal`` beyond, where a per-sample (N, N) factorisation costs too much.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from pcviz.models.pc import PCModel

#: above this many free units, ``posterior_covariance = "auto"`` takes the diagonal
FULL_MAX_UNITS = 512


def _prior_curvature(model: "PCModel", l: int) -> torch.Tensor | float:
    """∂²(λ ρ(x_l))/∂x_l² per unit, (B, n_l) or a number (clipped at 0)."""
    cfg = model.config
    lam = cfg.prior_at(l)
    if l == 0 or lam <= 0 or cfg.prior == "l1":
        return 0.0
    if cfg.prior == "gaussian":
        return lam
    x2 = model.x[l] * model.x[l]  # (B, n_l)
    return (2 * lam * (1 - x2) / (1 + x2) ** 2).clamp_min(0)


def _free(model: "PCModel", l: int) -> torch.Tensor:
    """(n_l,) 1 where x_l is inferred: not held, and not an occluded input (which just
    copies its prediction, so its error is 0 whatever the causes)."""
    free = model._free[l]
    if l == 0 and model._any_occluded:
        free = free * (~model._occ_mask).to(free.dtype)
    return free


def _fprime(model: "PCModel", l: int) -> torch.Tensor:
    """f′(a_l), (B, n_l) (ones for a linear layer)."""
    if model._f[l][1] is None:
        return torch.ones_like(model.err[l])
    return model.fprime[l]


def posterior_error_variance(model: "PCModel", method: str = "auto") -> list[torch.Tensor]:
    """Per layer, diag(J_l C J_lᵀ): the posterior variance of ε_l, (B, n_l)."""
    n_free = int(sum(int(_free(model, l).sum()) for l in range(model.L + 1)))
    if method == "auto":
        method = "full" if n_free <= FULL_MAX_UNITS else "diagonal"
    if n_free == 0:
        return [torch.zeros_like(e) for e in model.err]
    if method == "full":
        return _full(model)
    if method == "diagonal":
        return _diagonal(model)
    raise ValueError(f"posterior covariance {method!r}: expected auto, full or diagonal")


def _diagonal(model: "PCModel") -> list[torch.Tensor]:
    L = model.L
    prec = [model.effective_precision(l).expand(model.sizes[l]) for l in range(L + 1)]  # (n_l,)
    fp = [_fprime(model, l) for l in range(L)]  # (B, n_l)
    cov = []  # 1/H_ii on free units, 0 on held ones, (B, n_l)
    for l in range(L + 1):
        h = prec[l].expand_as(model.err[l]) + _prior_curvature(model, l)  # (B, n_l)
        if l >= 1:
            h = h + (fp[l - 1] ** 2 * prec[l - 1]) @ (model.W[l - 1] ** 2)  # (B, n_{l-1}) @ (n_{l-1}, n_l)
        cov.append(_free(model, l) / h.clamp_min(1e-12))
    out = []
    for l in range(L + 1):
        v = cov[l].clone()
        if l < L:
            v = v + fp[l] ** 2 * (cov[l + 1] @ (model.W[l] ** 2).T)  # (B, n_{l+1}) @ (n_{l+1}, n_l)
        out.append(v)
    return out


def _full(model: "PCModel") -> list[torch.Tensor]:
    L, B = model.L, model.batch_size
    dev, dt = model.device, model.dtype
    idx = [torch.nonzero(_free(model, l) > 0).flatten() for l in range(L + 1)]  # free units per layer
    off = [0]
    for i in idx:
        off.append(off[-1] + len(i))
    N = off[-1]
    jac = []  # J_l = ∂ε_l/∂x_free, (B, n_l, N)
    for l in range(L + 1):
        J = torch.zeros(B, model.sizes[l], N, device=dev, dtype=dt)
        k = len(idx[l])
        if k:
            J[:, idx[l], torch.arange(off[l], off[l] + k, device=dev)] = 1.0
        if l < L and len(idx[l + 1]):
            J[:, :, off[l + 1]:off[l + 2]] = -_fprime(model, l)[:, :, None] * model.W[l][:, idx[l + 1]]
        jac.append(J)
    H = torch.zeros(B, N, N, device=dev, dtype=dt)
    for l in range(L + 1):
        p = model.effective_precision(l).expand(model.sizes[l])  # (n_l,)
        H += jac[l].transpose(1, 2) @ (p[:, None] * jac[l])  # (B, N, N)
        c = _prior_curvature(model, l)
        if len(idx[l]) and not (isinstance(c, float) and c == 0.0):
            cl = (c if isinstance(c, float) else c[:, idx[l]])
            d = torch.diagonal(H, dim1=1, dim2=2)[:, off[l]:off[l + 1]]
            d += cl
    # a lesioned (zero-precision) unit with nothing else to pin it has no curvature:
    # a tiny ridge keeps the factorisation defined (its variance is then huge but
    # its errors carry no weight either)
    ridge = 1e-9 * torch.diagonal(H, dim1=1, dim2=2).mean(1).clamp_min(1e-12)  # (B,)
    H += ridge[:, None, None] * torch.eye(N, device=dev, dtype=dt)
    chol, info = torch.linalg.cholesky_ex(H)
    if bool((info != 0).any()):
        C = torch.linalg.pinv(H, hermitian=True)
    else:
        C = torch.cholesky_inverse(chol)  # (B, N, N)
    return [((J @ C) * J).sum(-1) for J in jac]  # diag(J C Jᵀ), (B, n_l)


def update_variances(model: "PCModel", rate: float, post: list[torch.Tensor] | None) -> None:
    """Σ ← Σ + ρ(⟨ε²⟩ + v − Σ) over the batch (and units, for a scalar precision), with
    v = ``post`` the posterior variance of ε (the laplace update) or 0 (None: the point
    update), clamped to the precision bounds. Occluded and lesioned-to-zero units do not
    count; layers outside ``precision_layers`` are left alone, and so is the data layer
    in discriminative mode (the input, held at the top: its error is the bias's)."""
    cfg = model.config
    lo, hi = 1.0 / cfg.precision_max, 1.0 / cfg.precision_min
    model._peff = model._diag = model._scale = None  # precisions change: caches are stale
    for l in range(model.L + 1):
        if cfg.precision_layers and l not in cfg.precision_layers:
            continue
        if cfg.mode == "discriminative" and l == model.data_layer:
            continue
        valid = (model.gain[l] > 0).to(model.dtype)  # (n_l,)
        if l == model.data_layer and model._any_occluded and l == 0:
            valid = valid * (~model._occ_mask).to(model.dtype)
        sq = model.err[l] ** 2 if post is None else model.err[l] ** 2 + post[l]  # (B, n_l)
        sq = sq.mean(0)  # (n_l,)
        var = model.var[l]
        if var.numel() == 1:
            n = valid.sum()
            if n == 0:
                continue
            var.add_(rate * ((sq * valid).sum() / n - var))
        else:
            var.add_(rate * valid * (sq - var))
        var.clamp_(lo, hi)
