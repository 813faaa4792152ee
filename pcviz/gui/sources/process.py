"""The engine-process source: the engine (model, data stream, recorder) runs in a child
process (:class:`pcviz.sim.process.EngineProcess`); frames arrive through shared
memory, events, heartbeats and replies through a pipe. The window's painting never
competes with stepping or writing for one interpreter lock.

On every display tick the source reads the newest frame from the ring and what the
pipe holds, and checks that the process lives: a killed engine is noticed within a
tick (the status says "dead" and an ``engine_dead`` event reaches the banner); a
running engine with neither frame nor heartbeat for five seconds reads "stalled".
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

from PyQt6 import QtCore

from pcviz.gui.sources.frame_source import FrameSource, RecordStatus
from pcviz.io import Recorder
from pcviz.sim.commands import Command, LoadCheckpoint, Play, Step
from pcviz.sim.events import Event
from pcviz.sim.frames import Frame
from pcviz.sim.process import EngineClient, EngineProcess, EngineProcessError


class ProcessSource(FrameSource):
    live = True

    def __init__(self, config, device: str | None = None, threads: int = 0, display_hz: float = 60.0,
                 parent: QtCore.QObject | None = None, launched: EngineProcess | None = None):
        """Spawns the engine process (or takes ``launched``, one :meth:`EngineProcess.launch`
        started on ``config`` earlier) and waits until its engine is built (raises
        :class:`EngineProcessError` naming why it could not be)."""
        self._first_config = copy.deepcopy(config)
        self._requested_device = device
        self.threads = threads
        if launched is None:
            self.proc = EngineProcess(config, device, threads).start(running=False)
        else:
            self.proc = launched.wait_ready()
        super().__init__(self.proc.spec, display_hz, parent)
        self._closed = False
        self.last_checkpoint: str | None = None
        self._path: Path | None = None
        self._load_after_start: str | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self, play: bool = False, display: bool = True) -> None:
        if self._load_after_start:
            self.submit(LoadCheckpoint(self._load_after_start))
        if play:
            self.submit(Play())
        if display:
            self.start_display()

    def close(self) -> None:
        """Stop the display, shut the engine down (it closes a recording) and join the
        process. Idempotent."""
        self.stop_display()
        if self._closed:
            return
        self._closed = True
        self.proc.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def alive(self) -> bool:
        return self.proc.alive

    @property
    def engine_host(self) -> EngineProcess:
        return self.proc

    @property
    def pid(self) -> int | None:
        return self.proc.pid

    # ------------------------------------------------------------ FrameSource
    def take(self) -> Frame | None:
        spec = self.proc.spec
        if spec is not self.spec:
            self.spec = spec
        return self.proc.take()

    def poll_events(self) -> list[Event]:
        events = self.proc.poll()
        for ev in events:
            if ev.kind == "save_checkpoint":
                self.last_checkpoint = str(ev.payload.get("path"))
        return events

    def state(self) -> tuple:
        st = self.proc.state
        return (st.running, st.diverged, st.learning, self.health)

    @property
    def health(self) -> str:
        return self.proc.health()

    def submit(self, cmd: Command) -> None:
        if self._closed:
            raise RuntimeError("the engine was stopped")
        try:
            self.proc.submit(cmd)
        except EngineProcessError as exc:
            raise RuntimeError(str(exc)) from None

    @property
    def running(self) -> bool:
        return bool(self.proc.state.running) and self.proc.alive

    @property
    def config(self):
        return self.proc.config

    @property
    def config_version(self) -> int:
        return self.proc.state.config_version

    @property
    def device(self) -> str:
        return self.proc.device.split(":")[0]

    def describe(self) -> dict[str, Any]:
        st = self.proc.state
        f = self.last_frame
        return {
            "step": max(st.step, -1 if f is None else f.step),
            "sample": None if f is None else f.sample_index,
            "steps_per_second": st.steps_per_second if st.running else 0.0,
            "device": self.proc.device,
            "preset": self.config.preset.name,
            "state": self.health,
        }

    # ------------------------------------------------------- recording, compute
    @property
    def can_record(self) -> bool:
        return not self._closed

    def start_recording(self, path: Path) -> None:
        try:
            self.proc.request("record_start", Recorder, str(path), {})
        except EngineProcessError as exc:
            raise RuntimeError(str(exc)) from None
        self._path = Path(path)

    def stop_recording(self):
        if self._path is None:
            return None
        self._path = None
        if not self.proc.alive:
            return None
        try:
            return self.proc.request("record_stop")
        except EngineProcessError as exc:
            raise RuntimeError(str(exc)) from None

    def recording_status(self) -> RecordStatus | None:
        rec = self.proc.state.recording
        if self._path is None:
            return None
        if not self.proc.alive:
            return None
        if rec is None:  # started, no heartbeat yet
            return RecordStatus(str(self._path), 0, 0, 0, None)
        path, frames, nbytes, dropped, error = rec
        return RecordStatus(path, frames, nbytes, dropped, error)

    def compute(self, fn: Callable[..., Any], args: tuple, on_result: Callable[[Any, str | None], None]) -> None:
        if self._closed:
            raise RuntimeError("the engine was stopped")
        try:
            self.proc.compute(fn, args, on_result)
        except EngineProcessError as exc:
            raise RuntimeError(str(exc)) from None

    def restarted(self) -> "ProcessSource":
        src = ProcessSource(copy.deepcopy(self._first_config), self._requested_device, self.threads,
                            self.display_hz)
        src.last_checkpoint = self.last_checkpoint
        src._load_after_start = self.last_checkpoint
        src.start(play=False, display=False)
        return src

    # ------------------------------------------------------------ scripted runs
    def advance(self, n: int, samples: int = 200, timeout: float = 120.0) -> Frame | None:
        """Run ``n`` more steps in about ``samples`` chunks and show a frame after each,
        so the time series have a history (``--screenshot``)."""
        chunk = max(1, n // max(1, samples))
        start = self.describe()["step"]
        done = 0
        while done < n and not self.proc.state.diverged:
            k = min(chunk, n - done)
            self.submit(Step(k))
            target = start + done + k
            self.wait_until(lambda: (self.last_frame is not None and self.last_frame.step >= target)
                            or self.proc.state.diverged, timeout, f"step {target}")
            done += k
        return self.last_frame

    def wait_until(self, cond: Callable[[], bool], timeout: float = 60.0, what: str = "the engine") -> None:
        """Tick (and let Qt paint) until ``cond()``; for ``--screenshot`` and tests."""
        import time

        app = QtCore.QCoreApplication.instance()
        deadline = time.perf_counter() + timeout
        while not cond():
            self.tick()
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{what}: not within {timeout:g} s (at step {self.proc.state.step})")
            if not self.proc.alive:
                raise EngineProcessError("the engine process ended")
            if app is not None:
                app.processEvents()
            time.sleep(0.002)



class AttachedSource(ProcessSource):
    """A window on an engine served elsewhere (``pcviz record --serve``, ``pcviz
    attach``): frames come compressed down the socket; commands, interventions and
    computations work as with a local engine. The served run records itself, so this
    window does not; closing it detaches and leaves the run going."""

    def __init__(self, address: str | None = None, token: str | None = None, display_hz: float = 60.0,
                 parent: QtCore.QObject | None = None):
        self.proc = EngineClient(address, token).start()
        self._first_config = self.proc.config
        self._requested_device = None
        self.threads = 0
        FrameSource.__init__(self, self.proc.spec, display_hz, parent)
        self._closed = False
        self.last_checkpoint = None
        self._path = None
        self._load_after_start = None

    @property
    def can_record(self) -> bool:
        return False

    def restarted(self) -> "ProcessSource":
        raise RuntimeError("an attached window cannot restart the served engine; start the server again")

    @property
    def bytes_received(self) -> int:
        """Compressed frame bytes received so far (the bandwidth is this over time)."""
        return self.proc.bytes_received
