"""Fixtures of the window tests: pytest-qt offscreen, settings in a temporary folder
per test, a check that no test leaves a thread running, and windows on presets."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
from PyQt6 import QtCore, QtWidgets  # noqa: E402

from pcviz.paths import resolve_resource  # noqa: E402
from pcviz.sim.presets import load_preset  # noqa: E402

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.gui)


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory):
    """Every test reads and writes its own settings file, never the user's."""
    folder = tmp_path_factory.mktemp("settings")
    fmt, scope = QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope
    QtCore.QSettings.setPath(fmt, scope, str(folder))
    yield folder


@pytest.fixture(autouse=True)
def no_thread_leak():
    """Fail a test that leaves a thread running (an engine the window did not stop).

    pytest-qt closes the test's widgets before fixtures are torn down, so a window
    that stops its engine on close passes."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 3.0
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if leaked:
        pytest.fail("threads left running: " + ", ".join(t.name for t in leaked), pytrace=False)


def preset_overrides(name: str, extra: tuple[str, ...] = ()) -> list[str]:
    """Start from scratch where a preset's checkpoint is not in this checkout."""
    cfg = load_preset(name)
    out = list(extra)
    if cfg.engine.checkpoint and not resolve_resource(cfg.engine.checkpoint).exists():
        out.append("engine.checkpoint=''")
    return out


@pytest.fixture
def open_window(qtbot):
    """open_window(preset, *overrides, play=False, **window_options) -> MainWindow on a
    started engine (``window_options`` go to the MainWindow)."""
    from pcviz.gui.app import open_engine
    from pcviz.gui.window.main_window import MainWindow

    def make(preset: str = "digits-pc", *overrides: str, play: bool = False, display: bool = True,
             persist: bool = False, **window_options):
        bridge = open_engine(preset, "cpu", preset_overrides(preset, overrides))
        try:
            win = MainWindow(bridge, theme=None if persist else "light", persist=persist, restore=persist,
                             open_source=lambda name, device: _started(open_engine(name, device,
                                                                                     preset_overrides(name))),
                             **window_options)
        except BaseException:
            bridge.close()
            raise
        qtbot.addWidget(win)
        win.resize(1600, 1000)
        win.show()
        qtbot.waitExposed(win)
        win.activateWindow()  # keyboard shortcuts go to the active window
        qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is win, timeout=3000)
        bridge.start(play=play, display=display)
        return win

    return make


def _started(bridge):
    bridge.start(play=False)
    return bridge
