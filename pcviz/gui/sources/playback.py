"""Playing a recording in the window: a frame source that reads an HDF5 recording
(:func:`pcviz.io.open_recording`) and a timeline with event markers, play/pause,
speed, step forwards and backwards, and jumps to the next or previous event.

A file that is still being recorded grows under the player: with ``follow`` the
source refreshes it (SWMR) twice a second, the timeline grows, and a player at the
end stays at the newest frame.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from pcviz.gui.sources.frame_source import FrameSource
from pcviz.io import Recording, RecordingError
from pcviz.sim import commands as C
from pcviz.sim.events import Event
from pcviz.sim.frames import Frame

REFRESH_S = 0.5  # how often a growing file is looked at again
#: events the timeline marks and the event buttons jump to (not play/pause/step)
MARKED_KINDS = ("clamp", "release", "pulse", "lesion", "occlude", "unocclude", "clear_interventions", "set_label",
                "set_param", "divergence", "reset")


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
            self._config = rec.config
        except Exception:  # noqa: BLE001 - a config this pcviz cannot resolve: show the frames anyway
            self._config = None

    # --------------------------------------------------------------- facts
    @property
    def config(self):
        return self._config

    @property
    def hold_steps(self) -> int | None:
        return None if self._config is None else int(self._config.data.hold_steps)

    @property
    def running(self) -> bool:
        return self.playing

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
                if ev.kind in MARKED_KINDS]

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


# ------------------------------------------------------------------ timeline
class MarkedSlider(QtWidgets.QSlider):
    """A horizontal slider with ticks at the events' frames."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(QtCore.Qt.Orientation.Horizontal, parent)
        self.markers: list[int] = []
        self.setMinimumHeight(26)

    def paintEvent(self, ev: QtGui.QPaintEvent) -> None:  # noqa: N802
        super().paintEvent(ev)
        if not self.markers or self.maximum() <= self.minimum():
            return
        opt = QtWidgets.QStyleOptionSlider()
        self.initStyleOption(opt)
        style = self.style()
        groove = style.subControlRect(QtWidgets.QStyle.ComplexControl.CC_Slider, opt,
                                      QtWidgets.QStyle.SubControl.SC_SliderGroove, self)
        handle = style.subControlRect(QtWidgets.QStyle.ComplexControl.CC_Slider, opt,
                                      QtWidgets.QStyle.SubControl.SC_SliderHandle, self)
        x0, span = groove.x() + handle.width() / 2, groove.width() - handle.width()
        p = QtGui.QPainter(self)
        p.setPen(QtGui.QPen(QtGui.QColor("#e0218a"), 2))
        for i in set(self.markers):
            x = x0 + span * (i - self.minimum()) / (self.maximum() - self.minimum())
            p.drawLine(QtCore.QPointF(x, 1), QtCore.QPointF(x, 7))
            p.drawLine(QtCore.QPointF(x, self.height() - 7), QtCore.QPointF(x, self.height() - 1))
        p.end()


class Timeline(QtWidgets.QWidget):
    """The player's controls, under the hierarchy."""

    def __init__(self, source: PlaybackSource, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.source = source
        nf = QtCore.Qt.FocusPolicy.NoFocus

        def button(text: str, tip: str, slot) -> QtWidgets.QToolButton:
            b = QtWidgets.QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.setFocusPolicy(nf)
            b.clicked.connect(slot)
            return b

        self.prev_event = button("\u00ab event", "previous event", lambda: source.jump_event(-1))
        self.back = button("\u25c0", "one frame back (Left)", lambda: source.step_by(-1))
        self.play = button("Play", "play / pause (Space)", source.toggle_play)
        self.forward = button("\u25b6|", "one frame forward (Right)", lambda: source.step_by(1))
        self.next_event = button("event \u00bb", "next event (Shift+Right)", lambda: source.jump_event(+1))
        self.slider = MarkedSlider()
        self.slider.setFocusPolicy(nf)
        self.slider.valueChanged.connect(self._slider_moved)
        self.speed = QtWidgets.QDoubleSpinBox()
        self.speed.setRange(0.5, 2000.0)
        self.speed.setDecimals(1)
        self.speed.setValue(source.speed)
        self.speed.setSuffix(" frames/s")
        self.speed.setToolTip("playback speed")
        self.speed.setKeyboardTracking(False)
        self.speed.valueChanged.connect(lambda v: setattr(source, "speed", float(v)))
        self.speed.editingFinished.connect(self.speed.clearFocus)
        self.follow = QtWidgets.QCheckBox("follow file")
        self.follow.setToolTip("take in frames a recording still being written adds")
        self.follow.setChecked(source.follow)
        self.follow.setFocusPolicy(nf)
        self.follow.toggled.connect(lambda v: setattr(source, "follow", bool(v)))
        self.position = QtWidgets.QLabel()
        self.position.setMinimumWidth(200)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        for w in (self.prev_event, self.back, self.play, self.forward, self.next_event):
            lay.addWidget(w)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.position)
        lay.addWidget(self.speed)
        lay.addWidget(self.follow)
        source.position_changed.connect(self._position)
        source.length_changed.connect(self._length)
        source.state_changed.connect(self._state)
        self._length(len(source))
        self._position(source.index)

    def _length(self, n: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, n - 1))
        self.slider.blockSignals(False)
        self.slider.markers = self.source.event_indices()
        self.slider.update()
        self._position(self.source.index)

    def _position(self, i: int) -> None:
        if self.slider.value() != i:
            self.slider.blockSignals(True)
            self.slider.setValue(i)
            self.slider.blockSignals(False)
        n = len(self.source)
        steps = self.source.steps
        step = int(steps[i]) if 0 <= i < len(steps) else 0
        self.position.setText(f"frame {i} / {max(0, n - 1)} \u00b7 step {step}")

    def _slider_moved(self, v: int) -> None:
        self.source.pause()
        self.source.seek(v)

    def _state(self) -> None:
        self.play.setText("Pause" if self.source.playing else "Play")

    def detach(self) -> None:
        for sig, slot in ((self.source.position_changed, self._position), (self.source.length_changed, self._length),
                          (self.source.state_changed, self._state)):
            try:
                sig.disconnect(slot)
            except TypeError:
                pass


def fill_history(timeseries, rec: Recording, i: int, max_frames: int = 4000) -> None:
    """Give a time-series view the scalars of the frames before frame ``i`` (after a
    jump, the plots show the run up to there, not one lone point)."""
    lo = max(0, i - max_frames)
    if i <= lo:
        return
    timeseries.clear()
    steps = rec.steps[lo:i].astype(np.float64)
    for name, s in timeseries.series.items():
        try:
            ys = rec.scalar(name, slice(lo, i))
        except RecordingError:
            continue
        for x, y in zip(steps, ys):
            s.trace.append(float(x), float(y))
    timeseries._dirty = True
