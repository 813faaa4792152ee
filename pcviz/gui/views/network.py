"""The network diagram: layers as nodes, top at the top, and between each layer and
the one predicting it two links: the prediction going down (dashed, grey) and the
error coming back up, whose colour and thickness are the size of that error, so the
flow of surprise up the hierarchy shows at a glance.

The error of layer l is the precision-weighted RMS error sqrt(mean_i Pi_li eps_li^2),
the quantity that drives inference; the top layer's error link goes to its prior.

For a model with a forward (amortised) path (the hybrid family streams
``forward_error``), a third link per level goes up on the left: the forward guess of
layer l+1 from layer l (dotted), coloured and as wide as its precision-weighted RMS
forward error sqrt(mean Phi delta^2), on the same scale as the errors.
"""

from __future__ import annotations

import math

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from pcviz.gui.views.raster import fit_text, fmt, lut32
from pcviz.gui.sources.frame_source import FrameSource
from pcviz.gui.theme import SURPRISE_MAP, Theme, ui_font
from pcviz.display.tiling import LevelTracker
from pcviz.sim.frames import Frame

_LO, _HI = 0.15, 0.9  # the part of the colour map used (both ends are too close to the background)
TOP, BOTTOM = 56.0, 58.0  # above the prior (the title), below the input (the colour legend)
MIN_GAP = 36.0  # between nodes: links long enough to read, a forward link's label clear of the nodes' names
LABEL_H = 18.0  # a node's name; its size below it takes another 17


def weighted_error(layer: dict[str, np.ndarray], error: str = "error", precision: str = "precision") -> float:
    """sqrt(mean(Pi eps^2)) of one layer (plain RMS error when no precision is streamed)."""
    err = np.asarray(layer[error], dtype=np.float64).reshape(-1)
    sq = err * err
    prec = layer.get(precision)
    if prec is not None:
        sq = sq * np.asarray(prec, dtype=np.float64).reshape(-1)
    m = float(sq.mean()) if sq.size else 0.0
    return math.sqrt(m) if m >= 0 else float("nan")


