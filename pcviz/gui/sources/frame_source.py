"""Where the views get their frames: the small interface a live engine and a
recording player both implement.

A :class:`FrameSource` pulls the newest frame on a display timer (target 60 Hz) and
emits it; views subscribe to its signals and never ask where frames come from.
Everything a view may want to know about its source is declared here (``live``,
``config``, ``running``, ``health``, ``hold_steps``, ``takes_commands``, ``closed``,
``device``, ``engine``, ``recording``, ``can_record`` and the recording calls,
``compute``, ``restarted``), so no view probes attributes or checks the source's type.
Implementations: the engine thread here (``live.EngineBridge``), the engine in its
own process (``process.ProcessSource``) and a recording's player
(``playback.PlaybackSource``).
"""

from __future__ import annotations

import abc
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from PyQt6 import QtCore

from pcviz.sim.commands import Command
from pcviz.sim.events import Event
from pcviz.sim.frames import Frame, FrameSpec

if TYPE_CHECKING:
    from pcviz.config import RunConfig
    from pcviz.io import Recording, RecordingSummary
    from pcviz.sim.engine import Engine


class RateMeter:
    """Events per second over a sliding window of the last ``window`` seconds."""

    def __init__(self, window: float = 1.0):
        self.window = window
        self._t: deque[float] = deque()

    def tick(self, now: float | None = None) -> None:
        now = time.perf_counter() if now is None else now
        self._t.append(now)
        while self._t and now - self._t[0] > self.window:
            self._t.popleft()

    def rate(self, now: float | None = None) -> float:
        now = time.perf_counter() if now is None else now
        while self._t and now - self._t[0] > self.window:
            self._t.popleft()
        if len(self._t) < 2:
            return 0.0
        span = max(now - self._t[0], self._t[-1] - self._t[0])
        return (len(self._t) - 1) / span if span > 0 else 0.0


@dataclass(frozen=True)
class RecordStatus:
    """A recording in progress, as the record button shows it."""

    path: str
    frames: int
    bytes: int
    dropped: int
    error: str | None = None  # it stopped: why


class _QObjectABCMeta(type(QtCore.QObject), abc.ABCMeta):
    """Lets a QObject subclass declare abstract methods."""


