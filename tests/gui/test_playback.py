"""Playing a recording in the window, offscreen: the slider at i shows frame i with
the file's values; the player steps and jumps between events; a file still being
written (by another process) grows under a following player; pcviz play --screenshot."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pcviz.io import Recorder, open_recording
from pcviz.sim import Engine, load_preset
from pcviz.sim import commands as C

SMALL = ["data.batch_size=4", "data.hold_steps=20", "engine.learning=false", "engine.checkpoint=''"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def recording(tmp_path) -> Path:
    """40 frames of digits-pc with a clamp at step 10 and a release at step 25."""
    cfg = load_preset("digits-pc", SMALL)
    eng = Engine(cfg, device="cpu")
    path = tmp_path / "run.h5"
    rec = Recorder(eng, path).start()
    try:
        eng.run_steps(10)
        eng.submit(C.Clamp(1, (0,), 0.5))
        eng.run_steps(15)
        eng.submit(C.Release(1, (0,)))
        eng.run_steps(15)
    finally:
        rec.stop()
        eng.stop()
    return path


@pytest.fixture
def player(qtbot):
    from pcviz.gui.window.main_window import MainWindow
    from pcviz.gui.sources.playback import PlaybackSource

    made = []

    def make(path, follow=False):
        src = PlaybackSource(open_recording(path), follow=follow)
        win = MainWindow(src, theme="light", persist=False, restore=False)
        qtbot.addWidget(win)
        win.resize(1400, 900)
        win.show()
        made.append(win)
        return win

    return make


def test_slider_at_i_shows_frame_i(player, recording):
    win = player(recording)
    src, timeline = win.source, win.session.timeline
    assert timeline.slider.maximum() == 39
    with open_recording(recording) as rec:
        for i in (0, 17, 39, 5):
            timeline.slider.setValue(i)
            src.tick()
            f, want = win.hierarchy.frame, rec.frame(i)
            assert f.step == want.step == int(rec.steps[i])
            for layer, wl in zip(f.layers, want.layers):
                for q, a in wl.items():
                    np.testing.assert_array_equal(layer[q], a)
            assert f"frame {i} / 39" in timeline.position.text()


def test_player_steps_plays_and_jumps_to_events(player, recording, qtbot):
    win = player(recording)
    src, timeline = win.source, win.session.timeline
    markers = sorted(set(timeline.slider.markers))
    clamp_i = int(np.searchsorted(src.steps, 10, side="right")) - 1
    release_i = int(np.searchsorted(src.steps, 25, side="right")) - 1
    assert clamp_i in markers and release_i in markers
    src.jump_event(+1)
    assert src.index == clamp_i
    src.jump_event(+1)
    assert src.index == release_i
    src.jump_event(-1)
    assert src.index == clamp_i
    win.send(C.Step(3))
    assert src.index == clamp_i + 3
    win.send(C.Step(-1))
    assert src.index == clamp_i + 2
    # the events of the recording are listed
    src.tick()
    assert [e.kind for e in win.interventions.events.events] == ["clamp", "release"]
    # playing runs to the end and stops
    src.speed = 2000.0
    win.toggle_play()
    assert src.playing
    src.start_display()
    qtbot.waitUntil(lambda: src.index == 39 and not src.playing, timeout=10000)
    assert win.hierarchy.frame.step == int(src.steps[-1])


WRITER = textwrap.dedent("""
    import sys, time, torch
    torch.set_num_threads(1)
    from pcviz.io import Recorder
    from pcviz.sim import Engine, load_preset
    cfg = load_preset("digits-pc", sys.argv[2:])
    eng = Engine(cfg, device="cpu")
    rec = Recorder(eng, sys.argv[1], flush_interval=0.1).start()
    eng.run_steps(10)
    while rec.frames_flushed < 10:
        time.sleep(0.02)
    print("ready", flush=True)
    sys.stdin.readline()          # the test opened the file: grow it
    eng.run_steps(15)
    while rec.frames_flushed < 25:
        time.sleep(0.02)
    print("grown", flush=True)
    sys.stdin.readline()
    rec.stop(); eng.stop()
""")


def test_controls_show_the_settings_of_the_frame_shown(player, tmp_path, qtbot):
    """A parameter the run changed (by a command or its schedule) shows in the player's
    controls from the frames computed with it on, and not before."""
    cfg = load_preset("digits-pc", SMALL)
    lr0 = cfg.model.lr_weights
    eng = Engine(cfg, device="cpu")
    path = tmp_path / "changes.h5"
    rec = Recorder(eng, path).start()
    try:
        eng.run_steps(10)
        eng.submit(C.SetParam("model.lr_weights", 2.5e-6))  # applied after step 10's frame
        eng.run_steps(5)
        eng.schedule_command(20, C.SetParam("data.hold_steps", 7))
        eng.run_steps(10)
    finally:
        rec.stop()
        eng.stop()
    win = player(path)
    src, ctl = win.source, win.controls
    lr = ctl.params["model.lr_weights"]
    changed = []
    src.config_changed.connect(lambda: changed.append(src.index))

    def show(step):
        src.seek(int(np.flatnonzero(src.steps == step)[0]))
        src.tick()

    show(10)
    assert lr.value() == pytest.approx(lr0) and ctl.hold.value() == 20
    show(11)
    assert lr.value() == pytest.approx(2.5e-6) and lr.text() == "2.5e-06" and ctl.hold.value() == 20
    show(20)
    assert ctl.hold.value() == 20
    show(21)
    assert ctl.hold.value() == 7 and lr.value() == pytest.approx(2.5e-6)
    show(3)  # back before both
    assert lr.value() == pytest.approx(lr0) and ctl.hold.value() == 20
    # announced when it changed (and by the first tick, which says what it is)
    assert [int(src.steps[i]) for i in changed] == [10, 11, 21, 3]
    assert not lr.isEnabled()  # a recording's controls show, they do not steer


def test_following_a_growing_file_shows_new_frames(player, tmp_path, qtbot):
    path = tmp_path / "growing.h5"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(path), *SMALL], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        win = player(path, follow=True)
        src, timeline = win.source, win.session.timeline
        assert len(src) == 10 and not src.rec.complete
        src.seek(9)
        src.tick()
        assert win.hierarchy.frame.step == 10
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "grown"
        src.start_display()
        qtbot.waitUntil(lambda: len(src) == 25, timeout=10000)
        assert timeline.slider.maximum() == 24
        # the player was at the end: it follows to the newest frame
        qtbot.waitUntil(lambda: win.hierarchy.frame.step == 25, timeout=5000)
        src.stop_display()
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_play_screenshot(recording, tmp_path):
    from PyQt6 import QtGui

    from pcviz.gui.app import play_screenshot

    out = tmp_path / "shot.png"
    assert play_screenshot(recording, out, frame=12, size=(1200, 800)) == 0
    img = QtGui.QImage(str(out))
    assert (img.width(), img.height()) == (1200, 800)


def test_play_screenshot_frame_out_of_range(recording, tmp_path):
    from pcviz.gui.app import play_screenshot
    from pcviz.io import FrameIndexError

    with pytest.raises(FrameIndexError, match="out of range"):
        play_screenshot(recording, tmp_path / "x.png", frame=99)
