"""The compare window: 2 and 3 recordings side by side (a PC run and a Ladder VAE run
on the same data stream and seed among them), drawn offscreen and checked in the
saved picture; and a sweep's index as a table and a metric-versus-parameter plot."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6 import QtCore, QtGui, sip

from pcviz.sweep import parse_sweep, run_sequential, write_index
from pcviz.sweep.index import row_for

SWEEP = """
[sweep]
presets = ["digits-pc-scratch", "digits-lvae"]
seeds = [0, 1]
steps = 120
[sweep.set]
"data.batch_size" = 8
"data.hold_steps" = 20
"engine.checkpoint" = ""
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Four recordings (PC and LVAE, seeds 0 and 1) and their index, made without Ray."""
    folder = tmp_path_factory.mktemp("compare")
    (folder / "s.toml").write_text(SWEEP)
    spec = parse_sweep(SWEEP, folder / "s.toml")
    results = run_sequential(spec.runs, folder)
    assert [r.status for r in results] == ["done"] * 4, [r.error for r in results]
    write_index(folder, spec, [row_for(run, res) for run, res in zip(spec.runs, results)])
    by = {(run.preset, run.seed): folder / run.filename for run in spec.runs}
    return folder, by


def _cells_in_picture(win, img: QtGui.QImage, cell) -> np.ndarray:
    """The 8x8 input map of ``cell`` as drawn in the saved picture: the colour at the
    centre of each of its 64 tiles, (64, 3)."""
    canvas = cell[0]
    rect: QtCore.QRectF = cell[1].rect
    origin = canvas.mapTo(win, QtCore.QPoint(0, 0))
    scale = img.width() / win.width()
    out = []
    for r in range(8):
        for c in range(8):
            x = (origin.x() + rect.x() + (c + 0.5) * rect.width() / 8) * scale
            y = (origin.y() + rect.y() + (r + 0.5) * rect.height() / 8) * scale
            q = img.pixelColor(int(x), int(y))
            out.append((q.red(), q.green(), q.blue()))
    return np.array(out, dtype=float)


def _input_cells(win):
    """Per run: (canvas, cell) of the input layer's activity and prediction maps."""
    out = []
    for col in win.columns:
        canvas = col.view.canvas
        row = canvas.row_of(0)
        out.append({q: (canvas, row.cells[q]) for q in ("activity", "prediction")})
    return out


@pytest.mark.parametrize("n", [2, 3])
def test_compare_draws_every_run_and_they_differ(qtbot, runs, tmp_path, n):
    from pcviz.gui.compare.app import build_window

    folder, by = runs
    files = [by[("digits-pc-scratch", 0)], by[("digits-lvae", 0)], by[("digits-pc-scratch", 1)]][:n]
    win = build_window([str(f) for f in files], by="step", theme="light")
    qtbot.addWidget(win)
    win.resize(1920, 1080)
    win.show()
    win.seek_position(100.0)
    from PyQt6 import QtWidgets

    win.settle(QtWidgets.QApplication.instance())
    out = tmp_path / f"compare{n}.png"
    assert win.save_screenshot(out)
    img = QtGui.QImage(str(out))
    assert img.width() == 1920
    # every run is at the shared step and shows its own frame
    frames = [c.source.last_frame for c in win.columns]
    assert [f.step for f in frames] == [100] * n
    cells = _input_cells(win)
    pics = {q: [_cells_in_picture(win, img, c[q]) for c in cells] for q in ("activity", "prediction")}
    for q in ("activity", "prediction"):
        for k, p in enumerate(pics[q]):
            # drawn: the 64 tiles are not one flat colour (a Bernoulli VAE's input is a
            # binarised digit: two colours)
            binary = q == "activity" and win.recs[k].spec.model_kind == "lvae"
            assert len({tuple(v) for v in p}) >= (2 if binary else 8), f"run {k}'s {q} map is not drawn"
    # the reconstructions of different runs differ on screen
    for a in range(n):
        for b in range(a + 1, n):
            assert np.abs(pics["prediction"][a] - pics["prediction"][b]).mean() > 5
    # a PC run and a VAE run on the same stream and seed: the same input sample at the
    # same step (the VAE sees a binarisation of it: its Bernoulli likelihood scores binary
    # pixels), while what each model makes of it differs
    assert frames[0].sample_index == frames[1].sample_index
    grey, binary = frames[0].layers[0]["activity"], frames[1].layers[0]["activity"]
    assert set(np.unique(binary)) <= {0.0, 1.0}
    assert np.all(binary[grey == 0] == 0) and np.all(binary[grey == 1] == 1)
    if n == 3:  # another seed: another sample
        assert np.abs(pics["activity"][0] - pics["activity"][2]).mean() > 5
    # the time series: one curve per run that has the quantity, a cursor at the step
    energy = win.plot_items["energy/total"]
    curves = [i for i in energy.listDataItems()]
    assert len(curves) == sum("energy/total" in r.spec.scalars for r in win.recs)
    assert all(c.value() == 100.0 for c in win.cursors)
    win.close()


def test_compare_timeline_by_sample_and_wall(qtbot, runs):
    from pcviz.gui.compare.window import open_compare

    _, by = runs
    win = open_compare([by[("digits-pc-scratch", 0)], by[("digits-lvae", 1)]], theme="light")
    qtbot.addWidget(win)
    win.set_axis("sample")
    win.seek_position(3.0)  # the fourth sample presented: steps 61-80 of a 20-step hold
    steps = [c.source.last_frame.step for c in win.columns]
    assert steps == [80, 80]
    win.set_axis("wall")
    assert win.positions[0][0] >= 0 and np.all(np.diff(win.positions[0]) >= 0)
    win.close()


