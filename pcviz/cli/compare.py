"""``pcviz compare A.h5 B.h5 ... [--screenshot FILE.png]`` and ``pcviz compare
sweep.csv``: runs side by side, or a sweep's index, in a window (or a picture of it)."""

from __future__ import annotations

import argparse
import sys

from pcviz.gui.compare.app import compare_screenshot, compare_window
from pcviz.gui.display_check import display_problem


def cmd_compare(args: argparse.Namespace) -> int:
    files = list(args.files)
    if args.screenshot:
        out = compare_screenshot(files, args.screenshot, by=args.by, frame=args.frame)
        print(f"pcviz compare: wrote {out}")
        return 0
    problem = display_problem()
    if problem:
        print(f"pcviz: cannot open the window. {problem}", file=sys.stderr)
        print("pcviz: pcviz compare ... --screenshot FILE.png draws it without a display", file=sys.stderr)
        return 2
    return compare_window(files, by=args.by)
