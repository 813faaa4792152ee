"""The main window: the hierarchy in the centre, dockable controls, network diagram,
learned basis and time series around it; menus and shortcuts; a status bar; a banner
for divergence and refused commands; the layout remembered between sessions."""

from __future__ import annotations

from typing import Callable

from PyQt6 import QtCore, QtGui, QtWidgets, sip

from pcviz.errors import PcvizError
from pcviz.gui.views.basis import BasisView
from pcviz.gui.panels.controls import ControlPanel
from pcviz.gui.panels.interventions_pane import InterventionsPane
from pcviz.gui.views.hierarchy import HierarchyView
from pcviz.gui.views.network import NetworkView
from pcviz.gui.sources.frame_source import FrameSource
from pcviz.gui.theme import Theme, apply_theme, theme_named
from pcviz.gui.views.timeseries import TimeSeriesView
from pcviz.gui.window.session import SessionTools
from pcviz.gui.panels.latents import VaePanel, wants_vae_views
from pcviz.gui.window.console import ConsoleDock
from pcviz.gui.window.docks import LATENTS, WindowDocks
from pcviz.sim import commands as C
from pcviz.sim.presets import PresetEntry, list_presets

SETTINGS_VERSION = 1
#: default size of the window and of its docks (fits a 1920x1080 screen)
DEFAULT_SIZE = (1920, 1080)


def app_settings() -> QtCore.QSettings:
    """The settings file (INI, per user), so tests can point it elsewhere with
    ``QSettings.setPath(IniFormat, UserScope, folder)``."""
    return QtCore.QSettings(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope, "pcviz", "pcviz")


