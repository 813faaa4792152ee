"""Top-down interventions from the window: select units by clicking or dragging on a
layer's maps, then clamp them (for a number of steps or until released), pulse them,
lesion their precision (or the whole layer's); drag a rectangle on the input to
occlude it; in supervised-generative presets, buttons 0-9 clamp the label layer.

Every action is a typed command to the engine; the engine logs it as an event, which
the event list and the time-series markers show (see :mod:`pcviz.gui.panels.events`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from PyQt6 import QtCore, QtGui, QtWidgets

from pcviz.gui.views.hierarchy import HierarchyCanvas
from pcviz.gui.sources.frame_source import FrameSource
from pcviz.sim import commands as C
from pcviz.sim.events import Event
from pcviz.sim.frames import FrameSpec

def label_layer(spec: FrameSpec) -> int | None:
    """The label layer of a supervised-generative model (the top layer, role 'label')."""
    top = spec.layers[-1]
    return top.index if top.role == "label" else None


def describe_command(cmd: C.Command, spec: FrameSpec) -> str:
    """The command's own line, with the layers named as ``spec`` names them."""
    def layer_name(l: int | None) -> str:
        return "every layer" if l is None else spec.layers[l].name if 0 <= l < len(spec.layers) else str(l)

    return cmd.describe_text(layer_name)


# ---------------------------------------------------------------- selection
@dataclass
class Selection:
    layer: int | None = None
    units: list[int] = field(default_factory=list)

    def clear(self) -> None:
        self.layer, self.units = None, []


