"""Playing a recording in the window: a frame source that reads an HDF5 recording
(:func:`pcviz.io.open_recording`), with play/pause, speed, steps forwards and
backwards, and jumps to the next or previous event (its controls are the timeline
in :mod:`pcviz.gui.panels.timeline`).

A file that is still being recorded grows under the player: with ``follow`` the
source refreshes it (SWMR) twice a second, the timeline grows, and a player at the
end stays at the newest frame.

:attr:`PlaybackSource.config` is the run's configuration at the frame shown: the
recording's (as the run started) with the parameter changes it logged before that
frame's step applied, so the controls show what the run computed with there.
"""

from __future__ import annotations

import bisect
import copy
import time
from typing import Any

import numpy as np
from PyQt6 import QtCore

from pcviz.config import ConfigError, set_field
from pcviz.gui.sources.frame_source import FrameSource
from pcviz.io import Recording, RecordingError
from pcviz.models import model_configs
from pcviz.sim import commands as C
from pcviz.sim.events import Event
from pcviz.sim.frames import Frame

REFRESH_S = 0.5  # how often a growing file is looked at again
def is_marked(kind: str) -> bool:
    """Events the timeline marks and the event buttons jump to: the commands that say
    so (interventions, parameter changes, resets; not play/pause/step) and divergence."""
    cls = C.command_class(kind)
    return kind == "divergence" or (cls is not None and cls.marked)


