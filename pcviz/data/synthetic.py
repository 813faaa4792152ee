"""Synthetic inputs with known causes: Foldiak bars and simple shapes."""

from __future__ import annotations

import numpy as np

from pcviz.data.dataset import Dataset


def make_bars(n: int, size: int = 8, p: float | None = None, seed: int = 0) -> Dataset:
    """Foldiak's bars: each of the ``2*size`` horizontal and vertical bars is on with
    probability ``p`` (default 1/size); pixels are the union. The label is the number
    of bars that are on, capped at 9."""
    rng = np.random.default_rng(seed)
    p = 1.0 / size if p is None else p
    h = rng.random((n, size)) < p  # (N, size) horizontal bars
    v = rng.random((n, size)) < p  # (N, size) vertical bars
    img = h[:, :, None] | v[:, None, :]  # (N, size, size)
    labels = np.minimum(h.sum(1) + v.sum(1), 9)
    return Dataset("bars", img.reshape(n, -1).astype(np.float32), (size, size), labels, 10)


SHAPES = ("square", "disc", "triangle", "cross")


def make_shapes(n: int, size: int = 12, seed: int = 0) -> Dataset:
    """One filled shape per image (square, disc, triangle, cross) of random size and
    position; the label is the shape."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    out = np.zeros((n, size, size), np.float32)
    labels = rng.integers(0, len(SHAPES), n)
    for i in range(n):
        r = rng.uniform(size * 0.18, size * 0.32)
        cy, cx = rng.uniform(r, size - r, 2)
        dy, dx = yy - cy, xx - cx
        kind = SHAPES[labels[i]]
        if kind == "square":
            m = (np.abs(dy) <= r * 0.8) & (np.abs(dx) <= r * 0.8)
        elif kind == "disc":
            m = dy**2 + dx**2 <= r**2
        elif kind == "triangle":
            m = (dy <= r * 0.7) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.6)
        else:
            m = ((np.abs(dy) <= r * 0.3) & (np.abs(dx) <= r)) | ((np.abs(dx) <= r * 0.3) & (np.abs(dy) <= r))
        out[i] = m
    return Dataset("shapes", out.reshape(n, -1), (size, size), labels, len(SHAPES))
