"""Interventions from the window, offscreen: clamping selected units holds them and
releasing frees them; a rectangle dragged on the input is occluded (precision 0, the
input there is the top-down prediction); the label buttons clamp the top layer; a
recording made from the window holds the interventions as events at their steps and
survives the window closing; the event list saves a schedule that replays headless."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6 import QtCore

from pcviz.io import open_recording
from pcviz.sim import commands as C

SMALL = ("data.batch_size=4", "data.hold_steps=20", "engine.learning=false")
LEFT = QtCore.Qt.MouseButton.LeftButton


def run_steps(win, n: int):
    """Step the paused engine ``n`` steps from the window and show the frame."""
    bridge = win.source
    target = bridge.engine.step_count + n
    win.send(C.Step(n))
    return bridge.wait_for_step(target, timeout=30)


def drag(qtbot, canvas, a: QtCore.QPointF, b: QtCore.QPointF) -> None:
    qtbot.mousePress(canvas, LEFT, pos=a.toPoint())
    qtbot.mouseMove(canvas, pos=((a + b) / 2).toPoint())
    qtbot.mouseMove(canvas, pos=b.toPoint())
    qtbot.mouseRelease(canvas, LEFT, pos=b.toPoint())


def test_clamp_selected_units_holds_them_and_release_frees_them(open_window, qtbot):
    win = open_window("digits-pc", *SMALL)
    tools, canvas = win.interventions, win.hierarchy.canvas
    run_steps(win, 3)
    # drag over units 0..2 of the first row of layer 1 (a 2-D map)
    a, b = canvas.pos_of(1, 0), canvas.pos_of(1, 2)
    drag(qtbot, canvas, a, b)
    sel = tools.selector.selection
    assert sel.layer == 1 and sel.units == [0, 1, 2]
    tools.panel.value.setValue(0.7)
    assert tools.panel.slider.value() == 70
    qtbot.mouseClick(tools.panel.clamp_button, LEFT)
    for _ in range(3):
        f = run_steps(win, 4)
        np.testing.assert_allclose(f.layers[1]["activity"][[0, 1, 2]], 0.7, rtol=0, atol=1e-6)
    free_before = f.layers[1]["activity"][3:].copy()
    assert not np.allclose(free_before, 0.7)  # the other units stay free
    assert [e.kind for e in tools.events.events] == ["clamp"]
    qtbot.mouseClick(tools.panel.release_button, LEFT)
    f = run_steps(win, 10)
    assert not np.allclose(f.layers[1]["activity"][[0, 1, 2]], 0.7, atol=1e-4)
    assert [e.kind for e in tools.events.events] == ["clamp", "release"]
    assert win.session.markers.steps == [float(e.step) for e in tools.events.events]


def test_clamp_for_a_duration_ends_by_itself_and_undo_releases(open_window, qtbot):
    win = open_window("digits-pc", *SMALL)
    tools = win.interventions
    run_steps(win, 2)
    tools.selector.select(1, [5])
    tools.panel.value.setValue(-1.5)
    tools.panel.duration.setValue(6)
    qtbot.mouseClick(tools.panel.clamp_button, LEFT)
    f = run_steps(win, 3)
    assert f.layers[1]["activity"][5] == pytest.approx(-1.5)
    f = run_steps(win, 8)
    assert f.layers[1]["activity"][5] != pytest.approx(-1.5, abs=1e-4)
    kinds = [(e.kind, e.payload.get("scheduled", False)) for e in tools.events.events]
    assert kinds == [("clamp", False), ("release", True)]  # the expiry, logged by the engine
    # undo a clamp that lasts until released
    tools.panel.duration.setValue(0)
    qtbot.mouseClick(tools.panel.clamp_button, LEFT)
    run_steps(win, 2)
    tools.events.table.selectRow(2)
    assert tools.events.undo_button.isEnabled()
    qtbot.mouseClick(tools.events.undo_button, LEFT)
    f = run_steps(win, 5)
    assert f.layers[1]["activity"][5] != pytest.approx(-1.5, abs=1e-4)
    assert tools.events.events[-1].kind == "release"


def test_occluding_a_dragged_rectangle_sets_precision_zero_and_fills_in_from_above(open_window, qtbot):
    win = open_window("digits-pc", *SMALL)
    tools, canvas = win.interventions, win.hierarchy.canvas
    run_steps(win, 2)
    qtbot.mouseClick(tools.panel.occlude_button, LEFT)
    assert tools.selector.occlude_mode
    # the input is 8x8: rows 2-4, cols 1-5 (unit = 8 * row + col)
    drag(qtbot, canvas, canvas.pos_of(0, 8 * 2 + 1), canvas.pos_of(0, 8 * 4 + 5))
    f = run_steps(win, 5)
    ev = tools.events.events[-1]
    assert ev.kind == "occlude" and tuple(ev.payload["region"]) == (2, 1, 5, 6)
    inside = np.zeros((8, 8), dtype=bool)
    inside[2:5, 1:6] = True
    inside = inside.reshape(-1)
    prec = f.layers[0]["precision"]
    assert np.all(prec[inside] == 0.0)
    assert np.all(prec[~inside] > 0.0)
    x, pred = f.layers[0]["activity"], f.layers[0]["prediction"]
    np.testing.assert_allclose(x[inside], pred[inside], rtol=0, atol=1e-6)
    assert tools.selector.occluded == [(2, 1, 5, 6)]
    qtbot.mouseClick(tools.panel.unocclude_button, LEFT)
    f = run_steps(win, 2)
    assert np.all(f.layers[0]["precision"] > 0)
    assert tools.selector.occluded == []


def test_lesion_of_a_layer_and_of_a_unit(open_window, qtbot):
    win = open_window("digits-pc", *SMALL)
    tools = win.interventions
    run_steps(win, 2)
    tools.selector.select(1, [3])
    tools.panel.factor.setValue(0.0)
    qtbot.mouseClick(tools.panel.lesion_units_button, LEFT)
    f = run_steps(win, 2)
    prec = f.layers[1]["precision"]
    assert prec[3] == 0.0 and np.all(np.delete(prec, 3) > 0)
    tools.panel.factor.setValue(0.5)
    qtbot.mouseClick(tools.panel.lesion_layer_button, LEFT)
    before = prec[0]
    f = run_steps(win, 1)
    assert f.layers[1]["precision"][0] == pytest.approx(0.5 * before, rel=1e-4)
    qtbot.mouseClick(tools.panel.restore_button, LEFT)
    f = run_steps(win, 1)
    assert f.layers[1]["precision"][0] == pytest.approx(before, rel=1e-4)


def test_label_buttons_clamp_the_top_layer(open_window, qtbot):
    win = open_window("digits-supervised", *SMALL)
    tools = win.interventions
    buttons = tools.panel.label_buttons
    assert [b.text() for b in buttons] == [str(k) for k in range(10)]
    run_steps(win, 2)
    qtbot.mouseClick(buttons[3], LEFT)
    f = run_steps(win, 5)
    top = f.layers[-1]["activity"]
    np.testing.assert_array_equal(top, np.eye(10, dtype=np.float32)[3])
    ev = tools.events.events[-1]
    assert ev.kind == "set_label" and ev.payload["label"] == 3 and ev.payload["imagine"] is True
    # imagining: the input is free, drawn from above
    np.testing.assert_allclose(f.layers[0]["activity"], f.layers[0]["prediction"], atol=1e-6)
    qtbot.mouseClick(buttons[7], LEFT)
    f = run_steps(win, 2)
    np.testing.assert_array_equal(f.layers[-1]["activity"], np.eye(10, dtype=np.float32)[7])


def test_no_label_buttons_without_a_label_layer(open_window):
    win = open_window("digits-pc", *SMALL)
    assert win.interventions.panel.label_buttons == []


def test_recording_from_the_window_holds_the_interventions_at_their_steps(open_window, qtbot, tmp_path,
                                                                          monkeypatch):
    from pcviz.cli.info import describe

    monkeypatch.setenv("PCVIZ_RECORDINGS", str(tmp_path))
    win = open_window("digits-pc", *SMALL)
    tools = win.interventions
    run_steps(win, 2)
    qtbot.keyClick(win, QtCore.Qt.Key.Key_R)
    assert win.session.record.recording
    path = win.session.record.path
    assert path.parent == tmp_path and path.name.startswith("digits-pc-") and path.suffix == ".h5"
    run_steps(win, 5)
    clamp_step = win.source.engine.step_count
    tools.selector.select(1, [0, 1])
    qtbot.mouseClick(tools.panel.clamp_button, LEFT)
    run_steps(win, 5)
    occlude_step = win.source.engine.step_count
    tools.panel.occlude((0, 0, 2, 2))
    run_steps(win, 5)
    qtbot.waitUntil(lambda: win.source.recording_status().frames >= 15, timeout=10000)
    assert "frames" in win.session.record.label.text()
    qtbot.keyClick(win, QtCore.Qt.Key.Key_R)
    assert not win.session.record.recording
    summary = win.session.record.last_summary
    assert summary.complete and summary.frames == 15 and summary.dropped == 0
    text = describe(str(path))  # what pcviz info prints
    assert "15" in text and "clamp" in text
    with open_recording(path) as rec:
        assert rec.complete and len(rec) == 15
        evs = {e.kind: e.step for e in rec.events}
        assert evs["clamp"] == clamp_step and evs["occlude"] == occlude_step
        # the frame after the clamp holds the clamped value
        f = rec.frame_at_step(clamp_step + 1)
        np.testing.assert_allclose(f.layers[1]["activity"][[0, 1]], 1.0, atol=1e-6)


def test_pcviz_info_reads_a_window_recording(open_window, qtbot, tmp_path, monkeypatch, capsys):
    from pcviz.cli import main

    monkeypatch.setenv("PCVIZ_RECORDINGS", str(tmp_path))
    win = open_window("digits-pc", *SMALL)
    tools = win.interventions
    assert win.session.record.start()
    run_steps(win, 4)
    win.session.record.stop()
    capsys.readouterr()
    assert main(["info", str(win.session.record.last_summary.path)]) == 0
    assert "digits-pc" in capsys.readouterr().out


def test_closing_the_window_during_a_recording_leaves_a_valid_file(open_window, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("PCVIZ_RECORDINGS", str(tmp_path))
    win = open_window("digits-pc", *SMALL, "engine.steps_per_second=500", play=True)
    tools = win.interventions
    record = win.session.record
    assert record.start()
    path = record.path
    qtbot.waitUntil(lambda: win.source.recording_status().frames >= 20, timeout=15000)
    win.close()
    assert not record.recording and record.last_summary.complete
    with open_recording(path) as rec:
        assert rec.complete and len(rec) >= 20
        assert np.all(np.diff(rec.steps) == 1)


def test_saved_schedule_replays_headless(open_window, qtbot, tmp_path):
    from pcviz.sim import Engine, load_preset

    win = open_window("digits-supervised", *SMALL)
    tools = win.interventions
    run_steps(win, 3)
    tools.selector.select(1, [2, 4])
    tools.panel.value.setValue(0.5)
    tools.panel.duration.setValue(4)
    qtbot.mouseClick(tools.panel.clamp_button, LEFT)
    run_steps(win, 2)
    qtbot.mouseClick(tools.panel.label_buttons[6], LEFT)
    run_steps(win, 2)
    qtbot.mouseClick(tools.panel.clear_button, LEFT)
    run_steps(win, 1)
    out = tools.events.save(tmp_path / "demo.toml")
    cfg = load_preset(str(out))
    kinds = [(s.step, s.kind) for s in cfg.interventions]
    assert kinds == [(3, "clamp"), (5, "set_label"), (7, "clear_interventions")]
    # each entry in its command's own terms: the label is `label`, not a `value`
    assert cfg.interventions[1].fields == {"label": 6, "imagine": True}  # the label buttons imagine by default
    assert cfg.interventions[0].fields == {"layer": 1, "units": [2, 4], "value": 0.5, "duration": 4}
    assert cfg.data.batch_size == 4 and cfg.engine.learning is False
    # replayed headless: the same interventions at the same steps
    eng = Engine(cfg, device="cpu")
    try:
        eng.run_steps(10)
        got = [(e.step, e.kind) for e in eng.events.all() if e.kind in ("clamp", "set_label", "clear_interventions")]
    finally:
        eng.stop()
    assert got == [(3, "clamp"), (5, "set_label"), (7, "clear_interventions")]


def test_the_event_list_lists_and_undoes_a_command_type_it_has_never_heard_of(qtbot):
    """The list asks the command: a kind defined only here is listed in its own words
    and undone by its own inverse."""
    from dataclasses import dataclass

    from gui_helpers import ListSource, synthetic_spec

    from pcviz.gui.panels.events import EventList
    from pcviz.sim.events import Event

    @dataclass(frozen=True)
    class Dim(C.Command):
        intervention = True  # a class attribute (no annotation), not a field
        layer: int
        by: float = 0.5

        def apply(self, run) -> None:
            run.model.lesion(self.layer, self.by, [])

        def inverse(self) -> C.Command:
            return Dim(self.layer, 1.0 / self.by)

        def describe_text(self, layer_name) -> str:
            return f"dim {layer_name(self.layer)} by {self.by:g}"

    spec = synthetic_spec()
    sent: list[C.Command] = []
    events = EventList(ListSource(spec, []), sent.append)
    qtbot.addWidget(events)
    events.add(Event(12, "dim", {"layer": 1, "by": 0.25}))
    events.add(Event(13, "step", {"n": 1}))  # not listed: not an intervention
    assert events.table.rowCount() == 1
    assert events.table.item(0, 0).text() == "12" and events.table.item(0, 1).text() == "dim z1 by 0.25"
    events.table.selectRow(0)
    events.undo_selected()
    assert sent == [Dim(1, 4.0)]


def test_garbage_collection_never_deletes_an_open_window(open_window, qtbot):
    """Once a test (or the app) drops its last reference, the window and its views are
    a reference cycle; the cyclic collector used to delete the window then, even in the
    middle of its own paint event (a segfault), before closeEvent stopped its engine.
    Qt owns the window: a collection leaves it alone until it is deleted."""
    import gc
    import weakref

    from PyQt6 import sip

    ref = weakref.ref(open_window("digits-pc", *SMALL))
    gc.collect()
    win = ref()
    assert win is not None and not sip.isdeleted(win)
    assert win.source.alive  # its engine was not left behind either
    run_steps(win, 2)
    win.close()
    assert not win.source.alive
