"""The window on a pcviz.Session, offscreen: session methods and window controls
send the same commands (same events at the same steps); the window is a view of the
session's engine, not a second one; IPython's shell drives the session while the
window paints; the console dock runs code against the session; pcviz.plot draws
with the window's colour maps, titles and groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PyQt6 import QtCore, QtGui

from pcviz.api import Session
from pcviz.sim import commands as C

SMALL = ("data.batch_size=4", "data.hold_steps=20", "engine.learning=false")
SMALL_SET = {"data.batch_size": 4, "data.hold_steps": 20, "engine.learning": False}
LEFT = QtCore.Qt.MouseButton.LeftButton


def _no_history():
    from traitlets.config import Config

    c = Config()
    c.HistoryManager.enabled = False  # no history thread left running after the test
    return c


NO_HISTORY = _no_history()


def _events(events):
    return [(e.step, e.kind, e.payload) for e in events]


@pytest.fixture
def session():
    s = Session("digits-pc", set=SMALL_SET, device="cpu")
    yield s
    s.close()


class PaintCounter(QtCore.QObject):
    def __init__(self, widget):
        super().__init__(widget)
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, obj, ev):  # noqa: N802 (Qt's name)
        if ev.type() == QtCore.QEvent.Type.Paint:
            self.count += 1
        return False


def test_session_methods_log_what_the_window_controls_log(open_window, qtbot, session):
    win = open_window("digits-pc", *SMALL)
    bridge, tools, controls = win.source, win.interventions, win.controls

    def steps(n):
        target = bridge.engine.step_count + n
        win.send(C.Step(n))
        bridge.wait_for_step(target, timeout=30)

    steps(3)
    tools.selector.select(1, [0, 1, 2])
    tools.panel.value.setValue(0.7)
    tools.panel.duration.setValue(5)
    qtbot.mouseClick(tools.panel.clamp_button, LEFT)
    qtbot.mouseClick(controls.step, LEFT)
    bridge.wait_for_step(4, timeout=30)
    tools.selector.select(1, [4])
    tools.panel.factor.setValue(0.0)
    qtbot.mouseClick(tools.panel.lesion_units_button, LEFT)
    qtbot.mouseClick(tools.panel.pulse_button, LEFT)
    tools.panel.occlude((0, 0, 4, 4))  # what a drag on the input in occlude mode sends
    steps(6)
    controls.dt.setValue(0.05)
    qtbot.mouseClick(tools.panel.restore_button, LEFT)
    qtbot.mouseClick(tools.panel.unocclude_button, LEFT)
    qtbot.mouseClick(controls.reset_state, LEFT)
    steps(2)
    qtbot.waitUntil(lambda: len(bridge.engine.events) >= 13, timeout=10000)

    s = session
    s.step(3)
    s.clamp("x1", [0, 1, 2], 0.7, steps=5)
    s.step(1)
    s.lesion("x1", [4], factor=0.0)
    s.pulse("x1", [4], 0.7)
    s.occlude((0, 0, 4, 4))
    s.step(6)
    s.set(dt=0.05)
    s.restore("x1")
    s.unocclude()
    s.reset(state_only=True)
    s.step(2)
    assert _events(s.events()) == _events(bridge.engine.events.all())


def test_labels_release_and_clear_log_what_the_window_logs(open_window, qtbot):
    over = ("data.batch_size=4", "engine.learning=false")
    win = open_window("digits-supervised", *over)
    bridge, tools = win.source, win.interventions

    def steps(n):
        target = bridge.engine.step_count + n
        win.send(C.Step(n))
        bridge.wait_for_step(target, timeout=30)

    steps(2)
    qtbot.mouseClick(tools.panel.label_buttons[3], LEFT)  # "imagine" is ticked by default
    steps(5)
    tools.panel.imagine.setChecked(False)
    qtbot.mouseClick(tools.panel.label_buttons[7], LEFT)
    tools.selector.select(1, [2, 5])
    qtbot.mouseClick(tools.panel.clamp_button, LEFT)
    steps(3)
    qtbot.mouseClick(tools.panel.release_button, LEFT)
    qtbot.mouseClick(tools.panel.clear_button, LEFT)
    steps(1)
    qtbot.waitUntil(lambda: len(bridge.engine.events) >= 10, timeout=10000)  # start + 9 commands

    with Session("digits-supervised", set={"data.batch_size": 4, "engine.learning": False}, device="cpu") as s:
        s.step(2)
        s.label(3, imagine=True)
        s.step(5)
        s.label(7)
        s.clamp("x1", [2, 5], tools.panel.value.value())
        s.step(3)
        s.release("x1", [2, 5])
        s.clear()
        s.step(1)
        assert _events(s.events()) == _events(bridge.engine.events.all())


def test_step_hold_reset_and_batch_item_log_what_the_window_logs(open_window, qtbot, session):
    s = session
    s.step(3)
    after_hold = s.step_hold().step  # the end of the first hold (20 steps)
    s.show_item(2)
    s.step(4)
    s.reset()
    s.step(2)
    assert after_hold == 20

    win = open_window("digits-pc", *SMALL)
    bridge, controls = win.source, win.controls
    win.send(C.Step(3))
    bridge.wait_for_step(3, timeout=30)
    qtbot.mouseClick(controls.step_hold, LEFT)
    bridge.wait_for_step(after_hold, timeout=30)
    controls.item.setValue(2)
    win.send(C.Step(4))
    bridge.wait_for_step(after_hold + 4, timeout=30)
    qtbot.mouseClick(controls.reset, LEFT)
    win.send(C.Step(2))
    bridge.wait_for_step(after_hold + 6, timeout=30)
    assert _events(s.events()) == _events(bridge.engine.events.all())


def test_show_opens_the_window_on_the_same_engine_and_closing_it_keeps_the_session(qtbot, session):
    s = session
    win = s.show(theme="light", persist=False)
    qtbot.addWidget(win)
    assert win.source.engine is s.engine and win.api_session is s
    s.clamp("x1", [2], 0.5)
    s.step(4)
    qtbot.waitUntil(lambda: [e.kind for e in win.interventions.events.events] == ["clamp"], timeout=10000)
    qtbot.waitUntil(lambda: win.source.last_frame is not None and win.source.last_frame.step == 4, timeout=10000)
    qtbot.mouseClick(win.controls.step, LEFT)  # the window's control moves the session's run
    qtbot.waitUntil(lambda: s.step_count == 5, timeout=10000)
    win.close()
    assert s.engine.alive and s.windows == []
    assert s.step(2).step == 7


def test_ipython_shell_drives_the_session_while_the_window_paints(qtbot, session, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(config=NO_HISTORY)
    try:
        s = session
        shell.push({"s": s})
        res = shell.run_cell("w = s.show(theme='light', persist=False)")
        assert res.success, res.error_in_exec
        win = shell.user_ns["w"]
        qtbot.addWidget(win)
        # a bare InteractiveShell has no input hook to start Qt's loop from: said, not hidden
        assert "call pcviz.run()" in capsys.readouterr().err
        qtbot.waitUntil(lambda: win.source.last_frame is not None, timeout=10000)
        shown: list = []
        win.source.frame_ready.connect(shown.append)
        shell.push({"paints": PaintCounter(win.hierarchy.canvas), "shown": shown})
        # the cell runs until the window has shown, and painted, the clamp the cell made: no
        # Qt loop runs but the one the session pumps while it waits for the engine
        res = shell.run_cell("s.clamp('x1', [0, 1], 0.8)\n"
                             "f = s.frame()\n"
                             "while not any(abs(fr.layers[1]['activity'][0] - 0.8) < 1e-6 for fr in shown):\n"
                             "    f = s.run(steps=10, progress=False)\n"
                             "p0 = paints.count\n"
                             "while paints.count == p0:\n"
                             "    f = s.run(steps=10, progress=False)\n")
        assert res.success, res.error_in_exec
        f = shell.user_ns["f"]
        np.testing.assert_allclose(f["x1"]["activity"][:2], 0.8)
        qtbot.waitUntil(lambda: [e.kind for e in win.interventions.events.events] == ["clamp"], timeout=10000)
        res = shell.run_cell("s.clamp('x7', 0)")  # a bad argument: the error, the session runs on
        assert not res.success and "no layer named 'x7'" in str(res.error_in_exec)
        assert shell.run_cell("s.step(1).step").result == f.step + 1
    finally:
        shell.clear_instance()


def test_the_terminal_shell_gets_its_qt_loop_started_by_show(qtbot, session):
    from IPython.terminal.interactiveshell import TerminalInteractiveShell

    from pcviz.gui.session_window import ipython_has_qt_loop, run

    config = _no_history()
    config.TerminalInteractiveShell.simple_prompt = False  # the prompt of a terminal (this test has none)
    shell = TerminalInteractiveShell.instance(config=config)
    try:
        assert not ipython_has_qt_loop()
        win = session.show(persist=False)
        qtbot.addWidget(win)
        assert ipython_has_qt_loop()  # as %gui qt: the prompt keeps the window live
        assert run() == 0  # returns at once; the shell's loop runs the window
    finally:
        shell.enable_gui(None)
        TerminalInteractiveShell.clear_instance()


def test_console_dock_runs_code_against_the_session(qtbot, session, monkeypatch):
    monkeypatch.setenv("PCVIZ_CONSOLE", "pyqtgraph")  # the fallback; qtconsole's widget is tested below
    s = session
    win = s.show(persist=False)
    qtbot.addWidget(win)
    console = win.console
    assert console.kind == "pyqtgraph"
    assert not console.dock.isVisible()  # hidden by default
    view = next(a for a in win.menuBar().actions() if a.text() == "&View").menu()
    assert console.dock.toggleViewAction() in view.actions()
    assert console.namespace["session"] is s
    console.execute("session.clamp('x1', [3], 0.5)")
    console.execute("n = int(np.arange(4).sum()) + torch.ones(2).numel()")
    console.execute("session.step(3)")
    console.execute("session.clamp('x7', 0)")
    assert console.dock.isVisible()
    assert console.namespace["n"] == 8
    assert [(e.step, e.kind) for e in s.events() if e.kind in ("clamp", "step")] == [(0, "clamp"), (0, "step")]
    assert s.step_count == 3 and s.frame()["x1"]["activity"][3] == pytest.approx(0.5)
    assert "no layer named 'x7'" in console.output_text()


@pytest.fixture(scope="module")
def console_kernel(qapp):
    """qtconsole's in-process kernel lives for the process, by design, and so do the
    threads it and jupyter_core start (the history writer; a task runner for the main
    thread, made when a cell lets Qt process events, as a cell that runs steps does):
    started here, before the test's thread check, by a cell run in a widget of its own."""
    pytest.importorskip("qtconsole")
    import time

    from qtconsole.rich_jupyter_widget import RichJupyterWidget

    from pcviz.gui.window.console import shared_kernel

    km = shared_kernel()
    w = RichJupyterWidget()
    w.kernel_manager, w.kernel_client = km, km.client()
    w.kernel_client.start_channels()
    w.execute("from PyQt6.QtWidgets import QApplication; QApplication.processEvents(); 0")
    deadline = time.monotonic() + 20
    while "Out[" not in w._control.toPlainText() and time.monotonic() < deadline:  # noqa: SLF001
        qapp.processEvents()
    w.kernel_client.stop_channels()
    w.deleteLater()
    return km


