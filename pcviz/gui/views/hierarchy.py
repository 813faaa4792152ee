"""The hierarchy: one row per layer (top, most abstract, at the top; input at the
bottom), each showing activity, the top-down prediction it receives, its error and
its precision as heatmaps in the layer's display shape.

Signed quantities of a row share one symmetric colour scale (so error = activity -
prediction reads off the same bar), set by the layer's state: activity and prediction
(at the input, the data alone, so a poor reconstruction at the start of a hold shows
saturated instead of washing the input out); an error beyond it saturates. Each
non-negative quantity has its own scale; a map whose units all hold one value (a
scalar precision) shows that value. The view is built from a :class:`~pcviz.sim.frames.FrameSpec` and fed frames by its
source, whatever that source is (a live engine or a recording).

It is one QPainter widget: titles, labels and colour bars are drawn once into a
cached background (again only when the size, theme or a scale changes); a frame
repaints only the heatmaps, from buffers updated in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from pcviz.gui.views.raster import RasterImage, bar_label_width, draw_colour_bar, fit_rect, fit_text, lut32

BAR_LABEL_SLACK = 12  # the bar's pixmap is this much wider than the layout's label room (the gap to the next map)
from pcviz.gui.sources.frame_source import FrameSource
from pcviz.gui.theme import POSITIVE_MAP, Theme, ui_font
from pcviz.display.tiling import LevelTracker, Tiler, is_signed
from pcviz.display.labels import cell_title, ordered_quantities, short_title, symbol_title
from pcviz.sim.frames import Frame, FrameSpec, LayerFrameSpec


LABEL_W = 44  # row label column
TITLE_H = 20  # cell title
BAR_W = 14  # colour bar strip
BAR_PAD = 9  # room above and below a bar for its end labels


@dataclass
class _Cell:
    quantity: str
    title: str
    raster: RasterImage
    signed: bool
    rect: QtCore.QRectF = field(default_factory=QtCore.QRectF)  # the image, in widget pixels
    area: QtCore.QRectF = field(default_factory=QtCore.QRectF)  # title + image
    uniform: float | None = None  # the one value every unit holds, if so
    symbol: str = ""  # the title where a column is too narrow for its words


@dataclass
class _Bar:
    quantities: list[str]
    signed: bool
    levels: LevelTracker
    rect: QtCore.QRectF = field(default_factory=QtCore.QRectF)
    scale_from: list[str] = field(default_factory=list)  # the quantities that set the scale
    pixmap: QtGui.QPixmap | None = None  # the bar and its labels, drawn again when the scale moves


@dataclass
class _Row:
    layer: LayerFrameSpec
    tiler: Tiler
    cells: dict[str, _Cell]
    bars: list[_Bar]
    rect: QtCore.QRectF = field(default_factory=QtCore.QRectF)

    def bar_of(self, q: str) -> _Bar:
        return next(b for b in self.bars if q in b.quantities)


class HierarchyCanvas(QtWidgets.QWidget):
    """The heatmap grid; see the module doc."""

    hovered = QtCore.pyqtSignal(object)  # (layer, unit, quantity) or None
    clicked = QtCore.pyqtSignal(object)  # (layer, unit, quantity) or None

    def __init__(self, spec: FrameSpec, theme: Theme, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.spec = spec
        self.setMouseTracking(True)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(320, 240)
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.font_title = ui_font(10)
        self.font_small = ui_font(9)
        self.font_label = ui_font(10, bold=True)
        self.signed, self.positive = ordered_quantities(spec)
        self.rows: list[_Row] = []
        n = len(spec.layers)
        for layer in reversed(spec.layers):  # the top layer first
            tiler = Tiler(layer.display_shape, layer.size)
            top = layer.index == n - 1
            cells = {q: _Cell(q, cell_title(layer, q, top), RasterImage(tiler.shape), is_signed(q),
                              symbol=symbol_title(layer, q))
                     for q in [*self.signed, *self.positive] if q in layer.quantities}
            bars = []
            row_signed = [q for q in self.signed if q in cells]
            if row_signed:
                state = ["activity"] if layer.role == "input" else ["activity", "prediction"]
                scale_from = [q for q in state if q in row_signed] or row_signed
                bars.append(_Bar(row_signed, True, LevelTracker(signed=True), scale_from=scale_from))
            bars += [_Bar([q], False, LevelTracker(signed=False), scale_from=[q]) for q in self.positive if q in cells]
            self.rows.append(_Row(layer, tiler, cells, bars))
        self.selected: tuple[int, int] | None = None
        self._background: QtGui.QPixmap | None = None
        self._badges: dict[str, QtGui.QPixmap] = {}
        self._maps_region = QtGui.QRegion()  # where the maps are, in widget pixels
        self.apply_theme(theme)

    # ------------------------------------------------------------------ look
    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.luts = {True: lut32(theme.signed_map, theme.panel), False: lut32(POSITIVE_MAP, theme.panel)}
        for row in self.rows:
            for c in row.cells.values():
                c.raster.recolour(self.luts[c.signed])
        self._badges = {}
        self._invalidate()

    def _invalidate(self) -> None:
        self._background = None
        self.update()

    def resizeEvent(self, ev: QtGui.QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        self._layout()
        self._background = None
        super().resizeEvent(ev)

    def _layout(self) -> None:
        """Columns: row label | signed maps | their bar | each non-negative map and its bar."""
        W, H = float(self.width()), float(self.height())
        n_rows = max(1, len(self.rows))
        bar_w = BAR_W + bar_label_width(self.font_small) + 10  # strip + labels + gap
        n_bars = (1 if self.signed else 0) + len(self.positive)
        n_maps = len(self.signed) + len(self.positive)
        map_w = max(10.0, (W - LABEL_W - n_bars * bar_w) / max(1, n_maps))
        row_h = H / n_rows
        for r, row in enumerate(self.rows):
            y = r * row_h
            row.rect = QtCore.QRectF(0, y, W, row_h)
            x = float(LABEL_W)
            for q in self.signed:
                self._place(row, q, x, y, map_w, row_h)
                x += map_w
            if row.bars and row.bars[0].signed:
                row.bars[0].rect = self._bar_rect(row, row.bars[0], x, y, row_h)
            x += bar_w if self.signed else 0
            for q in self.positive:
                self._place(row, q, x, y, map_w, row_h)
                x += map_w
                if q in row.cells:
                    row.bar_of(q).rect = self._bar_rect(row, row.bar_of(q), x, y, row_h)
                x += bar_w
        self._update_maps_region()

    def _update_maps_region(self) -> None:
        region = QtGui.QRegion()
        for row in self.rows:
            for c in row.cells.values():
                region = region.united(c.rect.toAlignedRect().adjusted(-3, -3, 3, 3))
        self._maps_region = region

    def _place(self, row: _Row, q: str, x: float, y: float, w: float, h: float) -> None:
        c = row.cells.get(q)
        if c is None:
            return
        c.area = QtCore.QRectF(x + 3, y + 2, w - 6, h - 6)
        img_area = QtCore.QRectF(x + 3, y + TITLE_H + 2, w - 6, h - TITLE_H - 8)
        c.rect = fit_rect(img_area, c.raster.shape)

    def _bar_rect(self, row: _Row, bar: _Bar, x: float, y: float, h: float) -> QtCore.QRectF:
        rects = [row.cells[q].rect for q in bar.quantities if q in row.cells]
        top = min(r.top() for r in rects) if rects else y + TITLE_H + 2
        bottom = max(r.bottom() for r in rects) if rects else y + h - 8
        return QtCore.QRectF(x + 2, top, BAR_W, max(4.0, bottom - top))

    def _render_background(self) -> QtGui.QPixmap:
        dpr = self.devicePixelRatioF()
        pm = QtGui.QPixmap(int(self.width() * dpr), int(self.height() * dpr))
        pm.setDevicePixelRatio(dpr)
        th = self.theme
        pm.fill(QtGui.QColor(th.panel))
        p = QtGui.QPainter(pm)
        p.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing, True)
        text, muted = QtGui.QColor(th.text), QtGui.QColor(th.muted)
        for r, row in enumerate(self.rows):
            if r:
                p.setPen(QtGui.QPen(th.qcolor("muted", 60), 1))
                p.drawLine(QtCore.QPointF(4, row.rect.top()), QtCore.QPointF(row.rect.right() - 4, row.rect.top()))
            # the row label, turned by 90 degrees
            layer = row.layer
            kind = f"{layer.role} \u00b7 " if layer.role != layer.name else ""
            shape = "\u00d7".join(str(s) for s in layer.display_shape)
            p.save()
            p.translate(6, row.rect.center().y())
            p.rotate(-90)
            p.setPen(text)
            p.setFont(self.font_label)
            box = QtCore.QRectF(-row.rect.height() / 2, 0, row.rect.height(), 18)
            p.drawText(box, QtCore.Qt.AlignmentFlag.AlignCenter, layer.name)
            p.setFont(self.font_small)
            p.setPen(muted)
            detail = fit_text(self.font_small, [f"{kind}{layer.size} ({shape})", f"{layer.size} ({shape})",
                                                f"{layer.size}"], row.rect.height() - 4)
            p.drawText(box.translated(0, 17), QtCore.Qt.AlignmentFlag.AlignCenter, detail)
            p.restore()
            p.setPen(QtGui.QPen(th.qcolor("muted", 140), 1))
            p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
            for c in row.cells.values():  # a frame, so a map of zeros still shows where it is
                p.drawRect(c.rect.adjusted(-1, -1, 0, 0))
            p.setFont(self.font_title)
            p.setPen(text)
            for c in row.cells.values():
                title, label = self.title_of(c, row)
                p.drawText(title, QtCore.Qt.AlignmentFlag.AlignHCenter | QtCore.Qt.AlignmentFlag.AlignBottom, label)
        p.end()
        return pm

    def title_of(self, c: _Cell, row: _Row) -> tuple[QtCore.QRectF, str]:
        """Where a map's title goes and its words as drawn: its title, short title or
        symbol, the longest form in which every title of its row fits (one style per row)."""
        box = QtCore.QRectF(c.area.x(), c.rect.top() - TITLE_H, c.area.width(), TITLE_H - 2)
        fm = QtGui.QFontMetricsF(self.font_title)

        def forms(cell: _Cell) -> list[str]:
            return [cell.title, short_title(cell.title), cell.symbol or cell.title]

        level = next((k for k in range(3)
                      if all(fm.horizontalAdvance(forms(x)[k]) <= x.area.width() for x in row.cells.values())), 2)
        return box, fit_text(self.font_title, forms(c)[level:], box.width())

    def _render_bar(self, bar: _Bar) -> QtGui.QPixmap:
        dpr = self.devicePixelRatioF()
        w, h = bar.rect.width() + bar_label_width(self.font_small) + BAR_LABEL_SLACK, bar.rect.height() + 2 * BAR_PAD
        pm = QtGui.QPixmap(int(w * dpr), int(h * dpr))
        pm.setDevicePixelRatio(dpr)
        pm.fill(QtCore.Qt.GlobalColor.transparent)
        p = QtGui.QPainter(pm)
        p.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing, True)
        strip = QtCore.QRectF(0.5, BAR_PAD, bar.rect.width(), bar.rect.height())
        draw_colour_bar(p, strip, self.luts[bar.signed], bar.levels.levels, QtGui.QColor(self.theme.text),
                        self.font_small)
        p.end()
        return pm

    # ----------------------------------------------------------------- frames
    def show_frame(self, frame: Frame) -> None:
        whole = False  # a moved scale redraws its bar; otherwise only the maps change
        for row in self.rows:
            data = frame.layers[row.layer.index]
            imgs = {q: row.tiler.image(data[q]) for q in row.cells if q in data}
            for bar in row.bars:
                arrays = [imgs[q] for q in bar.scale_from if q in imgs]
                if arrays and bar.levels.update(*arrays):
                    bar.pixmap = None
                    whole = True
                for q in bar.quantities:
                    if q in imgs:
                        c = row.cells[q]
                        c.raster.set(imgs[q], bar.levels.levels, self.luts[c.signed])
                        if not c.signed:
                            a = data[q]
                            lo, hi = float(a.min()), float(a.max())
                            c.uniform = lo if lo == hi else None
        if whole or self._maps_region.isEmpty():
            self.update()
        else:
            self.update(self._maps_region)

    def paintEvent(self, ev: QtGui.QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        if self._background is None or self._background.size() != self.size() * self.devicePixelRatioF():
            if not self.rows or self.rows[0].rect.width() != self.width():
                self._layout()
            self._background = self._render_background()
            for row in self.rows:
                for bar in row.bars:
                    bar.pixmap = None
        p = QtGui.QPainter(self)
        p.drawPixmap(0, 0, self._background)
        for row in self.rows:
            for bar in row.bars:
                if bar.rect.height() <= 0:
                    continue
                if bar.pixmap is None:
                    bar.pixmap = self._render_bar(bar)
                p.drawPixmap(QtCore.QPointF(bar.rect.x() - 0.5, bar.rect.y() - BAR_PAD), bar.pixmap)
        p.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, False)
        for row in self.rows:
            for c in row.cells.values():
                p.drawImage(c.rect, c.raster.qimage)
        p.setFont(self.font_title)
        for row in self.rows:
            for c in row.cells.values():
                badge = self.badge_of(c)
                if badge is not None:
                    self._badge(p, *badge)
        if self.selected is not None:
            row = self.row_of(self.selected[0])
            r, col = row.tiler.position(self.selected[1])
            pen = QtGui.QPen(QtGui.QColor(self.theme.accent), 2.5)
            p.setPen(pen)
            p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
            for c in row.cells.values():
                sx = c.rect.width() / c.raster.shape[1]
                sy = c.rect.height() / c.raster.shape[0]
                p.drawRect(QtCore.QRectF(c.rect.x() + col * sx, c.rect.y() + r * sy, sx, sy))
        p.end()

    def badge_of(self, c: _Cell) -> tuple[QtCore.QRectF, str] | None:
        """Where a uniform map's value goes and its words ("all 0.5", or the value alone
        where that does not fit): a label inside the map, so it never reaches the colour
        bar beside it; None when the map is not uniform or too small for either."""
        if c.uniform is None:
            return None
        fm = QtGui.QFontMetricsF(self.font_title)
        h = fm.height() + 4
        for text in (f"all {c.uniform:.3g}", f"{c.uniform:.3g}"):
            w = fm.horizontalAdvance(text) + 12
            if w <= c.rect.width() and h <= c.rect.height():
                centre = c.rect.center()
                return QtCore.QRectF(centre.x() - w / 2, centre.y() - h / 2, w, h), text
        return None

    def _badge(self, p: QtGui.QPainter, rect: QtCore.QRectF, text: str) -> None:
        """``text`` on a rounded label filling ``rect`` (pictures cached by text)."""
        pm = self._badges.get(text)
        if pm is None:
            fm = QtGui.QFontMetricsF(self.font_title)
            w, h = fm.horizontalAdvance(text) + 12, fm.height() + 4
            dpr = self.devicePixelRatioF()
            pm = QtGui.QPixmap(int(w * dpr) + 1, int(h * dpr) + 1)
            pm.setDevicePixelRatio(dpr)
            pm.fill(QtCore.Qt.GlobalColor.transparent)
            q = QtGui.QPainter(pm)
            q.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
            q.setPen(QtCore.Qt.PenStyle.NoPen)
            q.setBrush(self.theme.qcolor("panel", 210))
            box = QtCore.QRectF(0, 0, w, h)
            q.drawRoundedRect(box, 4, 4)
            q.setPen(QtGui.QColor(self.theme.text))
            q.setFont(self.font_title)
            q.drawText(box, QtCore.Qt.AlignmentFlag.AlignCenter, text)
            q.end()
            if len(self._badges) > 256:
                self._badges.clear()
            self._badges[text] = pm
        p.drawPixmap(rect.topLeft(), pm)

    # ------------------------------------------------------------------ units
    def row_of(self, layer: int) -> _Row:
        return next(r for r in self.rows if r.layer.index == layer)

    def unit_at(self, pos: QtCore.QPointF) -> tuple[int, int, str] | None:
        """(layer, unit, quantity) under a widget position, or None."""
        for row in self.rows:
            if not row.rect.contains(pos):
                continue
            for q, c in row.cells.items():
                if c.rect.contains(pos):
                    col = int((pos.x() - c.rect.x()) / c.rect.width() * c.raster.shape[1])
                    r = int((pos.y() - c.rect.y()) / c.rect.height() * c.raster.shape[0])
                    u = row.tiler.unit_at(r, col)
                    return None if u is None else (row.layer.index, u, q)
        return None

    def pos_of(self, layer: int, unit: int, quantity: str = "activity") -> QtCore.QPointF:
        """The widget position of the centre of ``unit`` in the map of ``quantity``."""
        if not self.rows or self.rows[0].rect.width() != self.width():
            self._layout()
        row = self.row_of(layer)
        c = row.cells[quantity]
        r, col = row.tiler.position(unit)
        return QtCore.QPointF(c.rect.x() + (col + 0.5) * c.rect.width() / c.raster.shape[1],
                              c.rect.y() + (r + 0.5) * c.rect.height() / c.raster.shape[0])

    def mouseMoveEvent(self, ev: QtGui.QMouseEvent) -> None:  # noqa: N802
        self.hovered.emit(self.unit_at(ev.position()))
        super().mouseMoveEvent(ev)

    def leaveEvent(self, ev: QtCore.QEvent) -> None:  # noqa: N802
        self.hovered.emit(None)
        super().leaveEvent(ev)

    def mousePressEvent(self, ev: QtGui.QMouseEvent) -> None:  # noqa: N802
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            self.clicked.emit(self.unit_at(ev.position()))
        super().mousePressEvent(ev)


class HierarchyView(QtWidgets.QWidget):
    """The canvas and a line that reads out the hovered (or selected) unit."""

    #: (layer, unit) under the mouse, or None
    unit_hovered = QtCore.pyqtSignal(object)
    #: (layer, unit) clicked, or None when the selection is cleared
    unit_selected = QtCore.pyqtSignal(object)

    def __init__(self, source: FrameSource, theme: Theme, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.source = source
        self.spec = source.spec
        self.hovered: tuple[int, int] | None = None
        self.selected: tuple[int, int] | None = None
        self.frame: Frame | None = None
        self.canvas = HierarchyCanvas(self.spec, theme)
        self.info = QtWidgets.QLabel()
        self.info.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info.setFont(ui_font(10))
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.canvas, 1)
        lay.addWidget(self.info)
        self.canvas.hovered.connect(self._on_hover)
        self.canvas.clicked.connect(lambda hit: self.select(None if hit is None else hit[:2]))
        source.attach(self.show_frame)
        self._refresh_info()

    def apply_theme(self, theme: Theme) -> None:
        self.canvas.apply_theme(theme)

    @property
    def rows(self):
        return self.canvas.rows

    def show_frame(self, frame: Frame) -> None:
        self.frame = frame
        self.canvas.show_frame(frame)
        if self.hovered is not None or self.selected is not None:
            self._refresh_info()

    def values_of(self, layer: int, unit: int) -> dict[str, float]:
        """The newest frame's values of one unit, by quantity."""
        if self.frame is None:
            return {}
        return {q: float(np.asarray(a).reshape(-1)[unit]) for q, a in self.frame.layers[layer].items()}

    def describe_unit(self, layer: int, unit: int) -> str:
        row = self.canvas.row_of(layer)
        r, c = row.tiler.position(unit)
        vals = self.values_of(layer, unit)
        parts = "   ".join(f"{q} {v:+.4g}" for q, v in vals.items())
        return f"layer {layer} ({row.layer.name}) unit {unit} [row {r}, col {c}]   {parts}"

    def _on_hover(self, hit) -> None:
        new = None if hit is None else hit[:2]
        if new != self.hovered:
            self.hovered = new
            self.unit_hovered.emit(new)
            self._refresh_info()

    def select(self, unit: tuple[int, int] | None) -> None:
        self.selected = unit
        self.canvas.selected = unit
        self.canvas.update()
        self.unit_selected.emit(unit)
        self._refresh_info()

    def _refresh_info(self) -> None:
        if self.hovered is not None:
            text = self.describe_unit(*self.hovered)
        elif self.selected is not None:
            text = "selected: " + self.describe_unit(*self.selected) + "   (P pins its trace)"
        else:
            text = "hover a unit to read its values; click to select it, P to pin its trace"
        if text != self.info.text():
            self.info.setText(text)

    def detach(self) -> None:
        try:
            self.source.frame_ready.disconnect(self.show_frame)
        except TypeError:
            pass
