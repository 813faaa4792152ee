"""The run's state as the engine's loop and its commands share it: whether it runs, how
far it is asked to go, whether it diverged, its step count and the version that tells
displays a frame is stale; and the commands waiting for a later step (a clamp's end,
a preset's schedule). Plain Python, no torch: the engine's loop and the command
handler (:mod:`pcviz.sim.dispatch`) are given these objects, not each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Divergence:
    step: int
    layer: int
    value: float
    message: str


class RunControl:
    """Whether and how far the run goes. The engine's loop steps while :attr:`active`;
    commands change it through :meth:`play`, :meth:`pause` and the requests."""

    def __init__(self) -> None:
        self.running = False
        #: single steps asked for (Step(n)), taken one by one while paused
        self.pending = 0
        #: step on to the end of the held sample (StepHold)
        self.to_hold_end = False
        self.diverged: Divergence | None = None
        self.step_count = 0
        #: bumped by every step and every applied command: a display republishes a
        #: paused run's frame only when this moved
        self.version = 0
        #: bumped by every applied parameter change (``SetParam``, the batch item
        #: included): whoever shows the run's settings compares it, never the fields
        self.config_version = 0

    @property
    def active(self) -> bool:
        return self.running or self.pending > 0 or self.to_hold_end

    def play(self) -> None:
        self.running = True

    def pause(self) -> None:
        """Stop, and forget the steps asked for."""
        self.running = False
        self.pending = 0
        self.to_hold_end = False

    def request_steps(self, n: int) -> None:
        self.running = False
        self.pending += n

    def request_hold_end(self) -> None:
        self.running = False
        self.to_hold_end = True

    def changed(self) -> None:
        self.version += 1


class DelayedCommands:
    """Commands that wait for a step: the preset's ``[[interventions]]`` schedule (kept
    across resets) and those a command asked for (:meth:`after`; a reset clears them)."""

    def __init__(self, scheduled: dict[int, list[Any]] | None = None):
        self._scheduled = scheduled or {}
        self._later: dict[int, list[Any]] = {}

    def schedule(self, step: int, cmd: Any) -> None:
        """Add ``cmd`` to the schedule at ``step`` (kept across resets, as a preset's)."""
        self._scheduled.setdefault(step, []).append(cmd)

    def after(self, step: int, cmd: Any) -> None:
        """Apply ``cmd`` once the run reaches ``step``."""
        self._later.setdefault(step, []).append(cmd)

    def clear(self) -> None:
        """Drop the commands asked for (the schedule stays)."""
        self._later.clear()

    def due(self, step: int) -> list[Any]:
        """The commands for ``step``, those asked for first, then the schedule's."""
        return self._later.pop(step, []) + list(self._scheduled.get(step, []))