class FrameSource(QtCore.QObject, metaclass=_QObjectABCMeta):
    """Base of the frame sources. Subclasses implement :meth:`take` (newest frame or
    None), :meth:`poll_events` and the properties; the display timer lives here."""

    #: a new frame to show (pcviz.sim.frames.Frame)
    frame_ready = QtCore.pyqtSignal(object)
    #: an engine event (pcviz.sim.events.Event): commands, errors, divergence
    engine_event = QtCore.pyqtSignal(object)
    #: running/paused/diverged changed
    state_changed = QtCore.pyqtSignal()
    #: the run's configuration changed (a parameter set by a control, a script or a
    #: schedule): :attr:`config` holds the new values
    config_changed = QtCore.pyqtSignal()

    #: runs an engine here: commands change what it computes (interventions, parameters)
    live = False

    def __init__(self, spec: FrameSpec, display_hz: float = 60.0, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.spec = spec
        self.last_frame: Frame | None = None
        self.display_rate = RateMeter()
        self._timer = QtCore.QTimer(self)
        self._timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self.tick)
        self.set_display_hz(display_hz)
        self._state: tuple = ()
        self._config_version: int | None = None  # the first tick says what the config is

    # ------------------------------------------------------------ to implement
    @abc.abstractmethod
    def take(self) -> Frame | None:
        """The newest frame since the last call, or None."""

    def poll_events(self) -> list[Event]:
        return []

    @property
    @abc.abstractmethod
    def config(self) -> RunConfig | None:
        """The run's configuration; None when a recording's cannot be resolved here."""

    @property
    @abc.abstractmethod
    def running(self) -> bool:
        """Frames are coming: the engine runs, or the recording plays."""

    @property
    def config_version(self) -> int:
        """A number that changes whenever :attr:`config` changes (compared, on every
        display tick, to emit :attr:`config_changed`); a recording's never changes."""
        return 0

    @property
    def hold_steps(self) -> int | None:
        """Steps each input sample is held, when the configuration says."""
        cfg = self.config
        return None if cfg is None else int(cfg.data.hold_steps)

    @property
    def takes_commands(self) -> bool:
        """:meth:`submit` does something: every command for a live run; play, pause and
        step for a recording's player."""
        return self.live

    @property
    def closed(self) -> bool:
        """:meth:`close` was called: submit nothing more."""
        return False

    @property
    def device(self) -> str:
        """The torch device type the frames are computed on ("cpu", "cuda", ...)."""
        return "cpu"

    @property
    def engine(self) -> Engine | None:
        """The engine behind a live source (a recorder attaches to it); None otherwise."""
        return None

    @property
    def engine_host(self) -> Any:
        """The host object of an engine in another process (an
        :class:`~pcviz.sim.process.EngineProcess` or ``EngineClient``) that the source
        speaks to; None for an engine here or a recording."""
        return None

    @property
    def recording(self) -> Recording | None:
        """The recording a player shows (the window adds a timeline for it); None otherwise."""
        return None

    @property
    def health(self) -> str:
        """What the status bar and the banner say of the engine: "running", "paused",
        "diverged", "stalled" (running, but no frame or heartbeat for a while), "dead"
        (its thread or process is gone); a player says "playing" or "paused"."""
        return "running" if self.running else "paused"

    @property
    def can_record(self) -> bool:
        """:meth:`start_recording` works (a live engine here or in its process)."""
        return False

    def start_recording(self, path: Path) -> None:
        """Record the run to ``path`` (the recorder runs beside the engine); raises
        :class:`pcviz.io.RecordingError` (or OSError) when the file cannot be made."""
        raise RuntimeError(f"{type(self).__name__} cannot record")

    def stop_recording(self) -> RecordingSummary | None:
        """Stop the recording (what is queued is written, the file closed); None when
        none runs."""
        return None

    def recording_status(self) -> RecordStatus | None:
        """The recording in progress, if any."""
        return None

    def compute(self, fn: Callable[..., Any], args: tuple, on_result: Callable[[Any, str | None], None]) -> None:
        """Run ``fn(engine, *args)`` in the engine (its thread, or its process: then
        ``fn`` must be a module-level function and ``args`` and the result plain data)
        and call ``on_result(result, None)``, or ``on_result(None, "Type: message")``,
        here on a later display tick. Raises RuntimeError when there is no engine."""
        raise RuntimeError(f"{type(self).__name__} has no engine to compute with")

    def restarted(self) -> FrameSource:
        """A fresh source of the same kind on the run's first configuration (and the last
        checkpoint saved from it, if any), its engine started and paused, its display
        not yet started: "restart engine"."""
        raise RuntimeError(f"{type(self).__name__} cannot restart an engine")

    def attach(self, show_frame) -> None:
        """Call ``show_frame(frame)`` for every frame from now on, and once now with the
        last frame shown, if any (a view created mid-run starts filled)."""
        self.frame_ready.connect(show_frame)
        if self.last_frame is not None:
            show_frame(self.last_frame)

    def state(self) -> tuple:
        """Whatever, when it changes, should refresh the controls (compared by value)."""
        return ()

    def submit(self, cmd: Command) -> None:
        raise RuntimeError(f"{type(self).__name__} does not take commands")

    # ----------------------------------------------------------------- shared
    @property
    def display_hz(self) -> float:
        return self._display_hz

    def set_display_hz(self, hz: float) -> None:
        self._display_hz = max(1.0, float(hz))
        # whole milliseconds, rounded down so that 60 Hz is at least 60 ticks a second
        self._timer.setInterval(max(1, int(1000.0 / self._display_hz)))

    def start_display(self) -> None:
        self._timer.start()

    def stop_display(self) -> None:
        self._timer.stop()

    @property
    def displaying(self) -> bool:
        return self._timer.isActive()

    def tick(self) -> Frame | None:
        """One display tick: emit the newest frame (if new) and the new events."""
        for ev in self.poll_events():
            self.engine_event.emit(ev)
        frame = self.take()
        if frame is not None:
            self.last_frame = frame
            self.display_rate.tick()
            self.frame_ready.emit(frame)
        version = self.config_version
        if version != self._config_version:
            self._config_version = version
            self.config_changed.emit()
        st = self.state()
        if st != self._state:
            self._state = st
            self.state_changed.emit()
        return frame

    @property
    def fps(self) -> float:
        return self.display_rate.rate()

    def describe(self) -> dict[str, Any]:
        """Status-bar facts: step, sample, rate, device..."""
        f = self.last_frame
        return {"step": None if f is None else f.step, "sample": None if f is None else f.sample_index}

    def close(self) -> None:
        self.stop_display()
