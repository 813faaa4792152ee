"""The y scales of the time-series plots in Qt: an axis that labels symlog ticks in
the data's own values, a view box whose right-click menu picks the plot's scale,
and the settings key that remembers each plot's choice. The maths is in
:mod:`pcviz.display.scales`."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets

from pcviz.display.scales import SCALES, symlog_inverse

LABELS = {"linear": "Linear scale", "symlog": "Symmetric log scale",
          "settled": "Follow the settled values (clip the jumps)"}


def settings() -> QtCore.QSettings:
    """The window's settings file (see pcviz.gui.window.main_window.app_settings)."""
    return QtCore.QSettings(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope, "pcviz", "pcviz")


def remembered_scale(key: str) -> str:
    mode = str(settings().value(f"timeseries/scale/{key}", "linear"))
    return mode if mode in SCALES else "linear"


def remember_scale(key: str, mode: str) -> None:
    settings().setValue(f"timeseries/scale/{key}", mode)


class ScaleAxis(pg.AxisItem):
    """A left axis that, in symlog mode, writes each tick as the value it stands for."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.symlog = False

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph's name)
        if not self.symlog:
            return super().tickStrings(values, scale, spacing)
        return [f"{v:.3g}" for v in symlog_inverse(np.asarray(values, np.float64))]


class ScaleViewBox(pg.ViewBox):
    """A view box whose right-click menu offers the scales (and nothing else)."""

    def __init__(self, on_menu: Callable[[QtCore.QPoint], None] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.on_menu = on_menu

    def raiseContextMenu(self, ev) -> None:  # noqa: N802 (pyqtgraph's name)
        if self.on_menu is not None:
            self.on_menu(ev.screenPos().toPoint())


def scale_menu(parent: QtWidgets.QWidget, current: str, choose: Callable[[str], None]) -> QtWidgets.QMenu:
    menu = QtWidgets.QMenu(parent)
    group = QtGui.QActionGroup(menu)
    for mode in SCALES:
        a = menu.addAction(LABELS[mode])
        a.setCheckable(True)
        a.setChecked(mode == current)
        a.triggered.connect(lambda _=False, m=mode: choose(m))
        group.addAction(a)
    return menu


class PlotScales:
    """The scale part of :class:`pcviz.gui.views.timeseries.TimeSeriesView` (a mixin:
    it uses the view's ``plots``, ``theme``, ``_offset``, ``_dirty``, ``redraw`` and
    ``_set_title``)."""

    def _scale_menu(self, key: str, pos) -> None:
        self._menu = scale_menu(self, self.plots[key].scale, lambda mode: self.set_scale(key, mode))
        self._menu.popup(pos)

    def _use_scale(self, plot, mode: str) -> None:
        plot.scale = mode
        plot.y_range = None
        axis = plot.item.getAxis("left")
        axis.symlog = mode == "symlog"
        axis.picture = None  # redraw the tick labels
        axis.update()
        plot.note = {"linear": "", "symlog": " (symlog)", "settled": " (settled; \u25b2 clipped)"}[mode]
        self._set_title(plot)

    def set_scale(self, key: str, mode: str) -> None:
        """Show plot ``key`` on ``mode`` (linear, symlog, settled), and remember it."""
        self._use_scale(self.plots[key], mode)
        remember_scale(key, mode)
        self._dirty = True
        self.redraw()

    def _mark_clipped(self, plot, series: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Triangles on the top edge where a settled range clips a jump."""
        if plot.scale != "settled" or plot.y_range is None or not series:
            plot.clipped.setData([], [])
            return
        top = plot.y_range[1]
        xs = np.concatenate([x[y > top] for x, y in series])
        plot.clipped.setData(xs - self._offset, np.full(xs.size, top), brush=self.theme.text)

