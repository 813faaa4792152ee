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
    #: what a scalar means where its name cannot say it (units, the likelihood in use)
    scalar_notes: dict[str, str] = field(default_factory=dict)

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
            "scalar_notes": dict(self.scalar_notes),
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

    def __init__(self, maxsize: int = 1024, every: int = 1, batch: bool = False, weights_every: int = 0,
                 block: int = 0):
        if every < 1:
            raise ValueError(f"every = {every}: must be at least 1")
        if block < 0:
            raise ValueError(f"block = {block}: must be 0 (one Frame per item) or a block length")
        self.block = block  # > 0: items are FrameBlocks of up to ``block`` frames
        self.every = every
        self.batch = batch
        self.weights_every = weights_every  # > 0: a weights snapshot every this many steps
        self._q: queue.Queue[Frame | None] = queue.Queue(maxsize)
        self.dropped = 0
        self.delivered = 0
        self.closed = False

    def wants(self, step: int) -> bool:
        return step % self.every == 0

    def wants_weights(self, step: int) -> bool:
        return self.weights_every > 0 and step % self.weights_every == 0

    def offer(self, frame: "Frame | FrameBlock") -> bool:
        """Queue a frame (or block) without waiting; a full queue drops it and counts
        every frame it held."""
        if self.closed:
            return False
        n = len(frame) if isinstance(frame, FrameBlock) else 1
        try:
            self._q.put_nowait(frame)
        except queue.Full:
            self.dropped += n
            return False
        self.delivered += n
        return True

    def get(self, timeout: float | None = None) -> "Frame | FrameBlock | None":
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
                        item = self._q.get_nowait()
                        self.dropped += len(item) if isinstance(item, FrameBlock) else 1
                    except queue.Empty:
                        pass


@dataclass
class FrameBlock:
    """``K`` consecutive recorded frames as arrays with a leading time axis: what the
    engine hands a block-mode recorder queue, so that recording every step costs one
    device-side row copy per step and one host transfer per block."""

    step: np.ndarray  # (K,) int64
    sample_index: np.ndarray  # (K,) int64
    phase: list[str]
    wall: np.ndarray  # (K,) float64
    hold_step: np.ndarray  # (K,) int64
    display_index: np.ndarray  # (K,) int64
    layers: list[dict[str, np.ndarray]]  # (K, *shape) or, with ``batch``, (K, B, *shape)
    scalars: dict[str, np.ndarray]  # (K,)
    batch: bool = False
    sample_indices: np.ndarray | None = None  # (K, B) with ``batch``
    weights: list[tuple[int, dict[str, np.ndarray]]] = field(default_factory=list)  # (step, name -> array)

    def __len__(self) -> int:
        return len(self.step)

    def frame(self, k: int) -> Frame:
        extras = {}
        for step, w in self.weights:
            if step == int(self.step[k]):
                extras = {f"weights/{name}": a for name, a in w.items()}
        return Frame(
            step=int(self.step[k]), sample_index=int(self.sample_index[k]), phase=self.phase[k],
            layers=[{q: a[k] for q, a in layer.items()} for layer in self.layers],
            scalars={name: float(v[k]) for name, v in self.scalars.items()}, wall=float(self.wall[k]),
            hold_step=int(self.hold_step[k]), display_index=int(self.display_index[k]), batch=self.batch,
            sample_indices=None if self.sample_indices is None else self.sample_indices[k], extras=extras,
        )

    def frames(self) -> list[Frame]:
        return [self.frame(k) for k in range(len(self))]

    @classmethod
    def concatenate(cls, blocks: list["FrameBlock"]) -> "FrameBlock":
        """Consecutive blocks as one (same layout)."""
        first = blocks[0]
        cat = np.concatenate
        return cls(
            step=cat([b.step for b in blocks]), sample_index=cat([b.sample_index for b in blocks]),
            phase=[p for b in blocks for p in b.phase], wall=cat([b.wall for b in blocks]),
            hold_step=cat([b.hold_step for b in blocks]), display_index=cat([b.display_index for b in blocks]),
            layers=[{q: cat([b.layers[l][q] for b in blocks]) for q in layer} for l, layer in enumerate(first.layers)],
            scalars={k: cat([b.scalars[k] if k in b.scalars else np.full(len(b), np.nan, np.float32)
                             for b in blocks]) for k in first.scalars},
            batch=first.batch,
            sample_indices=cat([b.sample_indices for b in blocks]) if first.sample_indices is not None else None,
            weights=[w for b in blocks for w in b.weights],
        )

    @classmethod
    def from_frames(cls, frames: list[Frame], weight_names: list[str] | None = None) -> "FrameBlock":
        """Stack frames (e.g. those a per-frame queue delivered) into one block."""
        first = frames[0]
        names = list(first.scalars)
        nan = float("nan")
        weights = []
        for f in frames:
            w = {k[len("weights/"):]: v for k, v in f.extras.items() if k.startswith("weights/")}
            if w:
                weights.append((f.step, w))
        return cls(
            step=np.fromiter((f.step for f in frames), np.int64, len(frames)),
            sample_index=np.fromiter((f.sample_index for f in frames), np.int64, len(frames)),
            phase=[f.phase for f in frames],
            wall=np.fromiter((f.wall for f in frames), np.float64, len(frames)),
            hold_step=np.fromiter((f.hold_step for f in frames), np.int64, len(frames)),
            display_index=np.fromiter((f.display_index for f in frames), np.int64, len(frames)),
            layers=[{q: np.stack([f.layers[l][q] for f in frames]) for q in layer}
                    for l, layer in enumerate(first.layers)],
            scalars={k: np.asarray([f.scalars.get(k, nan) for f in frames], np.float32) for k in names},
            batch=first.batch,
            sample_indices=(np.stack([f.sample_indices for f in frames]) if first.batch
                            and first.sample_indices is not None else None),
            weights=weights,
        )