def test_compare_refuses_one_or_five(runs):
    from pcviz.gui.compare.window import CompareError, open_compare

    _, by = runs
    with pytest.raises(CompareError, match="2 to 4"):
        open_compare([by[("digits-pc-scratch", 0)]])
    with pytest.raises(CompareError, match="2 to 4"):
        open_compare(list(by.values()) + [by[("digits-lvae", 0)]])


def test_sweep_index_table_plot_and_compare(qtbot, runs, tmp_path):
    from pcviz.gui.compare.index_window import SweepIndexWindow

    folder, by = runs
    win = SweepIndexWindow(folder / "sweep.csv", theme="light")
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    assert win.table.rowCount() == 4
    # sort by held-out error: the column reads in order
    col = win.cols.index("heldout_recon_mse")
    win.table.sortItems(col, QtCore.Qt.SortOrder.AscendingOrder)
    vals = [win.table.item(i, col).value for i in range(4)]
    assert vals == sorted(vals)
    # metric against parameter: one point per run, a series per seed
    win.metric.setCurrentText("heldout_recon_mse")
    win.param.setCurrentText("preset")
    assert win.plotted == ("heldout_recon_mse", "preset", 4)
    items = win.plot.getPlotItem().listDataItems()
    assert len(items) == 2 and sorted(len(i.getData()[0]) for i in items) == [2, 2]
    assert not win.compare_button.isEnabled()
    win.select_runs([p.stem for p in (by[("digits-pc-scratch", 0)], by[("digits-lvae", 0)])])
    assert win.compare_button.isEnabled()
    cmp = win.compare_selected()  # deletes itself when closed
    assert sorted(r.path.name for r in cmp.recs) == sorted(
        [by[("digits-pc-scratch", 0)].name, by[("digits-lvae", 0)].name])
    cmp.close()
    qtbot.waitUntil(lambda: sip.isdeleted(cmp))
    assert win.save_screenshot(tmp_path / "index.png")
    win.close()


def test_compare_command_screenshot(runs, tmp_path, capsys):
    from pcviz.cli import main

    folder, by = runs
    out = tmp_path / "c.png"
    assert main(["compare", str(by[("digits-pc-scratch", 0)]), str(by[("digits-lvae", 0)]),
                 "--screenshot", str(out)]) == 0
    assert QtGui.QImage(str(out)).width() == 1920
    assert main(["compare", str(folder / "sweep.csv"), "--screenshot", str(tmp_path / "i.png")]) == 0
    assert main(["compare", str(by[("digits-pc-scratch", 0)]), "--screenshot", str(out)]) == 2
    assert "2 to 4" in capsys.readouterr().err


def test_file_compare_in_the_window(qtbot, runs, monkeypatch):
    from PyQt6 import QtWidgets

    from pcviz.gui.compare.window import CompareWindow
    from pcviz.gui.window.main_window import MainWindow
    from pcviz.gui.sources.playback import PlaybackSource
    from pcviz.io import open_recording

    folder, by = runs
    source = PlaybackSource(open_recording(by[("digits-pc-scratch", 0)]), follow=False)
    win = MainWindow(source, persist=False, restore=False)
    qtbot.addWidget(win)
    act = [a for a in win.file_menu.actions() if a.text().startswith("Compare")]
    assert len(act) == 1
    picked = [str(by[("digits-pc-scratch", 1)]), str(by[("digits-lvae", 1)])]
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: (picked, "")))
    act[0].trigger()
    opened = win.session.compare_windows
    assert len(opened) == 1 and isinstance(opened[0], CompareWindow)
    assert [str(r.path) for r in opened[0].recs] == picked
    opened[0].close()
    qtbot.waitUntil(lambda: sip.isdeleted(opened[0]))  # Qt deletes it, in this thread
    win.close()
    source.close()


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 800)])
def test_compare_titles_are_whole_in_narrow_columns(qtbot, runs, size):
    """Four runs (two PC, two VAE): every map's title is drawn whole (its words, a short
    form or its symbol), never cut with an ellipsis, and fits above its map; the VAE
    columns, with more maps, are the wider."""
    from pcviz.gui.compare.app import build_window

    folder, by = runs
    files = [by[("digits-pc-scratch", 0)], by[("digits-lvae", 0)], by[("digits-pc-scratch", 1)],
             by[("digits-lvae", 1)]]
    win = build_window([str(f) for f in files], by="step", theme="light")
    qtbot.addWidget(win)
    win.resize(*size)
    win.show()
    from PyQt6 import QtWidgets

    win.settle(QtWidgets.QApplication.instance())
    for col in win.columns:
        canvas = col.view.canvas
        fm = QtGui.QFontMetricsF(canvas.font_title)
        for row in canvas.rows:
            for q, cell in row.cells.items():
                box, text = canvas.title_of(cell, row)
                assert "\u2026" not in text, (col.rec.path.stem, row.layer.name, q, text)
                assert fm.horizontalAdvance(text) <= box.width(), (row.layer.name, q, text)
    pc, vae = win.columns[0].width(), win.columns[1].width()
    assert vae > 1.5 * pc
    win.close()
