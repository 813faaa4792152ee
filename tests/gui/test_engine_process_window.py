"""The window on an engine in its own process: frames and commands work as with the
engine thread; an exception in the engine is a banner and a paused run; a killed
engine is said at once (the window stays usable, a recording keeps what was flushed);
"Restart engine" starts a fresh process; closing the window leaves no process."""

from __future__ import annotations

import os
import signal

import numpy as np
import torch
from PyQt6 import QtCore

from pcviz.gui.sources.process import ProcessSource
from pcviz.io import open_recording
from pcviz.sim import Engine
from pcviz.sim import commands as C
from pcviz.sim.presets import load_preset

from gui_helpers import process_window

SMALL = ["engine.checkpoint=''", "model.sizes=[64, 12, 6]", "data.batch_size=4", "data.hold_steps=10",
         "engine.steps_per_second=300"]


def broken_tool(engine):
    """A tool's mistake, run in the engine thread of the engine process."""
    return engine.model.no_such_attribute


def model_tensors(engine):
    """The model's weights, as the engine process holds them (run there by ``compute``)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in engine.model.state_tensors().items()}


def banner_button(win, text):
    for i in range(win.banner.buttons.count()):
        w = win.banner.buttons.itemAt(i).widget()
        if w is not None and w.text() == text:
            return w
    raise AssertionError(f"no {text!r} button on the banner")


def test_engine_process_window_error_kill_record_and_restart(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("PCVIZ_RECORDINGS", str(tmp_path))
    src, win = process_window(qtbot, load_preset("digits-pc-scratch", SMALL))
    src.start(play=True)
    qtbot.waitUntil(lambda: src.last_frame is not None and src.last_frame.step >= 20, timeout=60000)
    assert win.source is src and src.live and src.takes_commands
    f = src.last_frame
    np.testing.assert_allclose(f.layers[1]["error"], f.layers[1]["activity"] - f.layers[1]["prediction"], atol=1e-6)

    # an exception in a Call: a banner, the run paused, the engine alive
    win.send(C.Call(broken_tool))
    qtbot.waitUntil(lambda: win.banner.isVisible() and win.banner.kind == "error", timeout=30000)
    text = win.banner.label.text()
    assert "The engine failed" in text and "AttributeError" in text and "no_such_attribute" in text
    banner_button(win, "Restart engine")
    qtbot.waitUntil(lambda: src.describe()["state"] == "paused", timeout=10000)
    assert src.alive
    rows = [win.interventions.events.table.item(r, 1) for r in range(win.interventions.events.table.rowCount())]
    assert any("engine error" in r.text() and "broken_tool" in r.toolTip() for r in rows)

    # record from the window, then kill the engine process
    win.send(C.Play())
    assert win.session.record.start()
    path = win.session.record.path
    qtbot.waitUntil(lambda: (src.recording_status() or None) is not None and src.recording_status().frames >= 40,
                    timeout=60000)
    with open_recording(path) as rec:  # wait until a flush made frames visible to readers
        qtbot.waitUntil(lambda: (rec.refresh() or True) and len(rec) >= 20, timeout=30000)
    # a checkpoint saved from the run, which learns on after it
    ckpt = tmp_path / "saved.pt"
    win.send(C.SaveCheckpoint(str(ckpt)))
    qtbot.waitUntil(lambda: src.last_checkpoint == str(ckpt), timeout=30000)
    saved_step = src.last_frame.step
    saved = {k: v.numpy() for k, v in torch.load(ckpt, map_location="cpu", weights_only=True)["tensors"].items()}
    fresh = model_tensors(Engine(load_preset("digits-pc-scratch", SMALL), device="cpu"))
    assert saved.keys() == fresh.keys()
    assert any(not np.array_equal(saved[k], fresh[k]) for k in saved)  # it learned: restoring it is seen
    qtbot.waitUntil(lambda: src.last_frame.step >= saved_step + 30, timeout=60000)

    old_pid = src.pid
    os.kill(old_pid, signal.SIGKILL)
    src.proc._proc.join(30)  # gone: the next display tick says so
    src.tick()
    assert src.health == "dead" and not src.alive
    qtbot.waitUntil(lambda: "engine stopped" in win.banner.label.text(), timeout=2000)
    assert "signal 9" in win.banner.label.text()
    win.update_status()
    assert win.status_fields["state"].text() == "dead"
    qtbot.waitUntil(lambda: not win.session.record.recording, timeout=3000)  # the panel noticed
    win.set_theme("dark")  # the window stays usable
    win.set_theme("light")
    with open_recording(path) as rec:
        assert len(rec) >= 20 and np.all(np.diff(rec.steps) == 1)

    # restart: a fresh process on the same preset
    qtbot.mouseClick(banner_button(win, "Restart engine"), QtCore.Qt.MouseButton.LeftButton)
    new = win.source
    assert new is not src and isinstance(new, ProcessSource) and new.alive and new.pid != old_pid
    assert src.closed
    assert not win.banner.isVisible()
    # the fresh process holds the saved weights (not a fresh model's, nor the killed run's later ones)
    assert new.last_checkpoint == str(ckpt)
    got = []
    new.compute(model_tensors, (), lambda r, err: got.append((r, err)))
    qtbot.waitUntil(lambda: (new.poll_events() or True) and bool(got), timeout=60000)
    weights, err = got[0]
    assert err is None and weights.keys() == saved.keys()
    for k in saved:
        np.testing.assert_array_equal(weights[k], saved[k], err_msg=k)
    win.send(C.Step(5))
    qtbot.waitUntil(lambda: new.last_frame is not None and new.last_frame.step >= 5, timeout=60000)
    assert new.describe()["preset"] == "digits-pc-scratch"
    win.close()
    assert new.closed and not new.alive
