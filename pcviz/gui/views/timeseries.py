"""Time series that scroll with the run: energy per layer and in total, error norm
per layer, mean precision per layer, KL per level and the ELBO for models that
stream them, and pinned units' traces; hold boundaries (a new sample arrived) are
faint vertical markers. Points are the frames the display received (display rate).

Every frame's values are kept; the plots are redrawn at ``refresh_hz``. While
following, the x axis counts steps before now and stays put (the data moves), and
the y range changes only when the data leave it or shrink well inside it, so the
axes are not redrawn every frame: axes are what a frame of plots costs. Zooming or
panning a plot stops following and shows absolute steps.
"""

from __future__ import annotations

import re

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets

from pcviz.display.labels import group_scalars as group_names
from pcviz.display.labels import modal_groups, scalar_label, short_labels
from pcviz.display.scales import settled_range, symlog
from pcviz.display.trace import Trace
from pcviz.gui.sources.frame_source import FrameSource
from pcviz.gui.views.timeseries_grid import PIN_HINTS, PlotGrid
from pcviz.gui.views.timeseries_scale import PlotScales, ScaleAxis, ScaleViewBox, remembered_scale
from pcviz.gui.theme import Theme, series_colour
from pcviz.sim.frames import Frame, FrameSpec

def group_scalars(spec: FrameSpec) -> list[tuple[str, str, bool, list[str]]]:
    """(key, title, log y, scalar names) of each plot, known groups first."""
    return group_names(spec.scalars, spec.scalar_notes)


class _Series:
    def __init__(self, name: str, item: pg.PlotCurveItem, capacity: int, log: bool):
        self.name = name
        self.item = item
        self.trace = Trace(capacity)
        self.log = log


class _Plot:
    def __init__(self, key: str, item: pg.PlotItem, log: bool, markers: pg.PlotCurveItem):
        self.key = key
        self.item = item
        self.log = log
        self.markers = markers
        self.series: list[_Series] = []
        self.y_range: tuple[float, float] | None = None
        self.scale = "linear"  # linear | symlog | settled (right-click menu; remembered)
        self.title = key
        self.note = ""  # what the scale adds to the title
        self.key_html = self.key_text = ""  # a colour key after the title (series that are not layers)
        self.x_label = True  # the x axis's words under it (the bottom row's plots)
        self.scalars: list[str] = []  # the run's scalars it draws
        self.shown = True  # in the grid (a mode's plots only while the model is in that mode)
        self.clipped = pg.ScatterPlotItem(symbol="t1", size=7, pen=None)  # points above a settled range


