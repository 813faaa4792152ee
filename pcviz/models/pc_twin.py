"""The backprop twin of a discriminative predictive-coding model: the same network
trained by backprop, side by side with PC, on the very batches PC learns from.

Discriminative PC (input clamped at the top, label at the bottom) is, read as a
feed-forward net, the MLP x_L → f(W_{L−1} x_L + b_{L−1}) → ... → ŷ = f_0(W_0 x_1 + b_0).
The twin is that MLP: the same sizes and activations, its weights a copy of PC's when
it starts (a new model, or PC's weights loaded from a checkpoint saved without a twin;
a checkpoint saved with one brings the twin's own weights back), trained with the
loss PC's output error stands for,

    ℓ = ½ Σ_i Π_0i (y_i − ŷ_i)²   (mean over the batch)  + ½ κ Σ_l ‖W_l‖²

(Π_0 the label layer's precision, γ; κ PC's weight decay, on weights only as in PC)
by ``torch.optim.SGD`` at PC's learning rate, one step each time PC takes its weight
step, on PC's batch at that moment (its clamped input and its held label layer, so a
label clamped by hand is the target of both). PC's update tends to backprop's gradient
as γ falls relative to the hidden precisions (:mod:`pcviz.models.pc_backprop`), so the
two learn the same function where that limit holds and drift apart where it does not.

Held-out accuracy is the argmax of ŷ for both nets. For PC that is the feed-forward
pass of its weights: with the label layer free (the test setting), no activity prior
(a twin with one is refused) and the data held, the feed-forward values zero every error, which is inference's
fixed point (and its start, with ``state_init = "topdown"``); a test checks it
against PC's own inference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from pcviz.models.base import check_tensors

if TYPE_CHECKING:
    from pcviz.models.pc import PCModel

#: the scalars the twin streams, in the order of :attr:`BackpropTwin.values`
TWIN_SCALARS = ("heldout_accuracy/pc", "heldout_accuracy/backprop", "train_loss/pc", "train_loss/backprop")

TWIN_NOTES = {
    "heldout_accuracy": "fraction of held-out samples classified right (argmax of the label layer), measured every"
                        " model.heldout_every learning holds",
    "train_loss": "½ ‖y − ŷ‖² (batch mean) of the feed-forward pass on each learning batch, before the weight step",
}


def twin_refusal(cfg) -> str | None:
    """Why a PC config (``PCConfig``) cannot have a twin, or None: the twin is a plain MLP
    trained by SGD, so PC must be discriminative, without normalize_basis (which the
    twin would not mirror) and without an activity prior (with one, PC's inference
    would not end at the MLP's forward pass)."""
    bad = [what for what, wrong in ((f"mode = {cfg.mode!r}", cfg.mode != "discriminative"),
                                    ("normalize_basis = true", cfg.normalize_basis),
                                    (f"prior_strength = {cfg.prior_strength}, prior_strengths ="
                                     f" {cfg.prior_strengths}", cfg.any_prior)) if wrong]
    if not bad:
        return None
    return ("backprop_twin needs mode = 'discriminative', no normalize_basis and no activity prior (the twin is a"
            f" plain MLP); here {', '.join(bad)}")


def feedforward(Ws: list[torch.Tensor], bs: list[torch.Tensor], acts: list, x: torch.Tensor) -> torch.Tensor:
    """ŷ (B, n_0) of the MLP x (B, n_L) → ... → layer 0; ``acts[l]`` is layer l's (f, f′)."""
    h = x
    for l in range(len(Ws) - 1, -1, -1):
        h = acts[l][0](torch.addmm(bs[l], h, Ws[l].T))  # (B, n_l)
    return h


class BackpropTwin:
    """The feed-forward twin of a discriminative :class:`PCModel` (see the module docstring)."""

    def __init__(self, model: "PCModel"):
        self.model = model
        self.W = [w.detach().clone().requires_grad_(True) for w in model.W]  # W[l]: (n_l, n_{l+1})
        self.b = [b.detach().clone().requires_grad_(True) for b in model.b[:model.L]]
        cfg = model.config
        self.optimizer = torch.optim.SGD([{"params": self.W, "weight_decay": cfg.weight_decay},
                                          {"params": self.b, "weight_decay": 0.0}], lr=cfg.lr_weights)
        #: (4,) the streamed scalars (:data:`TWIN_SCALARS`), NaN until measured, updated in place
        self.values = torch.full((len(TWIN_SCALARS),), float("nan"), device=model.device, dtype=model.dtype)
        self._heldout: tuple[torch.Tensor, torch.Tensor] | None = None
        self.steps = 0  # weight steps taken
        self.last_batch: tuple[torch.Tensor, torch.Tensor] | None = None  # (input, target) of the last step

    def restart(self) -> None:
        """Start again from PC's current weights (after a checkpoint is loaded), and measure."""
        with torch.no_grad():
            for mine, pcs in zip(self.W + self.b, self.model.W + self.model.b[:self.model.L]):
                mine.copy_(pcs)
        self.optimizer.state.clear()
        self.values.fill_(float("nan"))
        self.steps = 0
        self.measure()

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The twin's weights as a checkpoint keeps them (``twin.W.l``, ``twin.b.l``; plain
        SGD has no optimizer state to keep)."""
        out = {f"twin.W.{l}": w for l, w in enumerate(self.W)}
        out.update({f"twin.b.{l}": b for l, b in enumerate(self.b)})
        return out

    def check_saved(self, tensors: dict[str, torch.Tensor]) -> bool:
        """Whether ``tensors`` (a checkpoint's) hold the twin's weights; raises a
        ModelError naming what is missing or of the wrong shape when they hold a part."""
        own = self.state_tensors()
        if not any(k in tensors for k in own):
            return False
        check_tensors(own, tensors, "checkpoint has a backprop twin but lacks", "the twin")
        return True

    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        """Take the twin's weights from a checkpoint's ``tensors`` (checked by
        :meth:`check_saved`), and measure."""
        with torch.no_grad():
            for name, t in self.state_tensors().items():
                t.copy_(tensors[name].to(self.model.device, self.model.dtype))
        self.optimizer.state.clear()
        self.values.fill_(float("nan"))
        self.measure()

    def set_heldout(self, x: torch.Tensor, labels: torch.Tensor) -> None:
        """The held-out inputs (N, n_L) and labels (N,) that accuracy is measured on; measures it."""
        self._heldout = (x.to(self.model.device, self.model.dtype), labels.to(self.model.device))
        self.measure()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The twin's ŷ (B, n_0) for inputs x (B, n_L)."""
        with torch.no_grad():
            return feedforward(self.W, self.b, self.model._f, x)

    def learn(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """One SGD step on the batch PC is about to learn from: input x (B, n_L), target
        y (B, n_0); call it before PC's weight step (its loss is read then)."""
        m = self.model
        gamma = m.effective_precision(0)  # (n_0,)
        with torch.no_grad():
            self.values[2] = 0.5 * ((y - feedforward(m.W, m.b, m._f, x)) ** 2).sum(1).mean()
        for group in self.optimizer.param_groups:
            group["lr"] = m.config.lr_weights
        self.optimizer.param_groups[0]["weight_decay"] = m.config.weight_decay
        with torch.enable_grad():
            self.optimizer.zero_grad(set_to_none=True)
            sq = 0.5 * (y - feedforward(self.W, self.b, m._f, x)) ** 2  # (B, n_0)
            (sq * gamma).sum(1).mean().backward()
        self.optimizer.step()
        self.values[3] = sq.detach().sum(1).mean()
        self.steps += 1
        self.last_batch = (x.detach().clone(), y.detach().clone())

    def measure(self) -> None:
        """Held-out accuracy of PC's weights and of the twin's, into :attr:`values`."""
        if self._heldout is None:
            return
        m = self.model
        x, labels = self._heldout
        with torch.no_grad():
            for i, out in enumerate((feedforward(m.W, m.b, m._f, x), feedforward(self.W, self.b, m._f, x))):
                self.values[i] = (out.argmax(1) == labels).to(self.values.dtype).mean()
