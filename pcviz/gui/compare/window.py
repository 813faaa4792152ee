"""Two to four recordings in one window: a column of the usual hierarchy view per run
(activity, prediction, error, precision of every layer, for either family), one shared
timeline (by step, by sample presented, or by wall time), the time series overlaid in
one plot per quantity with a colour per run, and the events of every run marked.

Each run is played by its own :class:`~pcviz.gui.sources.playback.PlaybackSource`; the
timeline seeks them all, each to its last frame at or before the shared position.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets, sip

from pcviz.gui.compare.alignment import (
    AXES, AXIS_LABELS, event_position, frame_positions, index_at, shared_grid,
)
from pcviz.gui.sources.playback import PlaybackSource, is_marked
from pcviz.gui.views.hierarchy import HierarchyView
from pcviz.gui.theme import Theme, apply_theme, series_colour, theme_named, ui_font
from pcviz.errors import PcvizError
from pcviz.io import Recording, RecordingError, open_recording

MAX_RUNS = 4
#: the quantities plotted first, where the runs have them
#: (``accuracy``: recordings made before ``batch_accuracy``)
PREFERRED = ("energy/total", "elbo", "error_norm/layer_0", "recon", "batch_accuracy", "accuracy", "loss", "precision/layer_0")
MAX_PLOTS = 4
MAX_EVENT_MARKS = 200  # per run and plot


#: every compare and index window whose Qt object still exists: a window and its views
#: are a reference cycle, and only Qt may delete a window (in the GUI thread), never the
#: cyclic garbage collector (see MainWindow, which does the same)
_LIVE_WINDOWS: set[QtWidgets.QMainWindow] = set()


def keep_until_deleted(win: QtWidgets.QMainWindow) -> None:
    for w in [w for w in _LIVE_WINDOWS if sip.isdeleted(w)]:
        _LIVE_WINDOWS.discard(w)
    _LIVE_WINDOWS.add(win)


class CompareError(PcvizError):
    """Recordings that cannot be compared; the message says which and why."""


def run_label(rec: Recording) -> str:
    return rec.path.stem


def open_recordings(paths: list[str | os.PathLike]) -> list[Recording]:
    if not 2 <= len(paths) <= MAX_RUNS:
        raise CompareError(f"compare takes 2 to {MAX_RUNS} recordings, got {len(paths)}")
    recs: list[Recording] = []
    try:
        for p in paths:
            rec = open_recording(p)  # a RecordingError names the file and what is wrong
            if len(rec) == 0:
                raise CompareError(f"{p}: the recording has no frames")
            recs.append(rec)
    except BaseException:
        for r in recs:
            r.close()
        raise
    return recs


class _RunColumn(QtWidgets.QWidget):
    """One run: a header in its colour, its hierarchy, and where it is."""

    def __init__(self, rec: Recording, source: PlaybackSource, colour: str, theme: Theme):
        super().__init__()
        self.rec = rec
        self.source = source
        a = rec.attrs
        head = QtWidgets.QLabel()
        head.setTextFormat(QtCore.Qt.TextFormat.RichText)
        head.setText(f"<span style='color:{colour}; font-size:14pt'>&#9632;</span> <b>{run_label(rec)}</b>"
                     f"<br><span style='color:{theme.muted}'>{a.get('preset') or '?'} · {rec.spec.model_kind}"
                     f" · seed {a.get('seed', '?')} · {len(rec)} frames</span>")
        head.setFont(ui_font(10))
        head.setToolTip(str(rec.path))
        self.view = HierarchyView(source, theme)
        self.where = QtWidgets.QLabel()
        self.where.setFont(ui_font(9))
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        lay.addWidget(head)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.where)

    def show_index(self, i: int) -> None:
        self.source.seek(i)
        self.source.tick()
        f = self.source.last_frame
        if f is not None:
            self.where.setText(f"frame {i + 1}/{len(self.rec)} · step {f.step} · sample {f.sample_index}"
                               f" · {f.wall:.2f} s")


class CompareWindow(QtWidgets.QMainWindow):
    """``CompareWindow(recordings)``: the window owns the recordings and closes them."""

    def __init__(self, recordings: list[Recording], *, theme: str | None = None, by: str = "step",
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        keep_until_deleted(self)
        if not 2 <= len(recordings) <= MAX_RUNS:
            raise CompareError(f"compare takes 2 to {MAX_RUNS} recordings, got {len(recordings)}")
        self.theme = theme_named(theme or "light")
        app = QtWidgets.QApplication.instance()
        if app is not None:
            apply_theme(app, self.theme)
        self.recs = recordings
        self.colours = [series_colour(self.theme, i) for i in range(len(recordings))]
        self.sources = [PlaybackSource(r, follow=False) for r in recordings]
        self.holds = [int(s.hold_steps or 1) for s in self.sources]
        self.by = by
        self.setWindowTitle("pcviz compare: " + ", ".join(run_label(r) for r in recordings))

        self.columns = [_RunColumn(r, s, c, self.theme) for r, s, c in zip(recordings, self.sources, self.colours)]
        runs = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(runs)
        row.setContentsMargins(0, 0, 0, 0)
        for c in self.columns:  # wider columns for runs with more maps per layer (a VAE's)
            cells = max(len(r.cells) + len(r.bars) for r in c.view.rows)  # maps and colour bars
            # the share follows the maps only: with the hierarchy's own width hint, Qt gave
            # narrow columns (a PC's four maps) as much as a VAE's nine
            c.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
            row.addWidget(c, cells)

        self.plots = pg.GraphicsLayoutWidget()
        self.quantities = QtWidgets.QListWidget()
        self.quantities.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.MultiSelection)
        self.quantities.setToolTip(f"the quantities plotted (up to {MAX_PLOTS})")
        self.quantities.setMaximumWidth(220)
        names: list[str] = []
        for r in recordings:
            names += [n for n in r.spec.scalars if n not in names]
        self.quantities.addItems(names)
        chosen = [n for n in PREFERRED if n in names][:3] or names[:3]
        for i in range(self.quantities.count()):
            it = self.quantities.item(i)
            it.setSelected(it.text() in chosen)
        self.quantities.itemSelectionChanged.connect(self._build_plots)
        bottom = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        bottom.addWidget(self.quantities)
        bottom.addWidget(self.plots)
        bottom.setStretchFactor(1, 1)

        bar = QtWidgets.QHBoxLayout()
        self.play_button = QtWidgets.QToolButton()
        self.play_button.setText("\u25B6")
        self.play_button.setToolTip("play / pause (Space)")
        self.play_button.clicked.connect(self.toggle_play)
        self.axis = QtWidgets.QComboBox()
        self.axis.addItems(AXES)
        self.axis.setToolTip("the shared timeline: engine step, samples presented, or wall time")
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(self._seek)
        self.position = QtWidgets.QLabel()
        self.position.setMinimumWidth(220)
        for w in (self.play_button, QtWidgets.QLabel("by"), self.axis):
            bar.addWidget(w)
        bar.addWidget(self.slider, 1)
        bar.addWidget(self.position)

        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        split.addWidget(runs)
        split.addWidget(bottom)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        central = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(central)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split, 1)
        lay.addLayout(bar)
        self.setCentralWidget(central)
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(33)
        self._timer.timeout.connect(self._advance)
        act = QtGui.QAction("Play / pause", self)
        act.setShortcut(QtGui.QKeySequence("Space"))
        act.triggered.connect(self.toggle_play)
        self.addAction(act)
        self.cursors: list[pg.InfiniteLine] = []
        self.plot_items: dict[str, pg.PlotItem] = {}
        self.axis.setCurrentText(by)
        self.axis.currentTextChanged.connect(self.set_axis)
        self.resize(1600, 1000)
        self.set_axis(by)

    # ------------------------------------------------------------- timeline
    def set_axis(self, by: str) -> None:
        """Put the runs on the ``by`` axis, keeping the first run's frame in view."""
        anchor = self.columns[0].source.index if self.plot_items or self.cursors else None
        self.by = by
        self.positions = [frame_positions(r.steps, r.walls, h, by) for r, h in zip(self.recs, self.holds)]
        self.grid = shared_grid(self.positions)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(self.grid) - 1))
        self.slider.blockSignals(False)
        self._build_plots()
        if len(self.grid):
            self.seek_position(self.positions[0][anchor] if anchor is not None else self.grid[-1])

    def seek_position(self, x: float) -> None:
        """Show, in every run, its last frame at or before ``x`` on the current axis."""
        i = int(np.searchsorted(self.grid, x, side="left")) if len(self.grid) else 0
        i = min(i, max(0, len(self.grid) - 1))
        if self.slider.value() != i:
            self.slider.setValue(i)  # calls _seek
        else:
            self._seek(i)

    def _seek(self, i: int) -> None:
        if not len(self.grid):
            return
        x = float(self.grid[i])
        text = self._x_text(x)
        self.position.setText(f"{AXIS_LABELS[self.by]} {text}")
        for col, pos in zip(self.columns, self.positions):
            col.show_index(index_at(pos, x))
        for c in self.cursors:
            c.setValue(x)

    def _x_text(self, x: float) -> str:
        return f"{x:.2f} s" if self.by == "wall" else f"{int(x)}"

    def frame_indices(self) -> list[int]:
        return [c.source.index for c in self.columns]

    def toggle_play(self) -> None:
        if self._timer.isActive():
            self._timer.stop()
            self.play_button.setText("\u25B6")
        else:
            if self.slider.value() >= self.slider.maximum():
                self.slider.setValue(0)
            self._timer.start()
            self.play_button.setText("\u23F8")

    def _advance(self) -> None:
        n = self.slider.maximum()
        step = max(1, (n + 1) // 300)  # about ten seconds from start to end
        v = min(n, self.slider.value() + step)
        self.slider.setValue(v)
        if v >= n:
            self.toggle_play()

    # ---------------------------------------------------------------- plots
    def chosen_quantities(self) -> list[str]:
        return [it.text() for it in self.quantities.selectedItems()][:MAX_PLOTS]

    def _build_plots(self) -> None:
        self.plots.clear()
        self.cursors = []
        self.plot_items = {}
        names = self.chosen_quantities()
        first: pg.PlotItem | None = None
        ncols = 2 if len(names) > 2 else max(1, len(names))
        for k, name in enumerate(names):
            p = self.plots.addPlot(row=k // ncols, col=k % ncols)
            p.setTitle(name, size="10pt")
            p.setMenuEnabled(False)
            p.showGrid(x=True, y=True, alpha=0.15)
            p.setDownsampling(auto=True, mode="peak")
            p.setClipToView(True)
            p.setLabel("bottom", AXIS_LABELS[self.by])
            legend = p.addLegend(offset=(-4, 4), labelTextSize="9pt", verSpacing=-8)
            legend.setBrush(self.theme.qcolor("panel", 215))
            legend.setLabelTextColor(self.theme.text)
            for r, pos, colour in zip(self.recs, self.positions, self.colours):
                if name not in r.spec.scalars:
                    continue
                try:
                    y = r.scalar(name)
                except RecordingError:
                    continue
                p.plot(pos, np.asarray(y, dtype=np.float64), pen=pg.mkPen(colour, width=1.5), name=run_label(r))
            self._mark_events(p)
            cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(self.theme.text, width=1))
            p.addItem(cursor, ignoreBounds=True)
            self.cursors.append(cursor)
            if first is None:
                first = p
            else:
                p.setXLink(first)
            self.plot_items[name] = p
        if len(self.grid):
            for c in self.cursors:
                c.setValue(float(self.grid[self.slider.value()]))

    def _mark_events(self, p: pg.PlotItem) -> None:
        for r, h, colour in zip(self.recs, self.holds, self.colours):
            evs = [e for e in r.events if is_marked(e.kind)][:MAX_EVENT_MARKS]
            for e in evs:
                x = event_position(e.step, r.steps, r.walls, h, self.by)
                line = pg.InfiniteLine(pos=x, angle=90, movable=False,
                                       pen=pg.mkPen(colour, width=1, style=QtCore.Qt.PenStyle.DashLine),
                                       label=e.kind, labelOpts={"position": 0.92, "color": colour})
                p.addItem(line, ignoreBounds=True)

    # ----------------------------------------------------------------- misc
    def save_screenshot(self, path: str | os.PathLike) -> bool:
        return self.grab().save(str(path))

    def settle(self, app: QtWidgets.QApplication) -> None:
        for _ in range(2):
            self.grab()
            app.processEvents()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        self._timer.stop()
        for c in self.columns:
            c.view.detach()
        for s in self.sources:
            s.close()
        super().closeEvent(event)


def open_compare(paths: list[str | os.PathLike], theme: str | None = None, by: str = "step") -> CompareWindow:
    return CompareWindow(open_recordings([Path(p) for p in paths]), theme=theme, by=by)