def test_qtconsole_widget_runs_code_against_the_session(console_kernel, qtbot, session, monkeypatch):
    monkeypatch.setenv("PCVIZ_CONSOLE", "qtconsole")
    s = session
    win = s.show(persist=False)
    qtbot.addWidget(win)
    console = win.console
    assert console.kind == "qtconsole"
    console.execute("session.clamp('x1', [3], 0.5)")
    qtbot.waitUntil(lambda: any(e.kind == "clamp" for e in s.events()), timeout=20000)
    console.execute("n = int(np.arange(4).sum()) + torch.ones(2).numel(); session.step(3).step")
    qtbot.waitUntil(lambda: s.step_count == 3, timeout=20000)
    qtbot.waitUntil(lambda: "Out[" in console.output_text(), timeout=20000)
    assert console_kernel.kernel.shell.user_ns["n"] == 8
    assert s.frame()["x1"]["activity"][3] == pytest.approx(0.5)


def test_console_of_a_window_opened_from_the_command_line_wraps_its_engine(open_window, qtbot, monkeypatch):
    monkeypatch.setenv("PCVIZ_CONSOLE", "pyqtgraph")
    win = open_window("digits-pc", *SMALL, session_factory=Session.from_engine)  # as `pcviz` opens it
    s = win.console.namespace["session"]
    assert s.engine is win.source.engine is win.console.namespace["engine"]
    win.console.execute("session.step(2)")
    assert win.source.engine.step_count == 2
    s.close()  # a session on the window's engine leaves that engine running
    assert win.source.engine.alive
    win.open_preset("digits-pc", "cpu")  # a new engine: the console's session follows it
    qtbot.waitUntil(lambda: win.console.namespace["session"].engine is win.source.engine, timeout=10000)
    assert win.console.namespace["session"] is not s


