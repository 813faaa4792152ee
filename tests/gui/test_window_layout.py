"""The window's geometry, checked offscreen: every dock made in one place and put back
by View > Default layout; no tab bar left where no dock is; the network diagram's
labels clear of each other, of its links and of its edges; the pin hint inside its plot."""

from __future__ import annotations

import itertools

import pytest
from PyQt6 import QtCore, QtGui, QtWidgets

from pcviz.gui.views.network import NetworkView
from pcviz.gui.window.docks import PLACES

Area = QtCore.Qt.DockWidgetArea


def visible_tab_bars_without_a_dock(win) -> list[str]:
    """Tab bars of the window shown where none of their docks is: a tab bar sits under
    its front dock, as wide and at the same left edge (what Qt leaves behind does not)."""
    bad = []
    for tb in win.findChildren(QtWidgets.QTabBar):
        if tb.parentWidget() is not win or not tb.isVisible():
            continue
        titles = {tb.tabText(i) for i in range(tb.count())}
        g = tb.geometry()
        owners = [d for d in win.findChildren(QtWidgets.QDockWidget)
                  if d.windowTitle() in titles and d.isVisible() and not d.isFloating()]
        if not any(d.geometry().left() == g.left() and d.geometry().width() == g.width() for d in owners):
            bad.append(f"{sorted(titles)} at {g.getRect()}")
    return bad


def tab_bars_by_group(win) -> dict[tuple[str, ...], int]:
    """How many tab bars of the window hold each group of tabs (Qt leaves a bar it
    retired empty, or deletes it)."""
    out: dict[tuple[str, ...], int] = {}
    for tb in win.findChildren(QtWidgets.QTabBar):
        if tb.parentWidget() is win and tb.count():
            key = tuple(tb.tabText(i) for i in range(tb.count()))
            out[key] = out.get(key, 0) + 1
    return out


@pytest.mark.parametrize("preset", ["digits-pc", "digits-lvae"])
def test_each_tab_group_has_one_tab_bar(qtbot, preset):
    """Tabbing a second group made Qt leave a second, dead bar under the group's own
    (the window looked right; clicks on the leftover did nothing), as the window is
    built, and laid out again for ``--screenshot``: each group keeps one bar, the one
    it uses."""
    from pcviz.gui.app import open_engine
    from pcviz.gui.window.main_window import MainWindow

    from conftest import preset_overrides

    bridge = open_engine(preset, "cpu", preset_overrides(preset))
    try:
        win = MainWindow(bridge, theme="light", persist=False, restore=False)
    except BaseException:
        bridge.close()
        raise
    qtbot.addWidget(win)
    want = {("Controls", "Interventions"): 1, ("Time series", "Probe"): 1}
    if preset == "digits-lvae":
        want[("Learned basis", "Latents")] = 1
    win.resize(1920, 1080)
    win.default_layout()  # as --screenshot does, before showing the window
    win.show()
    qtbot.waitExposed(win)
    assert tab_bars_by_group(win) == want
    win.docks["probe"].setFloating(True)
    win.docks["interventions"].setFloating(True)
    qtbot.wait(20)
    win.default_layout()  # View > Default layout
    qtbot.wait(20)
    assert tab_bars_by_group(win) == want
    # each bar is the one its group uses: switching its tab brings the other dock forward
    activated = []
    win.tabifiedDockWidgetActivated.connect(lambda d: activated.append(d.windowTitle()))
    for tb in win.findChildren(QtWidgets.QTabBar):
        if tb.parentWidget() is win and tb.count() == 2:
            activated.clear()
            front = tb.currentIndex()
            tb.setCurrentIndex(1 - front)
            tb.setCurrentIndex(front)
            assert activated == [tb.tabText(1 - front), tb.tabText(front)]
    win.close()
    bridge.close()


@pytest.mark.parametrize("preset", ["digits-pc", "digits-lvae"])
def test_default_layout_puts_every_dock_back(open_window, qtbot, preset, monkeypatch):
    monkeypatch.setenv("PCVIZ_CONSOLE", "pyqtgraph")  # no kernel threads to outlive the test
    win = open_window(preset)
    win.resize(1920, 1080)
    win.default_layout()
    qtbot.wait(20)
    assert not visible_tab_bars_without_a_dock(win)
    wanted = {p.key for p in PLACES} - ({"vae"} if preset == "digits-pc" else set())
    assert set(win.docks) == wanted
    # move things about: float the probe, close the network, send the time series left,
    # open the console and float it
    win.docks["probe"].setFloating(True)
    win.docks["network"].close()
    win.addDockWidget(Area.LeftDockWidgetArea, win.docks["timeseries"])
    win.dock_set.console.show()
    win.dock_set.console.setFloating(True)
    qtbot.wait(20)
    win.default_layout()
    qtbot.wait(20)
    for p in PLACES:
        if p.key in win.docks:
            d = win.docks[p.key]
            assert not d.isFloating() and win.dockWidgetArea(d) == p.area, p.key
            assert not d.isHidden(), p.key
    assert win.docks["probe"] in win.tabifiedDockWidgets(win.docks["timeseries"])
    assert win.docks["interventions"] in win.tabifiedDockWidgets(win.docks["controls"])
    console = win.dock_set.console
    assert not console.isFloating() and win.dockWidgetArea(console) == Area.BottomDockWidgetArea
    assert console.isVisible()  # it stays open, docked back
    assert not visible_tab_bars_without_a_dock(win)
    win.close()


