"""The recorder: records a live engine to HDF5 from its own thread.

    rec = Recorder(engine, "run.h5", every=1)
    rec.start()                 # raises RecordingWriteError if the file cannot be made
    ...                         # the engine runs (in its thread or the caller's)
    summary = rec.stop()        # closes the file; also on engine.stop() and at exit

The engine hands frames over through a bounded :class:`~pcviz.sim.frames.FrameQueue`;
it never waits for the disk. A full queue drops the frame and counts it. Live
counters (``frames_written``, ``frames_flushed``, ``bytes``, ``dropped``) may be read
from any thread. A failed write (disk full, ...) stops the recording, never the
engine: ``error`` holds the :class:`RecordingWriteError`, ``failed`` is set and
``on_error`` is called (from the recorder's thread); what was flushed stays readable.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np
import torch

from pcviz import __version__
from pcviz.config import run_config_to_dict
from pcviz.io.errors import DiskFullError, RecordingError, RecordingWriteError
from pcviz.io.writer import RecordingWriter
from pcviz.sim.frames import FrameBlock, FrameQueue

#: frames the engine may queue ahead of the writer (bounded by about this many bytes)
QUEUE_BYTES = 256 << 20
BLOCK_BYTES = 1 << 20  # one block of recorded frames, at most (fewer, larger HDF5 appends)

_ACTIVE: "weakref.WeakSet[Recorder]" = weakref.WeakSet()


@atexit.register
def _close_all_at_exit() -> None:
    for rec in list(_ACTIVE):
        try:
            rec.stop(timeout=10.0)
        except Exception:  # noqa: BLE001 - exit must go on; the flushed part of the file stays
            pass


@dataclass(frozen=True)
class RecordingSummary:
    path: str
    frames: int  # frames in the file
    first_step: int | None
    last_step: int | None
    dropped: int  # frames the engine produced that are not in the file
    events: int
    weight_snapshots: int
    bytes: int
    seconds: float
    complete: bool  # closed cleanly
    error: str | None = None

    def describe(self) -> str:
        steps = "no steps" if self.first_step is None else f"steps {self.first_step}-{self.last_step}"
        text = (f"{self.frames} frames ({steps}), {self.events} events, {_mb(self.bytes)} in"
                f" {self.seconds:.1f} s; {self.dropped} frames dropped")
        if self.error:
            text += f"; {self.error}"
        return text


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


class Recorder:
    """Record ``engine`` to ``path``: every ``every``-th step; the displayed sample or,
    with ``batch``, the whole batch; the weights every ``weights_every`` steps (0: never,
    else a multiple of ``every``); lzf compression on request."""

    def __init__(self, engine, path: str | os.PathLike, *, every: int = 1, batch: bool = False,
                 weights_every: int = 0, compression: str | None = None, overwrite: bool = False,
                 flush_interval: float = 0.5, queue_size: int | None = None,
                 on_error: Callable[[RecordingError], None] | None = None):
        if every < 1:
            raise RecordingWriteError(f"every = {every}: must be at least 1", str(path))
        if weights_every < 0 or (weights_every and weights_every % every):
            raise RecordingWriteError(
                f"weights every {weights_every} steps: must be 0 (never) or a multiple of every = {every}",
                str(path))
        if not 0 < flush_interval <= 1.0:
            raise ValueError(f"flush_interval = {flush_interval}: must be in (0, 1] seconds")
        self.engine = engine
        self.path = Path(path)
        self.every = int(every)
        self.batch = bool(batch)
        self.weights_every = int(weights_every)
        self.compression = compression
        self.overwrite = overwrite
        self.flush_interval = float(flush_interval)
        self.queue_size = queue_size
        self.on_error = on_error
        self.error: RecordingError | None = None
        self.failed = threading.Event()
        self.finished = threading.Event()
        self._writer: RecordingWriter | None = None
        self._queue: FrameQueue | None = None
        self._thread: threading.Thread | None = None
        self._cursor = 0
        self._t0 = 0.0
        self._t1: float | None = None
        self._lock = threading.Lock()
        self._summary: RecordingSummary | None = None
        self._lost = 0  # frames taken from the queue but not written (after a failure)

    # ------------------------------------------------------------ live counters
    @property
    def frames_written(self) -> int:
        w = self._writer
        return 0 if w is None else w.frames_written + w.buffered

    @property
    def frames_flushed(self) -> int:
        w = self._writer
        return 0 if w is None else w.frames_flushed

    @property
    def bytes(self) -> int:
        w = self._writer
        return 0 if w is None else w.bytes

    @property
    def dropped(self) -> int:
        q = self._queue
        return (0 if q is None else q.dropped) + self._lost

    @property
    def queued(self) -> int:
        q = self._queue
        return 0 if q is None else q.qsize()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------- start / stop
    def start(self) -> "Recorder":
        """Create the file (errors are raised here, as RecordingWriteError) and start
        taking frames from the engine."""
        if self._thread is not None:
            raise RuntimeError("this recorder was already started; make a new one")
        eng = self.engine
        weight_shapes = {}
        if self.weights_every:
            weight_shapes = {k: tuple(v.shape) for k, v in eng.model.weight_tensors().items()}
        spec = eng.spec
        self._writer = RecordingWriter(self.path, spec, attrs=self._attrs(), batch=self.batch,
                                       weight_shapes=weight_shapes, compression=self.compression,
                                       overwrite=self.overwrite)
        per_frame = max(1, self._writer_frame_bytes())
        size = self.queue_size or int(min(16384, max(64, QUEUE_BYTES // per_frame)))
        # a fresh engine: every event since it was made; a running one: those from now on
        self._cursor = 0 if eng.step_count == 0 else len(eng.events)
        self._t0 = time.perf_counter()
        # block mode: the engine writes each recorded step into a device-side ring and
        # hands over blocks of up to ``block`` frames (at least every quarter second)
        block = int(min(512, max(1, BLOCK_BYTES // per_frame)))
        self._queue = eng.subscribe_queue(max(4, size // block), every=self.every, batch=self.batch,
                                          weights_every=self.weights_every, block=block)
        self._thread = threading.Thread(target=self._run, name="pcviz-recorder", daemon=True)
        _ACTIVE.add(self)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> RecordingSummary:
        """Stop taking frames, write what is queued, close the file; the summary says
        what the file holds. Safe to call twice, and after a failure."""
        q = self._queue
        if q is not None:
            self.engine.unsubscribe(q)  # closes the queue: the thread ends after what is queued
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
            if t.is_alive():
                raise RecordingWriteError(f"recording to {self.path}: the writer did not finish within"
                                          f" {timeout:.0f} s", str(self.path))
        _ACTIVE.discard(self)
        return self.summary()

    def summary(self) -> RecordingSummary:
        w = self._writer
        end = self._t1 if self._t1 is not None else time.perf_counter()
        return RecordingSummary(
            path=str(self.path), frames=0 if w is None else w.frames_flushed,
            first_step=None if w is None else w.first_step, last_step=None if w is None else w.last_step,
            dropped=self.dropped, events=0 if w is None else w.events_written,
            weight_snapshots=0 if w is None else w.weights_written, bytes=0 if w is None else w.bytes,
            seconds=max(0.0, end - self._t0) if self._t0 else 0.0,
            complete=self.finished.is_set() and self.error is None and (w is None or w.closed),
            error=None if self.error is None else str(self.error))

    def __enter__(self) -> "Recorder":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -------------------------------------------------------------- internals
    def _attrs(self) -> dict[str, Any]:
        eng = self.engine
        cfg = eng.config
        return {
            "pcviz_version": __version__,
            "torch_version": str(torch.__version__),
            "h5py_version": str(h5py.version.version),
            "hdf5_version": str(h5py.version.hdf5_version),
            "device": str(eng.device),
            "model_kind": eng.spec.model_kind,
            "preset": cfg.preset.name or "",
            "config": json.dumps(run_config_to_dict(cfg), sort_keys=True),
            "seed": np.int64(cfg.engine.seed),
            "every": np.int64(self.every),
            "weights_every": np.int64(self.weights_every),
            "compression": self.compression or "none",
            "start_step": np.int64(eng.step_count),
        }

    def _writer_frame_bytes(self) -> int:
        spec = self.engine.spec
        per_sample = sum(4 * int(np.prod(s)) for l in spec.layers for s in l.quantities.values())
        return per_sample * (spec.batch_size if self.batch else 1) + 4 * len(spec.scalars) + 64

    def _take_events(self) -> None:
        new, self._cursor = self.engine.events.since(self._cursor)
        if new:
            self._writer.add_events(new)

    def _run(self) -> None:
        q, w = self._queue, self._writer
        next_flush = time.monotonic() + self.flush_interval
        try:
            done = False
            while not done:
                wait = next_flush - time.monotonic()
                try:
                    frame = q.get(timeout=wait) if wait > 0 else q.get_nowait()
                except queue.Empty:
                    frame = False
                if frame is None:
                    done = True
                elif frame is not False:
                    w.add(frame)
                    # take what else is queued without waiting, up to a buffer's worth
                    for _ in range(w.capacity):
                        try:
                            frame = q.get_nowait()
                        except queue.Empty:
                            break
                        if frame is None:
                            done = True
                            break
                        w.add(frame)
                if done or time.monotonic() >= next_flush:
                    self._take_events()
                    w.flush(self.dropped)
                    next_flush = time.monotonic() + self.flush_interval
            w.close(self.dropped)
        except Exception as exc:  # noqa: BLE001 - a recorder failure must never reach the engine
            self._fail(exc)
        finally:
            self._t1 = time.perf_counter()
            self.finished.set()
            _ACTIVE.discard(self)

    def _fail(self, exc: BaseException) -> None:
        w = self._writer
        if isinstance(exc, RecordingError):
            err = exc
        else:
            err = RecordingWriteError(f"recording to {self.path} stopped after {w.frames_flushed} frames:"
                                      f" {type(exc).__name__}: {exc}", str(self.path))
        self.error = err
        q = self._queue
        if q is not None:
            self.engine.unsubscribe(q)
            while True:
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    self._lost += len(item) if isinstance(item, FrameBlock) else 1
        if isinstance(err, DiskFullError):
            # nothing failed yet: the reserve left on the disk lets the file close properly
            self._lost += w.discard()
            try:
                w.close(self.dropped, reason=str(err))
            except RecordingError:
                w.abandon()
        else:
            self._lost += w.buffered + (w.frames_written - w.frames_flushed)
            w.abandon()
        self.failed.set()
        if self.on_error is not None:
            try:
                self.on_error(err)
            except Exception:  # noqa: BLE001 - a broken callback must not hide the error
                pass