class NetworkView(QtWidgets.QWidget):
    def __init__(self, source: FrameSource, theme: Theme, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.source = source
        self.spec = source.spec
        self.levels = LevelTracker(signed=False, patience=90)
        self.errors = np.zeros(len(self.spec.layers))
        # layers that a forward (amortised) model predicts from the one below
        self.forward_layers = [l.index for l in self.spec.layers if "forward_error" in l.quantities]
        self.forward_errors = np.zeros(len(self.spec.layers))
        # tall enough that labels, nodes and links never overlap (tests/gui/test_window_layout.py)
        self.setMinimumSize(220, int(TOP + BOTTOM + MIN_GAP * len(self.spec.layers)))
        self.font_normal = ui_font(10)
        self.font_small = ui_font(9)
        self.font_bold = ui_font(10, bold=True)
        self._background: QtGui.QPixmap | None = None
        self.apply_theme(theme)
        source.attach(self.show_frame)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        lut = lut32(SURPRISE_MAP, theme.panel)
        self._colours = [QtGui.QColor.fromRgb(int(v)) for v in lut[1:]]  # 255 colours
        self._background = None
        self.update()

    def colour(self, frac: float) -> QtGui.QColor:
        lo, hi = (0.3, 1.0) if self.theme.name == "dark" else (_LO, _HI)  # keep clear of the panel colour
        t = lo + (hi - lo) * min(max(frac, 0.0), 1.0)
        return self._colours[int(round(t * 254))]

    def show_frame(self, frame: Frame) -> None:
        for l, layer in enumerate(frame.layers):
            if "error" in layer:
                self.errors[l] = weighted_error(layer)
            if "forward_error" in layer:
                self.forward_errors[l] = weighted_error(layer, "forward_error", "forward_precision")
        self.levels.update(np.concatenate([self.errors, self.forward_errors[self.forward_layers]]))
        self.update()

    # ----------------------------------------------------------------- paint
    def node_y(self, l: int) -> float:
        """Vertical position of layer ``l`` (len(layers) is the prior above the top)."""
        n = len(self.spec.layers)
        top, bottom = TOP, self.height() - BOTTOM
        return bottom - (bottom - top) * l / max(1, n)

    @property
    def gap(self) -> float:
        """The vertical distance between neighbouring nodes."""
        return self.node_y(0) - self.node_y(1)

    def label_right(self) -> float:
        """The right edge of the node labels: left of the prediction links' arrows
        (and of the forward links, where there are)."""
        return self.cx - (34.0 + 12.0 + 8.0 if self.forward_layers else 16.0 + 6.0 + 8.0)

    def roomy(self) -> bool:
        """Room for the layer's size under its name (18 + 17 pixels): clear of the next
        node's name, and of the forward links' labels, which sit half-way between nodes."""
        return self.gap >= (2 * (LABEL_H + 9.0) if self.forward_layers else 2 * LABEL_H)

    def node_label_boxes(self) -> list[tuple[str, QtCore.QRectF]]:
        """(text, box) of each node's label: name and, where :meth:`roomy`, size."""
        out = []
        right, roomy = self.label_right(), self.roomy()
        for l, layer in enumerate(self.spec.layers):
            y = self.node_y(l)
            box = QtCore.QRectF(right - 160, y - LABEL_H if roomy else y - LABEL_H / 2, 160, LABEL_H)
            out.append((layer.name, box))
            if roomy:
                out.append((f"{layer.size} units", box.translated(0, 17)))
        y = self.node_y(len(self.spec.layers))
        out.append(("prior", QtCore.QRectF(right - 160, y - LABEL_H / 2, 160, LABEL_H)))
        return out

    def link_ends(self, l: int) -> tuple[float, float]:
        """(bottom, top) of the links between layer ``l`` and the one above, clear of the nodes."""
        m = min(16.0, 0.3 * (self.node_y(0) - self.node_y(1)))
        return self.node_y(l) - m, self.node_y(l + 1) + m

    def resizeEvent(self, ev: QtGui.QResizeEvent) -> None:  # noqa: N802
        self._background = None
        super().resizeEvent(ev)

    def _render_background(self) -> QtGui.QPixmap:
        """Title, nodes, labels, prediction links and the legend's colours: what does not
        change from frame to frame."""
        th = self.theme
        dpr = self.devicePixelRatioF()
        pm = QtGui.QPixmap(int(self.width() * dpr), int(self.height() * dpr))
        pm.setDevicePixelRatio(dpr)
        pm.fill(QtGui.QColor(th.panel))
        p = QtGui.QPainter(pm)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        text, muted = QtGui.QColor(th.text), QtGui.QColor(th.muted)
        p.setFont(self.font_bold)
        p.setPen(text)
        if self.forward_layers:
            title = fit_text(self.font_bold, ["forward guess \u2191 (dotted)   prediction \u2193 (dashed)   error \u2191",
                                              "guess \u2191   prediction \u2193   error \u2191",
                                              "guess \u2191 pred. \u2193 error \u2191"], self.width() - 16)
        else:
            title = fit_text(self.font_bold, ["prediction \u2193 (dashed)   precision-weighted error \u2191",
                                              "prediction \u2193   weighted error \u2191",
                                              "prediction \u2193  error \u2191"], self.width() - 16)
        p.drawText(QtCore.QRectF(8, 6, self.width() - 16, 20), QtCore.Qt.AlignmentFlag.AlignLeft, title)
        n = len(self.spec.layers)
        cx = self.cx
        for l in range(n):
            y0, y1 = self.link_ends(l)
            p.setPen(QtGui.QPen(muted, 2, QtCore.Qt.PenStyle.DashLine))
            p.drawLine(QtCore.QPointF(cx - 16, y1), QtCore.QPointF(cx - 16, y0))
            self._arrow(p, cx - 16, y0, down=True, colour=muted, size=6)
        for l, layer in enumerate(self.spec.layers):
            y = self.node_y(l)
            r = min(7 + 3 * math.log10(max(layer.size, 1)), 0.35 * (self.node_y(0) - self.node_y(1)))
            p.setPen(QtGui.QPen(text, 1.5))
            p.setBrush(QtGui.QColor(th.window))
            p.drawEllipse(QtCore.QPointF(cx, y), r, r)
        text_colour = text
        p.setPen(QtGui.QPen(muted, 1.5))
        p.setBrush(QtGui.QColor(th.panel))
        y = self.node_y(n)
        p.drawPolygon(QtGui.QPolygonF([QtCore.QPointF(cx, y - 8), QtCore.QPointF(cx + 8, y),
                                       QtCore.QPointF(cx, y + 8), QtCore.QPointF(cx - 8, y)]))
        names = {l.name for l in self.spec.layers} | {"prior"}
        for words, box in self.node_label_boxes():
            name = words in names
            p.setFont(self.font_bold if name else self.font_small)
            p.setPen(text_colour if name else muted)
            p.drawText(box, QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter, words)
        x0, y0, w = self._legend_geometry()
        steps = 32
        for i in range(steps):
            p.fillRect(QtCore.QRectF(x0 + i * w / steps, y0, w / steps + 1, 10),
                       self.colour(math.sqrt(i / (steps - 1))))
        p.setPen(text)
        p.setFont(self.font_small)
        p.drawText(QtCore.QRectF(x0 - 60, y0 - 3, 56, 16), QtCore.Qt.AlignmentFlag.AlignRight, "0")
        p.drawText(QtCore.QRectF(0, y0 + 11, self.width(), 16), QtCore.Qt.AlignmentFlag.AlignHCenter,
                   fit_text(self.font_small, ["error size: colour and width (square-root scale)",
                                              "error size (\u221a scale)"], self.width() - 8))
        p.end()
        return pm

    @property
    def cx(self) -> float:
        return self.width() * 0.45

    def _legend_geometry(self) -> tuple[float, float, float]:
        w = min(220.0, self.width() - 80.0)
        return (self.width() - w) / 2, self.height() - 30.0, w

    def paintEvent(self, ev: QtGui.QPaintEvent) -> None:  # noqa: N802
        if self._background is None:
            self._background = self._render_background()
        p = QtGui.QPainter(self)
        p.drawPixmap(0, 0, self._background)  # vertical links and arrows need no antialiasing
        text = QtGui.QColor(self.theme.text)
        n = len(self.spec.layers)
        cx = self.cx
        hi = self.levels.bound or 1.0
        fm = QtGui.QFontMetricsF(self.font_normal)
        p.setFont(self.font_normal)
        for l in range(n):  # link l carries the error of layer l up to the layer (or prior) above
            y0, y1 = self.link_ends(l)
            v = self.errors[l]
            ok = math.isfinite(v)
            frac = math.sqrt(min(v / hi, 1.0)) if ok and hi > 0 else 1.0
            colour = self.colour(frac) if ok else QtGui.QColor("#ff00ff")
            width = 2.0 + 16.0 * frac
            x = cx + 16 + width / 2
            p.setPen(QtGui.QPen(colour, width, QtCore.Qt.PenStyle.SolidLine, QtCore.Qt.PenCapStyle.FlatCap))
            p.drawLine(QtCore.QPointF(x, y0), QtCore.QPointF(x, y1 + 8))
            self._arrow(p, x, y1, down=False, colour=colour, size=5 + width / 2)
            p.setPen(text)
            label = fmt(v) if ok else "not finite"
            p.drawText(QtCore.QPointF(cx + 30 + width, (y0 + y1) / 2 + fm.capHeight() / 2), f"\u03b5{_sub(l)} {label}")
        for l in self.forward_layers:  # the forward guess of layer l from layer l-1 goes up on the left
            y0, y1 = self.link_ends(l - 1)
            v = self.forward_errors[l]
            ok = math.isfinite(v)
            frac = math.sqrt(min(v / hi, 1.0)) if ok and hi > 0 else 1.0
            colour = self.colour(frac) if ok else QtGui.QColor("#ff00ff")
            width = 2.0 + 10.0 * frac
            x = cx - 34 - width / 2
            p.setPen(QtGui.QPen(colour, width, QtCore.Qt.PenStyle.DotLine, QtCore.Qt.PenCapStyle.FlatCap))
            p.drawLine(QtCore.QPointF(x, y0), QtCore.QPointF(x, y1 + 8))
            self._arrow(p, x, y1, down=False, colour=colour, size=4 + width / 2)
            p.setPen(text)
            label = f"\u03b4{_sub(l)} {fmt(v) if ok else 'not finite'}"
            p.drawText(QtCore.QRectF(0, (y0 + y1) / 2 - 9, x - width / 2 - 6, 18),
                       QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter, label)
        x0, y0, w = self._legend_geometry()
        p.setFont(self.font_small)
        p.drawText(QtCore.QRectF(x0 + w + 4, y0 - 3, 80, 16), QtCore.Qt.AlignmentFlag.AlignLeft, fmt(hi))
        p.end()

    @staticmethod
    def _arrow(p: QtGui.QPainter, x: float, y: float, down: bool, colour: QtGui.QColor, size: float) -> None:
        s = -1.0 if down else 1.0
        tri = QtGui.QPolygonF([QtCore.QPointF(x, y), QtCore.QPointF(x - size, y + s * size * 1.4),
                               QtCore.QPointF(x + size, y + s * size * 1.4)])
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        p.setBrush(colour)
        p.drawPolygon(tri)

    def detach(self) -> None:
        try:
            self.source.frame_ready.disconnect(self.show_frame)
        except TypeError:
            pass


def _sub(i: int) -> str:
    return str(i).translate(str.maketrans("0123456789", "\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087\u2088\u2089"))
