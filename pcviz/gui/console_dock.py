"""A Python console in the window (View > Console, hidden by default): qtconsole's
Jupyter widget on an in-process kernel where qtconsole is installed (``pip install
pcviz[console]``), else pyqtgraph's console (``PCVIZ_CONSOLE=pyqtgraph`` chooses it). Its namespace holds ``session`` (a
:class:`pcviz.Session` on the window's live engine; ``recording`` in playback),
``window``, ``np``, ``torch`` and ``pcviz`` (qtconsole's kernel is one per process,
its namespace shared by the windows' consoles). Commands run in the window's thread; a
command that runs steps keeps the window painting while it waits."""

from __future__ import annotations

import atexit
import importlib.util
import os
from typing import Any

import numpy as np
import torch
from PyQt6 import QtCore, QtWidgets

import pcviz

BANNER = ("pcviz console: session (pcviz.Session on this window's run), window, np, torch, pcviz.\n"
          "Try: session.clamp('x1', [0, 1], 1.0); session.run(steps=200); session.frame()\n")


def qtconsole_available() -> bool:
    return importlib.util.find_spec("qtconsole") is not None and importlib.util.find_spec("ipykernel") is not None


class ConsoleDock(QtCore.QObject):
    """The console dock of a :class:`~pcviz.gui.main_window.MainWindow`; it follows the
    window's source (a preset switch, a recording opened)."""

    def __init__(self, win, prefer: str | None = None):
        super().__init__(win)
        self.win = win
        prefer = (prefer or os.environ.get("PCVIZ_CONSOLE") or "auto").lower()
        if prefer not in ("auto", "qtconsole", "pyqtgraph"):
            raise ValueError(f"PCVIZ_CONSOLE = {prefer!r}: auto, qtconsole or pyqtgraph")
        self.kind = "qtconsole" if prefer in ("auto", "qtconsole") and qtconsole_available() else "pyqtgraph"
        self.namespace: dict[str, Any] = {}
        self._sessions: dict[int, Any] = {}  # id(engine) -> Session wrapping it
        self.dock = QtWidgets.QDockWidget("Console", win)
        self.dock.setObjectName("dock-console")
        self.dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable
                              | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable
                              | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetClosable)
        win.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        self.dock.hide()
        self.widget: QtWidgets.QWidget | None = None
        self._kernel_manager = None
        self.refresh()
        self.dock.visibilityChanged.connect(self._on_visible)
        win.source_changed.connect(self.refresh)
        for a in win.menuBar().actions():
            if a.text() == "&View":
                act = self.dock.toggleViewAction()
                act.setText("Console")
                act.setShortcut("Ctrl+`")
                a.menu().insertAction(a.menu().actions()[len(win.docks)], act)

    # ------------------------------------------------------------ namespace
    def session_for(self, source) -> Any:
        """The :class:`pcviz.Session` of a live source (the one ``pcviz.Session.show``
        opened the window on, or a new one wrapping the window's engine)."""
        from pcviz.api import Session

        engine = source.engine
        own = getattr(self.win, "api_session", None)
        if own is not None and own.engine is engine:
            return own
        s = self._sessions.get(id(engine))
        if s is None or s.engine is not engine:
            s = Session.from_engine(engine)
            s.on_wait = _process_events
            self._sessions = {id(engine): s}
        return s

    def refresh(self) -> None:
        src = self.win.source
        ns: dict[str, Any] = {"window": self.win, "np": np, "torch": torch, "pcviz": pcviz}
        if src.live:
            ns["session"], ns["recording"] = self.session_for(src), None
        else:  # a recording plays: nothing to steer
            ns["session"], ns["recording"] = None, src.rec
        self.namespace.update(ns)
        if self.widget is not None and self.kind == "qtconsole":
            self._kernel_manager.kernel.shell.push(ns)

    def _on_visible(self, visible: bool) -> None:
        if visible and self.widget is None:  # built on first use: an idle console costs nothing
            self.widget = self._make_widget()
            self.dock.setWidget(self.widget)
            if not self.dock.isFloating():  # a third of the bottom row, beside the time series
                self.win.resizeDocks([self.dock], [max(420, self.win.width() // 3)], QtCore.Qt.Orientation.Horizontal)

    def _make_widget(self) -> QtWidgets.QWidget:
        if self.kind == "qtconsole":
            from qtconsole.rich_jupyter_widget import RichJupyterWidget

            km = shared_kernel()
            km.kernel.shell.push(self.namespace)
            client = km.client()
            client.start_channels()
            w = RichJupyterWidget()
            w.banner = BANNER
            w.kernel_manager, w.kernel_client = km, client
            self._kernel_manager = km
            return w
        from pyqtgraph.console import ConsoleWidget

        return ConsoleWidget(namespace=self.namespace, text=BANNER)

    def execute(self, code: str) -> None:
        """Run ``code`` in the console as if typed there (shows it and its output)."""
        self.dock.show()
        self._on_visible(True)
        if self.kind == "qtconsole":
            self.widget.execute(code)
        else:
            self.widget.repl.handleCommand(code)

    def output_text(self) -> str:
        if self.widget is None:
            return ""
        if self.kind == "qtconsole":
            return self.widget._control.toPlainText()  # noqa: SLF001 - qtconsole keeps its text there
        return self.widget.output.toPlainText()

    def close(self) -> None:
        if self._kernel_manager is not None and self.widget is not None:
            self.widget.kernel_client.stop_channels()
            self._kernel_manager = None


_KERNEL = None


def shared_kernel():
    """The in-process IPython kernel of the qtconsole consoles: one for the process,
    started on first use and kept (with its threads) until exit; the consoles of
    several windows share its namespace."""
    global _KERNEL
    if _KERNEL is None:
        from qtconsole.inprocess import QtInProcessKernelManager

        km = QtInProcessKernelManager()
        km.start_kernel(show_banner=False)
        km.kernel.gui = "qt"
        _KERNEL = km
        atexit.register(km.shutdown_kernel)
    return _KERNEL


def _process_events() -> None:
    app = QtWidgets.QApplication.instance()
    if app is not None:
        app.processEvents()
