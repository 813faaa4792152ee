"""Y scales of the time-series plots, Qt-free.

The energy and the error norm jump at every new sample and then settle; on a linear
axis fitted to the jumps, the settled values look flat. Two other scales:

- ``symlog``: y ↦ sign(y) · log10(1 + |y| / c), linear near 0 (|y| ≪ c) and
  logarithmic far from it, defined for negative values (energies with −½ log|Π|
  terms are negative); ``c`` is :data:`SYMLOG_C`.
- ``settled``: a linear axis whose range follows the settled values: the last value
  of every hold seen in its second half (the point before each hold boundary) sets the top, the smallest
  visible value the bottom; points above the range are clipped and marked.
"""

from __future__ import annotations

import numpy as np

SCALES = ("linear", "symlog", "settled")
SYMLOG_C = 1.0


def symlog(y: np.ndarray, c: float = SYMLOG_C) -> np.ndarray:
    y = np.asarray(y, np.float64)
    return np.sign(y) * np.log10(1.0 + np.abs(y) / c)


def symlog_inverse(v: np.ndarray, c: float = SYMLOG_C) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return np.sign(v) * c * (10.0 ** np.abs(v) - 1.0)


def settled_values(x: np.ndarray, y: np.ndarray, boundaries: np.ndarray) -> np.ndarray:
    """The settled value of each completed hold: the last point before a hold
    boundary, when it lies in the second half of that hold (between the previous
    boundary and this one; a hold the display saw only at its start, or not at all,
    gives none). ``x`` and ``boundaries`` sorted ascending."""
    x = np.asarray(x, np.float64)
    b = np.asarray(boundaries, np.float64)
    if x.size == 0 or b.size < 2:
        return np.empty(0)
    idx = np.searchsorted(x, b[1:], side="right") - 1  # last point at or before each boundary
    half = (b[:-1] + b[1:]) / 2.0  # the middle of the hold that each boundary ends
    ok = idx >= 0
    ok[ok] = x[idx[ok]] > half[ok]
    return np.asarray(y, np.float64)[idx[ok]]


def settled_range(x: np.ndarray, y: np.ndarray, boundaries: np.ndarray) -> tuple[float, float] | None:
    """(lo, hi) from the finite visible values: lo their minimum, hi the largest
    settled value (the maximum when no hold has completed in view). None: no data."""
    y = np.asarray(y, np.float64)
    fin = np.isfinite(y)
    if not fin.any():
        return None
    lo = float(y[fin].min())
    s = settled_values(x, y, boundaries)
    s = s[np.isfinite(s)]
    hi = float(s.max()) if s.size else float(y[fin].max())
    return lo, max(hi, lo)
