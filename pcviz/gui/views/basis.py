"""The learned basis: the first layer's weights as a grid of image patches (each the
input pattern one unit of layer 1 predicts), updated as they learn."""

from __future__ import annotations

import time

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from pcviz.gui.views.raster import RasterImage, fit_rect, fit_text, lut32
from pcviz.gui.sources.frame_source import FrameSource
from pcviz.gui.theme import BASIS_MAP, Theme, ui_font
from pcviz.display.tiling import mosaic
from pcviz.sim.frames import Frame

TITLE_H = 40


class BasisView(QtWidgets.QWidget):
    #: the frame extra this view shows, (n_units, *patch_shape)
    key = "basis"

    def __init__(self, source: FrameSource, theme: Theme, max_hz: float = 10.0,
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.source = source
        self.raster: RasterImage | None = None
        self.shape: tuple[int, ...] | None = None
        self.image: np.ndarray | None = None  # the last mosaic, (rows, cols) in [-1, 1]
        self._last: np.ndarray | None = None  # the last basis shown
        self.max_hz = max_hz
        self._pending: Frame | None = None
        self._last_draw = -1e9
        self._flush = QtCore.QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.timeout.connect(self._draw_pending)
        self.setMinimumSize(200, 160)
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.font_title = ui_font(10, bold=True)
        self.font_small = ui_font(9)
        self.apply_theme(theme)
        source.attach(self.show_frame)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.lut = lut32(BASIS_MAP, theme.panel)
        if self.raster is not None:
            self.raster.recolour(self.lut)
        self.update()

    def show_frame(self, frame: Frame) -> None:
        """Take a frame; draw it at most ``max_hz`` times a second (weights change once a
        hold; the last frame is always drawn)."""
        if frame.extras.get(self.key) is None:
            return
        self._pending = frame
        wait = self._last_draw + 1.0 / self.max_hz - time.perf_counter()
        if wait <= 0:
            self._draw_pending()
        elif not self._flush.isActive():
            self._flush.start(int(wait * 1000) + 1)

    def flush(self) -> None:
        """Draw the newest frame now (before a screenshot)."""
        self._flush.stop()
        self._draw_pending()

    def _draw_pending(self) -> None:
        frame, self._pending = self._pending, None
        if frame is None:
            return
        self._last_draw = time.perf_counter()
        basis = frame.extras[self.key]
        if self._last is not None and self._last.shape == basis.shape and np.array_equal(self._last, basis):
            return  # weights change once per hold, not every step
        self._last = basis
        img = mosaic(basis)  # (rows, cols) in [-1, 1], NaN gaps
        if self.raster is None or self.raster.shape != img.shape:
            self.raster = RasterImage(img.shape)
        self.shape = tuple(basis.shape)
        self.image = img
        self.raster.set(img, (-1.0, 1.0), self.lut)
        self.update()

    def paintEvent(self, ev: QtGui.QPaintEvent) -> None:  # noqa: N802
        th = self.theme
        p = QtGui.QPainter(self)
        p.fillRect(self.rect(), QtGui.QColor(th.panel))
        p.setPen(QtGui.QColor(th.text))
        p.setFont(self.font_title)
        top = QtCore.QRectF(8, 4, self.width() - 16, 18)
        if self.raster is None:
            p.setPen(QtGui.QColor(th.muted))
            p.drawText(QtCore.QRectF(self.rect()), QtCore.Qt.AlignmentFlag.AlignCenter,
                       "no learned basis in these frames\n(a recording does not keep it)" if not self.source.live
                       else "no learned basis in this model's frames")
            p.end()
            return
        n = self.shape[0]
        patch = "\u00d7".join(str(s) for s in self.shape[1:])
        p.drawText(top, QtCore.Qt.AlignmentFlag.AlignLeft,
                   fit_text(self.font_title, [f"layer 1's basis: {n} patches of {patch}", f"{n} patches of {patch}"],
                            top.width()))
        p.setFont(self.font_small)
        p.setPen(QtGui.QColor(th.muted))
        p.drawText(top.translated(0, 17), QtCore.Qt.AlignmentFlag.AlignLeft,
                   fit_text(self.font_small, ["each scaled to its own max |w|: black \u2212, grey 0, white +",
                                              "each to its own max |w|"], top.width()))
        area = QtCore.QRectF(6, TITLE_H, self.width() - 12, self.height() - TITLE_H - 6)
        p.drawImage(fit_rect(area, self.raster.shape), self.raster.qimage)
        p.end()

    def detach(self) -> None:
        self._flush.stop()
        try:
            self.source.frame_ready.disconnect(self.show_frame)
        except TypeError:
            pass
