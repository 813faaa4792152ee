"""The window for amortised and iterative inference side by side: the hybrid family's
amortised guess beside the refined state and its forward links in the network
diagram; the VAEs' toggle between one posterior draw per step and refinement."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gui_helpers import wait_engine
from pcviz.gui.views.network import weighted_error


def test_hybrid_window_shows_the_guess_beside_the_state_and_forward_links(open_window, qtbot):
    win = open_window("digits-hybrid", "engine.learning=false")
    bridge = win.source
    bridge.advance(45, samples=4, process_events=True)
    frame = bridge.last_frame
    for row in win.hierarchy.rows:
        cells = list(row.cells)
        if row.layer.role == "input":
            assert "amortised" not in cells
        else:
            assert cells.index("amortised") == cells.index("activity") + 1
            assert {"forward_error", "forward_precision"} <= set(cells)
    net = win.network
    assert net.forward_layers == [1, 2, 3]
    for l in net.forward_layers:  # the diagram's forward error is sqrt(mean Φ δ²) of the frame
        layer = frame.layers[l]
        want = math.sqrt(float(np.mean(layer["forward_precision"] * layer["forward_error"] ** 2)))
        assert net.forward_errors[l] == pytest.approx(want, rel=1e-5)
        assert weighted_error(layer, "forward_error", "forward_precision") == pytest.approx(want, rel=1e-5)
    for key in ("amortisation_gap", "steps_to_settle", "forward_loss"):
        assert key in win.timeseries.plots
    # lesioning the forward path from the controls reaches the model
    win.controls.forward_gain.setValue(0.0)
    wait_engine(qtbot, bridge, lambda e: e.config.model.forward_gain == 0.0)


@pytest.mark.parametrize("preset", ["digits-lvae", "digits-bvae"])
def test_vae_posterior_toggle_switches_to_refinement(open_window, qtbot, preset):
    win = open_window(preset, "engine.learning=false", "data.hold_steps=50")
    bridge, ctl = win.source, win.controls
    assert ctl.inference.currentData() == "draw"
    ts = win.timeseries
    refine_plots = ["refine", "amortisation_gap", "approximation_gap", "refine_steps"]
    assert set(refine_plots) <= set(ts.plots)
    bridge.advance(3, process_events=True)
    # drawing one posterior sample per step, the model does not refine: the refinement's
    # scalars are NaN and their four plots are not in the grid (nor on screen)
    assert not math.isfinite(bridge.last_frame.scalars["refine/elbo"])
    assert not set(refine_plots) & set(ts.shown_plots())
    assert all(ts.plots[k].item not in ts.canvas.ci.items and not ts.plots[k].item.isVisible()
               for k in refine_plots)
    ctl.inference.setCurrentIndex(ctl.inference.findData("refine"))
    ctl.inference.activated.emit(ctl.inference.currentIndex())
    wait_engine(qtbot, bridge, lambda e: e.config.model.inference == "refine")
    bridge.advance(5, samples=2, process_events=True)
    qtbot.waitUntil(lambda: bridge.last_frame is not None
                    and bridge.last_frame.scalars["refine_steps"] >= 1, timeout=10000)
    s = bridge.last_frame.scalars
    assert s["amortisation_gap"] >= 0 and math.isfinite(s["refine/elbo"])
    qtbot.waitUntil(lambda: set(refine_plots) <= set(ts.shown_plots()), timeout=5000)
    assert all(ts.plots[k].item in ts.canvas.ci.items and ts.plots[k].item.isVisible() for k in refine_plots)
    # back to one draw per step: the plots go again
    ctl.inference.setCurrentIndex(ctl.inference.findData("draw"))
    ctl.inference.activated.emit(ctl.inference.currentIndex())
    wait_engine(qtbot, bridge, lambda e: e.config.model.inference == "draw")
    bridge.advance(2, process_events=True)
    qtbot.waitUntil(lambda: not set(refine_plots) & set(ts.shown_plots()), timeout=5000)
