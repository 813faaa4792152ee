"""A session steered from a script, shown in the window.

    python examples/show_session.py                       # the window; close it to end
    python examples/show_session.py --screenshot win.png  # no display needed

The window is a view of the session's own engine: what the script does shows up in
its views and its event list, and its buttons steer the same run. In IPython, run
the same lines by hand: ``s.show()`` keeps the prompt live, no ``pcviz.run()`` needed.
"""

from __future__ import annotations

import argparse

import pcviz


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", metavar="FILE.png", help="save the window instead of keeping it open")
    args = parser.parse_args(argv)

    s = pcviz.Session("digits-supervised", set={"engine.learning": False})
    win = s.show(persist=not args.screenshot)
    s.run(steps=100)                 # the window paints while the script waits
    s.label(3, imagine=True)         # the window's "3" button, with imagine ticked
    s.clamp("x1", [0, 1], 0.8)       # and two units of x1 held high
    s.run(steps=200)
    if args.screenshot:
        from pcviz.gui.session_window import save_window

        ok = save_window(win, args.screenshot)
        s.close()
        return 0 if ok else 1
    s.play()
    pcviz.run()                      # blocks until the window closes
    s.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
