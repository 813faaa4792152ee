"""A sweep's index (``sweep.csv``) in a window: a sortable table of the runs
(parameters and metrics), "Compare selected" to open two to four of them side by side,
and a plot of a chosen metric against a chosen swept parameter, one point per run,
a colour and a line per seed."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets, sip

from pcviz.gui.compare.window import MAX_RUNS, CompareWindow, keep_until_deleted, open_recordings
from pcviz.gui.theme import apply_theme, series_colour, theme_named, ui_font
from pcviz.sweep.index import METRICS, parameter_columns, read_index


class _Item(QtWidgets.QTableWidgetItem):
    """A cell that sorts numbers as numbers (empty cells last)."""

    def __init__(self, value: Any):
        self.value = value
        if isinstance(value, float):
            text = f"{value:.5g}"
        else:
            text = "" if value is None else str(value)
        super().__init__(text)
        if isinstance(value, (int, float)):
            self.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: "QtWidgets.QTableWidgetItem") -> bool:
        a, b = self.value, getattr(other, "value", None)
        na, nb = isinstance(a, (int, float)), isinstance(b, (int, float))
        if na and nb:
            return a < b
        if na != nb:
            return na  # numbers before text and empty cells
        return str(a or "") < str(b or "")


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values if v is not None) \
        and any(v is not None for v in values)


class SweepIndexWindow(QtWidgets.QMainWindow):
    def __init__(self, index_path: str | os.PathLike, *, theme: str | None = None,
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        keep_until_deleted(self)
        self.path = Path(index_path)
        self.theme = theme_named(theme or "light")
        app = QtWidgets.QApplication.instance()
        if app is not None:
            apply_theme(app, self.theme)
        self.cols, self.rows = read_index(self.path)
        self.setWindowTitle(f"pcviz sweep: {self.path}")
        self.compare_windows: list[CompareWindow] = []

        self.table = QtWidgets.QTableWidget(len(self.rows), len(self.cols))
        self.table.setHorizontalHeaderLabels(self.cols)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        for i, r in enumerate(self.rows):
            for j, c in enumerate(self.cols):
                item = _Item(r.get(c))
                if c == "path" and r.get(c):  # the file name; the full path in its tooltip
                    item.setText(Path(str(r[c])).name)
                    item.setToolTip(str(r[c]))
                item.setData(QtCore.Qt.ItemDataRole.UserRole, i)
                if c == "error" and r.get(c):
                    item.setToolTip(str(r[c]))
                self.table.setItem(i, j, item)
        self.table.setSortingEnabled(True)
        self.table.sortItems(0, QtCore.Qt.SortOrder.AscendingOrder)
        self.table.resizeColumnsToContents()
        for j, c in enumerate(self.cols):
            if c in ("error", "path", "run"):
                self.table.setColumnWidth(j, min(self.table.columnWidth(j), 260))
        self.table.itemSelectionChanged.connect(self._selection_changed)

        self.compare_button = QtWidgets.QPushButton("Compare selected")
        self.compare_button.setToolTip(f"open 2 to {MAX_RUNS} finished runs side by side")
        self.compare_button.clicked.connect(self.compare_selected)
        self.note = QtWidgets.QLabel()
        self.note.setFont(ui_font(9))

        metrics = [c for c in self.cols if c in METRICS and _numeric([r.get(c) for r in self.rows])]
        params = [c for c in parameter_columns(self.cols)  # those that vary across the runs
                  if len({str(r.get(c)) for r in self.rows}) > 1] or parameter_columns(self.cols)[-1:]
        self.metric = QtWidgets.QComboBox()
        self.metric.addItems(metrics)
        self.param = QtWidgets.QComboBox()
        self.param.addItems(params)
        if "heldout_recon_mse" in metrics:
            self.metric.setCurrentText("heldout_recon_mse")
        if len(params) > 1:
            self.param.setCurrentIndex(0)
        self.metric.currentTextChanged.connect(self.plot_metric)
        self.param.currentTextChanged.connect(self.plot_metric)
        self.plot = pg.PlotWidget()
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        for side in ("left", "bottom"):  # the values as the index has them, not rescaled by 1000
            self.plot.getAxis(side).enableAutoSIPrefix(False)

        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.compare_button)
        top.addWidget(self.note, 1)
        pbar = QtWidgets.QHBoxLayout()
        for w in (QtWidgets.QLabel("plot"), self.metric, QtWidgets.QLabel("against"), self.param):
            pbar.addWidget(w)
        pbar.addStretch(1)
        upper = QtWidgets.QWidget()
        ul = QtWidgets.QVBoxLayout(upper)
        ul.setContentsMargins(0, 0, 0, 0)
        ul.addLayout(top)
        ul.addWidget(self.table, 1)
        lower = QtWidgets.QWidget()
        ll = QtWidgets.QVBoxLayout(lower)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addLayout(pbar)
        ll.addWidget(self.plot, 1)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        split.addWidget(upper)
        split.addWidget(lower)
        self.setCentralWidget(split)
        self.resize(1400, 900)
        self._selection_changed()
        self.plot_metric()

    # ------------------------------------------------------------ selection
    def selected_rows(self) -> list[dict[str, Any]]:
        rows = sorted({self.table.item(ix.row(), 0).data(QtCore.Qt.ItemDataRole.UserRole)
                       for ix in self.table.selectionModel().selectedRows()})
        return [self.rows[i] for i in rows]

    def select_runs(self, names: list[str]) -> None:
        self.table.clearSelection()
        mode = QtCore.QItemSelectionModel.SelectionFlag.Select | QtCore.QItemSelectionModel.SelectionFlag.Rows
        for i in range(self.table.rowCount()):
            row = self.rows[self.table.item(i, 0).data(QtCore.Qt.ItemDataRole.UserRole)]
            if row.get("run") in names:
                self.table.selectionModel().select(self.table.model().index(i, 0), mode)

    def _usable(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rows if r.get("path") and Path(r["path"]).is_file() and r.get("frames")]

    def _selection_changed(self) -> None:
        sel = self.selected_rows()
        ok = self._usable(sel)
        self.compare_button.setEnabled(2 <= len(ok) <= MAX_RUNS and len(ok) == len(sel))
        if not sel:
            self.note.setText(f"{len(self.rows)} runs; select 2 to {MAX_RUNS} rows to compare them")
        elif len(ok) != len(sel):
            self.note.setText(f"{len(sel) - len(ok)} of the selected runs have no recording to show")
        elif not 2 <= len(ok) <= MAX_RUNS:
            self.note.setText(f"{len(ok)} selected: compare takes 2 to {MAX_RUNS}")
        else:
            self.note.setText(f"{len(ok)} selected")

    def compare_selected(self) -> CompareWindow | None:
        rows = self._usable(self.selected_rows())
        if not 2 <= len(rows) <= MAX_RUNS:
            return None
        win = CompareWindow(open_recordings([r["path"] for r in rows]), theme=self.theme.name)
        win.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)  # Qt deletes it when closed
        self.compare_windows = [w for w in self.compare_windows if not sip.isdeleted(w)] + [win]
        win.show()
        return win

    # ----------------------------------------------------------------- plot
    def plot_metric(self, *_: Any) -> None:
        """The chosen metric against the chosen parameter, one point per run; a colour
        and a line per seed (a parameter that is text, like the preset, is spread
        evenly with its values as ticks)."""
        self.plot.clear()
        metric, param = self.metric.currentText(), self.param.currentText()
        if not metric or not param:
            return
        rows = [r for r in self.rows if isinstance(r.get(metric), (int, float)) and r.get(param) is not None
                and not (isinstance(r.get(metric), float) and math.isnan(r[metric]))]
        values = [r[param] for r in rows]
        axis = self.plot.getAxis("bottom")
        if _numeric(values):
            xs = [float(v) for v in values]
            axis.setTicks(None)
            spread = [v for v in xs if v > 0]
            log = len(spread) == len(xs) and len(spread) > 1 and max(spread) / min(spread) > 50
            self.plot.setLogMode(x=log, y=False)
        else:
            cats = sorted({str(v) for v in values})
            xs = [float(cats.index(str(v))) for v in values]
            axis.setTicks([[(float(i), c) for i, c in enumerate(cats)]])
            self.plot.setLogMode(x=False, y=False)
        legend = self.plot.addLegend(offset=(-4, 4), labelTextSize="9pt")
        legend.setBrush(self.theme.qcolor("panel", 215))
        legend.setLabelTextColor(self.theme.text)
        seeds = sorted({r.get("seed") for r in rows}, key=lambda s: (s is None, s))
        for k, seed in enumerate(seeds):
            pts = sorted((x, float(r[metric])) for x, r in zip(xs, rows) if r.get("seed") == seed)
            colour = series_colour(self.theme, k)
            x = np.array([p[0] for p in pts])
            y = np.array([p[1] for p in pts])
            self.plot.plot(x, y, pen=pg.mkPen(colour, width=1, style=QtCore.Qt.PenStyle.DotLine), symbol="o",
                           symbolSize=9, symbolBrush=colour, symbolPen=None, name=f"seed {seed}")
        if not _numeric(values):  # every category in view, half a step of margin
            self.plot.setXRange(-0.5, len(cats) - 0.5, padding=0)
        else:
            self.plot.enableAutoRange(axis="x")
        self.plot.setLabel("left", metric)
        self.plot.setLabel("bottom", param)
        self.plot.setTitle(f"{metric} against {param}: {len(rows)} runs", size="10pt")
        self.plotted = (metric, param, len(rows))

    def save_screenshot(self, path: str | os.PathLike) -> bool:
        return self.grab().save(str(path))

    def settle(self, app: QtWidgets.QApplication) -> None:
        for _ in range(2):
            self.grab()
            app.processEvents()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        for w in self.compare_windows:
            if not sip.isdeleted(w):
                w.close()
        super().closeEvent(event)
