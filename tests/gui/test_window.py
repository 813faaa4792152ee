"""The live window, offscreen: it opens on every preset, its controls reach the
engine, hover and click name the same unit, divergence is reported and survived,
and closing it stops the engine thread."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from PyQt6 import QtCore

from pcviz.sim import commands as C
from pcviz.sim.presets import list_presets

from gui_helpers import wait_engine

PRESETS = [e.name for e in list_presets()]


def click_box(qtbot, box) -> None:
    """Click a check box on its indicator (the middle of a wide row is not the box)."""
    qtbot.mouseClick(box, QtCore.Qt.MouseButton.LeftButton, pos=QtCore.QPoint(8, box.height() // 2))


def engine_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "pcviz-engine" and t.is_alive()]


@pytest.mark.parametrize("preset", PRESETS)
def test_window_opens_on_each_preset(open_window, qtbot, preset):
    win = open_window(preset)
    bridge = win.source
    spec = bridge.spec
    bridge.advance(12, samples=4, process_events=True)
    assert bridge.last_frame is not None and bridge.last_frame.step >= 12
    # one heatmap row per layer, the top (most abstract) first and the input last
    assert [r.layer.index for r in win.hierarchy.rows] == list(range(len(spec.layers)))[::-1]
    for row in win.hierarchy.rows:
        assert {"activity", "prediction", "error", "precision"} <= set(row.cells)
    assert "energy" in win.timeseries.plots and "pins" in win.timeseries.plots
    assert win.timeseries.series["energy/total"].trace.n >= 1
    if "basis" in bridge.last_frame.extras:  # the first layer's weights, tiled
        assert win.basis.shape == bridge.last_frame.extras["basis"].shape
    assert all(d.isVisible() for d in win.docks.values())
    assert bridge.engine.alive
    win.close()
    assert not bridge.engine.alive


def test_play_pause_step_and_reset_change_the_engine(open_window, qtbot):
    win = open_window("digits-pc-scratch")
    bridge, eng, ctl = win.source, win.source.engine, win.controls
    w0 = eng.model.W[0].clone()

    qtbot.mouseClick(ctl.play, QtCore.Qt.MouseButton.LeftButton)
    wait_engine(qtbot, bridge, lambda e: e.running and e.step_count > 200)
    qtbot.waitUntil(lambda: ctl.play.text() == "Pause", timeout=3000)
    qtbot.mouseClick(ctl.play, QtCore.Qt.MouseButton.LeftButton)
    wait_engine(qtbot, bridge, lambda e: not e.running)
    qtbot.waitUntil(lambda: ctl.play.text() == "Play", timeout=3000)
    s = eng.step_count
    qtbot.wait(100)
    assert eng.step_count == s  # paused means paused

    qtbot.mouseClick(ctl.step, QtCore.Qt.MouseButton.LeftButton)
    wait_engine(qtbot, bridge, lambda e: e.step_count == s + 1)
    qtbot.mouseClick(ctl.step_hold, QtCore.Qt.MouseButton.LeftButton)
    # done when the engine has dropped its StepHold, which it does after the hold's last step
    # is counted (hold_due turns true inside that step, before step_count moves on)
    wait_engine(qtbot, bridge, lambda e: e.step_count > s + 1 and not e.hold_pending)
    assert eng.step_count % eng.config.data.hold_steps == 0
    assert not eng.running

    assert not np.allclose(eng.model.W[0], w0)  # it learned while playing
    qtbot.mouseClick(ctl.reset, QtCore.Qt.MouseButton.LeftButton)
    wait_engine(qtbot, bridge, lambda e: any(ev.kind == "reset" for ev in e.events.all()))
    np.testing.assert_array_equal(eng.model.W[0], w0)  # back to the preset's weights


def test_keyboard_shortcuts_play_pause_and_step(open_window, qtbot):
    win = open_window("digits-pc-scratch")
    eng = win.source.engine
    win.activateWindow()
    win.hierarchy.canvas.setFocus()
    qtbot.keyClick(win.hierarchy.canvas, QtCore.Qt.Key.Key_Space)
    wait_engine(qtbot, win.source, lambda e: e.running)
    qtbot.keyClick(win.hierarchy.canvas, QtCore.Qt.Key.Key_Space)
    wait_engine(qtbot, win.source, lambda e: not e.running)
    s = eng.step_count
    qtbot.keyClick(win.hierarchy.canvas, QtCore.Qt.Key.Key_Right)
    wait_engine(qtbot, win.source, lambda e: e.step_count == s + 1)
    # Space in a number field edits the number, it does not start the run
    win.controls.dt.setFocus()
    qtbot.keyClick(win.controls.dt, QtCore.Qt.Key.Key_Space)
    qtbot.wait(50)
    assert not eng.running


def test_controls_reach_the_engine(open_window, qtbot):
    win = open_window("digits-pc-scratch")
    bridge, ctl = win.source, win.controls
    ctl.dt.setValue(0.05)
    wait_engine(qtbot, bridge, lambda e: e.config.model.dt == pytest.approx(0.05))
    ctl.hold.setValue(17)
    wait_engine(qtbot, bridge, lambda e: e.stream.hold_steps == 17 and e.config.data.hold_steps == 17)
    assert ctl.learning.isChecked()
    click_box(qtbot, ctl.learning)
    wait_engine(qtbot, bridge, lambda e: e.config.engine.learning is False)
    ctl.params["model.lr_weights"].setValue(0.001)
    wait_engine(qtbot, bridge, lambda e: e.config.model.lr_weights == pytest.approx(0.001))
    click_box(qtbot, ctl.learn_precision)
    wait_engine(qtbot, bridge, lambda e: e.config.model.learn_precision is False)
    ctl.speed.setValue(500)
    wait_engine(qtbot, bridge, lambda e: e.config.engine.steps_per_second == 500)
    ctl.item.setValue(3)
    wait_engine(qtbot, bridge, lambda e: e.display_index == 3)
    bridge.submit(C.Step(1))
    qtbot.waitUntil(lambda: bridge.last_frame is not None and bridge.last_frame.display_index == 3, timeout=5000)
    # a change made elsewhere (a script, a scheduled intervention) shows in the controls
    bridge.submit(C.SetParam("model.dt", 0.125))
    qtbot.waitUntil(lambda: ctl.dt.value() == pytest.approx(0.125), timeout=5000)


def test_a_refused_command_is_said_and_the_control_springs_back(open_window, qtbot):
    win = open_window("digits-pc-scratch")
    ctl = win.controls
    win.source.submit(C.SetParam("data.source", "bars"))  # cannot change during a run
    qtbot.waitUntil(lambda: win.banner.isVisible(), timeout=5000)
    assert "refused" in win.banner.label.text() and "data.source" in win.banner.label.text()
    assert ctl.hold.value() == win.source.config.data.hold_steps


def _hover_and_click(qtbot, win, layer: int, unit: int, quantity: str):
    canvas = win.hierarchy.canvas
    pos = canvas.pos_of(layer, unit, quantity).toPoint()
    qtbot.mouseMove(canvas, pos)
    qtbot.waitUntil(lambda: win.hierarchy.hovered == (layer, unit), timeout=3000)
    hovered_text = win.hierarchy.info.text()
    qtbot.mouseClick(canvas, QtCore.Qt.MouseButton.LeftButton, pos=pos)
    return hovered_text


@pytest.mark.parametrize("layer,unit,quantity", [(0, 0, "activity"), (0, 27, "error"), (1, 5, "prediction"),
                                                 (2, 15, "precision"), (3, 8, "activity")])
def test_the_clicked_unit_is_the_hovered_one(open_window, qtbot, layer, unit, quantity):
    win = open_window("digits-pc")
    bridge = win.source
    bridge.advance(30, samples=3, process_events=True)
    text = _hover_and_click(qtbot, win, layer, unit, quantity)
    assert win.hierarchy.selected == (layer, unit)
    frame = win.hierarchy.frame
    for q in ("activity", "prediction", "error", "precision"):
        value = float(frame.layers[layer][q][unit])
        assert f"{q} {value:+.4g}" in text
    assert f"layer {layer} " in text and f"unit {unit} " in text
    # P pins the selected unit's trace, which then follows the frames
    qtbot.keyClick(win.hierarchy.canvas, QtCore.Qt.Key.Key_P)
    assert (layer, unit) in win.timeseries.pins
    bridge.advance(5, samples=5, process_events=True)
    trace = win.timeseries.pins[(layer, unit)].trace
    assert trace.n >= 2
    assert trace.y[-1] == pytest.approx(float(bridge.last_frame.layers[layer]["activity"][unit]))


def test_divergence_is_reported_and_the_window_stays_usable(open_window, qtbot):
    win = open_window("digits-pc-scratch")
    bridge = win.source
    bridge.submit(C.Call(lambda e: e.model.x[1].fill_(float("nan"))))
    bridge.submit(C.Step(12))
    qtbot.waitUntil(lambda: win.banner.isVisible() and win.banner.kind == "error", timeout=10000)
    ev = bridge.engine.diverged
    text = win.banner.label.text()
    assert "diverged" in text and f"step {ev.step}" in text and f"layer {ev.layer}" in text
    assert "dt" in text  # what to try
    assert win.status_fields["state"].text() == "diverged"
    # the views take the non-finite frame without breaking
    qtbot.waitUntil(lambda: bridge.last_frame is not None
                    and not all(math.isfinite(v) for v in bridge.last_frame.scalars.values()), timeout=5000)
    win.timeseries.redraw()
    win.grab()
    # Play is refused while diverged, and says so
    bridge.submit(C.Play())
    qtbot.waitUntil(lambda: any(e.kind == "error" for e in bridge.engine.events.all()), timeout=5000)
    # "Halve dt and reset" recovers
    buttons = [win.banner.buttons.itemAt(i).widget() for i in range(win.banner.buttons.count())]
    halve = next(b for b in buttons if b.text().startswith("Halve dt"))
    dt = bridge.config.model.dt
    qtbot.mouseClick(halve, QtCore.Qt.MouseButton.LeftButton)
    wait_engine(qtbot, bridge, lambda e: e.diverged is None and e.config.model.dt == pytest.approx(dt / 2))
    qtbot.waitUntil(lambda: not win.banner.isVisible(), timeout=3000)
    s = bridge.engine.step_count
    qtbot.keyClick(win.hierarchy.canvas, QtCore.Qt.Key.Key_Space)
    wait_engine(qtbot, bridge, lambda e: e.step_count > s + 50)
    assert all(math.isfinite(v) for v in bridge.last_frame.scalars.values())


def test_closing_the_window_stops_the_engine_thread(open_window, qtbot):
    win = open_window("digits-pc-scratch", play=True)
    eng = win.source.engine
    wait_engine(qtbot, win.source, lambda e: e.step_count > 50)
    assert eng.alive and engine_threads()
    win.close()
    assert not eng.alive
    assert not win.source.displaying
    assert not engine_threads()


def test_switching_preset_closes_the_old_engine(open_window, qtbot):
    win = open_window("digits-pc-scratch")
    old = win.source
    win.open_preset("patches-rao-ballard", "cpu")
    assert win.source is not old and not old.engine.alive
    assert win.source.config.preset.name == "patches-rao-ballard"
    assert win.hierarchy.rows[-1].layer.display_shape == (12, 12)
    assert len(engine_threads()) == 1
    win.open_preset("no-such-preset", "cpu")  # said, and the run goes on
    assert win.banner.isVisible() and "no-such-preset" in win.banner.label.text()
    assert win.source.engine.alive