class TimeSeriesView(PlotGrid, PlotScales, QtWidgets.QWidget):
    def __init__(self, source: FrameSource, theme: Theme, capacity: int = 20000, refresh_hz: float = 10.0,
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.source = source
        self.spec = source.spec
        self.theme = theme
        self.capacity = capacity
        self.window_steps = 2000
        #: series keyed in their own plot title: label -> (colour, pen width, dashed)
        self._own_colours: dict[str, tuple[QtGui.QColor, float, bool]] = {}
        self.plots: dict[str, _Plot] = {}
        self._ncols = 1  # columns of the grid of plots
        self._title_font = QtGui.QFont()
        self._title_font.setPointSizeF(10)
        self.series: dict[str, _Series] = {}  # scalar name -> series
        self.pins: dict[tuple[int, int], _Series] = {}
        self.markers = Trace(4000)  # hold boundaries (x only)
        self._last_boundary: int | None = None
        self._following = True
        self._offset = 0.0  # plotted x = step - offset (the newest step while following)
        self._dirty = False
        self._setting_range = False
        #: called after each redraw with (x0, x1, offset): extra items (event markers)
        self.redraw_hooks: list = []
        self._build()
        self.apply_theme(theme)
        self._redraw_timer = QtCore.QTimer(self)
        self._redraw_timer.timeout.connect(self.redraw)
        self._redraw_timer.start(max(1, int(1000 / refresh_hz)))
        source.frame_ready.connect(self.show_frame)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        bar = QtWidgets.QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 0)
        self.follow = QtWidgets.QCheckBox("follow live")
        self.follow.setChecked(True)
        self.follow.setToolTip("scroll with the run; zooming or panning a plot (mouse wheel, drag) turns this off")
        self.follow.toggled.connect(self.set_following)
        self.window = QtWidgets.QSpinBox()
        self.window.setRange(50, 10_000_000)
        self.window.setSingleStep(1000)
        self.window.setValue(self.window_steps)
        self.window.setSuffix(" steps")
        self.window.setKeyboardTracking(False)
        self.window.setToolTip("how many steps the plots show while following")
        self.window.valueChanged.connect(self._set_window)
        self.clear_pins_button = QtWidgets.QPushButton("clear pins")
        self.clear_pins_button.clicked.connect(self.clear_pins)
        for w in (self.follow, QtWidgets.QLabel("window"), self.window, self.clear_pins_button):
            w.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
            bar.addWidget(w)
        bar.addStretch(1)
        self.key = QtWidgets.QLabel()  # the colours of the layers, shared by every plot
        self.key.setTextFormat(QtCore.Qt.TextFormat.RichText)
        bar.addWidget(self.key)
        self.canvas = pg.GraphicsLayoutWidget()
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addLayout(bar)
        lay.addWidget(self.canvas, 1)

        groups = group_scalars(self.spec)
        #: plots shown only while the model is in a mode (key -> mode), see modal_groups
        self.modal = modal_groups(self.spec, groups)
        first: pg.PlotItem | None = None
        names = {l.index: l.name for l in self.spec.layers}
        for key, title, log, scalars in groups + [("pins", "pinned units (activity)", False, [])]:
            vb = ScaleViewBox(None if key == "pins" else (lambda pos, k=key: self._scale_menu(k, pos)))
            p = pg.PlotItem(viewBox=vb, axisItems={"left": ScaleAxis(orientation="left")})
            p.setTitle(title, size="10pt")
            p.setMenuEnabled(False, True)  # the view box's menu is the scale menu
            p.hideButtons()
            if log:
                p.getAxis("left").setLogMode(True)
            vb = p.getViewBox()
            vb.disableAutoRange()
            vb.sigRangeChangedManually.connect(self._manual_range)
            if first is None:
                first = p
            else:
                p.setXLink(first)
            m = pg.PlotCurveItem(connect="pairs")
            p.addItem(m, ignoreBounds=True)
            plot = _Plot(key, p, log, m)
            plot.title, plot.scalars = title, list(scalars)
            plot.shown = key not in self.modal  # a mode's plots wait for their mode
            p.addItem(plot.clipped, ignoreBounds=True)
            self.plots[key] = plot
            if key != "pins":
                self._use_scale(plot, remembered_scale(key))
            labels = [self._label(s, names) for s in scalars]
            if len(labels) > 1 and not set(labels) & set(names.values()):
                # series that are not layers (a class per line): a hue each, keyed in the title
                # (a legend would hide the plot at the panel's height)
                hues = [pg.intColor(i, hues=len(labels), maxValue=220) for i in range(len(labels))]
                # a few series (PC and its backprop twin) may lie on one another: each
                # later one thinner and dashed, so a curve under another still shows
                few = len(labels) <= 3
                self._own_colours.update({lab: (c, 4.0 - 1.5 * i if few else 2.0, few and i > 0)
                                          for i, (lab, c) in enumerate(zip(labels, hues))})
                short = short_labels(labels)
                plot.key_html = "&nbsp;&nbsp;" + "&nbsp;".join(
                    f'<span style="color:{c.name()}"><b>{k}</b></span>' for k, c in zip(short, hues))
                plot.key_text = "  " + " ".join(short)
            for s, label in zip(scalars, labels):
                item = pg.PlotCurveItem(name=label, antialias=True)
                p.addItem(item)
                series = _Series(label, item, self.capacity, log)
                plot.series.append(series)
                self.series[s] = series
        self._arrange()
        self.first_plot = first
        # the hint lives in the view box's pixels (not the data's), centred, in the
        # longest wording that fits the plot as it is now
        self.pin_hint = pg.TextItem(PIN_HINTS[0], anchor=(0.5, 0.5))
        pins_box = self.plots["pins"].item.getViewBox()
        self.pin_hint.setParentItem(pins_box)
        pins_box.sigResized.connect(self._fit_pin_hint)
        self._pin_hint_wanted = True
        self.plots["pins"].item.setYRange(0, 1, padding=0)
        self._apply_x_mode()

    def _legend(self, p: pg.PlotItem) -> pg.LegendItem:
        legend = p.addLegend(offset=(-4, 4), labelTextSize="9pt", verSpacing=-8, colCount=1)
        legend.setBrush(self.theme.qcolor("panel", 215))
        legend.setLabelTextColor(self.theme.text)
        return legend

    @staticmethod
    def _label(scalar: str, names: dict[int, str]) -> str:
        return scalar_label(scalar, names)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.canvas.setBackground(theme.panel)
        for plot in self.plots.values():
            p = plot.item
            p.setTitle(p.titleLabel.text, size="10pt", color=theme.text)
            for ax in ("left", "bottom"):
                a = p.getAxis(ax)
                a.setPen(theme.muted)
                a.setTextPen(theme.text)
            plot.markers.setPen(pg.mkPen(theme.qcolor("muted", 80), width=1))
            if p.legend is not None:
                p.legend.setLabelTextColor(theme.text)
                p.legend.setBrush(theme.qcolor("panel", 215))
        if hasattr(self, "pin_hint"):
            self.pin_hint.setColor(theme.muted)
        for s in self.series.values():
            s.item.setPen(self._pen_for(s.name))
        entries = [(l.name, series_colour(theme, l.index)) for l in self.spec.layers]
        if "energy/total" in self.series:
            entries.append(("total", theme.accent))
        self.key.setText("&nbsp;&nbsp;".join(
            f'<span style="color:{c}; font-weight:bold">\u2501\u2501</span>&nbsp;{name}' for name, c in entries))
        for i, s in enumerate(self.pins.values()):
            s.item.setPen(pg.mkPen(series_colour(theme, i), width=2))

    def _pen_for(self, label: str) -> QtGui.QPen:
        if label in self._own_colours:
            colour, width, dashed = self._own_colours[label]
            pen = pg.mkPen(colour, width=width)
            if dashed:
                pen.setStyle(QtCore.Qt.PenStyle.DashLine)
            return pen
        if label == "total":
            return pg.mkPen(self.theme.accent, width=2.5)
        for l in self.spec.layers:
            if l.name == label:
                return pg.mkPen(series_colour(self.theme, l.index), width=2)
        m = re.search(r"(\d+)$", label)
        return pg.mkPen(series_colour(self.theme, int(m.group(1)) if m else 0), width=2)

    # ------------------------------------------------------------------ pins
    def pin(self, layer: int, unit: int) -> None:
        """Plot the activity of ``unit`` of ``layer`` from now on (at most 8 pins)."""
        if (layer, unit) in self.pins or len(self.pins) >= 8:
            return
        name = f"{self.spec.layers[layer].name} #{unit}"
        plot = self.plots["pins"]
        p = plot.item
        if p.legend is None:
            self._legend(p)
        self._pin_hint_wanted = False
        self.pin_hint.hide()
        item = pg.PlotCurveItem(name=name, antialias=True,
                                pen=pg.mkPen(series_colour(self.theme, len(self.pins)), width=2))
        p.addItem(item)
        s = _Series(name, item, self.capacity, False)
        plot.series.append(s)
        self.pins[(layer, unit)] = s
        f = self.source.last_frame
        if f is not None:
            self._append_pins(f)
            self._dirty = True

    def clear_pins(self) -> None:
        plot = self.plots["pins"]
        for s in self.pins.values():
            plot.item.removeItem(s.item)
        plot.series.clear()
        plot.y_range = None
        self.pins.clear()
        if plot.item.legend is not None:
            plot.item.legend.clear()
        self._pin_hint_wanted = True
        self._fit_pin_hint()

    # ----------------------------------------------------------------- follow
    @property
    def following(self) -> bool:
        return self._following

    def set_following(self, on: bool) -> None:
        on = bool(on)
        if on == self._following:
            return
        self._following = on
        if self.follow.isChecked() != on:
            self.follow.blockSignals(True)
            self.follow.setChecked(on)
            self.follow.blockSignals(False)
        if not on:  # keep what is shown, in absolute steps
            (x0, x1), _ = self.first_plot.getViewBox().viewRange()
            shift = self._offset
            self._offset = 0.0
            self._apply_x_mode((x0 + shift, x1 + shift))
        else:
            for plot in self.plots.values():
                plot.y_range = None
            self._apply_x_mode()
        self._dirty = True
        self.redraw()

    def _apply_x_mode(self, x_range: tuple[float, float] | None = None) -> None:
        label = "steps before now" if self._following else "step"
        for plot in self.plots.values():
            axis = plot.item.getAxis("bottom")
            axis.setLabel(label, **{"font-size": "9pt"})
            axis.showLabel(plot.x_label)
        self._setting_range = True
        try:
            if self._following:
                self.first_plot.setXRange(-self.window_steps, 0, padding=0)
            elif x_range is not None:
                self.first_plot.setXRange(*x_range, padding=0)
        finally:
            self._setting_range = False

    def _set_window(self, steps: int) -> None:
        self.window_steps = int(steps)
        if self._following:
            self._apply_x_mode()
            self._dirty = True

    def _manual_range(self, *args) -> None:
        if self._following and not self._setting_range:
            self.set_following(False)

    # ----------------------------------------------------------------- frames
    def clear(self) -> None:
        for s in [*self.series.values(), *self.pins.values()]:
            s.trace.clear()
        self.markers.clear()
        self._last_boundary = None

    def show_frame(self, frame: Frame) -> None:
        x = float(frame.step)
        last = self.last_step
        if last is not None and x < last:  # a jump back (a recording sought backwards)
            self.clear()
        for name, s in self.series.items():
            v = frame.scalars.get(name)
            if v is not None:
                s.trace.append(x, v)
        if self.modal:
            self._follow_modes(frame.scalars)
        self._append_pins(frame)
        self._add_boundaries(frame)
        self._dirty = True

    @property
    def last_step(self) -> float | None:
        xs = [s.trace.last_x for s in self.series.values() if s.trace.n]
        return max(xs) if xs else None

    def redraw(self) -> None:
        """Push the kept values to the plots (if any arrived since the last redraw)."""
        if not self._dirty or self.first_plot is None:
            return
        self._dirty = False
        if self._following:
            self._offset = self.last_step or 0.0
            x0, x1 = self._offset - self.window_steps, self._offset
        else:
            (v0, v1), _ = self.first_plot.getViewBox().viewRange()
            x0, x1 = v0 + self._offset, v1 + self._offset
        bounds = self.markers.x
        for plot in self.plots.values():
            if not plot.shown:  # its traces keep growing; drawn when it is shown
                continue
            lo, hi = np.inf, -np.inf
            clipped: list[tuple[np.ndarray, np.ndarray]] = []
            for s in plot.series:
                x, y = s.trace.visible(x0, x1)
                if s.log:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        y = np.log10(np.where(y > 0, y, np.nan))
                elif plot.scale == "symlog":
                    y = symlog(y)
                elif plot.scale == "settled":
                    r = settled_range(x, y, bounds[(bounds >= x0) & (bounds <= x1)])
                    if r is not None:
                        lo, hi = min(lo, r[0]), max(hi, r[1])
                        clipped.append((x, y))
                finite = s.trace.nonfinite == 0 and not s.log and plot.scale != "symlog"
                s.item.setData(x - self._offset, y, connect="all" if finite else "finite", skipFiniteCheck=finite)
                if plot.scale == "settled":
                    continue
                inside = y[(x >= x0) & (x <= x1)]
                inside = inside[np.isfinite(inside)]
                if inside.size:
                    lo, hi = min(lo, float(inside.min())), max(hi, float(inside.max()))
            if np.isfinite(lo) and (self._following or plot.scale == "settled"):
                self._fit_y(plot, lo, hi)
            self._mark_clipped(plot, clipped)
            self._draw_markers(plot, x0, x1)
        for hook in self.redraw_hooks:
            hook(x0, x1, self._offset)

    def _fit_y(self, plot: _Plot, lo: float, hi: float) -> None:
        """Move the y range only when the data leave it or fill less than 40% of it."""
        # a flat series (a fixed weight, a flag that stays 0) gets a readable span around
        # its value instead of ticks in the 7th decimal
        flat = 0.1 * max(1.0, abs(lo), abs(hi))
        if hi - lo < 1e-6 * flat:
            lo, hi = lo - flat / 2, hi + flat / 2
        span = max(hi - lo, 1e-9)
        r = plot.y_range
        if r is not None and r[0] <= lo and hi <= r[1] and span >= 0.4 * (r[1] - r[0]):
            return
        pad = 0.15 * span
        plot.y_range = (lo - pad, hi + pad)
        self._setting_range = True
        try:
            plot.item.setYRange(*plot.y_range, padding=0)
        finally:
            self._setting_range = False

    def _append_pins(self, frame: Frame) -> None:
        for (layer, unit), s in self.pins.items():
            a = frame.layers[layer].get("activity")
            if a is not None:
                s.trace.append(float(frame.step), float(np.asarray(a).reshape(-1)[unit]))

    def _add_boundaries(self, frame: Frame) -> None:
        b = int(frame.step - frame.hold_step)  # the step before the current hold's first
        prev = self._last_boundary
        if prev is not None and b <= prev:
            return
        hold = self.source.hold_steps
        if prev is not None and hold and (b - prev) // hold <= 500:
            for k in range(prev + hold, b, hold):  # holds that came and went between frames
                self.markers.append(float(k), 0.0)
        self.markers.append(float(b), 0.0)
        self._last_boundary = b

    def _draw_markers(self, plot: _Plot, x0: float, x1: float) -> None:
        xs = self.markers.x
        xs = xs[(xs >= x0) & (xs <= x1)] - self._offset
        width_px = max(1.0, min(p.item.getViewBox().width() for p in self.plots.values() if p.shown))
        if xs.size == 0 or xs.size > width_px / 5:  # none, or closer than 5 pixels: hide (in every plot)
            plot.markers.setData([], [])
            return
        _, (y0, y1) = plot.item.getViewBox().viewRange()
        px = np.repeat(xs, 2)
        py = np.tile(np.array([y0, y1], dtype=np.float64), xs.size)
        plot.markers.setData(px, py, connect="pairs", skipFiniteCheck=True)

    def detach(self) -> None:
        self._redraw_timer.stop()
        try:
            self.source.frame_ready.disconnect(self.show_frame)
        except TypeError:
            pass
