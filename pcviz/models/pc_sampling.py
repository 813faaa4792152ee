"""The spread of a predictive-coding network's Langevin samples (Monte Carlo PC).

With ``langevin_temperature`` τ > 0 each inference step is one step of (unadjusted)
Langevin dynamics, x ← x − dt D⁻¹ ∂F/∂x + √(2 dt τ D⁻¹) ξ, whose states are samples of
p(x | data) ∝ exp(−F/τ) (τ = 1: the model's posterior; D is the preconditioner, which
depends on weights and precisions only, so it changes the speed, not the target).
A state is one sample; their mean is not what the network "sees", their spread is
what it is unsure of. With ``sample_window`` W > 0 the model keeps the last W steps'
states and streams, per layer:

- ``sample_mean``, ``sample_std``: mean and standard deviation (over the window, per
  unit) of the layer's activity; for the data layer, of its prediction (the
  reconstruction, whose spread is what the image views can show: where the input is
  occluded the network's guesses there vary);
- for a model with a label layer, the scalars ``samples/class_k``: the fraction of the
  window's samples whose label layer's largest unit is k (the posterior probability
  of class k, estimated from the samples).

The window is emptied when a new batch is presented (samples of another input are
not samples of this posterior); interventions during a hold are not a new input, so
the window slides across them and shows the change within W steps.
"""

from __future__ import annotations

import torch


class SampleWindow:
    """The last ``size`` steps' values of every layer, (size, B, N) in one ring."""

    def __init__(self, size: int):
        self.size = size
        self.count = 0  # samples held (≤ size)
        self._pos = 0
        self._ring: torch.Tensor | None = None  # (size, B, N)
        self._labels: torch.Tensor | None = None  # (size, B) argmax of the label layer

    def clear(self) -> None:
        self.count = 0
        self._pos = 0

    def push(self, layers: list[torch.Tensor], label: torch.Tensor | None) -> None:
        """Add one step's values: ``layers`` (B, n_l) each, ``label`` (B, K) or None."""
        flat = torch.cat(layers, 1)  # (B, N)
        if self._ring is None or self._ring.shape[1:] != flat.shape:
            self._ring = torch.empty((self.size, *flat.shape), device=flat.device, dtype=flat.dtype)
            self._labels = torch.zeros((self.size, flat.shape[0]), device=flat.device, dtype=torch.long)
            self.clear()
        self._ring[self._pos].copy_(flat)
        if label is not None:
            torch.argmax(label, 1, out=self._labels[self._pos])
        self._pos = (self._pos + 1) % self.size
        self.count = min(self.count + 1, self.size)

    def mean_std(self, current: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per layer, (B, n_l) mean and standard deviation over the window (divided by
        the number of samples); with no sample yet, ``current`` and zeros."""
        if self.count == 0 or self._ring is None:
            return list(current), [torch.zeros_like(t) for t in current]
        r = self._ring[: self.count]  # (n, B, N): order does not matter for the moments
        mean = r.mean(0)
        std = (r - mean).square().mean(0).sqrt()
        sizes = [t.shape[1] for t in current]
        return list(mean.split(sizes, 1)), list(std.split(sizes, 1))

    def class_fractions(self, n_classes: int) -> torch.Tensor | None:
        """(B, K) fraction of the window's samples per class, or None before any sample."""
        if self.count == 0 or self._labels is None:
            return None
        onehot = torch.nn.functional.one_hot(self._labels[: self.count], n_classes)  # (n, B, K)
        return onehot.to(self._ring.dtype).mean(0)


class PCSampling:
    """A mixin of :class:`pcviz.models.pc.PCModel`: the sample window's upkeep and what
    it streams (see the module docstring). Works on ``x``, ``pred``, ``config`` and the
    label and data layers of the model."""

    def _sampled_layers(self) -> list[torch.Tensor]:
        """What the window keeps per layer: the data layer's prediction, every other
        layer's activity, (B, n_l) each."""
        return [self.pred[l] if l == self.data_layer else self.x[l] for l in range(self.L + 1)]

    def record_sample(self) -> None:
        """Add the current state to the window (after each step)."""
        ll = self.label_layer
        self.samples.push(self._sampled_layers(), None if ll is None else self.x[ll])

    def sample_quantities(self) -> list[dict[str, torch.Tensor]]:
        """Per layer, ``sample_mean`` and ``sample_std`` (B, n_l)."""
        mean, std = self.samples.mean_std(self._sampled_layers())
        return [{"sample_mean": m, "sample_std": s} for m, s in zip(mean, std)]

    def sample_scalars(self, index: int | None) -> dict[str, torch.Tensor]:
        """``samples/class_k`` for a model with a label layer (NaN before any sample)."""
        ll = self.label_layer
        if ll is None:
            return {}
        K = self.sizes[ll]
        frac = self.samples.class_fractions(K)
        if frac is None:
            frac = torch.full((self.batch_size, K), float("nan"), device=self.device, dtype=self.dtype)
        row = frac.mean(0) if index is None else frac[index]  # (K,)
        return {f"samples/class_{k}": row[k] for k in range(K)}

    def sample_notes(self) -> dict[str, str]:
        if self.label_layer is None:
            return {}
        note = f"fraction of the last {self.samples.size} per class"
        return {f"samples/class_{k}": note for k in range(self.sizes[self.label_layer])}
