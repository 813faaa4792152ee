"""Views of the hierarchical VAEs' own quantities.

:class:`BuWeightView`: ``bu_weight`` = π_bu / (π_bu + π_td) of every latent level, the
share of the posterior's precision that comes from the data (bottom-up) rather than
from the prior (top-down): 0 the posterior is the prior, 1 it is the bottom-up
estimate alone, ½ both weigh the same. One heatmap per level on a fixed 0..1 scale
(a diverging map whose middle is ½), so levels and moments compare directly.

:class:`ActiveUnitsView`: active units per level (Burda et al.) over the whole run,
against the level's size, with the collapsed flags marked. KL per level and the
ELBO are in the time-series dock already.

Both are fed :class:`~pcviz.sim.frames.Frame` s by a frame source, live or recorded.
"""

from __future__ import annotations

import re

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets

from pcviz.gui.views.raster import RasterImage, fit_rect, lut32
from pcviz.gui.sources.frame_source import FrameSource
from pcviz.gui.theme import Theme, series_colour, ui_font
from pcviz.display.tiling import Tiler
from pcviz.sim.frames import Frame, FrameSpec

QUANTITY = "bu_weight"
LEVELS = (0.0, 1.0)
_LEVEL = re.compile(r"level_(\d+)$")


def bu_weight_layers(spec: FrameSpec) -> list[int]:
    """Indices of the layers that stream ``bu_weight``, bottom first."""
    return [l.index for l in spec.layers if QUANTITY in l.quantities]


def level_scalars(spec: FrameSpec, prefix: str) -> dict[int, str]:
    """{level: scalar name} of the scalars ``prefix/level_l``."""
    out = {}
    for s in spec.scalars:
        if s.startswith(prefix + "/"):
            m = _LEVEL.search(s)
            if m:
                out[int(m.group(1))] = s
    return dict(sorted(out.items()))


