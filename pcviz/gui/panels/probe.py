"""The "Probe" dock: in-silico electrophysiology on the live model.

Pick a stimulus family and the parameter to sweep, the layer and quantity, the
units (``auto``, or the units selected on the hierarchy), the conditions (intact,
no feedback, and any ``NAME=SPEC`` interventions), and press Run: the engine (in its
thread or its process, through the source's ``compute``) presents the stimuli to
copies of its model (:func:`pcviz.sim.probe.probe_engine`), and the tuning curves are
drawn here; "Save…" writes the CSV and the PNG of ``pcviz probe``.
The running model is never touched. A recording being played has no model to probe:
the panel says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from pcviz.data.stimuli import FAMILIES
from pcviz.errors import PcvizError
from pcviz.gui.sources.frame_source import FrameSource
from pcviz.gui.theme import Theme
from pcviz.sim.probe import ProbeResult, parse_condition, probe_engine
from pcviz.sim.probe_plot import coincident, legend_corner, plot_curves

KEY = "probe"
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
_PEN = QtCore.Qt.PenStyle
#: (dash, marker, width) of each condition's curve, so that one lying on another shows
PANEL_STYLES = ((_PEN.SolidLine, "o", 4.0), (_PEN.DashLine, "s", 2.5), (_PEN.DotLine, "t", 1.6),
                (_PEN.DashDotLine, "d", 1.2))


class ProbePanel(QtWidgets.QWidget):
    """The probe's form, its curves and its Save button (see the module docstring)."""

    finished = QtCore.pyqtSignal()  # a probe ended (result or error)

    def __init__(self, source: FrameSource, theme: Theme, selected_units=None,
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.source = source
        self.theme = theme
        #: () -> (layer, units) picked in the window, or None
        self.selected_units = selected_units or (lambda: None)
        self.result: ProbeResult | None = None
        self.busy = False

        grid = QtWidgets.QGridLayout()
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(3)
        self.family = QtWidgets.QComboBox()
        self.family.addItems(list(FAMILIES))
        self.family.setToolTip("\n".join(f"{f.name}: {f.description}" for f in FAMILIES.values()))
        self.vary = QtWidgets.QComboBox()
        self.values = QtWidgets.QLineEdit()
        self.values.setToolTip("comma-separated values of the swept parameter")
        self.params = QtWidgets.QLineEdit()
        self.params.setPlaceholderText("e.g. orientation=45, width=2")
        self.params.setToolTip("the other stimulus parameters, NAME=VALUE separated by commas")
        self.layer = QtWidgets.QSpinBox()
        spec = source.spec
        self.layer.setRange(0, len(spec.layers) - 1)
        self.layer.setValue(min(1, len(spec.layers) - 1))
        self.quantity = QtWidgets.QComboBox()
        self.units = QtWidgets.QComboBox()
        self.units.addItems(["auto", "selected in the window"])
        self.units.setToolTip("auto: the units that respond most to the family's centre stimulus")
        self.n_auto = QtWidgets.QSpinBox()
        self.n_auto.setRange(1, 1000)
        self.n_auto.setValue(5)
        self.response = QtWidgets.QComboBox()
        self.response.addItems(["steady", "mean"])
        self.response.setToolTip("the value at the end of the hold, or its mean over the hold")
        self.hold = QtWidgets.QSpinBox()
        self.hold.setRange(1, 100000)
        self.hold.setValue(int(source.hold_steps or 30))
        self.intact = QtWidgets.QCheckBox("intact")
        self.intact.setChecked(True)
        self.no_feedback = QtWidgets.QCheckBox("no feedback")
        self.no_feedback.setChecked(True)
        self.no_feedback.setToolTip("the probed layer's top-down prediction gets precision 0")
        self.extra = QtWidgets.QLineEdit()
        self.extra.setPlaceholderText("NAME=SPEC; ... e.g. l2=lesion:2")
        self.extra.setToolTip("lesion:LAYER[:FACTOR[:UNITS]], gain:LAYER:FACTOR, clamp:LAYER:UNITS:VALUE,"
                              " joined by +; conditions separated by ;")
        conds = QtWidgets.QHBoxLayout()
        conds.addWidget(self.intact)
        conds.addWidget(self.no_feedback)
        # two columns of fields: the stimulus on the left, the recording on the right
        left = (("Stimulus", self.family), ("Vary", self.vary), ("Values", self.values), ("Fixed", self.params),
                ("Conditions", conds), ("More", self.extra))
        right = (("Layer", self.layer), ("Quantity", self.quantity), ("Units", self.units),
                 ("Auto picks", self.n_auto), ("Response", self.response), ("Steps", self.hold))
        for col, rows in ((0, left), (2, right)):
            for r, (label, w) in enumerate(rows):
                grid.addWidget(QtWidgets.QLabel(label), r, col)
                if isinstance(w, QtWidgets.QLayout):
                    grid.addLayout(w, r, col + 1)
                else:
                    grid.addWidget(w, r, col + 1)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(3, 2)
        self.run_button = QtWidgets.QPushButton("Run probe")
        self.run_button.clicked.connect(self.run)
        self.save_button = QtWidgets.QPushButton("Save CSV + PNG\u2026")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._save_dialog)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.save_button)
        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumSize(260, 160)
        # the curves take the height the dock has: with the status label's word wrap the
        # panel's height follows its width, and the plot's own 480-px size hint made a
        # short dock scroll the curves out of sight
        self.plot.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Ignored)
        legend = self.plot.addLegend(offset=(-4, 4))
        legend.setBrush(theme.qcolor("panel", 215))  # readable where it lies over a curve
        legend.setLabelTextColor(theme.text)
        self.plot.showGrid(x=True, y=True, alpha=0.2)

        form = QtWidgets.QWidget()
        side = QtWidgets.QVBoxLayout(form)
        side.setContentsMargins(0, 0, 0, 0)
        side.addLayout(grid)
        side.addLayout(buttons)
        side.addWidget(self.status)
        side.addStretch(1)
        form.setMinimumWidth(520)
        form.setMaximumWidth(720)
        outer = QtWidgets.QHBoxLayout(self)  # the form, the curves beside it
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(form)
        outer.addWidget(self.plot, 1)

        self.family.currentTextChanged.connect(self._on_family)
        self.vary.currentTextChanged.connect(self._on_vary)
        self.layer.valueChanged.connect(self._on_layer)
        self._on_family(self.family.currentText())
        self._on_layer(self.layer.value())
        if not source.takes_commands:
            self.run_button.setEnabled(False)
            self.status.setText("A recording has no model to probe: open a preset to probe it.")

    # --------------------------------------------------------------- the form
    def _on_family(self, name: str) -> None:
        fam = FAMILIES[name]
        self.vary.blockSignals(True)
        self.vary.clear()
        self.vary.addItems(list(fam.defaults))
        first = next(iter(fam.sweeps))
        self.vary.setCurrentText("length" if name == "bars" else first)
        self.vary.blockSignals(False)
        self._on_vary(self.vary.currentText())

    def _on_vary(self, name: str) -> None:
        fam = FAMILIES[self.family.currentText()]
        vals = fam.sweeps.get(name, ())
        self.values.setText(", ".join(f"{v:g}" for v in vals))

    def _on_layer(self, layer: int) -> None:
        quantities = list(self.source.spec.layers[layer].quantities)
        current = self.quantity.currentText() or "error"
        self.quantity.clear()
        self.quantity.addItems(quantities)
        if current in quantities:
            self.quantity.setCurrentText(current)

    def _floats(self, text: str, what: str) -> list[float]:
        try:
            return [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
        except ValueError:
            raise PcvizError(f"{what}: {text!r} is not a list of numbers") from None

    def _request(self):
        """The probe's arguments from the form; raises PcvizError naming the field."""
        family, vary = self.family.currentText(), self.vary.currentText()
        values = self._floats(self.values.text(), "Values")
        params = {}
        for item in (p for p in self.params.text().split(",") if p.strip()):
            if "=" not in item:
                raise PcvizError(f"Fixed: {item.strip()!r} should be NAME=VALUE")
            k, v = item.split("=", 1)
            params[k.strip()] = self._floats(v, f"Fixed {k.strip()}")[0]
        layer = self.layer.value()
        conditions = []
        if self.intact.isChecked():
            conditions.append("intact")
        if self.no_feedback.isChecked():
            conditions.append("no-feedback")
        conditions += [c.strip() for c in self.extra.text().split(";") if c.strip()]
        if not conditions:
            raise PcvizError("Conditions: tick at least one")
        for c in conditions:
            parse_condition(c, layer)  # a bad condition is named here, before the engine is asked
        if self.units.currentIndex() == 0:
            units = "auto"
        else:
            picked = self.selected_units()
            if not picked or picked[0] != layer or not picked[1]:
                raise PcvizError(f"Units: select units of layer {layer} on the hierarchy first (or use auto)")
            units = list(picked[1])
        options = dict(quantity=self.quantity.currentText(), units=units, n_auto=self.n_auto.value(),
                       conditions=conditions, response=self.response.currentText())
        return (family, vary, values, params, layer, 0, (3, 8), self.hold.value(), options)

    # ---------------------------------------------------------------- running
    def run(self) -> bool:
        """Start a probe; False (and a message) when the form or the source says no."""
        if self.busy or not self.source.takes_commands:
            return False
        try:
            args = self._request()
        except PcvizError as exc:
            self.status.setText(f"<b>Cannot probe:</b> {exc}")
            return False
        try:
            self.source.compute(probe_engine, args, lambda out, err: self._on_result(out if err is None else err))
        except RuntimeError as exc:
            self.status.setText(f"<b>Cannot probe:</b> {exc}")
            return False
        self.busy = True
        self.run_button.setEnabled(False)
        self.status.setText("probing\u2026")
        return True

    def _on_result(self, out) -> None:
        self.busy = False
        self.run_button.setEnabled(True)
        if isinstance(out, str):
            self.status.setText(f"<b>Probe failed:</b> {out}")
            self.finished.emit()
            return
        self.result = out
        self.save_button.setEnabled(True)
        self.status.setText("<br>".join(out.summary_lines() + out.notes))
        self._draw(out)
        self.finished.emit()

    def _draw(self, res: ProbeResult) -> None:
        self.plot.clear()
        legend = self.plot.plotItem.legend
        if legend is not None:
            legend.clear()
        x = np.asarray(res.stimuli.values, float)
        same = coincident(res)
        for i, name in enumerate(res.conditions):  # as in the PNG: each thinner and dashed over the one before
            colour = COLOURS[i % len(COLOURS)]
            dash, symbol, width = PANEL_STYLES[min(i, len(PANEL_STYLES) - 1)]
            pen = pg.mkPen(colour, width=width, style=dash)
            label = f"{name} (last/peak {res.last_to_peak(name):.2f})"
            if name in same:
                label += f", same curve as {same[name]}"
            self.plot.plot(x, res.curve(name), pen=pen, symbol=symbol, symbolSize=4 + 2 * width,
                           symbolBrush=colour if i == 0 else None, symbolPen=pg.mkPen(colour, width=1.5),
                           name=label)
        if legend is not None:  # in the right-hand corner the curves leave free
            edge = 1 if legend_corner(res) == "bottom" else 0
            legend.anchor(itemPos=(1, edge), parentPos=(1, edge), offset=(-4, 4 - 8 * edge))
        self.plot.setLabel("bottom", res.stimuli.vary)
        self.plot.setLabel("left", f"layer {res.layer} {res.quantity}")
        self.plot.enableAutoRange()
        self.plot.setTitle(f"{res.stimuli.family}, units {','.join(map(str, res.units[:6]))}"
                           + ("\u2026" if len(res.units) > 6 else ""))

    def save(self, csv_path: str | Path) -> tuple[Path, Path]:
        if self.result is None:
            raise PcvizError("nothing to save: run the probe first")
        csv_path = self.result.write_csv(csv_path)
        return csv_path, plot_curves(self.result, Path(csv_path).with_suffix(".png"))

    def _save_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save tuning curves", "curves.csv", "CSV (*.csv)")
        if path:
            try:
                a, b = self.save(path)
                self.status.setText(f"wrote {a} and {b}")
            except (PcvizError, OSError) as exc:
                self.status.setText(f"<b>Could not save:</b> {exc}")

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme


class ProbeTool(QtCore.QObject):
    """Fills the window's Probe dock (made with its other docks, a tab beside the time
    series) and rebuilds its panel for each new source."""

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.panel: ProbePanel | None = None
        self.dock = win.docks[KEY]
        win.source_changed.connect(self.attach)
        self.attach()

    def _selected(self):
        sel = self.win.interventions.selector  # the units picked on the hierarchy
        if sel.selection.layer is None:
            return None
        return sel.selection.layer, list(sel.selection.units)

    def attach(self) -> None:
        self.panel = ProbePanel(self.win.source, self.win.theme, self._selected)
        old = self.dock.widget()
        scroll = QtWidgets.QScrollArea()  # a short dock scrolls the form, the window keeps its size
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setWidget(self.panel)
        self.dock.setWidget(scroll)
        if old is not None:
            old.deleteLater()
