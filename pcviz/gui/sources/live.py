"""The live source: an :class:`~pcviz.sim.engine.Engine` running in its own thread,
seen from the Qt side.

The engine's step loop runs in the engine's worker thread (``engine.start()``), never
in the GUI thread. The bridge owns that thread's life (start on :meth:`start`, stop
and join on :meth:`close`), pulls the newest frame from a latest-frame slot on the
display timer, forwards the engine's events as Qt signals and passes typed commands
on. The engine never waits for the GUI.
"""

from __future__ import annotations

import copy
import queue
import time
from pathlib import Path
from typing import Any, Callable

from PyQt6 import QtCore

from pcviz.gui.sources.frame_source import FrameSource, RecordStatus
from pcviz.sim.commands import Call, Command, LoadCheckpoint, Step
from pcviz.sim.engine import Engine
from pcviz.sim.events import Event
from pcviz.sim.frames import Frame
from pcviz.sim.threads import window_threads


def engine_threads(engine: Engine | None = None) -> int:
    """torch threads for the engine's thread beside this window
    (:func:`pcviz.sim.threads.window_threads`; the engine applies it in its own thread)."""
    return window_threads(engine.config.engine.threads if engine is not None else 0)


class EngineBridge(FrameSource):
    live = True

    def __init__(self, engine: Engine, display_hz: float = 60.0, threads: int | None = None,
                 parent: QtCore.QObject | None = None, owns_engine: bool = True):
        super().__init__(engine.spec, display_hz, parent)
        self._engine = engine
        #: False for a window on a pcviz.Session: closing the window leaves the engine running
        self.owns_engine = owns_engine
        self.threads = engine_threads(engine) if threads is None else int(threads)
        self._slot = engine.subscribe_latest(with_basis=True)
        self._cursor = 0
        self._closed = False
        self._started = False
        self._dead_said = False
        self._first_config = copy.deepcopy(engine.config)  # what "restart engine" starts again
        self._device = str(engine.device)
        self.last_checkpoint: str | None = None  # the last one saved from this run
        self._recorder = None
        self._rec_error: str | None = None
        self._results: queue.SimpleQueue = queue.SimpleQueue()  # compute() results, from the engine thread

    # ---------------------------------------------------------------- lifecycle
    def start(self, play: bool = False, display: bool = True) -> None:
        """Start the engine thread (paused unless ``play``) and the display timer."""
        if self._closed:
            raise RuntimeError("this bridge was closed; make a new one")
        self.engine.threads = self.threads  # the engine applies it in its own thread
        self.engine.start(running=play)
        self._started = True
        if display:
            self.start_display()

    def close(self) -> None:
        """Stop the display timer and (when it owns it) the engine thread (joined). Idempotent."""
        self.stop_display()
        if self._closed:
            return
        self._closed = True
        self.stop_recording()  # the file is closed before the engine goes
        self.engine.unsubscribe(self._slot)
        if self.owns_engine:
            self.engine.stop()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def alive(self) -> bool:
        return self.engine.alive

    # ------------------------------------------------------------ FrameSource
    def take(self) -> Frame | None:
        spec = self.engine.spec
        if spec is not self.spec:  # the batch size changed: same layers, new batch axis
            self.spec = spec
        return self._slot.take()

    def poll_events(self) -> list[Event]:
        new, self._cursor = self.engine.events.since(self._cursor)
        for ev in new:
            if ev.kind == "save_checkpoint":
                self.last_checkpoint = str(ev.payload.get("path"))
        while True:
            try:
                on_result, result, error = self._results.get_nowait()
            except queue.Empty:
                break
            on_result(result, error)
        if not self._dead_said and self._started and not self._closed and not self.engine.alive:
            self._dead_said = True  # the loop ended without Shutdown: say so, once
            failure = self.engine.failure
            what = "the engine thread stopped" if failure is None else f"{type(failure).__name__}: {failure}"
            new.append(Event(self.engine.step_count, "engine_dead", {"message": what}))
        return new

    @property
    def health(self) -> str:
        if self._dead_said or (self._started and not self._closed and not self.engine.alive):
            return "dead"
        return "diverged" if self.engine.diverged is not None else ("running" if self.engine.running else "paused")

    def state(self) -> tuple:
        e = self.engine
        return (bool(e.running), e.diverged is not None, bool(e.config.engine.learning))

    def submit(self, cmd: Command) -> None:
        if self._closed:
            raise RuntimeError("the engine was stopped")
        self.engine.submit(cmd)

    @property
    def running(self) -> bool:
        return bool(self.engine.running)

    # ------------------------------------------------------- recording, compute
    @property
    def can_record(self) -> bool:
        return not self._closed

    def start_recording(self, path: Path) -> None:
        from pcviz.io import Recorder

        if self._recorder is not None:
            raise RuntimeError("a recording already runs")
        rec = Recorder(self.engine, path, on_error=self._on_record_error)
        rec.start()
        self._rec_error = None
        self._recorder = rec

    def _on_record_error(self, err) -> None:  # the recorder's thread: only note it
        self._rec_error = str(err)

    def stop_recording(self):
        rec, self._recorder = self._recorder, None
        return None if rec is None else rec.stop()

    def recording_status(self) -> RecordStatus | None:
        rec = self._recorder
        if rec is None:
            return None
        return RecordStatus(str(rec.path), rec.frames_written, rec.bytes, rec.dropped, self._rec_error)

    def compute(self, fn: Callable[..., Any], args: tuple, on_result: Callable[[Any, str | None], None]) -> None:
        if self._closed:
            raise RuntimeError("the engine was stopped")
        results = self._results

        def run(engine) -> None:  # in the engine thread
            try:
                out, err = fn(engine, *args), None
            except Exception as exc:  # noqa: BLE001 - the caller is told, the run goes on
                out, err = None, f"{type(exc).__name__}: {exc}"
            results.put((on_result, out, err))

        self.engine.submit(Call(run))

    def restarted(self) -> "EngineBridge":
        engine = Engine(copy.deepcopy(self._first_config), device=self._device)
        bridge = EngineBridge(engine, self.display_hz, self.threads)
        if self.last_checkpoint:
            engine.submit(LoadCheckpoint(self.last_checkpoint))
            bridge.last_checkpoint = self.last_checkpoint
        bridge.start(play=False, display=False)
        return bridge

    @property
    def config(self):
        return self.engine.config

    @property
    def config_version(self) -> int:
        return self.engine.config_version

    @property
    def device(self) -> str:
        return self.engine.device.type

    def describe(self) -> dict[str, Any]:
        e = self.engine
        f = self.last_frame
        return {
            "step": e.step_count,
            "sample": None if f is None else f.sample_index,
            "steps_per_second": e.steps_per_second if e.running else 0.0,
            "device": str(e.device),
            "preset": e.config.preset.name,
            "state": self.health,
        }

    # ------------------------------------------------------------ scripted runs
    def wait_for_step(self, step: int, timeout: float = 60.0, process_events: bool = True) -> Frame | None:
        """Tick the display until a frame of engine step ``step`` (or later) was shown,
        or the run diverged. For ``--screenshot`` and tests. With ``process_events``
        the GUI stays responsive (and repaints); without, the views take the frames and
        paint once, later."""
        app = QtCore.QCoreApplication.instance()
        deadline = time.perf_counter() + timeout
        while True:
            self.tick()
            f = self.last_frame
            if f is not None and f.step >= step:
                return f
            if self.engine.diverged is not None and self.engine.step_count < step:
                self.tick()
                return self.last_frame
            if time.perf_counter() > deadline:
                raise TimeoutError(f"the engine did not reach step {step} in {timeout:g} s "
                                   f"(at step {self.engine.step_count})")
            if app is not None and process_events:
                app.processEvents()
            time.sleep(0.001)

    def advance(self, n: int, samples: int = 200, timeout: float = 120.0,
                process_events: bool = False) -> Frame | None:
        """Run ``n`` more steps in the engine thread in about ``samples`` chunks and show
        a frame after each, so the time series have a history (``--screenshot``)."""
        chunk = max(1, n // max(1, samples))
        start = self.engine.step_count
        done = 0
        frame = self.last_frame
        while done < n and self.engine.diverged is None:
            k = min(chunk, n - done)
            self.submit(Step(k))
            frame = self.wait_for_step(start + done + k, timeout, process_events)
            done += k
        return frame