class BuWeightView(QtWidgets.QWidget):
    """One ``bu_weight`` heatmap per level (bottom level on the left), a shared 0..1
    colour bar, and each level's mean under its map."""

    TITLE_H = 34
    FOOT_H = 0
    BAR_W = 14

    def __init__(self, source: FrameSource, theme: Theme, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.source = source
        self.spec = source.spec
        self.layers = bu_weight_layers(self.spec)
        self.tilers = {i: Tiler(self.spec.layers[i].display_shape, self.spec.layers[i].size) for i in self.layers}
        self.rasters = {i: RasterImage(t.shape) for i, t in self.tilers.items()}
        self.values: dict[int, np.ndarray] = {}  # layer -> (n_l,) the newest bu_weight
        self.rects: dict[int, QtCore.QRectF] = {}
        self.step: int | None = None
        self.font_title = ui_font(10, bold=True)
        self.font_small = ui_font(9)
        self.setMinimumSize(240, 100)
        self.setMouseTracking(True)
        self._layout()
        self.apply_theme(theme)
        source.attach(self.show_frame)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.lut = lut32(theme.signed_map, theme.panel)  # ½ (equal trust) is the neutral middle
        for r in self.rasters.values():
            r.recolour(self.lut)
        self.update()

    def show_frame(self, frame: Frame) -> None:
        for i in self.layers:
            a = frame.layers[i].get(QUANTITY)
            if a is None:
                continue
            v = np.asarray(a, dtype=np.float32).reshape(-1)  # (n_l,)
            self.values[i] = v
            self.rasters[i].set(self.tilers[i].image(v), LEVELS, self.lut)
        self.step = frame.step
        self.update()

    def mean(self, layer: int) -> float | None:
        v = self.values.get(layer)
        return None if v is None else float(np.nanmean(v))

    # ------------------------------------------------------------------ paint
    def _layout(self) -> None:
        W, H = float(self.width()), float(self.height())
        bar_room = self.BAR_W + 62
        n = max(1, len(self.layers))
        cell_w = (W - bar_room - 8) / n
        self.rects = {}
        for k, i in enumerate(self.layers):
            area = QtCore.QRectF(6 + k * cell_w + 4, self.TITLE_H, cell_w - 8, H - self.TITLE_H - 8)
            self.rects[i] = fit_rect(area, self.tilers[i].shape)
        tops = [r.top() for r in self.rects.values()] or [self.TITLE_H]
        bottoms = [r.bottom() for r in self.rects.values()] or [H - 8]
        top, bottom = min(tops), max(bottoms)
        if bottom - top < 40:  # small maps: a bar tall enough to read
            top, bottom = self.TITLE_H, H - 8
        self.bar_rect = QtCore.QRectF(W - bar_room + 4, top, self.BAR_W, max(4.0, bottom - top))

    def resizeEvent(self, ev: QtGui.QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        self._layout()
        super().resizeEvent(ev)

    def paintEvent(self, ev: QtGui.QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        th = self.theme
        p = QtGui.QPainter(self)
        p.fillRect(self.rect(), QtGui.QColor(th.panel))
        p.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing, True)
        text, muted = QtGui.QColor(th.text), QtGui.QColor(th.muted)
        if not self.layers:
            p.setPen(muted)
            p.drawText(self.rect(), QtCore.Qt.AlignmentFlag.AlignCenter, "this model streams no bu_weight")
            return
        fm = QtGui.QFontMetricsF(self.font_small)
        for i, r in self.rects.items():
            layer = self.spec.layers[i]
            m = self.mean(i)
            p.setPen(text)
            p.setFont(self.font_title)
            box = QtCore.QRectF(r.x() - 20, r.top() - self.TITLE_H, r.width() + 40, 18)
            p.drawText(box, QtCore.Qt.AlignmentFlag.AlignHCenter | QtCore.Qt.AlignmentFlag.AlignBottom, layer.name)
            p.setFont(self.font_small)
            p.setPen(muted)
            sub = f"mean {m:.2f}" if m is not None else f"{layer.size} units"
            p.drawText(box.translated(0, 15), QtCore.Qt.AlignmentFlag.AlignHCenter | QtCore.Qt.AlignmentFlag.AlignBottom,
                       sub)
            p.setPen(QtGui.QPen(th.qcolor("muted", 140), 1))
            p.drawRect(r.adjusted(-1, -1, 0, 0))
            p.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, False)
            p.drawImage(r, self.rasters[i].qimage)
        # the colour bar: 1 (data) at the top, 0 (prior) at the bottom
        b = self.bar_rect
        strip = np.ascontiguousarray(self.lut[:0:-1].reshape(255, 1))  # (255, 1)
        img = QtGui.QImage(strip.data, 1, 255, 4, QtGui.QImage.Format.Format_RGB32)
        p.drawImage(b, img)
        p.setPen(QtGui.QPen(text, 1))
        p.drawRect(b)
        p.setFont(self.font_small)
        for v, label in ((1.0, "1 data"), (0.5, "\u00bd equal"), (0.0, "0 prior")):
            y = b.bottom() - v * b.height()
            p.drawLine(QtCore.QPointF(b.right(), y), QtCore.QPointF(b.right() + 4, y))
            p.drawText(QtCore.QPointF(b.right() + 6, y + fm.capHeight() / 2), label)
        p.end()

    def unit_at(self, pos: QtCore.QPointF) -> tuple[int, int] | None:
        for i, r in self.rects.items():
            if r.contains(pos):
                shape = self.tilers[i].shape
                row = int((pos.y() - r.y()) / r.height() * shape[0])
                col = int((pos.x() - r.x()) / r.width() * shape[1])
                u = self.tilers[i].unit_at(row, col)
                return None if u is None else (i, u)
        return None

    def mouseMoveEvent(self, ev: QtGui.QMouseEvent) -> None:  # noqa: N802
        hit = self.unit_at(ev.position())
        if hit is None or hit[0] not in self.values:
            self.setToolTip("")
        else:
            i, u = hit
            w = float(self.values[i][u])
            self.setToolTip(f"{self.spec.layers[i].name} unit {u}: bu_weight {w:.3f} "
                            f"(the posterior takes {100 * w:.0f}% of its precision from the data)")
        super().mouseMoveEvent(ev)

    def detach(self) -> None:
        try:
            self.source.frame_ready.disconnect(self.show_frame)
        except TypeError:
            pass


class _History:
    """A piecewise-constant series kept only where it changes (diagnostics come at a
    cadence; every frame repeats the last value)."""

    def __init__(self):
        self.x: list[float] = []
        self.y: list[float] = []
        self.last_x: float | None = None

    def add(self, x: float, y: float) -> bool:
        changed = not self.y or not (y == self.y[-1] or (np.isnan(y) and np.isnan(self.y[-1])))
        if changed:
            self.x.append(x)
            self.y.append(y)
        self.last_x = x
        return changed

    def steps(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of the step curve up to the newest step."""
        if not self.x:
            return np.zeros(0), np.zeros(0)
        x = np.repeat(np.asarray(self.x + [self.last_x], dtype=np.float64), 2)[1:-1]
        y = np.repeat(np.asarray(self.y, dtype=np.float64), 2)
        return x, y

    def clear(self) -> None:
        self.x, self.y, self.last_x = [], [], None


class ActiveUnitsView(QtWidgets.QWidget):
    """Active units per level over the run (step curves), each level's size as a dashed
    line of its colour, and red crosses where a level is flagged collapsed."""

    def __init__(self, source: FrameSource, theme: Theme, refresh_hz: float = 5.0,
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.source = source
        self.spec = source.spec
        self.active_names = level_scalars(self.spec, "active_units")
        self.collapsed_names = level_scalars(self.spec, "collapsed")
        self.active = {l: _History() for l in self.active_names}
        self.collapsed = {l: _History() for l in self.collapsed_names}
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=True, y=False)
        p = self.plot.getPlotItem()
        p.setLabel("bottom", "step", **{"font-size": "9pt"})
        p.setLabel("left", "units", **{"font-size": "9pt"})
        self.curves: dict[int, pg.PlotCurveItem] = {}
        self.ceilings: dict[int, pg.InfiniteLine] = {}
        for l in self.active:
            name = self.spec.layers[l].name if l < len(self.spec.layers) else f"level {l}"
            self.curves[l] = pg.PlotCurveItem(name=f"{name} (of {self.spec.layers[l].size})")
            p.addItem(self.curves[l])
            self.ceilings[l] = pg.InfiniteLine(pos=self.spec.layers[l].size, angle=0, movable=False)
            p.addItem(self.ceilings[l], ignoreBounds=False)
        self.crosses = pg.ScatterPlotItem(symbol="x", size=11)
        p.addItem(self.crosses)
        top = max((self.spec.layers[l].size for l in self.active), default=1)
        p.setYRange(0, top * 1.08, padding=0)
        self.plot.setMinimumHeight(80)
        self.note = QtWidgets.QLabel()
        self.note.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.note.setWordWrap(True)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.note)
        self._dirty = True
        self.apply_theme(theme)
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self.redraw)
        self._timer.start(max(1, int(1000 / refresh_hz)))
        source.attach(self.show_frame)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.plot.setBackground(theme.panel)
        p = self.plot.getPlotItem()
        for ax in ("left", "bottom"):
            a = p.getAxis(ax)
            a.setPen(theme.muted)
            a.setTextPen(theme.text)
        for l, c in self.curves.items():
            colour = series_colour(theme, l)
            c.setPen(pg.mkPen(colour, width=2.5))
            self.ceilings[l].setPen(pg.mkPen(colour, width=1, style=QtCore.Qt.PenStyle.DashLine))
        self.crosses.setPen(pg.mkPen(theme.error_text if theme.name == "light" else "#ff6b6b", width=2))
        self.crosses.setBrush(None)
        self._dirty = True
        self.redraw()

    def show_frame(self, frame: Frame) -> None:
        x = float(frame.step)
        any_hist = next(iter(self.active.values()), None)
        if any_hist is not None and any_hist.last_x is not None and x < any_hist.last_x:
            self.clear()  # a jump back: a reset, or a recording sought backwards
        for l, name in self.active_names.items():
            v = frame.scalars.get(name)
            if v is not None:
                self.active[l].add(x, float(v))
        for l, name in self.collapsed_names.items():
            v = frame.scalars.get(name)
            if v is not None:
                self.collapsed[l].add(x, float(v))
        self._dirty = True

    def clear(self) -> None:
        for h in [*self.active.values(), *self.collapsed.values()]:
            h.clear()
        self._dirty = True

    def collapsed_now(self) -> list[int]:
        """The levels whose newest collapsed flag is set."""
        return [l for l, h in self.collapsed.items() if h.y and h.y[-1] > 0.5]

    def redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        xs, ys = [], []
        for l, h in self.active.items():
            x, y = h.steps()
            self.curves[l].setData(x, y)
            c = self.collapsed.get(l)
            if c is None or not c.x:
                continue
            # a cross where the flag is set, at each change and at the newest step
            for k, (cx, cy) in enumerate(zip(c.x, c.y)):
                if cy > 0.5:
                    end = c.x[k + 1] if k + 1 < len(c.x) else c.last_x
                    for px in {cx, end}:
                        xs.append(px)
                        ys.append(_value_at(h, px))
        self.crosses.setData(xs, ys)
        self._update_note()

    def _update_note(self) -> None:
        """The key (colours, newest counts) and the collapsed levels, under the plot."""
        th = self.theme
        keys = []
        for l, h in self.active.items():
            layer = self.spec.layers[l]
            now = "\u2013" if not h.y or not np.isfinite(h.y[-1]) else f"{h.y[-1]:.0f}"
            keys.append(f'<span style="color:{series_colour(th, l)}; font-weight:bold">\u2501\u2501</span>'
                        f'&nbsp;{layer.name} {now}/{layer.size}')
        text = "&nbsp;&nbsp;".join(keys)
        if self.collapsed:
            gone = self.collapsed_now()
            names = ", ".join(self.spec.layers[l].name for l in gone)
            if gone:
                colour = th.error_text if th.name == "light" else "#ff6b6b"
                text += (f'<br><span style="color:{colour}"><b>\u2715 collapsed: {names}</b></span>'
                         f'<span style="color:{th.muted}"> (held-out KL below the threshold: the level'
                         f' carries no information)</span>')
            else:
                text += (f'<br><span style="color:{th.muted}">no level collapsed \u00b7 dashed: level size'
                         f' \u00b7 \u2715 marks a collapsed level</span>')
        if text != self.note.text():
            self.note.setText(text)

    def detach(self) -> None:
        self._timer.stop()
        try:
            self.source.frame_ready.disconnect(self.show_frame)
        except TypeError:
            pass


def _value_at(h: _History, x: float) -> float:
    if not h.x:
        return 0.0
    k = max(0, int(np.searchsorted(np.asarray(h.x), x, side="right")) - 1)
    return float(h.y[k])
