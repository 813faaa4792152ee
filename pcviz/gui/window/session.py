"""The session tools of the main window: the Interventions dock (panel and event
list), time-series markers, the record button (R), the playback timeline, File >
Open recording, and the export actions. Installed by :class:`MainWindow`; they
follow its source (a new preset, a recording) through its ``source_leaving`` and
``source_changed`` signals."""

from __future__ import annotations

from pathlib import Path

from PyQt6 import QtCore, QtGui, QtWidgets, sip

from pcviz.gui.panels.events import EventList, EventMarkers
from pcviz.gui.export import LiveClip, export_plots, export_recorded_clip, export_widget
from pcviz.gui.panels.interventions import CanvasSelector, InterventionPanel
from pcviz.gui.panels.timeline import Timeline, fill_history
from pcviz.gui.sources.playback import PlaybackSource
from pcviz.gui.panels.record import RecordControls


class SessionTools(QtCore.QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.selector: CanvasSelector | None = None
        self.panel: InterventionPanel | None = None
        self.events: EventList | None = None
        self.markers: EventMarkers | None = None
        self.timeline: Timeline | None = None
        self.clip: LiveClip | None = None
        self._last_index = 0

        self.dock = QtWidgets.QDockWidget("Interventions", win)
        self.dock.setObjectName("dock-interventions")
        self.dock.setFeatures(win.docks["controls"].features())
        win.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)
        win.add_dock("interventions", self.dock)
        arrange_interventions_dock(win)

        self.toolbar = QtWidgets.QToolBar("Recording")
        self.toolbar.setObjectName("toolbar-recording")
        self.toolbar.setMovable(False)
        win.addToolBar(QtCore.Qt.ToolBarArea.TopToolBarArea, self.toolbar)
        self.record: RecordControls | None = None
        self.compare_windows: list[QtWidgets.QMainWindow] = []  # windows opened by File > Compare
        self._build_menus()
        win.source_leaving.connect(self.leave)
        win.source_changed.connect(self.attach)
        self.attach()

    # ---------------------------------------------------------------- menus
    def _build_menus(self) -> None:
        win = self.win
        m = win.file_menu
        first = m.actions()[0] if m.actions() else None
        act = QtGui.QAction("Open recording\u2026", win)
        act.setShortcut(QtGui.QKeySequence("Ctrl+O"))
        act.triggered.connect(self._open_dialog)
        m.insertAction(first, act)
        win.addAction(act)
        cmp_act = QtGui.QAction("Compare recordings or a sweep\u2026", win)
        cmp_act.triggered.connect(self._compare_dialog)
        m.insertAction(first, cmp_act)
        m.insertSeparator(first)
        ex = m.addMenu("Export")
        for text, slot in (("Window as PNG or SVG\u2026", lambda: self._export_dialog("window")),
                           ("Hierarchy as PNG or SVG\u2026", lambda: self._export_dialog("hierarchy")),
                           ("Time series as PNG or SVG (pyqtgraph)\u2026", lambda: self._export_dialog("plots")),
                           ("Clip as GIF or MP4\u2026", self._clip_dialog)):
            a = QtGui.QAction(text, win)
            a.triggered.connect(slot)
            ex.addAction(a)
        self.act_record = QtGui.QAction("Record / stop recording", win)
        self.act_record.setShortcut(QtGui.QKeySequence("R"))
        self.act_record.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
        self.act_record.triggered.connect(self.toggle_record)
        win.addAction(self.act_record)
        win.run_menu.addAction(self.act_record)

    # ------------------------------------------------------------- attaching
    def attach(self) -> None:
        win, src = self.win, self.win.source
        self.selector = CanvasSelector(win.hierarchy.canvas, self)
        self.panel = InterventionPanel(src, self.selector, win.send)
        self.events = EventList(src, win.send)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.panel)
        split.addWidget(scroll)
        split.addWidget(self.events)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        old = self.dock.widget()
        self.dock.setWidget(split)
        if old is not None:
            old.deleteLater()
        self.markers = EventMarkers(win.timeseries)
        src.engine_event.connect(self._on_event)
        self.record = RecordControls(src)
        self._record_action = self.toolbar.addWidget(self.record)
        self.record.failed.connect(lambda msg: win.banner.show_message(
            "warn", f"<b>Recording stopped:</b> {msg}", win.theme, timeout_ms=15000))
        if src.recording is not None:
            self.timeline = Timeline(src)
            win.add_below_views(self.timeline)
            src.position_changed.connect(self._on_position)
            self._last_index = src.index
            self.dock.setWindowTitle("Events of the recording")
            scroll.hide()  # interventions change a run; a recording has none to change
            self.dock.raise_()  # the controls are idle in playback; the events are what to see
            span = int(src.steps[-1] - src.steps[0]) if len(src) else 0
            win.timeseries.window.setValue(max(200, min(span + 1, 20000)))
        else:
            self.dock.setWindowTitle("Interventions")

    def leave(self) -> None:
        """Before the window's source goes: stop recording (the file is closed
        cleanly), drop what follows the old views."""
        if self.clip is not None:
            self.clip.finish()
            self.clip = None
        if self.record is not None:
            self.record.detach()
            self.toolbar.removeAction(self._record_action)
            self.record.deleteLater()
            self.record = None
        src = self.win.source
        try:
            src.engine_event.disconnect(self._on_event)
        except TypeError:
            pass
        if self.selector is not None:
            self.selector.detach()
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
        self.events.add(ev)
        self.markers.add(ev)
        if self.win.source.live:  # a recording's events all arrive at once, not in step with the frames
            self.panel.on_event(ev)

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

    def _open_dialog(self) -> None:
        from pcviz.io import RecordingError
        from pcviz.paths import recordings_dir

        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.win, "Open recording", str(recordings_dir()),
                                                        "pcviz recordings (*.h5 *.hdf5)")
        if path:
            try:
                self.open_recording(path)
            except RecordingError as exc:
                self.win.banner.show_message("warn", f"<b>Cannot open</b> {exc}", self.win.theme)

    def _compare_dialog(self) -> None:
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

    def _export_dialog(self, what: str) -> None:
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

    def _clip_dialog(self) -> None:
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


def arrange_interventions_dock(win) -> None:
    """Interventions share the left column with the controls as a second tab: stacked,
    the two did not fit 1080 pixels and the controls were cut off below "learning"."""
    dock = win.docks.get("interventions")
    if dock is None:
        return
    win.tabifyDockWidget(win.docks["controls"], dock)
    # live: the controls in front; playback: they are idle, the recording's events matter
    (win.docks["controls"] if win.source.live else dock).raise_()