def test_console_without_a_session_factory_offers_the_engine(open_window, monkeypatch):
    monkeypatch.setenv("PCVIZ_CONSOLE", "pyqtgraph")
    win = open_window("digits-pc", *SMALL)
    ns = win.console.namespace
    assert ns["session"] is None and ns["engine"] is win.source.engine


def test_plot_style_matches_the_window():
    import pyqtgraph as pg

    from pcviz.gui import theme
    from pcviz.plot import style

    assert style.SERIES == theme.LIGHT.series and style.PANEL == theme.LIGHT.panel
    assert (style.SIGNED_MAP, style.POSITIVE_MAP) == (theme.LIGHT.signed_map, theme.POSITIVE_MAP)
    for name in (style.SIGNED_MAP, style.POSITIVE_MAP):
        ours = (style.colour_map(name)(np.linspace(0, 1, 64))[:, :3] * 255)
        theirs = pg.colormap.get(name).map(np.linspace(0, 1, 64), mode="float")[:, :3] * 255
        np.testing.assert_allclose(ours, theirs, atol=3.0, err_msg=name)  # within a few of 255 levels


def test_the_script_example_shows_its_session_in_the_window(tmp_path):
    import importlib.util

    script = Path(__file__).resolve().parents[2] / "examples" / "show_session.py"
    spec = importlib.util.spec_from_file_location("show_session", script)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = tmp_path / "win.png"
    assert example.main(["--screenshot", str(out)]) == 0  # as `python examples/show_session.py --screenshot`
    img = QtGui.QImage(str(out))
    assert (img.width(), img.height()) == (1600, 900)
