"""The Controls panel shows the engine's settings whatever changed them (a preset's
schedule, the Python API, a command from elsewhere), in the window's default engine
process as with the engine thread, without sending a command back; and a setting that
does nothing under the model's configuration is shown disabled, saying why."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from pcviz.api import Session
from pcviz.config import InterventionSpec
from pcviz.sim import commands as C
from pcviz.sim.presets import load_preset

from gui_helpers import process_window, wait_engine

#: digits-discriminative, small: its schedule (γ to 1e4, the learning rate to 1e-5)
#: moved from step 36000 to step 3
DISC = ["model.sizes=[10, 8, 64]", "data.batch_size=4", "data.hold_steps=5", "model.heldout_every=1000",
        "model.bp_cosine_every=1000"]


def _early_schedule(cfg, step: int = 3):
    assert {s.fields["name"] for s in cfg.interventions} == {"model.label_precision", "model.lr_weights"}
    cfg.interventions = [InterventionSpec(step, s.kind, dict(s.fields)) for s in cfg.interventions]
    return cfg


def test_engine_process_controls_show_the_schedules_and_the_apis_values(qtbot):
    cfg = _early_schedule(load_preset("digits-discriminative", DISC))
    src, win = process_window(qtbot, cfg)
    ctl = win.controls
    set_params = []
    src.engine_event.connect(lambda ev: ev.kind == "set_param" and set_params.append(ev))
    src.start(play=False)
    lr, gamma = ctl.params["model.lr_weights"], ctl.params["model.label_precision"]
    assert lr.value() == pytest.approx(0.1) and gamma.value() == pytest.approx(1.0)

    src.submit(C.Step(5))  # past the scheduled step
    qtbot.waitUntil(lambda: lr.value() == pytest.approx(1e-5) and gamma.value() == pytest.approx(1e4),
                    timeout=30000)
    assert lr.text() == "1e-05" and gamma.text() == "1e+04"  # shown as set, not rounded to 0.00001 or 0

    # the Python API on the window's engine process
    session = Session.on(src.engine_host)
    session.set({"model.dt": 0.5, "model.lr_weights": 2.5e-6, "engine.display_index": 2})
    qtbot.waitUntil(lambda: ctl.dt.value() == pytest.approx(0.5) and lr.value() == pytest.approx(2.5e-6)
                    and ctl.item.value() == 2, timeout=30000)
    assert lr.text() == "2.5e-06"

    # setting the widgets from the engine sent nothing back: the engine logged the
    # schedule's two changes and the session's three, no more
    src.submit(C.Step(1))
    qtbot.waitUntil(lambda: src.last_frame is not None and src.last_frame.step >= 6, timeout=30000)
    qtbot.wait(600)  # two heartbeats: a command sent back would have been applied and logged by now
    src.tick()
    assert [(e.payload["name"], bool(e.payload.get("scheduled"))) for e in set_params] == [
        ("model.label_precision", True), ("model.lr_weights", True),
        ("model.dt", False), ("model.lr_weights", False), ("engine.display_index", False)]
    win.close()


def test_engine_thread_controls_show_values_set_by_the_api(open_window, qtbot):
    win = open_window("digits-pc-scratch")
    bridge, ctl = win.source, win.controls
    sent = []
    submit = bridge.submit
    bridge.submit = lambda cmd: (sent.append(cmd), submit(cmd))
    session = Session.on(bridge.engine)
    session.set({"model.lr_precision": 3e-6, "data.hold_steps": 7, "engine.learning": False})
    qtbot.waitUntil(lambda: ctl.params["model.lr_precision"].value() == pytest.approx(3e-6)
                    and ctl.hold.value() == 7 and not ctl.learning.isChecked(), timeout=10000)
    assert ctl.params["model.lr_precision"].text() == "3e-06"
    assert sent == []  # the panel followed, and sent nothing


def test_typed_rates_reach_the_engine_in_any_float_form(open_window, qtbot):
    win = open_window("digits-pc-scratch")
    bridge, ctl = win.source, win.controls
    lr = ctl.params["model.lr_weights"]
    lr.lineEdit().setText("1e-6")
    lr.interpretText()
    wait_engine(qtbot, bridge, lambda e: e.config.model.lr_weights == pytest.approx(1e-6))
    assert lr.text() == "1e-06"


def test_rate_boxes_step_by_decades_and_read_back_what_they_show(qtbot):
    from pcviz.gui.panels.controls import RateSpinBox

    w = RateSpinBox()
    qtbot.addWidget(w)
    w.setRange(0.0, 1.0)
    w.setValue(1e-5)
    w.stepBy(1)
    assert w.value() == pytest.approx(1.1e-5) and w.text() == "1.1e-05"
    w.setValue(0.0)
    w.stepBy(1)
    assert w.value() == pytest.approx(1e-3)
    for shown in (0.1, 2.5e-6, 1e-9, 0.01234):
        w.setValue(shown)
        assert w.valueFromText(w.text()) == pytest.approx(shown, rel=1e-3)


def test_learn_precision_is_off_and_disabled_where_precisions_are_fixed(open_window, qtbot):
    win = open_window("digits-discriminative", *DISC)
    ctl, eng = win.controls, win.source.engine
    assert eng.config.model.precision == "fixed" and eng.config.model.learn_precision is True
    for w in (ctl.learn_precision, ctl.params["model.lr_precision"]):
        assert not w.isEnabled()
        assert 'precision = "fixed"' in w.toolTip() and "does nothing" in w.toolTip()
    assert not ctl.learn_precision.isChecked()
    # what the disabled box says is what the model does: learning holds leave every precision as configured
    before = [v.clone() for v in eng.model.var]
    assert eng.config.engine.learning
    Session.on(eng).step(3 * eng.config.data.hold_steps)  # returns once the steps ran
    for a, b in zip(before, eng.model.var):
        assert torch.equal(a, b)


def test_learn_precision_follows_the_config_where_precisions_are_learned(open_window, qtbot):
    win = open_window("digits-pc-scratch")
    ctl, cfg = win.controls, win.source.engine.config.model
    assert cfg.precision != "fixed"
    assert ctl.learn_precision.isEnabled() and ctl.params["model.lr_precision"].isEnabled()
    assert ctl.learn_precision.isChecked() == cfg.learn_precision
    assert "does nothing" not in ctl.learn_precision.toolTip()


def test_hybrid_learn_precision_governs_the_forward_precisions_too():
    from pcviz.models.hybrid_pc import HybridPCConfig

    both_fixed = HybridPCConfig(precision="fixed", forward_precision="fixed").inert_settings()
    assert {"learn_precision", "lr_precision", "lr_forward_precision"} <= both_fixed.keys()
    forward_learned = HybridPCConfig(precision="fixed", forward_precision="scalar").inert_settings()
    assert "learn_precision" not in forward_learned and "lr_precision" in forward_learned
    assert dataclasses.replace(HybridPCConfig(), precision="scalar").inert_settings() == {}
