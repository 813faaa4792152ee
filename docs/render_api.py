"""Render the README's pictures of the Python API (offscreen):

    python docs/render_api.py

docs/images/api-console.png (the window opened by ``Session.show()`` with its console
dock, after commands typed there), api-hierarchy.png and api-timeseries.png (the
imagine-a-3 demo drawn by ``pcviz.plot`` with matplotlib)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "images"


def main() -> int:
    import pcviz
    import pcviz.plot
    from pcviz.gui.session_window import save_window

    OUT.mkdir(parents=True, exist_ok=True)
    s = pcviz.Session("digits-supervised", set={"engine.learning": False}, device="cpu")
    win = s.show(theme="light", persist=False)
    win.resize(1920, 1080)
    win.default_layout()
    win.timeseries.window.setValue(400)
    s.run(steps=60, progress=False)
    for line in ("session.label(3, imagine=True)",
                 "session.clamp('x1', [0, 1], 0.8)",
                 "f = session.run(steps=200, progress=False)",
                 "f['top']['activity']"):
        win.console.execute(line)
    frames = list(s.frames(steps=1))
    ok = save_window(win, OUT / "api-console.png", size=(1920, 1080))
    f = frames[-1]
    pcviz.plot.hierarchy(f, title="digits-supervised: imagine a 3 (pcviz.plot)").savefig(
        OUT / "api-hierarchy.png", dpi=100)
    s.close()

    o = pcviz.Session("digits-pc", set={"engine.learning": False, "data.hold_steps": 200}, device="cpu")
    run = list(o.frames(steps=20))
    o.occlude((0, 0, 4, 8))
    run += o.frames(steps=100)
    o.unocclude()
    run += o.frames(steps=40)
    pcviz.plot.timeseries(run, events=o.events(), scalars=["energy/layer_0", "energy/layer_1", "energy/layer_2",
                                                           "energy/layer_3", "error_norm/layer_0",
                                                           "error_norm/layer_1"]).savefig(
        OUT / "api-timeseries.png", dpi=100)
    o.close()
    print("wrote", ", ".join(p.name for p in sorted(OUT.glob("api-*.png"))))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