class PlaybackSource(FrameSource):
    """Frames of a recording. The window's Play/Step commands move the player."""

    live = False
    #: MainWindow passes Play, Pause and Step to :meth:`submit`
    plays_commands = True
    #: the number of frames changed (a growing file)
    length_changed = QtCore.pyqtSignal(int)
    #: the frame index shown changed
    position_changed = QtCore.pyqtSignal(int)

    def __init__(self, rec: Recording, display_hz: float = 60.0, follow: bool = True, fps: float = 30.0,
                 parent: QtCore.QObject | None = None):
        super().__init__(rec.spec, display_hz, parent)
        self.rec = rec
        self.index = 0
        self._shown: int | None = None
        self.playing = False
        self.speed = float(fps)  # playback speed, frames per second
        self.follow = follow
        self._debt = 0.0
        self._t_last = time.perf_counter()
        self._t_refresh = self._t_last
        self._events_sent = 0
        try:
            self._start_config = rec.config
        except Exception:  # noqa: BLE001 - a config this pcviz cannot resolve: show the frames anyway
            self._start_config = None
        self._config = self._start_config
        self._changes_applied = 0  # how many of the recording's parameter changes self._config holds
        self._param_changes: tuple | None = None  # (events list, its length, its SetParam events by step, their steps)

    # --------------------------------------------------------------- facts
    @property
    def config(self):
        """The run's configuration at the frame shown (see the module docstring)."""
        return self._config

    @property
    def config_version(self) -> int:
        return self._changes_applied

    def _follow_config(self, step: int) -> None:
        """:attr:`config` for a frame of engine step ``step``: a change logged at step k
        was applied after step k's frame, so frames of later steps show it."""
        if self._start_config is None:
            return
        events = self.rec.events  # read once and kept by the recording (a followed file's grows)
        if self._param_changes is None or self._param_changes[0] is not events \
                or self._param_changes[1] != len(events):
            changes = sorted((ev for ev in events if ev.kind == C.SetParam.kind), key=lambda ev: ev.step)
            self._param_changes = (events, len(events), changes, [ev.step for ev in changes])
        changes, steps = self._param_changes[2], self._param_changes[3]
        n = bisect.bisect_left(steps, step)  # the changes logged before this frame's step
        if n == self._changes_applied:
            return
        cfg = copy.deepcopy(self._start_config)
        for ev in changes[:n]:
            try:
                set_field(cfg, str(ev.payload["name"]), ev.payload["value"], model_configs())
            except (ConfigError, KeyError):  # logged changes were accepted; one that is not now stays out
                continue
        self._config, self._changes_applied = cfg, n

    @property
    def running(self) -> bool:
        return self.playing

    @property
    def takes_commands(self) -> bool:
        return True  # play, pause, step

    @property
    def recording(self) -> Recording:
        return self.rec

    def __len__(self) -> int:
        return len(self.rec)

    @property
    def steps(self) -> np.ndarray:
        return self.rec.steps

    def event_indices(self) -> list[int]:
        """Frame index of each event of the recording (the last frame at or before it)."""
        steps = self.rec.steps
        if not len(steps):
            return []
        return [max(0, int(np.searchsorted(steps, ev.step, side="right")) - 1) for ev in self.rec.events
                if is_marked(ev.kind)]

    # ----------------------------------------------------------- the player
    def seek(self, i: int) -> None:
        n = len(self.rec)
        i = int(min(max(i, 0), max(0, n - 1)))
        if i != self.index:
            self.index = i
            self.position_changed.emit(i)

    def play(self) -> None:
        if not self.playing:
            if self.index >= len(self.rec) - 1:
                self.seek(0)
            self.playing = True
            self._t_last = time.perf_counter()
            self._debt = 0.0

    def pause(self) -> None:
        self.playing = False

    def toggle_play(self) -> None:
        self.pause() if self.playing else self.play()

    def step_by(self, n: int) -> None:
        self.pause()
        self.seek(self.index + n)

    def jump_event(self, direction: int) -> None:
        """To the next (``direction`` > 0) or previous event's frame."""
        idx = sorted(set(self.event_indices()))
        if direction > 0:
            later = [i for i in idx if i > self.index]
            if later:
                self.seek(later[0])
        else:
            earlier = [i for i in idx if i < self.index]
            if earlier:
                self.seek(earlier[-1])

    def submit(self, cmd: C.Command) -> None:
        if isinstance(cmd, C.Play):
            self.play()
        elif isinstance(cmd, C.Pause):
            self.pause()
        elif isinstance(cmd, C.Step):
            self.step_by(cmd.n)
        elif isinstance(cmd, C.StepHold):
            self.jump_event(+1)
        # other commands change a run; a recording has none to change

    def refresh(self) -> int:
        """Look for frames a writer added since; returns the frame count."""
        old = len(self.rec)
        try:
            n = self.rec.refresh()
        except RecordingError:
            return old
        if n != old:
            at_end = self.index >= old - 1
            self.length_changed.emit(n)
            if at_end and self.follow and not self.playing:
                self.seek(n - 1)
        return n

    # ---------------------------------------------------------- FrameSource
    def take(self) -> Frame | None:
        now = time.perf_counter()
        if self.follow and not self.rec.complete and now - self._t_refresh >= REFRESH_S:
            self._t_refresh = now
            self.refresh()
        if self.playing:
            self._debt += (now - self._t_last) * self.speed
            k = int(self._debt)
            if k:
                self._debt -= k
                last = len(self.rec) - 1
                self.seek(min(self.index + k, last))
                if self.index >= last and (self.rec.complete or not self.follow):
                    self.playing = False
        self._t_last = now
        if self._shown == self.index or not len(self.rec):
            return None
        self._shown = self.index
        frame = self.rec.frame(self.index, with_weights=False)
        self._follow_config(frame.step)
        if frame.batch:  # a whole-batch recording: the views show one item
            d = frame.display_index
            frame.layers = [{q: a[d] for q, a in layer.items()} for layer in frame.layers]
            frame.batch = False
        return frame

    def poll_events(self) -> list[Event]:
        evs = self.rec.events
        new = evs[self._events_sent:]
        self._events_sent = len(evs)
        return list(new)

    def state(self) -> tuple:
        return (self.playing, len(self.rec))

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(preset=str(self.rec.attrs.get("preset", "") or self.rec.path.stem),
                 device=f"recording {self.rec.path.name}",
                 state="playing" if self.playing else "paused",
                 steps_per_second=0.0)
        return d

    def close(self) -> None:
        self.stop_display()
        self.rec.close()
