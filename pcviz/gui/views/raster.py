"""Cheap heatmaps for QPainter widgets: a fixed 256-entry lookup table of 32-bit
pixels, an image whose pixels live in a reused numpy buffer, and colour bars.

A frame costs one uint8 conversion and one table lookup per map, written in place
into the buffer Qt paints from (nearest-neighbour scaling); no Qt object is made per
frame. Entry 0 of every table is the background (NaN and gaps).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui

from pcviz.display.tiling import to_indices


def lut32(map_name: str, background: str | QtGui.QColor) -> np.ndarray:
    """(256,) uint32 pixels 0xffRRGGBB: entry 0 ``background``, 1..255 the colour map."""
    cmap = pg.colormap.get(map_name)
    rgb = cmap.getLookupTable(0.0, 1.0, nPts=255, alpha=False).astype(np.uint32)  # (255, 3)
    out = np.empty(256, dtype=np.uint32)
    out[1:] = 0xFF000000 | (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    bg = QtGui.QColor(background)
    out[0] = 0xFF000000 | (bg.red() << 16) | (bg.green() << 8) | bg.blue()
    return out


class RasterImage:
    """A (rows, cols) image of 32-bit pixels backed by a numpy buffer."""

    def __init__(self, shape: tuple[int, int]):
        self.shape = (int(shape[0]), int(shape[1]))
        self.idx = np.zeros(self.shape, dtype=np.uint8)  # (rows, cols) table indices
        self.pixels = np.zeros(self.shape, dtype=np.uint32)  # (rows, cols) 0xffRRGGBB
        rows, cols = self.shape
        self.qimage = QtGui.QImage(self.pixels.data, cols, rows, 4 * cols, QtGui.QImage.Format.Format_RGB32)

    def set(self, img: np.ndarray, levels: tuple[float, float], lut: np.ndarray) -> None:
        """Colour ``img`` (rows, cols) float on ``levels`` with table ``lut``."""
        to_indices(img, levels, out=self.idx)
        np.take(lut, self.idx, out=self.pixels)

    def recolour(self, lut: np.ndarray) -> None:
        np.take(lut, self.idx, out=self.pixels)


def fit_rect(area: QtCore.QRectF, shape: tuple[int, int]) -> QtCore.QRectF:
    """The largest rectangle of aspect ``shape`` (rows, cols) centred in ``area``."""
    rows, cols = shape
    if area.width() <= 0 or area.height() <= 0:
        return QtCore.QRectF(area.topLeft(), QtCore.QSizeF(0, 0))
    scale = min(area.width() / cols, area.height() / rows)
    w, h = cols * scale, rows * scale
    return QtCore.QRectF(area.x() + (area.width() - w) / 2, area.y() + (area.height() - h) / 2, w, h)


def tick_values(levels: tuple[float, float]) -> list[float]:
    lo, hi = levels
    if lo < 0 < hi:
        return [lo, lo / 2, 0.0, hi / 2, hi]
    return [lo, (lo + hi) / 2, hi]


def fmt(v: float) -> str:
    """A colour-bar tick or a value, short, that reads back as the value:
    3 significant digits from 0.01 to 1000, whole numbers to 10⁴, otherwise a mantissa
    of three significant digits with a bare exponent (2.5e-7, 1.25e4)."""
    a = abs(v)
    if v == 0 or not math.isfinite(v):
        return "0" if v == 0 else f"{v}"
    if 1e-2 <= a < 999.5:
        return f"{v:.3g}"
    if 999.5 <= a < 9999.5:
        return f"{v:.0f}"
    mantissa, exponent = f"{v:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


LABEL_GAP = 6  # from a bar's strip to its tick labels


def draw_colour_bar(p: QtGui.QPainter, rect: QtCore.QRectF, lut: np.ndarray, levels: tuple[float, float],
                    text: QtGui.QColor, font: QtGui.QFont) -> None:
    """A vertical bar in ``rect`` (the strip; labels go to its right)."""
    strip = np.ascontiguousarray(lut[:0:-1].reshape(255, 1))  # (255, 1) top = high values
    img = QtGui.QImage(strip.data, 1, 255, 4, QtGui.QImage.Format.Format_RGB32)
    p.drawImage(rect, img)
    p.setPen(QtGui.QPen(text, 1))
    p.drawRect(rect)
    p.setFont(font)
    fm = QtGui.QFontMetricsF(font)
    lo, hi = levels
    ticks = tick_values(levels)
    if rect.height() / max(1, len(ticks) - 1) < fm.height():  # crowded: the ends, and the middle if it fits
        ticks = [ticks[0], ticks[len(ticks) // 2], ticks[-1]] if rect.height() / 2 >= fm.height() else [lo, hi]
    for v in ticks:
        frac = 0.0 if hi == lo else (v - lo) / (hi - lo)
        y = rect.bottom() - frac * rect.height()
        p.drawLine(QtCore.QPointF(rect.right(), y), QtCore.QPointF(rect.right() + 4, y))
        label = fmt(v)
        p.drawText(QtCore.QPointF(rect.right() + LABEL_GAP, y + fm.capHeight() / 2), label)


def bar_label_width(font: QtGui.QFont) -> float:
    """The room a layout keeps right of every colour bar for its tick labels, whatever
    its levels: the labels of the ticks of nice levels (1, 1.5, 2, 3, 5, 7 x 10^k, their
    halves and 0; :func:`fmt` of them is at most "-7.5e-7") fit in it with the gap."""
    fm = QtGui.QFontMetricsF(font)
    return fm.horizontalAdvance("-0.75") + 8


def fit_text(font: QtGui.QFont, candidates: list[str], width: float) -> str:
    """The first candidate that fits ``width`` pixels, else the last one elided."""
    fm = QtGui.QFontMetricsF(font)
    for text in candidates:
        if fm.horizontalAdvance(text) <= width:
            return text
    return fm.elidedText(candidates[-1], QtCore.Qt.TextElideMode.ElideRight, width)
