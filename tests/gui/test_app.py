"""The application around the views: the screenshot command, remembered settings,
and what happens where no window can open."""

from __future__ import annotations

import math
import subprocess

import numpy as np
import pytest
from PyQt6 import QtGui

from pcviz import cli
from pcviz.gui import display_check
from pcviz.gui.window.main_window import app_settings


def test_screenshot_command_writes_the_whole_window(tmp_path, capsys):
    out = tmp_path / "figs" / "live.png"
    rc = cli.main(["--preset", "digits-pc", "--screenshot", str(out), "--steps", "120"])
    assert rc == 0, capsys.readouterr().err
    img = QtGui.QImage(str(out))
    assert (img.width(), img.height()) == (1920, 1080)
    small = img.scaled(192, 108)
    colours = {small.pixel(x, y) for x in range(192) for y in range(108)}
    assert len(colours) > 100  # panels, heatmaps, plots: not an empty window
    assert "120 steps" in capsys.readouterr().out


def test_screenshot_refuses_a_file_that_is_not_an_image(tmp_path, capsys):
    assert cli.main(["--preset", "digits-pc", "--screenshot", str(tmp_path / "x.txt")]) == 2
    assert ".png" in capsys.readouterr().err


def colour_index(v: float, levels: tuple[float, float]) -> int:
    lo, hi = levels
    return min(255, max(1, 1 + math.floor(254.0 * (v - lo) / (hi - lo))))


def test_screenshot_heatmaps_show_each_layer_s_own_values(open_window, qtbot):
    """The rendered window, pixel by pixel: every map of every layer shows that
    layer's values through the colour table (so none is blank or a copy of another)."""
    win = open_window("digits-pc")
    win.resize(1920, 1080)
    win.default_layout()
    win.source.advance(200, samples=20)
    win.basis.flush()
    qtbot.wait(50)
    shot = win.grab().toImage()
    view, canvas = win.hierarchy, win.hierarchy.canvas
    frame = view.frame
    distinct_per_layer = {}
    for row in canvas.rows:
        for q, cell in row.cells.items():
            lut = canvas.luts[cell.signed]
            levels = row.bar_of(q).levels.levels
            values = frame.layers[row.layer.index][q]
            # a uniform map (a scalar precision) carries its value as text in the middle
            units = range(row.layer.size) if cell.uniform is None else [0, row.layer.size - 1]
            seen = []
            for u in units:
                p = canvas.mapTo(win, canvas.pos_of(row.layer.index, u, q).toPoint())
                seen.append(shot.pixel(p.x(), p.y()) | 0xFF000000)
                # the colour scale's contract, computed here in float64: the bar's range
                # [lo, hi] spread over table entries 1..255 (float32 rounding in the view
                # may land a value on the boundary's other side: one entry either way)
                i = colour_index(float(values[u]), levels)
                allowed = {int(lut[j]) for j in range(max(1, i - 1), min(255, i + 1) + 1)}
                assert seen[-1] in allowed, f"layer {row.layer.index} {q} unit {u}"
            if q in ("activity", "prediction"):
                assert len(set(seen)) > 1, f"layer {row.layer.index} {q} is blank"
                distinct_per_layer.setdefault(row.layer.index, []).append(tuple(seen))
    maps = [m for ms in distinct_per_layer.values() for m in ms]
    assert len(distinct_per_layer) == len(frame.layers)
    assert len(set(maps)) == len(maps)


def test_window_layout_and_theme_are_remembered(open_window, qtbot, isolated_settings):
    win = open_window("digits-pc-scratch", persist=True)
    assert win.theme.name == "light"
    win.theme_actions["dark"].trigger()
    win.docks["network"].hide()
    win.close()
    s = app_settings()
    assert s.fileName().startswith(str(isolated_settings))  # never the user's settings
    assert s.value("view/theme") == "dark"
    win2 = open_window("digits-pc-scratch", persist=True)
    assert win2.theme.name == "dark"
    assert not win2.docks["network"].isVisible() and win2.docks["basis"].isVisible()
    win2.default_layout()
    assert win2.docks["network"].isVisible()


def test_no_display_runs_the_headless_demo(monkeypatch, capsys):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(display_check.sys, "platform", "linux")
    rc = cli.main(["--preset", "digits-pc-scratch", "--steps", "80"])
    err = capsys.readouterr()
    assert rc == 0
    assert "cannot open the window" in err.err and "no display" in err.err and "headless" in err.err
    assert "80 steps" in err.out


@pytest.mark.parametrize("env,expect", [
    ({}, "no display"),
    ({"QT_QPA_PLATFORM": "offscreen"}, None),
    ({"WAYLAND_DISPLAY": "wayland-0"}, None),
    ({"QT_QPA_PLATFORM": "wayland"}, "WAYLAND_DISPLAY is not set"),
])
def test_display_problem(env, expect):
    msg = display_check.display_problem(env, platform="linux")
    assert msg is None if expect is None else expect in msg
    assert display_check.display_problem({}, platform="darwin") is None


def test_missing_x11_libraries_are_named_with_their_packages(monkeypatch):
    monkeypatch.setattr(display_check, "missing_libraries", lambda: ["libxcb-cursor.so.0", "libxcb-icccm.so.4"])
    msg = display_check.display_problem({"DISPLAY": ":0"}, platform="linux")
    assert "libxcb-cursor.so.0" in msg
    assert "apt-get install libxcb-cursor0 libxcb-icccm4" in msg


def test_missing_libraries_reads_ldd(monkeypatch, tmp_path):
    plugin = tmp_path / "libqxcb.so"
    plugin.write_bytes(b"")
    out = ("\tlibQt6XcbQpa.so.6 => /x/libQt6XcbQpa.so.6 (0x0)\n\tlibxcb-icccm.so.4 => not found\n"
           "\tlibxcb-keysyms.so.1 => not found\n\tlibxcb-icccm.so.4 => not found\n\tlibc.so.6 => /lib/libc.so.6\n")
    monkeypatch.setattr(display_check.shutil, "which", lambda name: "/usr/bin/ldd")
    monkeypatch.setattr(display_check.subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=out, stderr=""))
    assert display_check.missing_libraries(plugin) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