class CanvasSelector(QtCore.QObject):
    """Click or drag on a layer's maps to select units (Ctrl/Shift adds); in occlude
    mode a drag on the input draws the occluded rectangle. Draws the selection on a
    transparent overlay over the canvas, so the canvas itself is untouched."""

    selection_changed = QtCore.pyqtSignal()
    #: (row0, col0, row1, col1), end-exclusive, in the input's display shape
    region_dragged = QtCore.pyqtSignal(tuple)

    def __init__(self, canvas: HierarchyCanvas, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.canvas = canvas
        self.selection = Selection()
        self.occlude_mode = False
        self.occluded: list[tuple[int, int, int, int]] = []  # rectangles shown on the input
        self._press: tuple[QtCore.QPointF, int, str] | None = None
        self._band: QtCore.QRectF | None = None
        self.overlay = _Overlay(self)
        canvas.installEventFilter(self)

    # -------------------------------------------------------------- geometry
    def _hit_cell(self, pos: QtCore.QPointF) -> tuple[int, str] | None:
        for row in self.canvas.rows:
            for q, c in row.cells.items():
                if c.rect.contains(pos):
                    return row.layer.index, q
        return None

    def cells_in(self, layer: int, quantity: str, a: QtCore.QPointF, b: QtCore.QPointF) -> tuple[int, int, int, int]:
        """(row0, col0, row1, col1) of the map pixels between two widget points."""
        c = self.canvas.row_of(layer).cells[quantity]
        h, w = c.raster.shape[0], c.raster.shape[1]

        def cell(p: QtCore.QPointF) -> tuple[int, int]:
            r = int((p.y() - c.rect.y()) / c.rect.height() * h)
            col = int((p.x() - c.rect.x()) / c.rect.width() * w)
            return min(max(r, 0), h - 1), min(max(col, 0), w - 1)

        (ra, ca), (rb, cb) = cell(a), cell(b)
        return min(ra, rb), min(ca, cb), max(ra, rb) + 1, max(ca, cb) + 1

    def units_in(self, layer: int, region: tuple[int, int, int, int]) -> list[int]:
        tiler = self.canvas.row_of(layer).tiler
        r0, c0, r1, c1 = region
        out = [tiler.unit_at(r, c) for r in range(r0, r1) for c in range(c0, c1)]
        return sorted(u for u in out if u is not None)

    def can_occlude(self) -> bool:
        layer = self.canvas.spec.layers[0]
        return layer.role == "input" and len(layer.display_shape) == 2

    # ----------------------------------------------------------------- events
    def eventFilter(self, obj: QtCore.QObject, ev: QtCore.QEvent) -> bool:  # noqa: N802 (Qt's name)
        t = ev.type()
        if t == QtCore.QEvent.Type.Resize:
            self.overlay.setGeometry(self.canvas.rect())
        elif t == QtCore.QEvent.Type.MouseButtonPress and ev.button() == QtCore.Qt.MouseButton.LeftButton:
            hit = self._hit_cell(ev.position())
            self._press = None if hit is None else (ev.position(), *hit)
            self._band = None
        elif t == QtCore.QEvent.Type.MouseMove and self._press is not None:
            p0 = self._press[0]
            if (ev.position() - p0).manhattanLength() > 4:
                self._band = QtCore.QRectF(p0, ev.position()).normalized()
                self.overlay.update()
        elif t == QtCore.QEvent.Type.MouseButtonRelease and self._press is not None:
            p0, layer, q = self._press
            self._press = None
            band, self._band = self._band, None
            add = bool(ev.modifiers() & (QtCore.Qt.KeyboardModifier.ControlModifier
                                         | QtCore.Qt.KeyboardModifier.ShiftModifier))
            region = self.cells_in(layer, q, p0, ev.position() if band is not None else p0)
            if self.occlude_mode and layer == 0 and self.can_occlude() and band is not None:
                self.region_dragged.emit(region)
            else:
                self.select(layer, self.units_in(layer, region), add=add)
            self.overlay.update()
        return False  # the canvas still sees every event (hover read-out, click selects)

    def select(self, layer: int | None, units: list[int], add: bool = False) -> None:
        s = self.selection
        if layer is None or not units:
            s.clear()
        elif add and s.layer == layer:
            s.units = sorted(set(s.units) | set(units))
        else:
            s.layer, s.units = layer, sorted(units)
        self.overlay.update()
        self.selection_changed.emit()

    def detach(self) -> None:
        try:
            self.canvas.removeEventFilter(self)
        except RuntimeError:  # the canvas is already gone
            pass


class _Overlay(QtWidgets.QWidget):
    def __init__(self, sel: CanvasSelector):
        super().__init__(sel.canvas)
        self.sel = sel
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_NoSystemBackground)
        self.setGeometry(sel.canvas.rect())
        self.show()

    def paintEvent(self, ev: QtGui.QPaintEvent) -> None:  # noqa: N802
        sel, canvas = self.sel, self.sel.canvas
        p = QtGui.QPainter(self)
        th = canvas.theme
        if sel.selection.layer is not None and sel.selection.units:
            row = canvas.row_of(sel.selection.layer)
            p.setPen(QtGui.QPen(QtGui.QColor("#ff8c00"), 2))
            p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
            for c in row.cells.values():
                sx, sy = c.rect.width() / c.raster.shape[1], c.rect.height() / c.raster.shape[0]
                for u in sel.selection.units:
                    r, col = row.tiler.position(u)
                    p.drawRect(QtCore.QRectF(c.rect.x() + col * sx, c.rect.y() + r * sy, sx, sy))
        if sel.occluded and canvas.rows:
            row = canvas.row_of(0)
            p.setPen(QtGui.QPen(QtGui.QColor("#e0218a"), 2, QtCore.Qt.PenStyle.DashLine))
            p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
            for c in row.cells.values():
                sx, sy = c.rect.width() / c.raster.shape[1], c.rect.height() / c.raster.shape[0]
                for r0, c0, r1, c1 in sel.occluded:
                    p.drawRect(QtCore.QRectF(c.rect.x() + c0 * sx, c.rect.y() + r0 * sy, (c1 - c0) * sx,
                                             (r1 - r0) * sy))
        if sel._band is not None:
            p.setPen(QtGui.QPen(QtGui.QColor(th.accent), 1, QtCore.Qt.PenStyle.DashLine))
            p.setBrush(th.qcolor("muted", 40))
            p.drawRect(sel._band)
        p.end()


