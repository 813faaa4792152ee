"""How close discriminative PC's weight update is to backprop's gradient.

Whittington & Bogacz (2017): with the input clamped at the top and the target at the
bottom, PC's equilibrium weight update equals backprop's gradient of the output loss
½ γ ‖y − ŷ‖² in the equivalent feed-forward network *in the limit of a small output
precision γ* (relative to the hidden layers'), where the hidden units barely leave
their feed-forward values. At γ comparable to the hidden precisions the two differ
(cosines of 0.9 to 0.98 are typical at γ = 1): the equivalence is a limit, not an
identity. :func:`backprop_cosine` measures it, per layer, for the batch at hand; the
engine streams it as ``bp_cosine/layer_l``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from pcviz.models.pc import PCModel


def backprop_cosine(model: "PCModel") -> torch.Tensor:
    """(L,) cosine between PC's update of (W_l, b_l) at the current state and minus
    backprop's gradient of ½ Π_0 ‖y − ŷ‖² (+ the same weight decay) in the feed-forward
    net x_L → ... → ŷ = x̂_0, y the held label layer. NaN when the label is not held."""
    L = model.L
    out = torch.full((L,), float("nan"), device=model.device, dtype=model.dtype)
    if not bool(model._fixed[0].all()):
        return out
    y = model.x[0]  # (B, n_0), the held target
    decay = model.config.weight_decay
    with torch.enable_grad():
        Ws = [w.detach().clone().requires_grad_(True) for w in model.W]
        bs = [b.detach().clone().requires_grad_(True) for b in model.b[:L]]
        h = model.x[L].detach()  # (B, n_L) the clamped input
        for l in range(L - 1, -1, -1):
            h = model._f[l][0](h @ Ws[l].T + bs[l])  # (B, n_l)
        loss = 0.5 * ((y - h) ** 2 * model.effective_precision(0)).sum(1).mean()
        if decay > 0:
            loss = loss + 0.5 * decay * sum((w * w).sum() for w in Ws)
        grads = torch.autograd.grad(loss, Ws + bs)
    dW, db = model.weight_gradients()
    for l in range(L):
        pc = torch.cat([dW[l].reshape(-1), db[l]])
        bp = -torch.cat([grads[l].reshape(-1), grads[L + l]])
        out[l] = torch.nn.functional.cosine_similarity(pc, bp, dim=0)
    return out