def test_no_stray_tab_bar_after_a_preset_switch(open_window, qtbot):
    win = open_window("digits-pc")
    win.open_preset("digits-lvae", "cpu")
    win.resize(1920, 1080)
    win.default_layout()
    qtbot.wait(20)
    assert not visible_tab_bars_without_a_dock(win)
    win.close()


def text_boxes(net: NetworkView) -> list[tuple[str, QtCore.QRectF]]:
    """The node labels as drawn: right-aligned in their boxes, as wide as their text."""
    out = []
    for text, box in net.node_label_boxes():
        font = net.font_bold if not text.endswith("units") else net.font_small
        w = QtGui.QFontMetricsF(font).horizontalAdvance(text)
        h = QtGui.QFontMetricsF(font).height()
        out.append((text, QtCore.QRectF(box.right() - w, box.center().y() - h / 2, w, h)))
    return out


@pytest.mark.parametrize("preset", ["digits-lvae", "digits-pc", "digits-hybrid", "digits-supervised"])
def test_network_labels_never_overlap(open_window, qtbot, preset):
    win = open_window(preset)
    net = win.network
    n = len(net.spec.layers)
    for w, h in [(net.minimumWidth(), net.minimumHeight()), (260, net.minimumHeight() + 13),
                 (400, 2 * net.minimumHeight()), (520, 216 if n < 4 else 230)]:
        net.resize(w, max(h, net.minimumHeight()))
        boxes = text_boxes(net)
        inside = QtCore.QRectF(net.rect())
        for text, r in boxes:
            assert inside.contains(r), (preset, w, h, text, r)
            # left of the prediction links' arrows (6 px either side of cx - 16) ...
            assert r.right() < net.cx - 16 - 6, (text, r)
            # ... and of the forward links (up to 12 px wide, left of cx - 34)
            if net.forward_layers:
                assert r.right() < net.cx - 34 - 12, (text, r)
        for (a, ra), (b, rb) in itertools.combinations(boxes, 2):
            assert not ra.intersects(rb), (preset, net.size(), a, ra, b, rb)
    win.close()


def test_the_network_dock_keeps_room_for_its_diagram(open_window, qtbot):
    """The Latents dock shares the right column on the VAEs: the diagram keeps at
    least its minimum, and the window still fits a 1280x800 screen."""
    win = open_window("digits-lvae")
    win.resize(1280, 800)
    win.default_layout()
    qtbot.wait(20)
    assert win.network.height() >= win.network.minimumHeight()
    assert win.minimumSizeHint().height() <= 800
    win.close()


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 800), (900, 600)])
def test_pin_hint_stays_inside_its_plot(open_window, qtbot, size):
    win = open_window("digits-lvae")
    win.resize(*size)
    win.default_layout()
    win.source.advance(5, process_events=True)
    qtbot.wait(50)
    ts = win.timeseries
    box = ts.plots["pins"].item.getViewBox()
    hint = ts.pin_hint
    if hint.isVisible():
        assert box.sceneBoundingRect().contains(hint.sceneBoundingRect()), (size, hint.toPlainText())
    ts.resize(220, 180)  # very small: a shorter wording, or none
    qtbot.wait(20)
    assert not hint.isVisible() or box.sceneBoundingRect().contains(hint.sceneBoundingRect())
    win.close()


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 800)])
def test_time_series_grid_fits_its_dock(open_window, qtbot, size):
    """Every plot inside the canvas (none cut off at the right) and every title inside
    its plot, the explanations after a colon dropped first where columns are narrow."""
    win = open_window("digits-lvae")
    win.resize(*size)
    win.default_layout()
    win.source.advance(5, process_events=True)
    ts = win.timeseries
    qtbot.waitUntil(lambda: ts.canvas.ci.geometry().width() <= ts.canvas.width() + 0.5, timeout=3000)
    canvas = QtCore.QRectF(ts.canvas.rect())
    for key in ts.shown_plots():
        item = ts.plots[key].item
        rect = item.sceneBoundingRect()
        assert canvas.contains(rect.adjusted(1, 1, -1, -1)), (key, rect, canvas)
        title = item.titleLabel
        assert title.item.sceneBoundingRect().width() <= rect.width(), (key, title.text)
    win.close()
