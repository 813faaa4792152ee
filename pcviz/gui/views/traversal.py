"""The latent traversal strip of the hierarchical VAEs.

Pick a level and a unit; the strip shows what the decoder makes as that unit goes
across a range while the rest of the level and the levels above stay at the displayed
sample's posterior means (``model.traverse``), and a row of samples from the prior
from that level down (``model.sample_prior``), the levels above held likewise.

The model belongs to the engine: the strip asks its source to compute
:func:`pcviz.sim.queries.latent_images` there (in the engine's thread or process,
between steps or while paused); the answer comes back on a display tick. The GUI
never touches the model. Prior samples use their own generator, so
asking for them does not change the run's random stream.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from pcviz.gui.views.raster import RasterImage, fit_rect, lut32
from pcviz.gui.sources.frame_source import FrameSource
from pcviz.gui.theme import BASIS_MAP, Theme, ui_font
from pcviz.display.tiling import Tiler
from pcviz.sim.queries import latent_images
from pcviz.sim.frames import Frame


class _Results(QtCore.QObject):
    """Lives in the GUI thread; emitted from the engine thread (a queued connection)."""

    ready = QtCore.pyqtSignal(object)


class ImageRow:
    """K images of the input's display shape, coloured on one grey scale."""

    def __init__(self, images: np.ndarray, tiler: Tiler, lut: np.ndarray, labels: list[str]):
        self.images = images  # (K, *display_shape)
        flat = images.reshape(images.shape[0], -1)  # (K, D)
        lo, hi = float(np.nanmin(flat)), float(np.nanmax(flat))
        self.levels = (0.0, 1.0) if lo >= 0.0 and hi <= 1.0 else (lo, hi if hi > lo else lo + 1.0)
        self.rasters = []
        for row in flat:
            r = RasterImage(tiler.shape)
            r.set(tiler.image(row), self.levels, lut)
            self.rasters.append(r)
        self.labels = labels

    def recolour(self, lut: np.ndarray) -> None:
        for r in self.rasters:
            r.recolour(lut)


class StripCanvas(QtWidgets.QWidget):
    """Rows of images with a caption above each row and a label under each image."""

    CAPTION_H = 18
    LABEL_H = 15

    def __init__(self, theme: Theme, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.rows: dict[str, tuple[str, ImageRow]] = {}  # key -> (caption, images)
        self.font_title = ui_font(9, bold=True)
        self.font_small = ui_font(8)
        self.setMinimumHeight(90)
        self.apply_theme(theme)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.lut = lut32(BASIS_MAP, theme.panel)
        for _, row in self.rows.values():
            row.recolour(self.lut)
        self.update()

    def set_row(self, key: str, caption: str, row: ImageRow) -> None:
        self.rows[key] = (caption, row)
        self.update()

    def paintEvent(self, ev: QtGui.QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        th = self.theme
        p = QtGui.QPainter(self)
        p.fillRect(self.rect(), QtGui.QColor(th.panel))
        p.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing, True)
        if not self.rows:
            p.setPen(QtGui.QColor(th.muted))
            p.setFont(self.font_small)
            p.drawText(self.rect(), QtCore.Qt.AlignmentFlag.AlignCenter, "no images yet")
            return
        W = float(self.width())
        band = float(self.height()) / len(self.rows)
        for k, (caption, row) in enumerate(self.rows.values()):
            y0 = k * band
            p.setPen(QtGui.QColor(th.text))
            p.setFont(self.font_title)
            p.drawText(QtCore.QRectF(4, y0, W - 8, self.CAPTION_H),
                       QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter, caption)
            n = len(row.rasters)
            cell = (W - 8) / max(1, n)
            img_h = band - self.CAPTION_H - self.LABEL_H - 4
            p.setFont(self.font_small)
            for j, r in enumerate(row.rasters):
                area = QtCore.QRectF(4 + j * cell + 1, y0 + self.CAPTION_H, cell - 2, max(4.0, img_h))
                rect = fit_rect(area, r.shape)
                p.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, False)
                p.drawImage(rect, r.qimage)
                p.setPen(QtGui.QPen(th.qcolor("muted", 140), 1))
                p.drawRect(rect.adjusted(-1, -1, 0, 0))
                if j < len(row.labels) and row.labels[j]:
                    p.setPen(QtGui.QColor(th.muted))
                    p.drawText(QtCore.QRectF(area.x(), rect.bottom() + 1, area.width(), self.LABEL_H),
                               QtCore.Qt.AlignmentFlag.AlignHCenter | QtCore.Qt.AlignmentFlag.AlignTop, row.labels[j])
        p.end()


