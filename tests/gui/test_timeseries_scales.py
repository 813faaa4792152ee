"""The time-series scales: 'settled' fits the y range to the end-of-hold values and
marks the clipped jumps, 'symlog' labels ticks in data values, and each plot's
choice is remembered for the next window."""

from __future__ import annotations

import numpy as np

from pcviz.gui.theme import theme_named
from pcviz.gui.views.timeseries import TimeSeriesView
from pcviz.sim.frames import Frame, FrameSpec, LayerFrameSpec

from gui_helpers import ListSource

HOLD = 10


def _spec() -> FrameSpec:
    q = {k: (4,) for k in ("activity", "prediction", "error", "precision")}
    layers = (LayerFrameSpec(0, "input", "input", 4, (2, 2), q), LayerFrameSpec(1, "top", "top", 4, (2, 2), q))
    return FrameSpec("pc", layers, ("energy/layer_0", "energy/total"), batch_size=1)


def _frames(spec: FrameSpec, n: int) -> list[Frame]:
    out = []
    for step in range(1, n + 1):
        h = (step - 1) % HOLD + 1  # 1..HOLD within each hold
        e = 2.0 + 998.0 * np.exp(-3.0 * (h - 1))  # a jump of 1000 at each new sample, settling at 2
        layers = [{k: np.zeros(4, np.float32) for k in ("activity", "prediction", "error", "precision")}] * 2
        out.append(Frame(step=step, sample_index=step // HOLD, phase="inference", layers=layers,
                         scalars={"energy/layer_0": e, "energy/total": e}, hold_step=h))
    return out


def _view(qtbot, spec):
    view = TimeSeriesView(ListSource(spec, [], hold_steps=HOLD), theme_named("light"))
    qtbot.addWidget(view)
    view.resize(900, 300)
    view.show()
    return view


def test_settled_scale_clips_the_jumps_and_is_remembered(qtbot):
    spec = _spec()
    view = _view(qtbot, spec)
    for f in _frames(spec, 60):
        view.show_frame(f)
    view._dirty = True
    view.redraw()
    plot = view.plots["energy"]
    assert plot.y_range[1] > 900  # linear: fitted to the jumps
    view.set_scale("energy", "settled")
    lo, hi = plot.y_range
    assert lo < 2.0 < hi < 3.0  # the settled value is 2.0 (+ padding); the jumps are clipped
    xs, ys = plot.clipped.getData()
    assert len(xs) >= 5 and np.allclose(ys, hi)  # one or more marks per hold's jump
    assert "settled" in plot.item.titleLabel.text
    view.set_scale("energy", "symlog")
    axis = plot.item.getAxis("left")
    assert axis.symlog and axis.tickStrings([0.0, 1.0, 3.0], 1, 1) == ["0", "9", "999"]
    view.set_scale("energy", "settled")
    again = _view(qtbot, spec)  # a new window reads the choice back
    assert again.plots["energy"].scale == "settled"
