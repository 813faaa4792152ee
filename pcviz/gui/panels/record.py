"""Record the live run from the window: a button (and R) starts and stops a
:class:`~pcviz.io.Recorder` writing ``recordings/<preset>-<time>.h5``; a label shows
frames written, size and dropped frames. The window stops the recording (and so
closes the file cleanly) before its engine goes away."""

from __future__ import annotations

import time
from pathlib import Path

from PyQt6 import QtCore, QtWidgets

from pcviz.gui.sources.frame_source import FrameSource
from pcviz.io import Recorder, RecordingError, RecordingSummary
from pcviz.paths import recordings_dir


def recording_path(preset: str, folder: Path | None = None) -> Path:
    """``<folder>/<preset>-<YYYYmmdd-HHMMSS>.h5``, made unique with a counter."""
    folder = recordings_dir() if folder is None else Path(folder)
    stem = f"{preset or 'run'}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, k = folder / f"{stem}.h5", 1
    while path.exists():
        k += 1
        path = folder / f"{stem}-{k}.h5"
    return path


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


class RecordControls(QtWidgets.QWidget):
    #: a recording stopped: its summary
    finished = QtCore.pyqtSignal(object)
    #: a recording failed (disk full, ...): the message
    failed = QtCore.pyqtSignal(str)

    def __init__(self, source: FrameSource, folder: Path | None = None, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.source = source
        self.folder = folder
        self.recorder: Recorder | None = None
        self.last_summary: RecordingSummary | None = None
        self.button = QtWidgets.QPushButton("\u25cf Record")
        self.button.setCheckable(True)
        self.button.setToolTip("record the run to recordings/<preset>-<time>.h5 (R)")
        self.button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.button.toggled.connect(self._toggled)
        self.label = QtWidgets.QLabel("not recording")
        self.label.setMinimumWidth(260)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(4, 0, 4, 0)
        lay.addWidget(self.button)
        lay.addWidget(self.label)
        self.setEnabled(source.engine is not None)
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self.update_label)
        self._timer.start(250)
        self._error: str | None = None

    @property
    def recording(self) -> bool:
        return self.recorder is not None

    def toggle(self) -> None:
        if self.isEnabled():
            self.button.toggle()

    def _toggled(self, on: bool) -> None:
        if on and self.recorder is None:
            if not self.start():
                self.button.blockSignals(True)
                self.button.setChecked(False)
                self.button.blockSignals(False)
        elif not on and self.recorder is not None:
            self.stop()

    def start(self, path: str | Path | None = None) -> bool:
        engine = self.source.engine
        path = Path(path) if path is not None else recording_path(engine.config.preset.name, self.folder)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            rec = Recorder(engine, path, on_error=self._on_error)
            rec.start()
        except (RecordingError, OSError) as exc:
            self.label.setText(f"cannot record: {exc}")
            self.failed.emit(str(exc))
            return False
        self._error = None
        self.recorder = rec
        if not self.button.isChecked():
            self.button.blockSignals(True)
            self.button.setChecked(True)
            self.button.blockSignals(False)
        self.update_label()
        return True

    def stop(self) -> RecordingSummary | None:
        """Stop the recording (writes what is queued, closes the file). Idempotent."""
        rec, self.recorder = self.recorder, None
        if rec is None:
            return None
        summary = rec.stop()
        self.last_summary = summary
        if self.button.isChecked():
            self.button.blockSignals(True)
            self.button.setChecked(False)
            self.button.blockSignals(False)
        self.label.setText(f"saved {Path(summary.path).name}: {summary.frames} frames, {_size(summary.bytes)},"
                           f" {summary.dropped} dropped")
        self.label.setToolTip(str(summary.path))
        self.finished.emit(summary)
        return summary

    def _on_error(self, err: RecordingError) -> None:  # the recorder's thread: only note it
        self._error = str(err)

    def update_label(self) -> None:
        rec = self.recorder
        if rec is None:
            return
        if self._error is not None:
            msg = self._error
            self.stop()
            self.label.setText(f"recording stopped: {msg}")
            self.failed.emit(msg)
            return
        text = (f"\u25cf {rec.path.name}: {rec.frames_written} frames, {_size(rec.bytes)},"
                f" {rec.dropped} dropped")
        self.label.setText(text)
        self.label.setToolTip(str(rec.path))

    def detach(self) -> None:
        self._timer.stop()
        self.stop()
