"""Record the live run from the window: a button (and R) asks the source to start and
stop a recorder writing ``recordings/<preset>-<time>.h5`` (beside the engine: in its
thread's process, or in the engine process); a label shows frames written, size and
dropped frames. The window stops the recording (and so closes the file cleanly)
before its engine goes away."""

from __future__ import annotations

import time
from pathlib import Path

from PyQt6 import QtCore, QtWidgets

from pcviz.gui.sources.frame_source import FrameSource
from pcviz.io import RecordingError, RecordingSummary
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
        self.path: Path | None = None  # the recording in progress
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
        self.setEnabled(source.can_record)
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self.update_label)
        self._timer.start(250)

    @property
    def recording(self) -> bool:
        return self.path is not None

    def toggle(self) -> None:
        if self.isEnabled():
            self.button.toggle()

    def _toggled(self, on: bool) -> None:
        if on and self.path is None:
            if not self.start():
                self.button.blockSignals(True)
                self.button.setChecked(False)
                self.button.blockSignals(False)
        elif not on and self.path is not None:
            self.stop()

    def start(self, path: str | Path | None = None) -> bool:
        cfg = self.source.config
        preset = "" if cfg is None else cfg.preset.name
        path = Path(path) if path is not None else recording_path(preset, self.folder)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.source.start_recording(path)
        except (RecordingError, OSError, RuntimeError) as exc:
            self.label.setText(f"cannot record: {exc}")
            self.failed.emit(str(exc))
            return False
        self.path = path
        if not self.button.isChecked():
            self.button.blockSignals(True)
            self.button.setChecked(True)
            self.button.blockSignals(False)
        self.update_label()
        return True

    def stop(self) -> RecordingSummary | None:
        """Stop the recording (writes what is queued, closes the file). Idempotent."""
        path, self.path = self.path, None
        if path is None:
            return None
        try:
            summary = self.source.stop_recording()
        except (RecordingError, RuntimeError) as exc:
            summary = None
            self.label.setText(f"recording stopped: {exc}")
        if self.button.isChecked():
            self.button.blockSignals(True)
            self.button.setChecked(False)
            self.button.blockSignals(False)
        if summary is None:
            return None
        self.last_summary = summary
        self.label.setText(f"saved {Path(summary.path).name}: {summary.frames} frames, {_size(summary.bytes)},"
                           f" {summary.dropped} dropped")
        self.label.setToolTip(str(summary.path))
        self.finished.emit(summary)
        return summary

    def update_label(self) -> None:
        if self.path is None:
            return
        st = self.source.recording_status()
        if st is None:  # the engine went away with it (the source says why)
            path, self.path = self.path, None
            self.label.setText(f"recording stopped: {path.name}")
            self.button.blockSignals(True)
            self.button.setChecked(False)
            self.button.blockSignals(False)
            return
        if st.error is not None:
            msg = st.error
            self.stop()
            self.label.setText(f"recording stopped: {msg}")
            self.failed.emit(msg)
            return
        text = f"\u25cf {Path(st.path).name}: {st.frames} frames, {_size(st.bytes)}, {st.dropped} dropped"
        self.label.setText(text)
        self.label.setToolTip(st.path)

    def detach(self) -> None:
        self._timer.stop()
        self.stop()