# ------------------------------------------------------------------- panel
class InterventionPanel(QtWidgets.QWidget):
    """The buttons and fields of the interventions; commands go to ``send``."""

    def __init__(self, source: FrameSource, selector: CanvasSelector, send: Callable[[C.Command], None],
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.source, self.selector, self.send = source, selector, send
        self.spec = source.spec
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        self.selection_label = QtWidgets.QLabel()
        self.selection_label.setWordWrap(True)
        outer.addWidget(self.selection_label)

        # --- clamp / pulse
        box = QtWidgets.QGroupBox("Selected units")
        grid = QtWidgets.QGridLayout(box)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setRange(-300, 300)
        self.slider.setValue(100)
        self.value = QtWidgets.QDoubleSpinBox()
        self.value.setRange(-3.0, 3.0)
        self.value.setDecimals(2)
        self.value.setSingleStep(0.1)
        self.value.setValue(1.0)
        self.value.setToolTip("the value a clamp holds, or what a pulse adds")
        self.slider.valueChanged.connect(lambda v: self.value.setValue(v / 100.0))
        self.value.valueChanged.connect(lambda v: self.slider.setValue(int(round(v * 100))))
        self.duration = QtWidgets.QSpinBox()
        self.duration.setRange(0, 10_000_000)
        self.duration.setSpecialValueText("until released")
        self.duration.setSuffix(" steps")
        self.duration.setToolTip("how long a clamp lasts (0: until released)")
        grid.addWidget(QtWidgets.QLabel("value"), 0, 0)
        grid.addWidget(self.slider, 0, 1)
        grid.addWidget(self.value, 0, 2)
        grid.addWidget(QtWidgets.QLabel("for"), 1, 0)
        grid.addWidget(self.duration, 1, 1, 1, 2)
        self.clamp_button = self._button("Clamp", "hold the selected units at the value", self.clamp)
        self.release_button = self._button("Release", "free the selected units", self.release)
        self.pulse_button = self._button("Pulse", "add the value to the selected units once", self.pulse)
        row = QtWidgets.QHBoxLayout()
        for b in (self.clamp_button, self.release_button, self.pulse_button):
            row.addWidget(b)
        grid.addLayout(row, 2, 0, 1, 3)
        outer.addWidget(box)

        # --- lesion
        box = QtWidgets.QGroupBox("Precision lesion")
        grid = QtWidgets.QGridLayout(box)
        self.factor = QtWidgets.QDoubleSpinBox()
        self.factor.setRange(0.0, 100.0)
        self.factor.setDecimals(2)
        self.factor.setValue(0.0)
        self.factor.setPrefix("\u00d7 ")
        self.factor.setToolTip("the precision becomes this factor times its value (0 removes it)")
        grid.addWidget(QtWidgets.QLabel("factor"), 0, 0)
        grid.addWidget(self.factor, 0, 1, 1, 2)
        self.lesion_units_button = self._button("Units", "lesion the selected units' precision",
                                                lambda: self.lesion(units=True))
        self.lesion_layer_button = self._button("Layer", "lesion the selected layer's precision",
                                                lambda: self.lesion(units=False))
        self.restore_button = self._button("Restore", "the selected layer's precision back to \u00d71",
                                           self.restore_precision)
        grid.addWidget(self.lesion_units_button, 1, 0)
        grid.addWidget(self.lesion_layer_button, 1, 1)
        grid.addWidget(self.restore_button, 1, 2)
        outer.addWidget(box)

        # --- occlusion
        box = QtWidgets.QGroupBox("Occlusion of the input")
        row = QtWidgets.QHBoxLayout(box)
        self.occlude_button = QtWidgets.QPushButton("Drag to occlude")
        self.occlude_button.setCheckable(True)
        self.occlude_button.setToolTip("then drag a rectangle on the input: its precision is set to 0, so the"
                                       " network fills it in from above")
        self.occlude_button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.occlude_button.toggled.connect(self._set_occlude_mode)
        self.unocclude_button = self._button("Unocclude", "the whole input seen again", self.unocclude)
        row.addWidget(self.occlude_button)
        row.addWidget(self.unocclude_button)
        box.setEnabled(selector.can_occlude())
        outer.addWidget(box)

        # --- labels
        self.label_buttons: list[QtWidgets.QPushButton] = []
        ll = label_layer(self.spec)
        if ll is not None:
            box = QtWidgets.QGroupBox("Label (top layer)")
            grid = QtWidgets.QGridLayout(box)
            n = self.spec.layers[ll].size
            for k in range(n):
                b = self._button(str(k), f"clamp the label layer to {k}", lambda _=False, k=k: self.set_label(k))
                b.setMinimumWidth(24)
                grid.addWidget(b, k // 5, k % 5)
                self.label_buttons.append(b)
            self.imagine = QtWidgets.QCheckBox("imagine (free the input)")
            self.imagine.setChecked(True)
            self.imagine.setToolTip("free the input too, so the network draws the digit it expects")
            self.imagine.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
            grid.addWidget(self.imagine, (n + 4) // 5, 0, 1, 3)
            grid.addWidget(self._button("Free", "back to the data's labels", lambda: self.set_label(None)),
                           (n + 4) // 5, 3, 1, 2)
            outer.addWidget(box)

        self.clear_button = self._button("Clear all interventions", "release every clamp, lesion, occlusion"
                                         " and label", self.clear_all)
        outer.addWidget(self.clear_button)
        outer.addStretch(1)
        # fit a narrow dock: buttons and fields share the width there is
        shrink = QtWidgets.QSizePolicy.Policy.Ignored
        for w in self.findChildren((QtWidgets.QPushButton, QtWidgets.QAbstractSpinBox, QtWidgets.QSlider)):
            w.setSizePolicy(shrink, QtWidgets.QSizePolicy.Policy.Fixed)
            w.setMinimumWidth(20)
        selector.selection_changed.connect(self._refresh)
        selector.region_dragged.connect(self.occlude)
        self.setEnabled(bool(source.live))
        self._refresh()

    def _button(self, text: str, tip: str, slot: Callable) -> QtWidgets.QPushButton:
        b = QtWidgets.QPushButton(text)
        b.setToolTip(tip)
        b.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        b.clicked.connect(slot)
        return b

    def _refresh(self) -> None:
        s = self.selector.selection
        if s.layer is None:
            text = "Click or drag on a layer's maps to select units (Ctrl adds)."
        else:
            name = self.spec.layers[s.layer].name
            shown = ", ".join(map(str, s.units[:6])) + (" \u2026" if len(s.units) > 6 else "")
            text = f"<b>{name}</b>: {len(s.units)} unit{'s' if len(s.units) != 1 else ''} ({shown})"
        self.selection_label.setText(text)
        has = s.layer is not None and bool(s.units)
        for b in (self.clamp_button, self.release_button, self.pulse_button, self.lesion_units_button,
                  self.lesion_layer_button, self.restore_button):
            b.setEnabled(has)

    # --------------------------------------------------------------- actions
    def _sel(self) -> tuple[int, tuple[int, ...]] | None:
        s = self.selector.selection
        return None if s.layer is None or not s.units else (s.layer, tuple(s.units))

    def clamp(self) -> None:
        sel = self._sel()
        if sel:
            self.send(C.Clamp(sel[0], sel[1], float(self.value.value()), int(self.duration.value())))

    def release(self) -> None:
        sel = self._sel()
        if sel:
            self.send(C.Release(sel[0], sel[1]))

    def pulse(self) -> None:
        sel = self._sel()
        if sel:
            self.send(C.Pulse(sel[0], sel[1], float(self.value.value())))

    def lesion(self, units: bool) -> None:
        sel = self._sel()
        if sel:
            self.send(C.Lesion(sel[0], float(self.factor.value()), sel[1] if units else ()))

    def restore_precision(self) -> None:
        sel = self._sel()
        if sel:
            self.send(C.Lesion(sel[0], 1.0, ()))

    def _set_occlude_mode(self, on: bool) -> None:
        self.selector.occlude_mode = bool(on)

    def occlude(self, region: tuple[int, int, int, int]) -> None:
        self.send(C.Occlude(region=tuple(int(v) for v in region)))

    def unocclude(self) -> None:
        self.send(C.Unocclude())

    def set_label(self, label: int | None) -> None:
        imagine = bool(getattr(self, "imagine", None) and self.imagine.isChecked())
        self.send(C.SetLabel(label, imagine=imagine and label is not None))

    def clear_all(self) -> None:
        self.send(C.ClearInterventions())

    def on_event(self, ev: Event) -> None:
        """Keep the occluded rectangles drawn on the input in step with the engine."""
        occ = self.selector.occluded
        if ev.kind == "occlude" and ev.payload.get("region"):
            occ.append(tuple(ev.payload["region"]))
        elif ev.kind in ("unocclude", "clear_interventions", "reset"):
            occ.clear()
        else:
            return
        self.selector.overlay.update()
