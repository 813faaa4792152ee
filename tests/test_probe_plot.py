"""The probe's picture: a curve lying exactly on another (a lesion that changes
nothing) stays visible, and the legend says which curves coincide."""

from __future__ import annotations

import numpy as np
from matplotlib import rcParams
from matplotlib.colors import to_rgb
from PIL import Image

from pcviz.data.stimuli import StimulusSet
from pcviz.sim.probe import ProbeResult
from pcviz.sim.probe_plot import coincident, plot_curves


def result(curves: dict[str, np.ndarray]) -> ProbeResult:
    S = len(next(iter(curves.values())))
    st = StimulusSet("bars", "length", np.arange(1.0, S + 1), {}, np.zeros((S, 4, 4), np.float32))
    U = 3
    resp = np.stack([np.repeat(c[:, None], U, axis=1) for c in curves.values()])  # (C, S, U)
    return ProbeResult(st, 1, "error", "mean", list(range(U)), list(curves), resp.astype(np.float32), 10)


def colour_pixels(png, colour: str) -> int:
    a = np.asarray(Image.open(png).convert("RGB")).astype(int)
    want = np.array([round(255 * v) for v in to_rgb(colour)])
    return int((np.abs(a - want).sum(axis=2) <= 6).sum())


def test_coincident_curves_are_named_and_both_drawn(tmp_path):
    up = np.array([0.1, 0.4, 0.8, 1.0, 0.9])
    flat = np.array([0.5, 0.5, 0.6, 0.6, 0.6])
    res = result({"intact": up, "no-feedback": flat, "lesion": flat.copy()})
    assert coincident(res) == {"lesion": "no-feedback"}
    png = plot_curves(res, tmp_path / "c.png")
    cycle = rcParams["axes.prop_cycle"].by_key()["color"]
    # the lesion is drawn last, over no-feedback: each must still own pixels of its colour
    for ci, name in enumerate(res.conditions):
        assert colour_pixels(png, cycle[ci]) > 200, name  # the old plot left no-feedback 91 (its legend line)


def test_curves_that_differ_are_not_called_the_same():
    a = np.array([1.0, 2.0, 3.0])
    res = result({"a": a, "b": a + 1e-3, "c": a * (1 + 1e-9)})
    assert coincident(res) == {"c": "a"}  # 1e-9 is below float32's resolution; 1e-3 is not


def test_a_normalised_curve_peaks_at_one_and_keeps_its_shape():
    from pcviz.sim.probe_plot import plotted_curve

    r = np.array([[1.0, 3.0], [2.0, 6.0], [0.5, 1.5]])  # 3 stimuli x 2 units
    mean, sem, peak = plotted_curve(r, normalise=False)
    np.testing.assert_allclose(mean, [2.0, 4.0, 1.0])
    np.testing.assert_allclose(sem, [1.0, 2.0, 0.5] / np.sqrt(2))
    assert peak == 4.0
    nmean, nsem, npeak = plotted_curve(r, normalise=True)
    np.testing.assert_allclose(nmean, [0.5, 1.0, 0.25])
    np.testing.assert_allclose(nsem, sem / 4.0)
    assert npeak == 4.0
    flat = np.zeros((3, 2))  # a curve that never rises is drawn as it is
    np.testing.assert_allclose(plotted_curve(flat, normalise=True)[0], 0.0)


def test_the_windows_legend_goes_to_the_corner_the_curves_leave_free():
    from pcviz.sim.probe_plot import legend_corner

    rising = np.array([0.0, 0.2, 0.5, 0.9, 1.0, 1.0])
    assert legend_corner(result({"intact": rising, "lesion": rising * 0.8})) == "bottom"
    assert legend_corner(result({"intact": rising[::-1]})) == "top"  # falling: the top right is free
    hump = np.array([0.0, 0.6, 1.0, 0.6, 0.1, 0.0])  # end-stopping: low at the right
    assert legend_corner(result({"intact": hump})) == "top"
    assert legend_corner(result({"flat": np.ones(4)})) == "top"  # no range: the usual place
