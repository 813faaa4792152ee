"""Render the README's intervention and playback screenshots (offscreen):

    python docs/render_interventions.py

docs/images/imagine-before.png, imagine-after.png (digits-supervised: the label
button 3 with "imagine"), occlude-after.png (digits-pc: an occluded rectangle filled
in from above) and playback.png (a recording of that demo, at the occlusion)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "images"


def window(preset: str, *overrides: str):
    from pcviz.gui.app import make_app, open_engine
    from pcviz.gui.window.main_window import MainWindow

    app = make_app()
    bridge = open_engine(preset, "cpu", ["engine.learning=false", *overrides])
    win = MainWindow(bridge, theme="light", persist=False, restore=False)
    win.resize(1920, 1080)
    win.default_layout()
    win.docks["interventions"].raise_()  # these pictures are about the interventions tab
    win.timeseries.window.setValue(400)
    win.show()
    bridge.start(display=False)
    return app, win, bridge


def shot(app, win, name: str) -> None:
    from pcviz.gui.app import save_settled

    save_settled(app, win, OUT / name)
    print("wrote", OUT / name)


def main() -> None:

    OUT.mkdir(parents=True, exist_ok=True)
    app, win, bridge = window("digits-supervised")
    bridge.advance(200, samples=100)
    shot(app, win, "imagine-before.png")
    win.interventions.panel.label_buttons[3].click()
    bridge.advance(120, samples=60)
    shot(app, win, "imagine-after.png")
    win.close()

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PCVIZ_RECORDINGS"] = tmp
        app, win, bridge = window("digits-pc")
        tools, pane = win.session, win.interventions  # the record button; the Interventions dock
        tools.record.start()
        bridge.advance(150, samples=75)
        pane.panel.occlude_button.setChecked(True)
        pane.panel.occlude((2, 1, 6, 7))
        bridge.advance(30, samples=30)
        pane.selector.select(1, [0, 1, 2, 3])
        pane.panel.value.setValue(1.0)
        pane.panel.clamp()
        bridge.advance(40, samples=40)
        shot(app, win, "occlude-after.png")
        path = tools.record.path  # the file being written; closing the window closes it
        win.close()
        from pcviz.gui.app import play_screenshot

        play_screenshot(path, OUT / "playback.png", frame=165)
    bridge.close()


if __name__ == "__main__":
    main()
