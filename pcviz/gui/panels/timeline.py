"""The player's timeline under the hierarchy: a slider with the events marked,
play/pause, speed, steps, and jumps between events; and filling the time series with
the run up to a frame the player jumped to."""

from __future__ import annotations

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from pcviz.gui.sources.playback import PlaybackSource
from pcviz.io import Recording, RecordingError


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
