"""``pcviz attach ADDRESS --screenshot``: the window on a served run, saved offscreen;
closing it detaches and the run goes on."""

from __future__ import annotations

from PyQt6 import QtGui

from pcviz.cli.main import main
from pcviz.sim import Engine, load_preset
from pcviz.sim.process import EngineServer

SMALL = ["engine.checkpoint=''", "model.sizes=[64, 12, 6]", "data.batch_size=4", "data.hold_steps=10",
         "engine.steps_per_second=400"]


def test_attach_screenshot_over_a_unix_socket_detaches_and_the_run_goes_on(tmp_path, capsys):
    engine = Engine(load_preset("digits-pc-scratch", SMALL), device="cpu")
    engine.start(running=True)
    server = EngineServer(engine, str(tmp_path / "run.sock")).start()
    try:
        out = tmp_path / "attached.png"
        assert main(["attach", server.where, "--screenshot", str(out), "--seconds", "0.5"]) == 0
        printed = capsys.readouterr().out
        assert "attached at step" in printed and "kB/s of frames" in printed
        img = QtGui.QImage(str(out))
        assert (img.width(), img.height()) == (1920, 1080)
        assert server.attached == 1
        at = engine.step_count
        import time

        deadline = time.monotonic() + 60
        while engine.step_count < at + 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert engine.step_count >= at + 10 and engine.running  # detached, still running
    finally:
        server.close()
        engine.stop()
