"""A growing time series kept for a plot: the time-series view's memory of a run's
scalars, and what part of it a plot draws (decimated to what its pixels can show)."""

from __future__ import annotations

import numpy as np

MAX_POINTS = 1500  # per curve drawn; longer visible stretches are decimated (min/max pairs)


class Trace:
    """A growing (x, y) series kept in one buffer twice its capacity, so appending is
    O(1) amortised and the kept data is always one contiguous slice."""

    def __init__(self, capacity: int = 20000):
        self.capacity = capacity
        self._x = np.zeros(2 * capacity, dtype=np.float64)
        self._y = np.zeros(2 * capacity, dtype=np.float64)
        self.n = 0
        self.nonfinite = 0

    def append(self, x: float, y: float) -> None:
        if self.n and x == self._x[self.n - 1]:  # the same step again (paused): replace
            if not np.isfinite(self._y[self.n - 1]):
                self.nonfinite -= 1
            self._y[self.n - 1] = y
        else:
            if self.n == 2 * self.capacity:
                keep = self.capacity
                self._x[:keep] = self._x[self.n - keep : self.n]
                self._y[:keep] = self._y[self.n - keep : self.n]
                self.n = keep
                self.nonfinite = int((~np.isfinite(self._y[:keep])).sum())
            self._x[self.n] = x
            self._y[self.n] = y
            self.n += 1
        if not np.isfinite(y):
            self.nonfinite += 1

    def clear(self) -> None:
        self.n = 0
        self.nonfinite = 0

    @property
    def x(self) -> np.ndarray:
        return self._x[: self.n]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self.n]

    @property
    def last_x(self) -> float | None:
        return float(self._x[self.n - 1]) if self.n else None

    def visible(self, x0: float, x1: float, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
        """The points in [x0, x1] (and one either side, so lines reach the edges),
        decimated to at most about ``max_points`` keeping each block's min and max."""
        x, y = self.x, self.y
        i0 = max(0, int(np.searchsorted(x, x0)) - 1)
        i1 = min(self.n, int(np.searchsorted(x, x1, side="right")) + 1)
        x, y = x[i0:i1], y[i0:i1]
        if x.size > max_points:
            k = int(np.ceil(2 * x.size / max_points))
            m = (x.size // k) * k
            yb = y[:m].reshape(-1, k)  # (blocks, k)
            xb = x[:m].reshape(-1, k)
            lo, hi = np.argmin(yb, 1), np.argmax(yb, 1)
            first, second = np.minimum(lo, hi), np.maximum(lo, hi)
            rows = np.arange(yb.shape[0])
            x = np.stack([xb[rows, first], xb[rows, second]], 1).reshape(-1)
            y = np.stack([yb[rows, first], yb[rows, second]], 1).reshape(-1)
        return x, y
