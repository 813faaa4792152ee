"""The views on their own, fed by a source that is not an engine (as a recording
player will be), for a model unlike the PC family."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6 import QtCore, QtWidgets

from gui_helpers import ListSource, synthetic_frames, synthetic_spec
from pcviz.gui.views.basis import BasisView
from pcviz.gui.views.hierarchy import HierarchyView, cell_title
from pcviz.gui.views.network import NetworkView, weighted_error
from pcviz.gui.theme import DARK, LIGHT
from pcviz.gui.views.timeseries import TimeSeriesView, Trace


@pytest.fixture
def source(qtbot):
    spec = synthetic_spec()
    src = ListSource(spec, synthetic_frames(spec, 40), hold_steps=10)
    yield src
    src.close()


def feed(source, n: int) -> None:
    for _ in range(n):
        source.tick()


def test_hierarchy_lays_out_any_display_shape_and_extra_quantities(qtbot, source):
    view = HierarchyView(source, LIGHT)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    feed(source, 3)
    rows = {r.layer.index: r for r in view.rows}
    assert rows[0].tiler.shape == (4, 3 * 5 - 1)  # grid_shape(3) = 1 x 3 maps of 4x4 with gaps
    assert rows[1].tiler.shape == (3, 4)  # 12 units, 1-D
    assert rows[2].tiler.shape == (1, 5)
    assert set(rows[1].cells) == {"activity", "prediction", "error", "precision", "bu_weight", "z"}
    # z is signed (shares the row's symmetric bar), bu_weight gets a bar of its own from 0
    signed_bar = rows[1].bars[0]
    assert signed_bar.signed and "z" in signed_bar.quantities
    assert any(b.quantities == ["bu_weight"] and not b.signed for b in rows[1].bars)
    frame = view.frame
    # each map shows the frame's values in the layer's layout: check one pixel per map
    for row in view.rows:
        for q, cell in row.cells.items():
            r, c = row.tiler.position(5 % row.layer.size)
            lo, hi = row.bar_of(q).levels.levels
            v = float(frame.layers[row.layer.index][q][5 % row.layer.size])
            expect = int(np.clip((v - lo) * 254 / (hi - lo) + 1, 1, 255))
            assert abs(int(cell.raster.idx[r, c]) - expect) <= 1
    img = view.grab().toImage()
    assert not img.isNull()


def test_hover_names_the_unit_under_the_mouse_in_a_multichannel_layer(qtbot, source):
    view = HierarchyView(source, LIGHT)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    qtbot.waitExposed(view)
    feed(source, 1)
    for unit in (0, 17, 47):  # in the first, second and third 4x4 map
        pos = view.canvas.pos_of(0, unit, "error").toPoint()
        qtbot.mouseMove(view.canvas, pos)
        qtbot.waitUntil(lambda u=unit: view.hovered == (0, u), timeout=2000)
        qtbot.mouseClick(view.canvas, QtCore.Qt.MouseButton.LeftButton, pos=pos)
        assert view.selected == (0, unit)
        assert f"unit {unit} " in view.info.text()
    # a click between maps (a gap) selects nothing
    row = view.canvas.row_of(0)
    cell = row.cells["activity"]
    gap_x = cell.rect.x() + cell.rect.width() * (4.5 / row.tiler.shape[1])
    qtbot.mouseClick(view.canvas, QtCore.Qt.MouseButton.LeftButton,
                     pos=QtCore.QPoint(int(gap_x), int(cell.rect.center().y())))
    assert view.selected is None


def test_uniform_maps_show_their_value(qtbot):
    spec = synthetic_spec()
    frames = synthetic_frames(spec, 2)
    frames[0].layers[2]["precision"][:] = 7.25
    src = ListSource(spec, frames)
    view = HierarchyView(src, LIGHT)
    qtbot.addWidget(view)
    src.tick()
    assert view.canvas.row_of(2).cells["precision"].uniform == pytest.approx(7.25)
    assert view.canvas.row_of(1).cells["precision"].uniform is None
    src.close()


@pytest.mark.parametrize("width,expected", [(400, []), (650, ["1e+03"]), (750, ["all 1e+03"]),
                                            (900, ["all 1e+03", "all 1e+03"])])
def test_a_uniform_maps_value_stays_inside_its_map(qtbot, width, expected):
    """The value of a uniform map (a scalar precision: "all 1e+03") is drawn inside the
    map, in the shorter form or not at all where the column is narrow (pcviz compare
    puts four runs side by side), never over the colour bar beside it."""
    spec = synthetic_spec()
    frames = synthetic_frames(spec, 2)
    for l in (1, 2):
        frames[0].layers[l]["precision"][:] = 1000.0
    src = ListSource(spec, frames)
    view = HierarchyView(src, LIGHT)
    qtbot.addWidget(view)
    view.resize(width, 420)
    view.show()
    qtbot.waitExposed(view)
    src.tick()
    view.canvas.repaint()
    shown = []
    for l in (1, 2):
        row = view.canvas.row_of(l)
        cell = row.cells["precision"]
        assert cell.uniform == pytest.approx(1000.0)
        badge = view.canvas.badge_of(cell)
        if badge is None:
            continue
        rect, text = badge
        shown.append(text)
        assert text in ("all 1e+03", "1e+03")
        assert cell.rect.contains(rect), (width, l, rect, cell.rect)
        for bar in row.bars:
            assert not rect.intersects(bar.rect.adjusted(-2, 0, 2, 0)), (width, l, rect, bar.rect)
    assert shown == expected  # the long form, the short one, or nothing, as the map's width allows
    src.close()


def test_time_series_have_kl_and_elbo_plots_and_hold_markers(qtbot, source):
    view = TimeSeriesView(source, LIGHT)
    qtbot.addWidget(view)
    view.resize(1400, 300)
    view.show()
    assert list(view.plots) == ["kl", "elbo", "loss", "pins"]
    assert [s.name for s in view.plots["kl"].series] == ["z1", "z2"]
    feed(source, 20)  # steps 3, 6, ..., 60; holds of 10 steps
    view.redraw()
    tr = view.series["elbo"].trace
    assert tr.n == 20 and tr.x[-1] == 60
    # every hold start, also those that came and went between frames (step 60 ends a hold)
    assert list(view.markers.x) == [0, 10, 20, 30, 40, 50]
    item = view.series["elbo"].item
    x, y = item.getData()
    assert x[-1] == 0  # following: the newest point is "now"
    np.testing.assert_allclose(y[-3:], tr.y[-3:])


def test_follow_live_stops_on_zoom_and_shows_absolute_steps(qtbot, source):
    view = TimeSeriesView(source, LIGHT)
    qtbot.addWidget(view)
    view.show()
    feed(source, 20)
    view.redraw()
    vb = view.plots["kl"].item.getViewBox()
    vb.sigRangeChangedManually.emit([True, True])  # what a wheel zoom or a drag emits
    assert not view.following and not view.follow.isChecked()
    (x0, x1), _ = view.first_plot.getViewBox().viewRange()
    assert x1 == pytest.approx(60, abs=1)  # the same stretch, now in absolute steps
    feed(source, 5)
    view.redraw()
    (y0, y1), _ = view.first_plot.getViewBox().viewRange()
    assert (y0, y1) == pytest.approx((x0, x1))  # not following: the view stays where the user put it
    view.follow.setChecked(True)
    assert view.following
    assert view.first_plot.getViewBox().viewRange()[0] == pytest.approx([-view.window_steps, 0])


def test_trace_decimation_keeps_the_extremes():
    t = Trace(capacity=100_000)
    for i in range(10_000):
        t.append(float(i), 9.0 if i == 5003 else float(np.sin(i / 50.0)))  # one spike
    x, y = t.visible(0, 20_000, max_points=500)
    assert len(x) <= 520
    assert y.max() == pytest.approx(9.0) and y.min() == pytest.approx(-1.0, abs=1e-3)
    x, y = t.visible(100, 200)
    assert x[0] <= 100 and x[-1] >= 200 and len(x) == 103


def test_trace_keeps_the_newest_when_full():
    t = Trace(capacity=10)
    for i in range(35):
        t.append(float(i), float(i))
    assert t.n <= 20 and t.x[-1] == 34 and np.all(np.diff(t.x) == 1)
    t.append(34.0, float("nan"))  # the same step again replaces the value
    assert t.x[-1] == 34 and np.isnan(t.y[-1]) and t.nonfinite == 1


def test_network_links_follow_the_precision_weighted_error(qtbot, source):
    view = NetworkView(source, LIGHT)
    qtbot.addWidget(view)
    view.resize(400, 500)
    view.show()
    feed(source, 1)
    f = source.last_frame
    for l in range(3):
        e = f.layers[l]["error"].astype(np.float64)
        p = f.layers[l]["precision"].astype(np.float64)
        assert view.errors[l] == pytest.approx(np.sqrt(np.mean(p * e * e)))
    assert weighted_error({"error": np.array([3.0, 4.0])}) == pytest.approx(np.sqrt(12.5))
    assert not view.grab().toImage().isNull()


def test_basis_of_multichannel_patches(qtbot, source):
    view = BasisView(source, LIGHT)
    qtbot.addWidget(view)
    view.resize(400, 400)
    view.show()
    feed(source, 1)
    assert view.shape == (12, 3, 4, 4)
    assert np.nanmax(np.abs(view.image)) == pytest.approx(1.0)


def test_views_repaint_in_both_themes(qtbot, source):
    views = [HierarchyView(source, LIGHT), TimeSeriesView(source, LIGHT), NetworkView(source, LIGHT),
             BasisView(source, LIGHT)]
    for v in views:
        qtbot.addWidget(v)
        v.resize(500, 400)
        v.show()
    feed(source, 2)
    for theme in (DARK, LIGHT):
        for v in views:
            v.apply_theme(theme)
            img = v.grab().toImage()
            # the panel colour shows somewhere: the theme reached the view
            colours = {img.pixelColor(x, y).name() for x in range(0, img.width(), 7) for y in range(0, img.height(), 7)}
            assert theme.panel in colours


def test_cell_titles():
    spec = synthetic_spec()
    assert cell_title(spec.layers[0], "activity") == "input x\u2080"
    assert cell_title(spec.layers[0], "prediction") == "reconstruction from x\u2081"
    assert cell_title(spec.layers[1], "prediction") == "prediction from x\u2082"
    assert cell_title(spec.layers[2], "prediction", top=True) == "prior mean"
    assert cell_title(spec.layers[1], "bu_weight") == "bu weight"
    assert QtWidgets.QApplication.instance() is not None


@pytest.mark.parametrize("hi", [m * 10.0**k for m in (1.0, 1.5, 2.0, 3.0, 5.0, 7.0) for k in range(-8, 6)])
def test_colour_bar_labels_read_as_their_values_and_fit_their_room(qtbot, hi):
    """Every level a colour scale takes (nice_ceil: 1, 1.5, 2, 3, 5, 7 x 10^k), signed or
    not: each tick's label reads back as the tick's value and fits the room the layout
    gives every bar (a precision bar over 0-5000 labelled its middle 2.5e+03, cut to
    "2.5e+0"; 1.5e4 read as 2e+04)."""
    from PyQt6 import QtGui

    from pcviz.gui.theme import ui_font
    from pcviz.gui.views.hierarchy import BAR_LABEL_SLACK
    from pcviz.gui.views.raster import LABEL_GAP, bar_label_width, fmt, tick_values

    font = ui_font(9)  # the hierarchy view's small font
    fm = QtGui.QFontMetricsF(font)
    room = bar_label_width(font) + BAR_LABEL_SLACK - LABEL_GAP  # what the bar's pixmap holds right of the strip
    for levels in ((0.0, hi), (-hi, hi)):
        for v in tick_values(levels):
            label = fmt(v)
            assert fm.horizontalAdvance(label) <= room, label
            assert float(label) == pytest.approx(v, rel=1e-9), (v, label)
