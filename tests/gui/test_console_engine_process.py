"""The console of the default ``pcviz`` window (its engine in its own process) holds a
Session on that engine, through the window's own engine-process host: a clamp typed
there reaches the engine and shows in the window's event list."""

from __future__ import annotations

import numpy as np
import pytest

from pcviz import Session
from pcviz.sim.presets import load_preset

from gui_helpers import process_window

SMALL = ["engine.checkpoint=''", "model.sizes=[64, 12, 6]", "data.batch_size=4", "data.hold_steps=10",
         "engine.steps_per_second=300"]


def test_console_session_steers_the_windows_engine_process(qtbot, monkeypatch):
    monkeypatch.setenv("PCVIZ_CONSOLE", "pyqtgraph")
    src, win = process_window(qtbot, load_preset("digits-pc-scratch", SMALL), session_factory=Session.on)
    src.start(play=False)
    console = win.console
    console.execute("pass")
    s = console.namespace["session"]
    assert s is not None and s.engine is None and console.namespace["engine"] is None
    assert s.backend.host is src.proc  # the window's own host: no second connection or protocol

    console.execute("session.clamp('x1', [3], 0.5)")
    console.execute("session.step(3)")
    console.execute("f = session.frame()")
    console.execute("session.clamp('x7', 0)")
    assert "no layer named 'x7'" in console.output_text()
    f = console.namespace["f"]
    assert f.step == 3
    assert f["x1"]["activity"][3] == pytest.approx(0.5)  # the clamped value, held through the steps
    np.testing.assert_allclose(f["input"]["error"], f["input"]["activity"] - f["input"]["prediction"], atol=1e-6)
    # the window's event list (fed by the window's own polling of the host) lists the clamp
    qtbot.waitUntil(lambda: [e.kind for e in win.interventions.events.events if e.kind == "clamp"] == ["clamp"],
                    timeout=20000)
    clamp = next(e for e in win.interventions.events.events if e.kind == "clamp")
    assert clamp.step == 0 and clamp.payload.get("layer") == 1
    win.close()
    src.close()
    assert not src.alive
