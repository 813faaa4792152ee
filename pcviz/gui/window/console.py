"""A Python console in the window (View > Console, hidden by default): qtconsole's
Jupyter widget on an in-process kernel where qtconsole is installed (``pip install
pcviz[console]``), else pyqtgraph's console (``PCVIZ_CONSOLE=pyqtgraph`` chooses it).
Its namespace holds ``session`` (a :class:`pcviz.Session` on the window's live run,
when the window was opened from Python or by the ``pcviz`` command: on the engine here,
or through the window's own engine-process host), ``engine`` (None when the engine runs
in its own process; ``recording`` in playback), ``window``, ``np``, ``torch`` and ``pcviz``. qtconsole's
kernel is one per process, its namespace shared by the windows' consoles. Commands run in the window's thread; a
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
    """The console dock of a :class:`~pcviz.gui.window.main_window.MainWindow`; it
    follows the window's source (a preset switch, a recording opened)."""

    def __init__(self, win, dock: QtWidgets.QDockWidget, prefer: str | None = None):
        super().__init__(win)
        self.win = win
        prefer = (prefer or os.environ.get("PCVIZ_CONSOLE") or "auto").lower()
        if prefer not in ("auto", "qtconsole", "pyqtgraph"):
            raise ValueError(f"PCVIZ_CONSOLE = {prefer!r}: auto, qtconsole or pyqtgraph")
        self.kind = "qtconsole" if prefer in ("auto", "qtconsole") and qtconsole_available() else "pyqtgraph"
        self.namespace: dict[str, Any] = {}
        self._sessions: dict[int, tuple[Any, Any]] = {}  # id(run) -> (run, the Session on it)
        self.dock = dock  # made with the window's other docks (pcviz.gui.window.docks), hidden
        self.widget: QtWidgets.QWidget | None = None
        self._kernel_manager = None
        self.refresh()
        self.dock.visibilityChanged.connect(self._on_visible)
        win.source_changed.connect(self.refresh)

    # ------------------------------------------------------------ namespace
    def session_for(self, run) -> Any:
        """The :class:`pcviz.Session` on a live source's run (its engine here, or the
        host object of its engine process): the one ``pcviz.Session.show`` opened the
        window on, or one the window's ``session_factory`` makes (None without either)."""
        own = self.win.api_session
        if own is not None and own.engine is run:
            return own
        if self.win.session_factory is None:
            return None
        cached = self._sessions.get(id(run))
        if cached is None or cached[0] is not run:
            s = self.win.session_factory(run)
            s.on_wait = _process_events
            self._sessions = {id(run): (run, s)}
            return s
        return cached[1]

    def refresh(self) -> None:
        src = self.win.source
        ns: dict[str, Any] = {"window": self.win, "np": np, "torch": torch, "pcviz": pcviz}
        if src.live:
            run = src.engine if src.engine is not None else src.engine_host
            ns["engine"], ns["recording"] = src.engine, None
            ns["session"] = None if run is None else self.session_for(run)
        else:  # a recording plays: nothing to steer
            ns["session"], ns["engine"], ns["recording"] = None, None, src.recording
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

    def execute(self, code: str, timeout: float = 60.0) -> None:
        """Run ``code`` in the console as if typed there (shows it and its output) and
        return when it has run (qtconsole answers asynchronously: its reply is awaited,
        with the window's events processed meanwhile)."""
        self.dock.show()
        self._on_visible(True)
        if self.kind != "qtconsole":
            self.widget.repl.handleCommand(code)
            return
        import time

        done: list[object] = []
        self.widget.executed.connect(done.append)
        try:
            self.widget.execute(code)
            deadline = time.monotonic() + timeout
            while not done:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the console did not finish {code!r} in {timeout:g} s")
                _process_events()
        finally:
            self.widget.executed.disconnect(done.append)

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
