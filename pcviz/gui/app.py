"""Starting the window: on a live engine or a recording, or drawn offscreen into a
picture (no display needed). The commands that call these are in :mod:`pcviz.cli.window`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

from pcviz.config import ConfigError

#: a preset that asks for "as fast as possible" opens at this rate, which a person can
#: follow (the speed box sets it to max)
WATCH_SPEED = 240.0



def save_settled(app, win, out: Path) -> bool:
    """Draw every view once more with the newest frame, let the layout settle (the
    first paint lets axes size themselves to their labels) and save the window."""
    win.timeseries.redraw()
    win.basis.flush()
    win.update_status()
    for _ in range(2):
        win.grab()
        app.processEvents()
    out.parent.mkdir(parents=True, exist_ok=True)
    return win.save_screenshot(str(out))

def make_app():
    from PyQt6 import QtWidgets

    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication([sys.argv[0] if sys.argv else "pcviz"])
    app.setApplicationName("pcviz")
    app.setOrganizationName("pcviz")
    return app


def open_engine(preset: str, device: str | None = None, overrides: Sequence[str] = (), display_hz: float = 60.0):
    """An :class:`~pcviz.gui.sources.live.EngineBridge` on a new engine (not started yet).
    Configuration and checkpoint problems raise the user errors of the foundation."""
    from pcviz.gui.sources.live import EngineBridge
    from pcviz.sim import Engine, load_preset

    cfg = load_preset(preset, list(overrides))
    engine = Engine(cfg, device=device if device not in (None, "") else None)
    return EngineBridge(engine, display_hz=display_hz)


def _switcher(watch: bool):
    def open_source(name: str, device: str):
        bridge = open_engine(name, device)
        _start(bridge, watch)
        return bridge

    return open_source


def _start(bridge, watch: bool) -> None:
    from pcviz.sim.commands import SetParam

    if watch and bridge.config.engine.steps_per_second == 0:
        bridge.submit(SetParam("engine.steps_per_second", WATCH_SPEED))
    bridge.start(play=True)


def _keep_going_on_errors(win) -> None:
    """An exception in a slot or paint handler is printed and shown in the window; with
    Python's default hook, PyQt would abort the whole process instead."""
    import traceback

    def hook(kind, exc, tb):
        traceback.print_exception(kind, exc, tb)
        try:
            win.show_internal_error(f"{kind.__name__}: {exc}")
        except Exception:  # the window itself is broken: the terminal has the traceback
            pass

    sys.excepthook = hook


def live_window(preset: str, device: str | None = None, overrides: Sequence[str] = ()) -> int:
    """Open the window on a new engine running ``preset``; return when it closes."""
    bridge = open_engine(preset, device, overrides)
    app = make_app()
    from pcviz.gui.window.main_window import MainWindow

    try:
        win = MainWindow(bridge, open_source=_switcher(watch=True))
    except BaseException:
        bridge.close()
        raise
    app.aboutToQuit.connect(bridge.close)
    _keep_going_on_errors(win)
    _start(bridge, watch=True)
    win.show()
    app.exec()
    win.source.close()
    return 0


def screenshot(preset: str, path: str | os.PathLike, steps: int = 200, device: str | None = None,
               overrides: Sequence[str] = (), theme: str | None = None, size: tuple[int, int] = (1920, 1080)) -> int:
    """Run ``steps`` steps, save the whole window (``size``) to ``path``, exit. No display
    is needed: Qt draws offscreen unless ``QT_QPA_PLATFORM`` says otherwise."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if steps < 0:
        raise ConfigError(f"--steps {steps}: must be at least 0")
    out = Path(path)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp"):
        raise ConfigError(f"--screenshot {out}: give a .png (or .jpg) file name")
    bridge = open_engine(preset, device, overrides)
    app = make_app()
    from pcviz.gui.window.main_window import MainWindow

    try:
        win = MainWindow(bridge, theme=theme or os.environ.get("PCVIZ_THEME") or "light", persist=False,
                         restore=False)
        win.resize(*size)
        win.default_layout()
        win.timeseries.window.setValue(max(200, min(steps, 20000)))
        win.show()
        bridge.start(display=False)
        bridge.advance(steps)
        bridge.tick()
        ok = save_settled(app, win, out)
        diverged = bridge.engine.diverged
        win.close()
        win.deleteLater()  # only Qt deletes a window (see MainWindow): here, in the GUI thread
    finally:
        bridge.close()
    if not ok:
        print(f"pcviz: could not write {out}", file=sys.stderr)
        return 1
    print(f"pcviz: {bridge.engine.step_count} steps of {bridge.config.preset.name}; wrote {out} ({size[0]}x{size[1]})")
    if diverged is not None:
        print(f"pcviz: {diverged.message}", file=sys.stderr)
        return 1
    return 0


# ------------------------------------------------------------------- playback
def playback_window(path: str | os.PathLike) -> int:
    """Open the window on the recording at ``path`` (the same views as a live run, with
    a timeline); return when it closes."""
    from pcviz.io import open_recording

    rec = open_recording(path)  # a RecordingError names the file and what is wrong
    app = make_app()
    from pcviz.gui.window.main_window import MainWindow
    from pcviz.gui.sources.playback import PlaybackSource

    source = PlaybackSource(rec)
    try:
        win = MainWindow(source, open_source=_switcher(watch=True))
    except BaseException:
        source.close()
        raise
    _keep_going_on_errors(win)
    source.start_display()
    win.show()
    app.exec()
    win.source.close()
    return 0


def play_screenshot(path: str | os.PathLike, out: str | os.PathLike, frame: int = 0, theme: str | None = None,
                    size: tuple[int, int] = (1920, 1080)) -> int:
    """Show frame ``frame`` of the recording at ``path``, save the whole window to
    ``out`` and exit; no display needed."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from pcviz.io import FrameIndexError, open_recording

    out = Path(out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp"):
        raise ConfigError(f"--screenshot {out}: give a .png (or .jpg) file name")
    rec = open_recording(path)
    n = len(rec)
    if not -n <= frame < n:
        rec.close()
        raise FrameIndexError(f"{path}: --frame {frame} out of range (the recording has {n} frames)", str(path))
    app = make_app()
    from pcviz.gui.window.main_window import MainWindow
    from pcviz.gui.sources.playback import PlaybackSource

    source = PlaybackSource(rec, follow=False)
    try:
        win = MainWindow(source, theme=theme or os.environ.get("PCVIZ_THEME") or "light", persist=False,
                         restore=False)
        win.resize(*size)
        win.default_layout()
        win.show()
        source.seek(frame % n if n else 0)
        source.tick()
        ok = save_settled(app, win, out)
        win.close()
        win.deleteLater()
    finally:
        source.close()
    if not ok:
        print(f"pcviz: could not write {out}", file=sys.stderr)
        return 1
    print(f"pcviz: frame {frame} of {path}; wrote {out} ({size[0]}x{size[1]})")
    return 0