class TraversalStrip(QtWidgets.QWidget):
    """Controls, the traversal row and the prior-samples row; see the module doc."""

    #: (kind, images (K, *display_shape)) once a request came back
    images_ready = QtCore.pyqtSignal(str, object)

    def __init__(self, source: FrameSource, theme: Theme, follow_hz: float = 2.0,
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.source = source
        self.spec = source.spec
        self.levels = [l for l in self.spec.layers if l.role != "input"]
        inp = self.spec.layers[0]
        self.tiler = Tiler(inp.display_shape, inp.size)
        self.images: dict[str, np.ndarray] = {}  # kind -> (K, *display_shape), the newest
        self.follow_hz = follow_hz
        self._results = _Results(self)
        self._results.ready.connect(self._on_result)
        self._tokens = itertools.count(1)
        self._pending: dict[str, int] = {}  # kind -> token in flight
        self._last_request = {"traverse": -1e9, "prior": -1e9}
        self._last_step = {"traverse": None, "prior": None}
        self._again: set[str] = set()  # asked again while in flight: ask once it is back
        self._seed = 1
        self._auto_unit = True  # the next traversal picks the level's most active unit
        self._build(theme)
        source.frame_ready.connect(self.show_frame)

    # ----------------------------------------------------------------- layout
    def _build(self, theme: Theme) -> None:
        self.level = QtWidgets.QComboBox()
        for l in self.levels:
            self.level.addItem(f"{l.name} ({l.size})", l.index)
        self.level.setCurrentIndex(len(self.levels) - 1)  # the top level
        self.unit = QtWidgets.QSpinBox()
        self.span = QtWidgets.QDoubleSpinBox()
        self.span.setRange(0.1, 10.0)
        self.span.setSingleStep(0.5)
        self.span.setValue(3.0)
        self.span.setPrefix("\u00b1")
        self.span.setToolTip("the unit goes from minus to plus this value (the prior's σ is 1 at the top)")
        self.count = QtWidgets.QSpinBox()
        self.count.setRange(2, 25)
        self.count.setValue(9)
        self.count.setToolTip("images per row")
        self.traverse_button = QtWidgets.QPushButton("Traverse")
        self.prior_button = QtWidgets.QPushButton("Sample prior")
        self.prior_button.setToolTip("samples from the prior from the chosen level down; the levels above "
                                     "stay at the shown sample's posterior means")
        self.follow = QtWidgets.QCheckBox("follow")
        self.follow.setToolTip("recompute as the model learns (at most twice a second)")
        self.follow.setChecked(True)
        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        self.canvas = StripCanvas(theme)
        row1 = QtWidgets.QHBoxLayout()
        for w in (QtWidgets.QLabel("level"), self.level, QtWidgets.QLabel("unit"), self.unit,
                  QtWidgets.QLabel("range"), self.span, QtWidgets.QLabel("n"), self.count):
            row1.addWidget(w)
        row1.addStretch(1)
        row2 = QtWidgets.QHBoxLayout()
        for w in (self.traverse_button, self.prior_button, self.follow):
            row2.addWidget(w)
        row2.addStretch(1)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.setSpacing(3)
        lay.addLayout(row1)
        lay.addLayout(row2)
        lay.addWidget(self.canvas, 1)
        lay.addWidget(self.status)
        for w in (self.level, self.unit, self.span, self.count, self.traverse_button, self.prior_button, self.follow):
            w.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
        self.level.currentIndexChanged.connect(self._level_changed)
        self._level_changed()
        self.traverse_button.clicked.connect(lambda: self.request("traverse"))
        self.prior_button.clicked.connect(lambda: self.request("prior", reseed=True))
        for sig in (self.unit.valueChanged, self.span.valueChanged, self.count.valueChanged):
            sig.connect(lambda *_: self.request("traverse"))
        if not self.source.live:
            for w in (self.traverse_button, self.prior_button, self.follow):
                w.setEnabled(False)
            self.status.setText("traversals need the live model (a recording holds no weights)")
        self.apply_theme(theme)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.canvas.apply_theme(theme)

    def _level_changed(self, *_) -> None:
        layer = self.spec.layers[self.current_level]
        self.unit.setRange(0, layer.size - 1)
        self.unit.setToolTip(f"a unit of {layer.name} (0..{layer.size - 1}); a new level starts at its most "
                             "active unit (largest variance of the posterior mean over the batch)")
        self._auto_unit = True
        self.request("traverse")
        self.request("prior")

    @property
    def current_level(self) -> int:
        return int(self.level.currentData())

    def values(self) -> np.ndarray:
        """(K,) the values the unit takes."""
        s = float(self.span.value())
        return np.linspace(-s, s, int(self.count.value()), dtype=np.float32)

    # --------------------------------------------------------------- requests
    def request(self, kind: str, reseed: bool = False) -> bool:
        """Ask the engine thread for a traversal ("traverse") or prior samples ("prior",
        the same draws until ``reseed``, so following shows the model change, not the
        noise); False when there is no live model, or one is in flight (it is asked
        again when that comes back)."""
        if not self.source.live or self.source.closed:
            return False
        if reseed:
            self._seed += 1
        if kind in self._pending:
            self._again.add(kind)
            return False
        token = next(self._tokens)
        level, unit, vals, n = self.current_level, int(self.unit.value()), self.values(), int(self.count.value())
        if kind == "traverse" and self._auto_unit:
            unit, self._auto_unit = None, False
        seed = self._seed

        def done(result, error, token=token, kind=kind, level=level, unit=unit, vals=vals) -> None:
            if error is not None:
                out = (token, kind, None, error, None, (level, unit, vals))
            else:
                imgs, step, used = result
                out = (token, kind, imgs, None, step, (level, used, vals))
            try:
                self._results.ready.emit(out)
            except RuntimeError:  # the strip was closed meanwhile
                pass

        try:
            self.source.compute(latent_images, (kind, level, unit, vals, n, seed), done)
        except RuntimeError as exc:
            self.status.setText(str(exc))
            return False
        self._pending[kind] = token
        self._last_request[kind] = time.perf_counter()
        f = self.source.last_frame
        self._last_step[kind] = None if f is None else f.step
        return True

    def _on_result(self, out) -> None:
        token, kind, imgs, error, step, (level, unit, vals) = out
        if self._pending.get(kind) == token:
            del self._pending[kind]
        if (error is None and kind == "traverse" and unit is not None and unit != self.unit.value()
                and level == self.current_level):
            self.unit.blockSignals(True)  # the unit picked in the engine thread
            self.unit.setValue(unit)
            self.unit.blockSignals(False)
        if kind in self._again:  # after the unit is known: a queued request keeps the picked unit
            self._again.discard(kind)
            self.request(kind)
        if error is not None:
            self.status.setText(f"could not compute: {error}")
            return
        name = self.spec.layers[level].name
        self.images[kind] = imgs
        if kind == "traverse":
            caption = f"{name} unit {unit} from {vals[0]:+.3g} to {vals[-1]:+.3g}, the rest held (step {step})"
            labels = [f"{v:+.2g}" for v in vals]
        else:
            caption = f"prior samples from {name} down (step {step})"
            labels = [""] * len(imgs)
        self.canvas.set_row(kind, caption, ImageRow(imgs, self.tiler, self.canvas.lut, labels))
        if self.status.text().startswith("could not"):
            self.status.setText("")
        self.images_ready.emit(kind, imgs)

    def show_frame(self, frame: Frame) -> None:
        """While following, ask again when the model moved on (at most ``follow_hz``)."""
        if not self.follow.isChecked() or not self.source.live:
            return
        now = time.perf_counter()
        for kind in ("traverse", "prior"):
            if self._last_step[kind] == frame.step or now - self._last_request[kind] < 1.0 / self.follow_hz:
                continue  # nothing new (a paused engine republishes the same step)
            self.request(kind)

    def detach(self) -> None:
        try:
            self.source.frame_ready.disconnect(self.show_frame)
        except TypeError:
            pass
        try:
            self._results.ready.disconnect(self._on_result)
        except TypeError:
            pass
