"""pcviz.plot without Qt: maps in the layer's shape on the window's scales (signed
quantities of a row share a symmetric scale set by the state and rounded up to
1, 1.5, 2, 3, 5, 7 x 10^k; non-negative ones start at zero), vector output with text
kept as text, and time series that hold a recording's scalars and its interventions."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from pcviz import plot  # noqa: E402
from pcviz.api import Session  # noqa: E402
from pcviz.io import open_recording  # noqa: E402
from pcviz.sim.frames import Frame, FrameSpec, LayerFrameSpec  # noqa: E402

Q4 = {q: (4,) for q in ("activity", "prediction", "error", "precision")}


def two_layers() -> tuple[FrameSpec, Frame]:
    spec = FrameSpec("pc", (LayerFrameSpec(0, "input", "input", 4, (2, 2), dict(Q4)),
                            LayerFrameSpec(1, "top", "top", 4, (4,), dict(Q4))),
                     ("energy/layer_0", "energy/layer_1", "energy/total"), 1)
    f32 = lambda *v: np.array(v, dtype=np.float32)  # noqa: E731
    layers = [
        {"activity": f32(0.2, -0.83, 0.5, 0.1), "prediction": f32(1.2, 0.0, 0.0, 0.0),
         "error": f32(-1.0, -0.83, 0.5, 0.1), "precision": f32(0.0, 0.5, 1.0, 2.6)},
        {"activity": f32(0.4, 0.0, -0.1, 0.0), "prediction": f32(0.0, -1.2, 0.0, 0.3),
         "error": f32(0.4, 1.2, -3.0, -0.3), "precision": f32(2.0, 2.0, 2.0, 2.0)},
    ]
    frame = Frame(step=7, sample_index=3, phase="inference", layers=layers,
                  scalars={"energy/layer_0": 1.0, "energy/layer_1": 2.0, "energy/total": 3.0})
    return spec, frame


def test_hierarchy_draws_each_map_in_its_shape_on_the_windows_scales():
    spec, frame = two_layers()
    fig = plot.hierarchy(frame, spec)
    grid = np.array(fig.axes[:8], dtype=object).reshape(2, 4)  # rows: top, input
    titles = [[ax.get_title() for ax in row] for row in grid]
    assert titles == [["activity x\u2081", "prior mean", "error \u03b5\u2081", "precision \u03a0\u2081 = 2"],
                      ["input x\u2080", "reconstruction from x\u2081", "error \u03b5\u2080", "precision \u03a0\u2080"]]
    assert grid[1, 0].get_ylabel().startswith("input") and grid[0, 0].get_ylabel().startswith("top")
    clim = [[ax.images[0].get_clim() for ax in row] for row in grid]
    # top: |activity|, |prediction| peak 1.2 -> 1.5 (the error's 3.0 saturates)
    assert clim[0][:3] == [(-1.5, 1.5)] * 3 and clim[0][3] == (0.0, 2.0)
    # input: the data alone sets it, peak 0.83 -> 1.0; the precision's 2.6 -> 3.0
    assert clim[1][:3] == [(-1.0, 1.0)] * 3 and clim[1][3] == (0.0, 3.0)
    np.testing.assert_array_equal(grid[1, 0].images[0].get_array(), np.float32([[0.2, -0.83], [0.5, 0.1]]))
    np.testing.assert_array_equal(grid[0, 2].images[0].get_array(), np.float32([[0.4, 1.2], [-3.0, -0.3]]))
    assert grid[0, 0].images[0].get_cmap().name == "CET-D1A"
    assert grid[0, 3].images[0].get_cmap().name == "viridis"
    assert "step 7, sample 3" in fig._suptitle.get_text()


def test_vector_output_keeps_text_as_text(tmp_path):
    spec, frame = two_layers()
    fig = plot.hierarchy(frame, spec)
    fig.savefig(tmp_path / "h.svg")
    fig.savefig(tmp_path / "h.pdf")
    svg = (tmp_path / "h.svg").read_text()
    assert "<text" in svg and "reconstruction from x" in svg  # selectable, editable text
    assert b"/FontFile2" in (tmp_path / "h.pdf").read_bytes()  # TrueType embedded, not Type 3 outlines


def test_timeseries_of_a_recording_holds_its_scalars_and_marks_its_interventions(tmp_path):
    with Session("digits-pc", set={"data.batch_size": 2, "engine.learning": False}) as s:
        with s.record(tmp_path / "r.h5"):
            s.step(10)
            s.clamp("x1", [0], 0.5)
            s.run(steps=15, progress=False)
        live = plot.timeseries(list(s.frames(steps=5)), events=s.events())
    assert live.axes[0].lines[0].get_xdata().tolist() == [26, 27, 28, 29, 30]
    with open_recording(tmp_path / "r.h5") as rec:
        fig = plot.timeseries(rec)
        ax = fig.axes[0]
        assert ax.get_title(loc="left") == "energy F per layer"
        labels = [line.get_label() for line in ax.lines if not line.get_label().startswith("_")]
        assert labels == ["input", "x1", "x2", "top", "total"]
        np.testing.assert_array_equal(ax.lines[1].get_xdata(), rec.steps)
        np.testing.assert_allclose(ax.lines[1].get_ydata(), rec.scalar("energy/layer_1"))
        marks = [line.get_xdata()[0] for line in ax.lines if line.get_label().startswith("_")]
        assert marks == [10]
