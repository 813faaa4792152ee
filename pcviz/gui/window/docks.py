"""The main window's docks, made in one place: which docks there are, where each one
goes, and the default layout that puts every one of them back (View > Default layout).

The window fills them: its views (controls, interventions, network, learned basis,
time series, and the Latents panel of the hierarchical VAEs) are rebuilt for each new
source; the Probe panel follows the source on its own (:class:`ProbeTool`); the
console dock keeps its console across sources.
"""

from __future__ import annotations

from dataclasses import dataclass

from PyQt6 import QtCore, QtWidgets

from pcviz.gui.panels.latents import KEY as LATENTS  # made only while the source is a hierarchical VAE
from pcviz.gui.panels.probe import KEY as PROBE

Area = QtCore.Qt.DockWidgetArea
H, V = QtCore.Qt.Orientation.Horizontal, QtCore.Qt.Orientation.Vertical

CONSOLE = "console"
FEATURES = (QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetClosable)


@dataclass(frozen=True)
class DockPlace:
    """A dock's key (``dock-<key>`` is its Qt object name, which the saved layout
    uses), title and area. ``view``: its widget is one of the window's views, made anew
    for each source (the window deletes it when the source goes)."""

    key: str
    title: str
    area: Area
    view: bool = True


#: every dock of the window, in the order of the View menu
PLACES = (
    DockPlace("controls", "Controls", Area.LeftDockWidgetArea),
    DockPlace("network", "Network", Area.RightDockWidgetArea),
    DockPlace("basis", "Learned basis", Area.RightDockWidgetArea),
    DockPlace("timeseries", "Time series", Area.BottomDockWidgetArea),
    DockPlace("interventions", "Interventions", Area.LeftDockWidgetArea),
    DockPlace(PROBE, "Probe", Area.BottomDockWidgetArea, view=False),
    DockPlace(LATENTS, "Latents", Area.RightDockWidgetArea),
)
CONSOLE_PLACE = DockPlace(CONSOLE, "Console", Area.BottomDockWidgetArea, view=False)
_BY_KEY = {p.key: p for p in (*PLACES, CONSOLE_PLACE)}


def make_dock(win: QtWidgets.QMainWindow, place: DockPlace) -> QtWidgets.QDockWidget:
    d = QtWidgets.QDockWidget(place.title, win)
    d.setObjectName(f"dock-{place.key}")
    d.setFeatures(FEATURES)
    win.addDockWidget(place.area, d)
    return d


