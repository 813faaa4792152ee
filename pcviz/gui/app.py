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


def open_engine_process(preset: str, device: str | None = None, overrides: Sequence[str] = (),
                        display_hz: float = 60.0):
    """A :class:`~pcviz.gui.sources.process.ProcessSource`: the engine built in its own
    process (paused), the display not started. Configuration problems found here raise
    the user errors; those found in the engine process raise EngineProcessError."""
    from pcviz.gui.sources.process import ProcessSource
    from pcviz.sim import load_preset

    cfg = load_preset(preset, list(overrides))
    return ProcessSource(cfg, device if device not in (None, "") else None, threads=cfg.engine.threads,
                         display_hz=display_hz)


#: where the live window runs its engine by default (see docs/design.md: measured)
DEFAULT_ENGINE = "process"


def open_live(preset: str, device: str | None = None, overrides: Sequence[str] = (), engine: str | None = None):
    """A live source, not started: the engine in its own process or in a thread here."""
    kind = engine or DEFAULT_ENGINE
    if kind == "process":
        return open_engine_process(preset, device, overrides)
    if kind == "thread":
        return open_engine(preset, device, overrides)
    raise ConfigError(f"--engine {kind}: must be 'process' or 'thread'")


def _switcher(watch: bool, engine: str | None = None):
    def open_source(name: str, device: str):
        bridge = open_live(name, device, engine=engine)
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


def _exit_on_sigterm() -> None:
    """Before the window runs: SIGTERM exits (status 143) through Python, so the engine
    process being started is shut down at exit, not left to notice its parent is gone."""
    import signal

    def leave(signum, frame):
        raise SystemExit(128 + signal.SIGTERM)

    signal.signal(signal.SIGTERM, leave)


def _quit_on_sigterm(app) -> None:
    """SIGTERM closes the window like its close button (the engine process is shut down
    and joined, a recording closed); Python's default would leave the child running."""
    import signal

    from PyQt6 import QtCore

    signal.signal(signal.SIGTERM, lambda *_: app.quit())
    timer = QtCore.QTimer(app)  # Python runs signal handlers only when it gets control
    timer.timeout.connect(lambda: None)
    timer.start(200)
    app._sigterm_timer = timer



def _interactive_window(app, source, **options):
    """The main window on ``source`` for a person to use: the source is closed if the
    window cannot be built, and when the app quits; SIGTERM quits like the close button;
    an exception in a slot is shown, not fatal."""
    from pcviz.gui.window.main_window import MainWindow

    try:
        win = MainWindow(source, **options)
    except BaseException:
        source.close()
        raise
    app.aboutToQuit.connect(lambda: win.source.close())
    _quit_on_sigterm(app)
    _keep_going_on_errors(win)
    return win

def live_window(preset: str, device: str | None = None, overrides: Sequence[str] = (),
                engine: str | None = None, session_factory=None) -> int:
    """Open the window on a new engine running ``preset``; return when it closes.
    ``session_factory(run)``: the ``pcviz.Session`` its console offers on the run (an
    engine here, or the host of its engine process)."""
    _exit_on_sigterm()  # while the engine and the window are built; then it quits the window
    if (engine or DEFAULT_ENGINE) == "process":
        # the engine process starts first, before this interpreter imports torch: its own
        # import and the model's build overlap this one's imports of torch and Qt
        from pcviz.gui.sources.engine_launch import launch_engine_process

        dev = device if device not in (None, "") else None
        proc, conn = launch_engine_process(preset, overrides, dev)
        launched = None
        try:
            from pcviz.sim import load_preset
            from pcviz.sim.process import EngineProcess

            cfg = load_preset(preset, list(overrides))  # a configuration error is said here, as before
            launched = EngineProcess(cfg, dev, cfg.engine.threads).adopt(proc, conn)
            app = make_app()
            from pcviz.gui.sources.process import ProcessSource

            bridge = ProcessSource(cfg, dev, threads=cfg.engine.threads, launched=launched)
        except BaseException:
            if launched is not None:
                launched.close()
            else:
                conn.close()
                proc.join(15.0)
                if proc.is_alive():
                    proc.kill()
                    proc.join(5.0)
            raise
    else:
        bridge = open_live(preset, device, overrides, engine)
        app = make_app()
    win = _interactive_window(app, bridge, open_source=_switcher(watch=True, engine=engine),
                              session_factory=session_factory)
    _start(bridge, watch=True)
    if os.environ.get("PCVIZ_EXIT_AT_FIRST_PAINT"):  # pcviz.gui.bench_display's start-up measurement
        from pcviz.gui.bench_display import exit_at_first_paint

        exit_at_first_paint(app, win)
    win.show()
    app.exec()
    win.source.close()
    return 0


