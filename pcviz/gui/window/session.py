"""The session tools of the main window: time-series markers of the engine's events,
the record button (R), the playback timeline, and what File > Open recording,
Compare and Export do. Installed by :class:`MainWindow`, which builds the docks, the
toolbar and the menus; they follow its source (a new preset, a recording) through
its ``source_leaving`` and ``source_changed`` signals."""

from __future__ import annotations

from pathlib import Path

from PyQt6 import QtCore, QtWidgets, sip

from pcviz.gui.panels.events import EventMarkers
from pcviz.gui.export import LiveClip, export_plots, export_recorded_clip, export_widget
from pcviz.gui.panels.timeline import Timeline, fill_history
from pcviz.gui.sources.playback import PlaybackSource
from pcviz.gui.panels.record import RecordControls


class SessionTools(QtCore.QObject):
    """What follows the window's source besides its views: the time-series markers of
    events, the record button in the window's toolbar, the playback timeline, and the
    dialogs that the window's menus call (open, compare, export). The window builds
    the docks, the toolbar and the menus; this object fills and serves them."""

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.markers: EventMarkers | None = None
        self.timeline: Timeline | None = None
        self.clip: LiveClip | None = None
        self._last_index = 0
        self.record: RecordControls | None = None
        self.compare_windows: list[QtWidgets.QMainWindow] = []  # windows opened by File > Compare
        win.source_leaving.connect(self.leave)
        win.source_changed.connect(self.attach)
        self.attach()

    # ------------------------------------------------------------- attaching
    def attach(self) -> None:
        win, src = self.win, self.win.source
        self.markers = EventMarkers(win.timeseries)
        src.engine_event.connect(self._on_event)
        self.record = RecordControls(src)
        self._record_action = win.toolbar.addWidget(self.record)
        self.record.failed.connect(lambda msg: win.banner.show_message(
            "warn", f"<b>Recording stopped:</b> {msg}", win.theme, timeout_ms=15000))
        if src.recording is not None:
            self.timeline = Timeline(src)
            win.add_below_views(self.timeline)
            src.position_changed.connect(self._on_position)
            self._last_index = src.index
            span = int(src.steps[-1] - src.steps[0]) if len(src) else 0
            win.timeseries.window.setValue(max(200, min(span + 1, 20000)))

    def leave(self) -> None:
        """Before the window's source goes: stop recording (the file is closed
        cleanly), drop what follows the old views."""
        if self.clip is not None:
            self.clip.finish()
            self.clip = None
        if self.record is not None:
            self.record.detach()
            self.win.toolbar.removeAction(self._record_action)
            self.record.deleteLater()
            self.record = None
        src = self.win.source
        try:
            src.engine_event.disconnect(self._on_event)
        except TypeError:
            pass
        if self.markers is not None:
            self.markers.detach()
        if self.timeline is not None:
            self.timeline.detach()
            try:
                src.position_changed.disconnect(self._on_position)
            except TypeError:
                pass
            self.win.remove_below_views(self.timeline)
            self.timeline.deleteLater()
            self.timeline = None

    # ---------------------------------------------------------------- events
    def _on_event(self, ev) -> None:
        self.win.interventions.on_event(ev)
        self.markers.add(ev)

    def _on_position(self, i: int) -> None:
        if i != self._last_index + 1:  # a jump: the plots show the run up to there
            fill_history(self.win.timeseries, self.win.source.recording, i)
        self._last_index = i

    def toggle_record(self) -> None:
        if self.record is not None:
            self.record.toggle()

    # --------------------------------------------------------------- dialogs
    def open_recording(self, path: str | Path) -> None:
        from pcviz.io import open_recording

        self.win.set_source(PlaybackSource(open_recording(path)))

    def open_dialog(self) -> None:
        from pcviz.io import RecordingError
        from pcviz.paths import recordings_dir

        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.win, "Open recording", str(recordings_dir()),
                                                        "pcviz recordings (*.h5 *.hdf5)")
        if path:
            try:
                self.open_recording(path)
            except RecordingError as exc:
                self.win.banner.show_message("warn", f"<b>Cannot open</b> {exc}", self.win.theme)

    def compare_dialog(self) -> None:
        """File > Compare: 2 to 4 recordings side by side, or one sweep.csv as a table."""
        from pcviz.gui.compare.app import build_window
        from pcviz.gui.compare.window import CompareError
        from pcviz.io import RecordingError
        from pcviz.paths import recordings_dir

        paths, _ = QtWidgets.QFileDialog.getOpenFileNames(
            self.win, "Compare 2 to 4 recordings, or open a sweep index", str(recordings_dir()),
            "recordings or sweep index (*.h5 *.hdf5 sweep.csv *.csv)")
        if not paths:
            return
        try:
            w = build_window(paths, theme=self.win.theme.name)
        except (CompareError, RecordingError, OSError) as exc:
            self.win.banner.show_message("warn", f"<b>Cannot compare</b> {exc}", self.win.theme)
            return
        w.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)  # Qt deletes it when closed
        self.compare_windows = [x for x in self.compare_windows if not sip.isdeleted(x)] + [w]
        w.show()

    def export_dialog(self, what: str) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self.win, "Export", f"pcviz-{what}.png",
                                                        "PNG (*.png);;SVG (*.svg)")
        if not path:
            return
        try:
            if what == "plots":
                export_plots(self.win.timeseries.canvas, path)
            else:
                export_widget(self.win if what == "window" else self.win.hierarchy, path)
        except Exception as exc:  # noqa: BLE001 - said in the window, the run goes on
            self.win.banner.show_message("warn", f"<b>Export failed:</b> {exc}", self.win.theme, timeout_ms=10000)

    def clip_dialog(self) -> None:
        src = self.win.source
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self.win, "Export clip", "pcviz-clip.gif",
                                                        "GIF (*.gif);;MP4 (*.mp4)")
        if not path:
            return
        if src.recording is not None:
            n = len(src)
            first, ok = QtWidgets.QInputDialog.getInt(self.win, "Clip", "first frame", src.index, 0, n - 1)
            if not ok:
                return
            last, ok = QtWidgets.QInputDialog.getInt(self.win, "Clip", "last frame", min(n - 1, first + 199),
                                                     first, n - 1)
            if ok:
                export_recorded_clip(src, self.win.hierarchy, path, first, last)
        else:
            n, ok = QtWidgets.QInputDialog.getInt(self.win, "Clip", "frames to capture from now", 100, 1, 100000)
            if ok:
                self.clip = LiveClip(src, self.win.hierarchy, path, n)
                self.clip.done.connect(lambda p: self.win.statusBar().showMessage(f"wrote {p}", 10000))

