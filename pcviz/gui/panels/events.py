"""The list of interventions (and parameter changes) of a run, each with the step at
which it took effect; undo the selected one; save the list as the intervention
schedule of a preset, so ``pcviz record --preset saved.toml`` replays the demo
headless. Interventions are also drawn as markers on the time series.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from pcviz.config import run_config_to_dict
from pcviz.gui.panels.interventions import describe_command
from pcviz.gui.sources.frame_source import FrameSource
from pcviz.gui.views.timeseries import TimeSeriesView
from pcviz.sim import commands as C
from pcviz.sim.events import Event
from pcviz.sim.schedule import listed_command, save_schedule

MARKER_COLOUR = "#e0218a"


class EventList(QtWidgets.QWidget):
    """Every intervention of the run (newest last); Undo sends what reverses the
    selected one; Save schedule writes a preset."""

    def __init__(self, source: FrameSource, send: Callable[[C.Command], None],
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.source, self.send = source, send
        self.events: list[Event] = []
        cfg = source.config
        #: the config as the run started (before parameter changes), for saving
        self.config_doc = copy.deepcopy(run_config_to_dict(cfg)) if cfg is not None and source.live else None
        self.table = QtWidgets.QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["step", "intervention"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
        self.table.itemSelectionChanged.connect(self._refresh_buttons)
        self.undo_button = QtWidgets.QPushButton("Undo")
        self.undo_button.setToolTip("reverse the selected intervention (release a clamp, restore a precision,"
                                    " unocclude, free the label)")
        self.undo_button.clicked.connect(self.undo_selected)
        self.save_button = QtWidgets.QPushButton("Save schedule\u2026")
        self.save_button.setToolTip("save the run's preset with these interventions as its schedule;"
                                    " pcviz record --preset FILE.toml replays it")
        self.save_button.clicked.connect(self._save_dialog)
        for b in (self.undo_button, self.save_button):
            b.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.undo_button)
        buttons.addWidget(self.save_button)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(6, 0, 6, 6)
        lay.addWidget(self.table, 1)
        lay.addLayout(buttons)
        self.save_button.setEnabled(self.config_doc is not None)
        self._refresh_buttons()

    def add(self, ev: Event) -> None:
        tip = ""
        if ev.kind in ("engine_error", "engine_dead"):  # failures are listed too, the traceback as a tip
            text = (f"engine error in {ev.payload.get('where', '?')}: {ev.payload.get('last_line', '')}"
                    if ev.kind == "engine_error" else f"engine stopped: {ev.payload.get('message', '')}")
            tip = str(ev.payload.get("traceback", ""))
        else:
            cls = C.command_class(ev.kind)
            if cls is None or not cls.listed:
                return
            cmd = listed_command(ev)
            text = describe_command(cmd, self.source.spec) if cmd is not None else ev.kind
        if ev.payload.get("scheduled"):
            text += "  (scheduled)"
        self.events.append(ev)
        r = self.table.rowCount()
        self.table.insertRow(r)
        step = QtWidgets.QTableWidgetItem(str(ev.step))
        step.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        self.table.setItem(r, 0, step)
        item = QtWidgets.QTableWidgetItem(text)
        if tip:
            item.setToolTip(tip)
        self.table.setItem(r, 1, item)
        self.table.resizeColumnToContents(0)
        self.table.scrollToBottom()

    def selected_event(self) -> Event | None:
        rows = self.table.selectionModel().selectedRows()
        return self.events[rows[0].row()] if rows else None

    def _refresh_buttons(self) -> None:
        ev = self.selected_event()
        cmd = None if ev is None else listed_command(ev)
        self.undo_button.setEnabled(self.source.live and cmd is not None and cmd.inverse() is not None)

    def undo_selected(self) -> None:
        ev = self.selected_event()
        cmd = None if ev is None else listed_command(ev)
        undo = None if cmd is None else cmd.inverse()
        if undo is not None:
            self.send(undo)

    def save(self, path: str | os.PathLike) -> Path:
        if self.config_doc is None:
            raise RuntimeError("only a live run's interventions can be saved as a schedule")
        return save_schedule(path, self.config_doc, self.events)

    def _save_dialog(self) -> None:
        name = (self.config_doc or {}).get("preset", {}).get("name", "demo") or "demo"
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save intervention schedule",
                                                        f"{name}-demo.toml", "Preset (*.toml)")
        if path:
            try:
                self.save(path)
            except OSError as exc:
                QtWidgets.QMessageBox.warning(self, "pcviz", f"could not write {path}: {exc}")


class EventMarkers:
    """Vertical lines on every time-series plot at the steps of interventions."""

    def __init__(self, view: TimeSeriesView):
        self.view = view
        self.steps: list[float] = []
        self.items: dict[str, pg.PlotCurveItem] = {}
        pen = pg.mkPen(MARKER_COLOUR, width=1.5, style=QtCore.Qt.PenStyle.DashLine)
        for key, plot in view.plots.items():
            item = pg.PlotCurveItem(pen=pen)
            plot.item.addItem(item, ignoreBounds=True)
            self.items[key] = item
        view.redraw_hooks.append(self.draw)

    def add(self, ev: Event) -> None:
        cls = C.command_class(ev.kind)
        if cls is not None and cls.intervention:
            self.steps.append(float(ev.step))
            self.view._dirty = True

    def draw(self, x0: float, x1: float, offset: float) -> None:
        xs = np.asarray(self.steps, dtype=np.float64)
        xs = xs[(xs >= x0) & (xs <= x1)] - offset
        for key, item in self.items.items():
            if xs.size == 0:
                item.setData([], [])
                continue
            _, (y0, y1) = self.view.plots[key].item.getViewBox().viewRange()
            item.setData(np.repeat(xs, 2), np.tile(np.array([y0, y1]), xs.size), connect="pairs")

    def detach(self) -> None:
        try:
            self.view.redraw_hooks.remove(self.draw)
        except ValueError:
            pass