def screenshot(preset: str, path: str | os.PathLike, steps: int = 200, device: str | None = None,
               overrides: Sequence[str] = (), theme: str | None = None, size: tuple[int, int] = (1920, 1080),
               engine: str | None = None) -> int:
    """Run ``steps`` steps, save the whole window (``size``) to ``path``, exit. No display
    is needed: Qt draws offscreen unless ``QT_QPA_PLATFORM`` says otherwise."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if steps < 0:
        raise ConfigError(f"--steps {steps}: must be at least 0")
    out = Path(path)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp"):
        raise ConfigError(f"--screenshot {out}: give a .png (or .jpg) file name")
    bridge = open_live(preset, device, overrides, engine)
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
        state = bridge.describe()
        divergence = win.last_divergence
        win.close()
        win.deleteLater()  # only Qt deletes a window (see MainWindow): here, in the GUI thread
    finally:
        bridge.close()
    if not ok:
        print(f"pcviz: could not write {out}", file=sys.stderr)
        return 1
    print(f"pcviz: {state['step']} steps of {bridge.config.preset.name}; wrote {out} ({size[0]}x{size[1]})")
    if state["state"] == "diverged":
        print(f"pcviz: {divergence or 'the run diverged'}", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------- attach
def attach_window(address: str | None, token: str | None, session_factory=None) -> int:
    """Open the window on a run served by ``pcviz record --serve``; closing it detaches."""
    from pcviz.gui.sources.process import AttachedSource

    source = AttachedSource(address, token)  # a ServeError names the address and what is wrong
    app = make_app()
    win = _interactive_window(app, source, session_factory=session_factory)
    source.start_display()
    win.show()
    app.exec()
    win.source.close()
    return 0


def attach_screenshot(address: str | None, token: str | None, path: str | os.PathLike, seconds: float = 2.0,
                      size: tuple[int, int] = (1920, 1080)) -> int:
    """Attach, show ``seconds`` of the served run, save the whole window, detach (for
    tests: no display needed). Prints the frames' bandwidth."""
    import time

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    out = Path(path)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp"):
        raise ConfigError(f"--screenshot {out}: give a .png (or .jpg) file name")
    from pcviz.gui.sources.process import AttachedSource
    from pcviz.gui.window.main_window import MainWindow

    source = AttachedSource(address, token)
    app = make_app()
    try:
        win = MainWindow(source, theme=os.environ.get("PCVIZ_THEME") or "light", persist=False, restore=False)
        win.resize(*size)
        win.default_layout()
        win.show()
        source.start_display()
        t0 = time.perf_counter()
        b0 = source.bytes_received
        while time.perf_counter() - t0 < seconds or source.last_frame is None:
            app.processEvents()
            time.sleep(0.005)
            if time.perf_counter() - t0 > seconds + 30:
                break
        dt = time.perf_counter() - t0
        rate = (source.bytes_received - b0) / dt
        fps = source.fps
        ok = source.last_frame is not None and save_settled(app, win, out)
        state = source.describe()
        win.close()
        win.deleteLater()  # only Qt deletes a window (see MainWindow)
    finally:
        source.close()
    if not ok:
        print(f"pcviz: no frame from the served run, or could not write {out}", file=sys.stderr)
        return 1
    print(f"pcviz: attached at step {state['step']} of {source.config.preset.name}: {fps:.0f} fps,"
          f" {rate / 1e3:.0f} kB/s of frames; wrote {out} ({size[0]}x{size[1]})")
    return 0


# ------------------------------------------------------------------- playback
def playback_window(path: str | os.PathLike) -> int:
    """Open the window on the recording at ``path`` (the same views as a live run, with
    a timeline); return when it closes."""
    from pcviz.io import open_recording

    rec = open_recording(path)  # a RecordingError names the file and what is wrong
    app = make_app()
    from pcviz.gui.sources.playback import PlaybackSource

    win = _interactive_window(app, PlaybackSource(rec), open_source=_switcher(watch=True))
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
