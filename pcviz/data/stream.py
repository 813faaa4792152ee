"""The "hold each sample for T steps" schedule over a data set, in batches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcviz.data.dataset import Dataset


@dataclass
class Batch:
    x: np.ndarray  # (B, D) float32
    labels: np.ndarray | None  # (B,) int64
    indices: np.ndarray  # (B,) int64, rows of the data set


class SampleStream:
    """Batches of ``batch_size`` samples, each held for ``hold_steps`` steps.

    The engine calls :meth:`start_hold` when :attr:`hold_due` (a new batch), then
    :meth:`advance` once per step; ``advance`` returns True on a hold's last step.
    """

    def __init__(self, dataset: Dataset, batch_size: int, hold_steps: int, *, shuffle: bool = True,
                 seed: int = 0, noise: float = 0.0):
        self.dataset = dataset
        self.batch_size = batch_size
        self.hold_steps = hold_steps
        self.shuffle = shuffle
        self.noise = noise
        self._rng = np.random.default_rng(seed)
        self._order = self._new_order()
        self._cursor = 0
        self.hold_step = 0  # steps taken in the current hold
        self.holds = 0  # holds started so far
        self.current: Batch | None = None

    def _new_order(self) -> np.ndarray:
        n = len(self.dataset)
        return self._rng.permutation(n) if self.shuffle else np.arange(n)

    def next_batch(self) -> Batch:
        idx = np.empty(self.batch_size, np.int64)
        for i in range(self.batch_size):
            if self._cursor >= len(self._order):
                self._order = self._new_order()
                self._cursor = 0
            idx[i] = self._order[self._cursor]
            self._cursor += 1
        x = self.dataset.x[idx]
        if self.noise > 0:
            x = x + self._rng.normal(0.0, self.noise, x.shape).astype(np.float32)
        labels = None if self.dataset.labels is None else self.dataset.labels[idx]
        return Batch(np.ascontiguousarray(x, np.float32), labels, idx)

    @property
    def hold_due(self) -> bool:
        return self.current is None or self.hold_step >= self.hold_steps

    def start_hold(self) -> Batch:
        self.current = self.next_batch()
        self.hold_step = 0
        self.holds += 1
        return self.current

    @property
    def ends_hold(self) -> bool:
        """Whether the step now being taken is the hold's last (before :meth:`advance`)."""
        return self.hold_step + 1 >= self.hold_steps

    def advance(self) -> bool:
        """One step of the hold; True when it was the hold's last."""
        self.hold_step += 1
        return self.hold_step >= self.hold_steps
