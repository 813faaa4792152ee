"""``pcviz export``: a recording as NWB or as numpy arrays (the work is in
:mod:`pcviz.io.export_nwb` and :mod:`pcviz.io.export_arrays`; their optional packages
are imported only when asked for)."""

from __future__ import annotations

import argparse
import sys


def cmd_export(args: argparse.Namespace) -> int:
    if bool(args.nwb) == bool(args.npz):
        print("pcviz export: give one of --nwb OUT.nwb or --npz OUT.npz", file=sys.stderr)
        return 2
    if args.nwb:
        if args.layers or args.steps:
            print("pcviz export: --layers and --steps apply to --npz only", file=sys.stderr)
            return 2
        from pcviz.io.export_nwb import export_nwb

        report = export_nwb(args.file, args.nwb)
    else:
        from pcviz.io.export_arrays import export_npz, parse_steps

        report = export_npz(args.file, args.npz, layers=args.layers, steps=parse_steps(args.steps))
    print(f"pcviz export: {report}")
    return 0