class WindowDocks:
    """The docks of a :class:`~pcviz.gui.window.main_window.MainWindow`.

    ``docks`` (the window's ``docks``): every dock the default layout shows, by key;
    the Latents dock is among them only while the source is a hierarchical VAE.
    ``console``: the console's dock, hidden until View > Console opens it."""

    def __init__(self, win: QtWidgets.QMainWindow):
        self.win = win
        self.docks: dict[str, QtWidgets.QDockWidget] = {}
        for place in PLACES:
            if place.key != LATENTS:
                self.docks[place.key] = make_dock(win, place)
        self.console = make_dock(win, CONSOLE_PLACE)
        self.console.hide()
        win.setCorner(QtCore.Qt.Corner.BottomLeftCorner, Area.LeftDockWidgetArea)
        win.setCorner(QtCore.Qt.Corner.BottomRightCorner, Area.BottomDockWidgetArea)
        self._menu: QtWidgets.QMenu | None = None
        self._menu_end = None

    def view_docks(self) -> list[QtWidgets.QDockWidget]:
        """The docks whose widgets are the window's views (rebuilt for each source)."""
        return [d for k, d in self.docks.items() if _BY_KEY[k].view]

    # ------------------------------------------------------------- the menu
    def fill_menu(self, menu: QtWidgets.QMenu) -> None:
        """List every dock in ``menu`` (View), the console last, then a separator."""
        self._menu = menu
        for d in self.docks.values():
            menu.addAction(d.toggleViewAction())
        act = self.console.toggleViewAction()
        act.setShortcut("Ctrl+`")
        menu.addAction(act)
        self._menu_end = menu.addSeparator()

    # --------------------------------------------------------------- latents
    def set_latents(self, wanted: bool) -> QtWidgets.QDockWidget | None:
        """Make the Latents dock (a tab in front of the learned basis) if ``wanted`` and
        missing, or take it away if not ``wanted``; return it (None when not wanted)."""
        dock = self.docks.get(LATENTS)
        if not wanted:
            if dock is not None:
                self.win.removeDockWidget(dock)
                del self.docks[LATENTS]
                dock.deleteLater()
            return None
        if dock is None:
            dock = make_dock(self.win, _BY_KEY[LATENTS])
            self._tab(self.docks["basis"], dock)
            self.docks[LATENTS] = dock
            if self._menu is not None:
                self._menu.insertAction(self.console.toggleViewAction(), dock.toggleViewAction())
        dock.raise_()
        return dock

    # ---------------------------------------------------------------- layout
    def default_layout(self, live: bool, plot_rows: int = 1) -> None:
        """Every dock back in its area, docked, shown and sized (the console docked back
        beside the time series, shown or hidden as it was); ``live``: the controls in
        front of the interventions (in playback the recording's events matter more);
        ``plot_rows``: rows of plots in the time series (two get more height)."""
        win, docks = self.win, self.docks
        for key, d in docks.items():
            self._put_back(d, _BY_KEY[key].area)
            d.show()
        console_open = self.console.isVisible()
        self._put_back(self.console, CONSOLE_PLACE.area)
        self.console.setVisible(console_open)
        # the interventions share the left column with the controls as a second tab:
        # stacked, the two did not fit 1080 pixels and the controls were cut off
        self._tab(docks["controls"], docks["interventions"])
        # the probe is a tab beside the time series (wide enough for its form and curves)
        self._tab(docks["timeseries"], docks[PROBE])
        if LATENTS in docks:  # in front of the learned basis
            self._tab(docks["basis"], docks[LATENTS])
        w, h = win.width(), win.height()
        win.resizeDocks([docks["controls"]], [max(240, int(0.14 * w))], H)
        win.resizeDocks([docks["network"], docks["basis"]], [max(320, int(0.27 * w))] * 2, H)
        win.resizeDocks([docks["timeseries"]], [max(200, int((0.27 if plot_rows < 2 else 0.36) * h))], V)
        if console_open:  # a third of the bottom row
            win.resizeDocks([self.console], [max(420, w // 3)], H)
        (docks["controls"] if live else docks["interventions"]).raise_()
        docks["timeseries"].raise_()
        if LATENTS in docks:
            docks[LATENTS].raise_()
            win.resizeDocks([docks["network"], docks[LATENTS]], [1, 2], V)
        else:
            win.resizeDocks([docks["network"], docks["basis"]], [1, 1], V)

    def _put_back(self, dock: QtWidgets.QDockWidget, area: Area) -> None:
        """Docked in ``area``; moved only if it is elsewhere (each move of a tabbed dock
        costs Qt a tab bar, which it may leave on screen)."""
        if dock.isFloating():
            dock.setFloating(False)
        if self.win.dockWidgetArea(dock) != area:
            self.win.addDockWidget(area, dock)

    def _tab(self, first: QtWidgets.QDockWidget, second: QtWidgets.QDockWidget) -> None:
        """``second`` a tab behind ``first`` (unless it is one already), with one tab bar.

        Qt 6's ``tabifyDockWidget`` of a dock already laid out in the window, while
        another group has its tab bar, makes two bars for the new group: asking for a bar
        lays the window out first (``QMainWindowLayout::getTabBar``), which asks for the
        group's bar again, and the bar made there is left on the window, filled, under
        the one the group keeps. Taking ``second`` out of the layout and laying the window
        out before tabbing it leaves nothing for that second layout pass to do."""
        win = self.win
        if second in win.tabifiedDockWidgets(first):
            return
        closed = second.isHidden() and second.testAttribute(QtCore.Qt.WidgetAttribute.WA_WState_ExplicitShowHide)
        win.removeDockWidget(second)  # (which hides it)
        for _ in range(8):  # laying out can resize a dock's contents, which asks for another pass
            if not win.layout().activate():
                break
        win.tabifyDockWidget(first, second)
        if not closed:
            second.show()
