"""``pcviz`` with no subcommand (the live window, or with ``--screenshot`` a picture of
it) and ``pcviz play`` (a recording in the window). Where no window can open, say why
and what to do instead."""

from __future__ import annotations

import argparse
import sys

from pcviz.gui import app
from pcviz.gui.display_check import display_problem


def cmd_live(args: argparse.Namespace) -> int:
    if args.screenshot:
        steps = 200 if args.steps is None else int(args.steps)
        return app.screenshot(args.preset, args.screenshot, steps=steps, device=args.device, overrides=args.overrides,
                              engine=args.engine)
    problem = display_problem()
    if problem:
        from pcviz.cli.run import cmd_run

        print(f"pcviz: cannot open the window. {problem}", file=sys.stderr)
        print("pcviz: running the headless demo instead (pcviz --headless); "
              "pcviz --screenshot FILE.png draws the window without a display", file=sys.stderr)
        return cmd_run(args)
    from pcviz.api import Session

    return app.live_window(args.preset, args.device, args.overrides, engine=args.engine,
                           session_factory=Session.on)


def cmd_play(args: argparse.Namespace) -> int:
    """``pcviz play FILE.h5 [--screenshot FILE.png [--frame I]]``."""
    if args.screenshot:
        return app.play_screenshot(args.file, args.screenshot, frame=int(args.frame or 0))
    problem = display_problem()
    if problem:
        print(f"pcviz: cannot open the window. {problem}", file=sys.stderr)
        print("pcviz: pcviz play FILE.h5 --screenshot FILE.png draws a frame without a display;"
              " pcviz info FILE.h5 summarises the recording", file=sys.stderr)
        return 2
    return app.playback_window(args.file)


def cmd_attach(args: argparse.Namespace) -> int:
    """``pcviz attach [ADDRESS] [--token T] [--screenshot FILE.png [--seconds S]]``."""
    import os

    token = args.token or os.environ.get("PCVIZ_TOKEN") or None
    if args.screenshot:
        return app.attach_screenshot(args.address, token, args.screenshot, seconds=float(args.seconds))
    problem = display_problem()
    if problem:
        print(f"pcviz: cannot open the window. {problem}", file=sys.stderr)
        print("pcviz: pcviz attach ADDRESS --screenshot FILE.png draws the attached window without a display",
              file=sys.stderr)
        return 2
    from pcviz.api import Session

    return app.attach_window(args.address, token, session_factory=Session.on)
