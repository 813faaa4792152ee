"""Földiák's bars with ground truth: how well a trained basis recovers the 16
generating bars. For every true bar (a unit vector over the image), the best
|cosine| with a basis column (the activity prior is symmetric, so a column and its
negative are the same cause)."""

from __future__ import annotations

import numpy as np

from pcviz.models import GenerativeModel


def true_bars(size: int) -> np.ndarray:
    """(2*size, size*size): the horizontal, then the vertical bars, unit norm."""
    out = []
    for i in range(size):
        h = np.zeros((size, size))
        h[i, :] = 1
        out.append(h.ravel())
    for j in range(size):
        v = np.zeros((size, size))
        v[:, j] = 1
        out.append(v.ravel())
    bars = np.array(out)
    return bars / np.linalg.norm(bars, axis=1, keepdims=True)


def bar_recovery(model: GenerativeModel, size: int) -> np.ndarray:
    """(2*size,) the best |cosine| of each true bar with a basis column."""
    basis = model.basis()
    if basis is None:
        raise ValueError(f"{model.kind}: the model has no basis")
    B = basis.detach().cpu().numpy().reshape(basis.shape[0], -1).astype(np.float64)  # (units, pixels)
    B = B / np.maximum(np.linalg.norm(B, axis=1, keepdims=True), 1e-12)
    return np.abs(true_bars(size) @ B.T).max(axis=1)
