"""Export: the window and the plots as PNG and SVG, a clip of a recording and of a
live run as GIF or MP4 with the requested number of frames."""

from __future__ import annotations

import pytest

from pcviz.config import ConfigError
from pcviz.gui.export import (
    LiveClip, clip_frame_count, export_plots, export_recorded_clip, export_widget,
)
from pcviz.io import Recorder, open_recording
from pcviz.sim import Engine, load_preset

SMALL = ["data.batch_size=4", "data.hold_steps=20", "engine.learning=false", "engine.checkpoint=''"]


@pytest.fixture
def played(qtbot, tmp_path):
    from pcviz.gui.window.main_window import MainWindow
    from pcviz.gui.sources.playback import PlaybackSource

    eng = Engine(load_preset("digits-pc", SMALL), device="cpu")
    path = tmp_path / "run.h5"
    rec = Recorder(eng, path).start()
    eng.run_steps(30)
    rec.stop()
    eng.stop()
    win = MainWindow(PlaybackSource(open_recording(path), follow=False), theme="light", persist=False,
                     restore=False)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    return win


@pytest.mark.parametrize("suffix, frames", [(".gif", 12), (".mp4", 9)])
def test_recorded_clip_has_the_requested_frames(played, tmp_path, suffix, frames):
    out = tmp_path / f"clip{suffix}"
    export_recorded_clip(played.source, played.hierarchy, out, first=5, last=5 + frames - 1, fps=10)
    assert clip_frame_count(out) == frames
    assert played.source.index == 5 + frames - 1


def test_recorded_clip_every_other_frame_and_bad_ranges(played, tmp_path):
    out = tmp_path / "clip.gif"
    export_recorded_clip(played.source, played.hierarchy, out, first=0, last=9, every=2)
    assert clip_frame_count(out) == 5
    with pytest.raises(ConfigError, match="frames 0-29"):
        export_recorded_clip(played.source, played.hierarchy, tmp_path / "b.gif", first=20, last=40)
    with pytest.raises(ConfigError, match=".gif or an .mp4"):
        export_recorded_clip(played.source, played.hierarchy, tmp_path / "b.avi", first=0, last=3)


def test_live_clip_has_the_requested_frames(open_window, qtbot, tmp_path):
    win = open_window("digits-pc", "data.batch_size=4", "engine.steps_per_second=200", play=True)
    out = tmp_path / "live.gif"
    clip = LiveClip(win.source, win.hierarchy, out, frames=6, fps=10)
    done = []
    clip.done.connect(done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=15000)
    assert clip_frame_count(out) == 6


def test_window_and_plots_as_png_and_svg(played, tmp_path):
    from PyQt6 import QtGui

    played.source.tick()
    png = export_widget(played, tmp_path / "w.png")
    img = QtGui.QImage(str(png))
    assert (img.width(), img.height()) == (played.width(), played.height())
    svg = export_widget(played.hierarchy, tmp_path / "h.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "<image" in svg
    plots = export_plots(played.timeseries.canvas, tmp_path / "p.svg").read_text()
    assert "<svg" in plots and "energy" in plots
    assert export_plots(played.timeseries.canvas, tmp_path / "p.png").stat().st_size > 0
    with pytest.raises(ConfigError, match=".png, .jpg or .svg"):
        export_widget(played, tmp_path / "w.bmp")
