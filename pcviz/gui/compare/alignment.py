"""Putting recordings on one timeline (no Qt): each run's frames get a position on
the shared axis, by engine step, by sample (the number of samples presented before
the frame's, so runs with different hold lengths line up by input), or by wall time
since the run started; a position picks, in every run, its last frame at or before it."""

from __future__ import annotations

import numpy as np

AXES = ("step", "sample", "wall")
AXIS_LABELS = {"step": "engine step", "sample": "samples presented", "wall": "seconds since the run started"}


def frame_positions(steps: np.ndarray, walls: np.ndarray, hold_steps: int, by: str) -> np.ndarray:
    """(T,) float64 position of each frame on the ``by`` axis."""
    if by == "step":
        return np.asarray(steps, dtype=np.float64)
    if by == "sample":
        # step s (counted from 1) is in hold (s - 1) // T: the samples presented before it
        return np.floor_divide(np.asarray(steps, dtype=np.int64) - 1, max(1, int(hold_steps))).astype(np.float64)
    if by == "wall":
        return np.asarray(walls, dtype=np.float64)
    raise ValueError(f"timeline by {by!r}: expected one of {', '.join(AXES)}")


def event_position(step: int, steps: np.ndarray, walls: np.ndarray, hold_steps: int, by: str) -> float:
    """Where an event at engine step ``step`` sits on the ``by`` axis."""
    if by == "wall":
        if not len(steps):
            return 0.0
        return float(np.interp(step, np.asarray(steps, dtype=np.float64), np.asarray(walls, dtype=np.float64)))
    return float(frame_positions(np.array([step]), np.array([0.0]), hold_steps, by)[0])


def shared_grid(positions: list[np.ndarray]) -> np.ndarray:
    """The sorted distinct positions of every run: the stops of the shared slider."""
    if not positions:
        return np.zeros(0)
    return np.unique(np.concatenate([p for p in positions if len(p)] or [np.zeros(0)]))


def index_at(positions: np.ndarray, x: float) -> int:
    """The run's last frame at or before ``x`` (its first frame before it starts)."""
    if not len(positions):
        return 0
    return int(min(max(np.searchsorted(positions, x, side="right") - 1, 0), len(positions) - 1))
