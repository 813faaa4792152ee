"""The window on a :class:`pcviz.Session`: ``session.show()`` and ``pcviz.run()``.

The window is a view of the session's engine (no second engine): its controls and
the session's methods put the same typed commands on the same queue, and both see the
same events. Closing the window leaves the session running.

In IPython (a terminal or a Jupyter kernel), ``show()`` turns on IPython's Qt event
loop integration by itself, as napari does, so the prompt stays usable and the window
stays live while you type; ``pcviz.run()`` then returns at once. In a plain script,
``pcviz.run()`` shows the windows and blocks until the last one closes.
"""

from __future__ import annotations

import sys

from PyQt6 import QtCore, QtWidgets

from pcviz.gui.app import _keep_going_on_errors, make_app, save_settled
from pcviz.gui.sources.live import EngineBridge


#: the application of windows opened from Python (kept alive for the process)
_APP = None


def ipython_shell():
    """The running IPython shell, or None (IPython is not imported if it was not)."""
    ipython = sys.modules.get("IPython")
    return None if ipython is None else ipython.get_ipython()


def ipython_has_qt_loop() -> bool:
    shell = ipython_shell()
    return shell is not None and str(shell.active_eventloop or "").startswith("qt")  # "qt", "qt6"


def enable_ipython_qt() -> bool:
    """Start IPython's Qt event loop integration (what ``%gui qt`` does); True when it
    runs. A shell without an input hook (a bare ``InteractiveShell``) cannot: the
    caller keeps the window painting instead (see :func:`run`)."""
    shell = ipython_shell()
    if shell is None:
        return False
    if ipython_has_qt_loop():
        return True
    try:
        shell.enable_gui("qt")
    except (NotImplementedError, ImportError, RuntimeError, ValueError) as exc:
        print(f"pcviz: IPython's Qt event loop could not start ({exc}); call pcviz.run() to keep the window live",
              file=sys.stderr)
        return False
    return ipython_has_qt_loop()


def _process_events() -> None:
    app = QtWidgets.QApplication.instance()
    if app is not None:
        app.processEvents()


def show_session(session, theme: str | None = None, persist: bool = True):
    """Open a :class:`~pcviz.gui.window.main_window.MainWindow` on ``session``'s engine."""
    from pcviz.gui.window.main_window import MainWindow

    session._check_open()  # noqa: SLF001 - the session's own check: closed or stopped
    global _APP
    _APP = make_app()  # held here: a QApplication nobody references is destroyed
    enable_ipython_qt()
    bridge = EngineBridge(session.engine, owns_engine=False)
    win = MainWindow(bridge, theme=theme, persist=persist, api_session=session)
    if sys.excepthook is sys.__excepthook__:  # a slot's exception is shown, not fatal
        _keep_going_on_errors(win)
    bridge.start(display=True)
    session.windows.append(win)
    session.on_wait = _process_events  # a blocking session call keeps the window painting
    win._session_close_watch = _CloseWatch(session, win)  # noqa: SLF001 - kept with the window
    win.show()
    return win


class _CloseWatch(QtCore.QObject):
    """Forgets a closed window: the session drops its reference and, with no window
    left, stops pumping Qt events while it waits."""

    def __init__(self, session, win):
        super().__init__(win)
        self.session = session
        win.installEventFilter(self)

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 (Qt's name)
        if ev.type() == QtCore.QEvent.Type.Close:
            windows = self.session.windows
            if obj in windows:
                windows.remove(obj)
            if not windows:
                self.session.on_wait = None
        return False


def run() -> int:
    """Show the open windows until the last one closes. In IPython with its Qt loop
    running this returns at once (the prompt keeps the windows live)."""
    app = QtWidgets.QApplication.instance()
    if app is None:
        return 0
    if ipython_has_qt_loop():
        return 0
    if not any(w.isVisible() for w in app.topLevelWidgets() if isinstance(w, QtWidgets.QMainWindow)):
        return 0
    return app.exec()


def save_window(win, path, size: tuple[int, int] = (1600, 900)) -> bool:
    """Show the newest frame in every view and save the window to ``path`` (PNG);
    works offscreen, for scripts and documentation."""
    from pathlib import Path

    win.resize(*size)
    win.source.tick()
    return save_settled(make_app(), win, Path(path))
