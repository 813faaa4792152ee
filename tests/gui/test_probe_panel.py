"""The Probe dock: runs the stimulus probe on copies of the live model (in the engine's
thread or process), draws the curves, saves CSV and PNG, takes units selected in the window,
and says why it cannot run (a bad field, a recording)."""

from __future__ import annotations

import csv

import numpy as np

from pcviz.data.stimuli import stimulus_set
from pcviz.sim.probe import probe

SMALL = ("data.batch_size=2", "data.n_samples=200", "engine.learning=false")


def _form(panel, values="2, 6, 12", hold=5):
    panel.family.setCurrentText("bars")
    panel.vary.setCurrentText("length")
    panel.values.setText(values)
    panel.hold.setValue(hold)
    panel.layer.setValue(1)
    panel.quantity.setCurrentText("error")


def test_probe_panel_runs_draws_and_saves(open_window, qtbot, tmp_path):
    win = open_window("patches-conv-pc", *SMALL)
    panel = win.probe.panel
    win.probe.dock.raise_()
    _form(panel)
    panel.extra.setText("l2=lesion:2")
    with qtbot.waitSignal(panel.finished, timeout=30000):
        assert panel.run()
    res = panel.result
    assert res is not None, panel.status.text()
    assert res.conditions == ["intact", "no-feedback", "l2"]
    assert res.responses.shape == (3, 3, 5)
    # the same probe run here on the engine's (paused, not learning) model
    engine = win.source.engine
    st = stimulus_set("bars", (16, 16), "length", [2, 6, 12])
    direct = probe(engine.model, st, 1, quantity="error", units=res.units, hold_steps=5,
                   conditions=["intact", "no-feedback", "l2=lesion:2"])
    np.testing.assert_allclose(res.responses, direct.responses, rtol=1e-5, atol=1e-6)
    assert "last/peak" in panel.status.text()
    assert len(panel.plot.plotItem.listDataItems()) == 3
    # the curves stay in sight: the panel is as tall as its dock, not scrolled (the
    # plot's size hint once made the panel 480 px tall in a dock of 250 once the
    # status text had wrapped)
    scroll = win.probe.dock.widget()
    qtbot.waitUntil(lambda: panel.height() <= scroll.viewport().height() + 1, timeout=3000)
    assert scroll.viewport().height() < 480  # a short dock, where the old size hint scrolled
    win.grab().save(str(tmp_path / "window.png"))
    a, b = panel.save(tmp_path / "c.csv")
    rows = list(csv.DictReader(a.open()))
    assert len(rows) == 3 * 3 * 5 and b.read_bytes()[:4] == b"\x89PNG"


def test_probe_panel_uses_the_units_selected_in_the_window(open_window, qtbot):
    win = open_window("patches-conv-pc", *SMALL)
    panel = win.probe.panel
    _form(panel, values="4, 8")
    panel.no_feedback.setChecked(False)
    panel.units.setCurrentIndex(1)
    sel = win.interventions.selector
    sel.selection.layer, sel.selection.units = 0, [5]
    assert not panel.run()  # units of another layer than the probed one
    assert "select units of layer 1" in panel.status.text()
    sel.selection.layer, sel.selection.units = 1, [3, 17]
    with qtbot.waitSignal(panel.finished, timeout=30000):
        assert panel.run()
    assert panel.result.units == [3, 17] and panel.result.conditions == ["intact"]


def test_probe_panel_reports_bad_fields(open_window, qtbot):
    win = open_window("patches-conv-pc", *SMALL)
    panel = win.probe.panel
    _form(panel, values="2, x")
    assert not panel.run() and "Values" in panel.status.text()
    _form(panel)
    panel.extra.setText("oops")
    assert not panel.run() and "NAME=SPEC" in panel.status.text()


def test_probe_panel_probes_an_engine_in_its_own_process(qtbot):
    """The default window's engine runs in its own process: the panel asks it through
    the source's ``compute``, and gets the curves the same probe gives in this process."""
    from gui_helpers import process_window
    from pcviz.sim.presets import load_preset

    from conftest import preset_overrides

    cfg = load_preset("patches-conv-pc", preset_overrides("patches-conv-pc", SMALL))
    src, win = process_window(qtbot, cfg)
    src.start(play=False)
    panel = win.probe.panel
    _form(panel)
    with qtbot.waitSignal(panel.finished, timeout=60000):
        assert panel.run(), panel.status.text()
    res = panel.result
    assert res is not None, panel.status.text()
    assert res.conditions == ["intact", "no-feedback"] and res.responses.shape == (2, 3, 5)
    assert np.all(np.isfinite(res.responses))
    assert len(panel.plot.plotItem.listDataItems()) == 2


def test_probe_panel_shows_coincident_curves_apart(qtbot):
    """Two conditions with one curve (a lesion that changes nothing): drawn with
    different dash patterns and widths, the later thinner, and the legend says so."""
    from gui_helpers import ListSource, synthetic_frames, synthetic_spec
    from pcviz.data.stimuli import StimulusSet
    from pcviz.gui.panels.probe import ProbePanel
    from pcviz.gui.theme import theme_named
    from pcviz.sim.probe import ProbeResult

    spec = synthetic_spec()
    src = ListSource(spec, synthetic_frames(spec, 2))
    panel = ProbePanel(src, theme_named("light"))
    qtbot.addWidget(panel)
    st = StimulusSet("bars", "length", np.array([1.0, 2.0, 3.0]), {}, np.zeros((3, 4, 4), np.float32))
    flat = np.array([[0.5], [0.6], [0.6]], np.float32)
    res = ProbeResult(st, 1, "error", "mean", [0], ["intact", "no-feedback", "lesion"],
                      np.stack([flat * 2, flat, flat]), 5)
    panel._draw(res)
    items = panel.plot.plotItem.listDataItems()
    pens = [it.opts["pen"] for it in items]
    assert len({(p.style(), p.widthF()) for p in pens}) == 3
    assert pens[2].widthF() < pens[1].widthF() < pens[0].widthF()
    labels = [it.name() for it in items]
    assert labels[2].endswith("same curve as no-feedback") and "same curve" not in labels[1]
    # the legend, on a background, sits in the right-hand corner the curves leave free
    legend, view = panel.plot.plotItem.legend, panel.plot.plotItem.vb
    assert legend.brush().color().alpha() > 0
    panel.resize(1200, 320)
    panel.show()
    qtbot.waitExposed(panel)

    def in_lower_half() -> bool:
        return (legend.mapRectToScene(legend.boundingRect()).center().y()
                > view.mapRectToScene(view.boundingRect()).center().y())

    rising = np.array([[0.1], [0.9], [1.0]], np.float32)
    panel._draw(ProbeResult(st, 1, "error", "mean", [0], ["intact"], rising[None], 5))
    qtbot.waitUntil(in_lower_half, timeout=3000)
    panel._draw(ProbeResult(st, 1, "error", "mean", [0], ["intact"], rising[::-1][None], 5))
    qtbot.waitUntil(lambda: not in_lower_half(), timeout=3000)
    src.close()
