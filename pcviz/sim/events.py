"""The event log: every command, intervention, parameter change, pause/resume and
divergence, with the engine step at which it took effect."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    step: int
    kind: str  # "clamp", "release", "set_param", "pause", "divergence", ...
    payload: dict[str, Any] = field(default_factory=dict)
    wall: float = 0.0


class EventLog:
    """Append-only and thread-safe; readers keep a cursor and ask for what is new."""

    def __init__(self, t0: float | None = None):
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self.t0 = time.perf_counter() if t0 is None else t0

    def add(self, step: int, kind: str, **payload: Any) -> Event:
        ev = Event(step, kind, payload, time.perf_counter() - self.t0)
        with self._lock:
            self._events.append(ev)
        return ev

    def since(self, cursor: int) -> tuple[list[Event], int]:
        with self._lock:
            new = self._events[cursor:]
            return new, cursor + len(new)

    def all(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)
