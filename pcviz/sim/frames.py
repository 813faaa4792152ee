"""The frame every model streams, its spec, and the two ways to consume frames:
a latest-frame slot for displays and a bounded queue for recorders."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LayerFrameSpec:
    index: int
    name: str
    role: str  # input | hidden | top | label
    size: int
    display_shape: tuple[int, ...]
    quantities: dict[str, tuple[int, ...]]  # name -> per-sample shape


@dataclass(frozen=True)
class FrameSpec:
    """Known before the first step, so recorders and views can lay themselves out."""

    model_kind: str
    layers: tuple[LayerFrameSpec, ...]
    scalars: tuple[str, ...]
    batch_size: int
    dtype: str = "float32"

    def quantity_names(self) -> list[str]:
        names: list[str] = []
        for layer in self.layers:
            for q in layer.quantities:
                if q not in names:
                    names.append(q)
        return names

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_kind": self.model_kind,
            "batch_size": self.batch_size,
            "scalars": list(self.scalars),
            "layers": [
                {"index": l.index, "name": l.name, "role": l.role, "size": l.size,
                 "display_shape": list(l.display_shape),
                 "quantities": {k: list(v) for k, v in l.quantities.items()}}
                for l in self.layers
            ],
        }


@dataclass
class Frame:
    """One simulation step of the displayed sample (or, with ``batch``, the batch:
    then every array has a leading batch axis)."""

    step: int
    sample_index: int
    phase: str  # "inference" | "learning" | "paused"
    layers: list[dict[str, np.ndarray]]
    scalars: dict[str, float]
    wall: float = 0.0  # seconds since the run started
    hold_step: int = 0
    display_index: int = 0
    batch: bool = False
    sample_indices: np.ndarray | None = None  # (B,) with ``batch``
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. "basis"


class LatestFrame:
    """A one-frame slot for displays. The display calls :meth:`take` at its own rate;
    the engine builds a frame (host copy) only when the slot asked for one."""

    def __init__(self, with_basis: bool = False):
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self._fresh = False
        self.wanted = True  # read by the engine without the lock (a bool is atomic)
        self.with_basis = with_basis

    def publish(self, frame: Frame) -> None:
        with self._lock:
            self._frame = frame
            self._fresh = True
            self.wanted = False

    def take(self) -> Frame | None:
        """The newest frame if it is new since the last take, else None; asks for the next."""
        with self._lock:
            self.wanted = True
            if not self._fresh:
                return None
            self._fresh = False
            return self._frame

    def peek(self) -> Frame | None:
        with self._lock:
            return self._frame


class FrameQueue:
    """A bounded queue for a recorder: every ``every``-th step, the displayed sample
    (or the whole batch). A full queue drops the frame and counts it, never silently."""

    def __init__(self, maxsize: int = 1024, every: int = 1, batch: bool = False, with_basis_every: int = 0):
        if every < 1:
            raise ValueError(f"every = {every}: must be at least 1")
        self.every = every
        self.batch = batch
        self.with_basis_every = with_basis_every
        self._q: queue.Queue[Frame | None] = queue.Queue(maxsize)
        self.dropped = 0
        self.delivered = 0
        self.closed = False

    def offer(self, frame: Frame) -> bool:
        if self.closed:
            return False
        try:
            self._q.put_nowait(frame)
        except queue.Full:
            self.dropped += 1
            return False
        self.delivered += 1
        return True

    def get(self, timeout: float | None = None) -> Frame | None:
        """Next frame; None after :meth:`close` (end of stream). Raises queue.Empty on timeout."""
        return self._q.get(timeout=timeout)

    def get_nowait(self) -> Frame | None:
        return self._q.get_nowait()

    def qsize(self) -> int:
        return self._q.qsize()

    def close(self) -> None:
        """End of stream: the consumer gets None after the frames already queued."""
        if not self.closed:
            self.closed = True
            while True:
                try:
                    self._q.put(None, timeout=0.1)
                    return
                except queue.Full:
                    try:  # make room: a full queue at shutdown must not block the engine
                        self._q.get_nowait()
                        self.dropped += 1
                    except queue.Empty:
                        pass
