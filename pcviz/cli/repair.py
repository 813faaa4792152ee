"""``pcviz repair``: a recording whose writer was killed made a clean, closed file
(the work is in :mod:`pcviz.io.repair`)."""

from __future__ import annotations

import argparse
import sys

from pcviz.io import open_recording
from pcviz.io.repair import repair, repair_reasons


def cmd_repair(args: argparse.Namespace) -> int:
    if args.in_place and args.out:
        print("pcviz repair: --in-place and --out exclude each other", file=sys.stderr)
        return 2
    open_recording(args.file).close()  # a missing file, or not a recording, is said so here
    reasons = repair_reasons(args.file) if not args.out else []
    if not args.out and not reasons:
        print(f"pcviz repair: {args.file} is a clean, closed recording; nothing to do")
        return 0
    report = repair(args.file, args.out, in_place=args.in_place)
    print(f"pcviz repair: {report.describe()}")
    return 0