class Banner(QtWidgets.QFrame):
    """A message across the top of the hierarchy with a few action buttons."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QtWidgets.QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.buttons = QtWidgets.QHBoxLayout()
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 6, 6)
        lay.addWidget(self.label, 1)
        lay.addLayout(self.buttons)
        self.kind = ""
        self._hide_timer = QtCore.QTimer(self)
        self._hide_timer.setSingleShot(True)
        self._hide_timer.timeout.connect(self.clear)
        self.hide()

    def show_message(self, kind: str, html: str, theme: Theme, actions: list[tuple[str, Callable]] = (),
                     timeout_ms: int = 0) -> None:
        self.kind = kind
        bg, fg = (theme.error_bg, theme.error_text) if kind == "error" else (theme.warn_bg, theme.warn_text)
        self.setStyleSheet(f"#banner {{ background: {bg}; border-radius: 4px; }} "
                           f"#banner QLabel {{ color: {fg}; font-size: 11pt; }}")
        self.label.setText(html)
        while self.buttons.count():
            w = self.buttons.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        for text, slot in [*actions, ("Dismiss", self.clear)]:
            b = QtWidgets.QPushButton(text)
            b.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
            b.clicked.connect(slot)
            self.buttons.addWidget(b)
        self.show()
        if timeout_ms:
            self._hide_timer.start(timeout_ms)
        else:
            self._hide_timer.stop()

    def clear(self) -> None:
        self.kind = ""
        self.hide()


#: every window whose Qt object still exists. The window and its views are a reference
#: cycle; without this reference the cyclic garbage collector deleted a window as soon
#: as its last outside reference went: in the middle of one of its own paint events (a
#: segfault), before closeEvent had stopped its engine, or from whichever thread the
#: collection ran in. A window goes when Qt deletes it (deleteLater, in the GUI thread).
_LIVE_WINDOWS: set["MainWindow"] = set()


def _keep_until_deleted(win: "MainWindow") -> None:
    for w in [w for w in _LIVE_WINDOWS if sip.isdeleted(w)]:
        _LIVE_WINDOWS.discard(w)
    _LIVE_WINDOWS.add(win)


class MainWindow(QtWidgets.QMainWindow):
    #: the source is about to be closed (a preset switch, a recording opened, the window closing)
    source_leaving = QtCore.pyqtSignal()
    #: a new source is shown (its views are built)
    source_changed = QtCore.pyqtSignal()

    def __init__(self, source: FrameSource, *, theme: str | None = None, settings: QtCore.QSettings | None = None,
                 persist: bool = True, restore: bool = True,
                 open_source: Callable[[str, str], FrameSource] | None = None,
                 presets: list[PresetEntry] | None = None, api_session=None,
                 session_factory: Callable[[object], object] | None = None):
        super().__init__()
        _keep_until_deleted(self)
        #: the pcviz.Session this window was opened on (Session.show), else None
        self.api_session = api_session
        #: makes a pcviz.Session on a live source's engine, for the console (given by the
        #: command line, which sits above the API; the window does not import it)
        self.session_factory = session_factory
        self.settings = settings if settings is not None else app_settings()
        self.persist = persist
        self.open_source = open_source
        self.presets = presets if presets is not None else list_presets()
        self.theme = theme_named(theme or (self.settings.value("view/theme", "light") if restore else "light"))
        app = QtWidgets.QApplication.instance()
        if app is not None:
            apply_theme(app, self.theme)
        self.source = source
        source.setParent(self)  # the same for the source (a QObject with a timer)
        self.last_divergence: str | None = None  # the message of the last divergence shown
        self.views: dict[str, QtWidgets.QWidget] = {}
        self.run_menu: QtWidgets.QMenu | None = None
        self.view_menu: QtWidgets.QMenu | None = None
        self.setObjectName("pcviz-main")

        central = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(central)
        lay.setContentsMargins(4, 4, 4, 0)
        lay.setSpacing(4)
        self.banner = Banner()
        lay.addWidget(self.banner)
        self._central = lay
        self.setCentralWidget(central)
        self.dock_set = WindowDocks(self)  # every dock, made in one place (docks.py)
        self.docks: dict[str, QtWidgets.QDockWidget] = self.dock_set.docks
        self.toolbar = QtWidgets.QToolBar("Recording")
        self.toolbar.setObjectName("toolbar-recording")
        self.toolbar.setMovable(False)
        self.addToolBar(QtCore.Qt.ToolBarArea.TopToolBarArea, self.toolbar)
        self._build_status_bar()
        self._build_views()
        self.session = SessionTools(self)  # markers, the record button, the timeline, the dialogs
        self._build_menus()
        self.console = ConsoleDock(self, self.dock_set.console)  # View > Console, hidden by default
        self._status_timer = QtCore.QTimer(self)
        self._status_timer.timeout.connect(self.update_status)
        self._status_timer.start(250)

        self.resize(*DEFAULT_SIZE)
        self.default_layout()
        if restore:
            self.restore_settings()
        self.update_status()

    # ------------------------------------------------------------------ views
    def _build_views(self) -> None:
        src, th = self.source, self.theme
        self.hierarchy = HierarchyView(src, th)
        self._central.addWidget(self.hierarchy, 1)
        self.controls = ControlPanel(src, self.presets)
        self.controls.preset_requested.connect(self.open_preset)
        self.network = NetworkView(src, th)
        self.basis = BasisView(src, th)
        self.timeseries = TimeSeriesView(src, th)
        self.docks["controls"].setWidget(_scrolled(self.controls))
        self.docks["network"].setWidget(self.network)
        self.docks["basis"].setWidget(self.basis)
        self.docks["timeseries"].setWidget(self.timeseries)
        self.interventions = InterventionsPane(src, self.hierarchy.canvas, self.send)
        self.docks["interventions"].setWidget(self.interventions)
        self.docks["interventions"].setWindowTitle(self.interventions.title)
        if src.recording is not None:
            self.docks["interventions"].raise_()  # the controls are idle in playback; the events are what to see
        self.views = {"hierarchy": self.hierarchy, "controls": self.controls, "network": self.network,
                      "basis": self.basis, "timeseries": self.timeseries}
        latents = self.dock_set.set_latents(wants_vae_views(src.spec))  # hierarchical VAEs only
        if latents is not None:
            self.views[LATENTS] = VaePanel(src, th)
            latents.setWidget(_scrolled(self.views[LATENTS]))  # a short dock scrolls, not the window
        src.engine_event.connect(self._on_event)
        src.state_changed.connect(self._on_state)
        self.setWindowTitle(self._title())
        self.hierarchy.canvas.setFocus()

    def _drop_views(self) -> None:
        try:
            self.source.engine_event.disconnect(self._on_event)
            self.source.state_changed.disconnect(self._on_state)
        except TypeError:
            pass
        for v in self.views.values():
            v.detach()
        self.interventions.detach()
        self._central.removeWidget(self.hierarchy)
        self.hierarchy.deleteLater()
        for d in self.dock_set.view_docks():  # the views, and the scroll area around the controls
            w = d.widget()
            if w is not None:
                w.deleteLater()
        self.views = {}

    def _title(self) -> str:
        d = self.source.describe()
        return f"pcviz \u2014 {d.get('preset', '')} ({d.get('device', '')})"

    def set_source(self, source: FrameSource) -> None:
        """Show another source (a new preset or device): the old one is closed."""
        old = self.source
        self.source_leaving.emit()
        self._drop_views()
        old.close()
        old.deleteLater()
        self.source = source
        source.setParent(self)
        self._build_views()
        self.source_changed.emit()
        self.banner.clear()
        if not source.displaying:
            source.start_display()

    def open_preset(self, name: str, device: str) -> None:
        if self.open_source is None:
            self.banner.show_message(
                "warn", "This window shows a run opened from Python; open another preset there "
                f"(pcviz.Session({_esc(repr(name))}).show()).", self.theme, timeout_ms=10000)
            combo = self.controls.preset
            combo.setCurrentIndex(max(0, combo.findData(self.source.config.preset.name)))
            return
        try:
            new = self.open_source(name, device)
        except Exception as exc:  # a user error (config, checkpoint, device): say it, keep the run
            if not isinstance(exc, (PcvizError, RuntimeError)):
                raise
            self.banner.show_message("warn", f"<b>Could not open {name} on {device}:</b> {_esc(exc)}", self.theme)
            self.controls.sync()
            return
        self.set_source(new)

    # ------------------------------------------------------------------ menus
    def _action(self, menu: QtWidgets.QMenu, text: str, slot: Callable, shortcut: str | None = None,
                checkable: bool = False) -> QtGui.QAction:
        a = QtGui.QAction(text, self)
        if shortcut:
            a.setShortcut(QtGui.QKeySequence(shortcut))
            a.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        menu.addAction(a)
        self.addAction(a)
        return a

    def _build_menus(self) -> None:
        bar = self.menuBar()
        session = self.session
        m = bar.addMenu("&File")
        self.file_menu = m
        self._action(m, "Open recording\u2026", session.open_dialog, "Ctrl+O")
        self._action(m, "Compare recordings or a sweep\u2026", session.compare_dialog)
        m.addSeparator()
        self._action(m, "Save screenshot\u2026", self._save_screenshot_dialog, "Ctrl+S")
        self._action(m, "Quit", self.close, "Ctrl+Q")
        ex = m.addMenu("Export")
        for text, slot in (("Window as PNG or SVG\u2026", lambda: session.export_dialog("window")),
                           ("Hierarchy as PNG or SVG\u2026", lambda: session.export_dialog("hierarchy")),
                           ("Time series as PNG or SVG (pyqtgraph)\u2026", lambda: session.export_dialog("plots")),
                           ("Clip as GIF or MP4\u2026", session.clip_dialog)):
            a = QtGui.QAction(text, self)
            a.triggered.connect(slot)
            ex.addAction(a)
        m = bar.addMenu("&Run")
        self.run_menu = m
        self.act_play = self._action(m, "Play / pause", self.toggle_play, "Space")
        self.act_step = self._action(m, "Step", lambda: self.send(C.Step(1)), "Right")
        self._action(m, "Step one hold", lambda: self.send(C.StepHold()), "Shift+Right")
        self._action(m, "Reset", lambda: self.send(C.Reset(weights=True)), "Ctrl+R")
        self._action(m, "Pin selected unit's trace", self.pin_selected, "P")
        self.act_record = self._action(m, "Record / stop recording", session.toggle_record, "R")
        m = bar.addMenu("&View")
        self.view_menu = m
        self.dock_set.fill_menu(m)
        self.theme_actions = {}
        group = QtGui.QActionGroup(self)
        for name in ("light", "dark"):
            a = self._action(m, f"{name.capitalize()} theme", lambda _=False, n=name: self.set_theme(n),
                             checkable=True)
            a.setChecked(name == self.theme.name)
            group.addAction(a)
            self.theme_actions[name] = a
        m.addSeparator()
        self._action(m, "Default layout", self.default_layout)

    def add_below_views(self, widget: QtWidgets.QWidget) -> None:
        """A strip under the hierarchy (the playback timeline)."""
        self._central.addWidget(widget)

    def remove_below_views(self, widget: QtWidgets.QWidget) -> None:
        self._central.removeWidget(widget)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.status_fields: dict[str, QtWidgets.QLabel] = {}
        for key in ("state", "step", "sample", "rate", "fps", "device"):
            lab = QtWidgets.QLabel()
            lab.setMinimumWidth(110)
            sb.addPermanentWidget(lab)
            self.status_fields[key] = lab

    # ----------------------------------------------------------------- layout
    def default_layout(self) -> None:
        """View > Default layout: every dock back in its place (see docks.py)."""
        self.dock_set.default_layout(self.source.live, self.timeseries.grid_rows)

    def restore_settings(self) -> None:
        s = self.settings
        geo, state = s.value("window/geometry"), s.value("window/state")
        if isinstance(geo, QtCore.QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        if isinstance(state, QtCore.QByteArray) and not state.isEmpty():
            self.restoreState(state, SETTINGS_VERSION)

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState(SETTINGS_VERSION))
        s.setValue("view/theme", self.theme.name)
        s.sync()

    def set_theme(self, name: str) -> None:
        self.theme = theme_named(name)
        app = QtWidgets.QApplication.instance()
        if app is not None:
            apply_theme(app, self.theme)
        for v in self.views.values():
            if hasattr(v, "apply_theme"):
                v.apply_theme(self.theme)
        if name in getattr(self, "theme_actions", {}):
            self.theme_actions[name].setChecked(True)

    # --------------------------------------------------------------- running
    def send(self, cmd: C.Command) -> None:
        if self.source.takes_commands:
            self.source.submit(cmd)

    def toggle_play(self) -> None:
        if not self.source.live:  # a recording's player: the controls are idle
            self.send(C.Pause() if self.source.running else C.Play())
            return
        self.controls.toggle_play()

    def pin_selected(self) -> None:
        if self.hierarchy.selected is not None:
            self.timeseries.pin(*self.hierarchy.selected)

    def _on_state(self) -> None:
        self.update_status()

    def _on_event(self, ev) -> None:
        if ev.kind == "divergence":
            self.last_divergence = str(ev.payload.get("message", "the run diverged"))
            layer = ev.payload.get("layer")
            name = self.source.spec.layers[layer].name if isinstance(layer, int) else "?"
            msg = _esc(ev.payload.get("message", "the run diverged"))
            cfg = self.source.config
            dt = getattr(cfg.model, "dt", None) if cfg is not None else None  # PC families step in time; VAEs not
            actions = [("Reset", lambda: self.send(C.Reset(weights=True)))]
            if dt is not None:
                actions.insert(0, ("Halve dt and reset", self.halve_dt_and_reset))
            self.banner.show_message(
                "error", f"<b>The run diverged</b> at step {ev.step} in layer {layer} ({name}).<br>{msg}",
                self.theme, actions)
        elif ev.kind == "error":
            cmd, msg = ev.payload.get("command", "command"), ev.payload.get("message", "")
            if self.banner.kind == "error":  # keep the divergence (and its buttons) in view
                self.statusBar().showMessage(f"{cmd} refused: {msg}", 10000)
            else:
                self.banner.show_message("warn", f"<b>{_esc(cmd)} refused:</b> {_esc(msg)}", self.theme,
                                         timeout_ms=10000)
        elif ev.kind == "engine_error":
            where = _esc(ev.payload.get("where", "the engine"))
            line = _esc(ev.payload.get("last_line") or ev.payload.get("message", ""))
            self.banner.show_message(
                "error", f"<b>The engine failed</b> in {where} at step {ev.step}; the run is paused "
                f"(the traceback is in the event list).<br><tt>{line}</tt>", self.theme,
                [("Restart engine", self.restart_engine)])
        elif ev.kind == "engine_dead":
            self.banner.show_message(
                "error", f"<b>The engine stopped</b> after step {ev.step}: "
                f"{_esc(ev.payload.get('message', ''))}. The window stays; restart the engine to go on.",
                self.theme, [("Restart engine", self.restart_engine)])
        elif ev.kind == "reset" and self.banner.kind == "error":
            self.banner.clear()

    def restart_engine(self) -> None:
        """A fresh engine on the same configuration (and the last checkpoint saved from
        it): the source makes one of its own kind."""
        try:
            new = self.source.restarted()
        except Exception as exc:  # a user error (config, checkpoint, device) or a failed start: say it
            self.banner.show_message("error", f"<b>Could not restart the engine:</b> {_esc(exc)}", self.theme,
                                     [("Restart engine", self.restart_engine)])
            return
        self.set_source(new)

    def show_internal_error(self, text: str) -> None:
        """A bug, not a user error: said in the window (the terminal has the traceback)."""
        self.banner.show_message("warn", f"<b>Internal error</b> (details in the terminal): {_esc(text)}",
                                 self.theme, timeout_ms=15000)

    def halve_dt_and_reset(self) -> None:
        dt = self.source.config.model.dt
        self.send(C.SetParam("model.dt", dt / 2))
        self.send(C.Reset(weights=True))

    def update_status(self) -> None:
        d = self.source.describe()
        f = self.status_fields

        def put(key: str, text: str) -> None:
            if f[key].text() != text:
                f[key].setText(text)

        put("state", str(d.get("state", "")))
        dash = "\u2013"
        put("step", f"step {dash if d.get('step') is None else d['step']}")
        put("sample", f"sample {dash if d.get('sample') is None else d['sample']}")
        put("rate", f"{d.get('steps_per_second', 0.0):,.0f} steps/s")
        running = d.get("state") == "running" if "state" in d else self.source.displaying
        put("fps", f"display {self.source.fps:.0f} fps" if running else "display idle")
        put("device", f"device {d.get('device', '')}")

    # ----------------------------------------------------------------- output
    def save_screenshot(self, path: str) -> bool:
        return self.grab().save(path)

    def _save_screenshot_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save screenshot", "pcviz.png", "PNG (*.png)")
        if path and not self.save_screenshot(path):
            self.banner.show_message("warn", f"could not write {_esc(path)}", self.theme, timeout_ms=8000)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if self.persist:
            self.save_settings()
        self._status_timer.stop()
        self.source_leaving.emit()  # a recording in progress is closed before its engine stops
        self.console.close()
        self.source.close()
        super().closeEvent(event)


def _scrolled(widget: QtWidgets.QWidget) -> QtWidgets.QScrollArea:
    """``widget`` in a frameless scroll area: a dock shorter than the widget's minimum
    scrolls instead of making the window taller than the screen."""
    scroll = QtWidgets.QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
    scroll.setWidget(widget)
    return scroll


def _esc(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
