"""``pcviz bench``: the benchmark table of :mod:`pcviz.bench`, printed and saved as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pcviz.bench import run, table


def cmd_bench(args: argparse.Namespace) -> int:
    out = getattr(args, "out", None)
    if args.sweep:
        from pcviz.bench import sweep

        quick = dict(runs=4, steps=2000, repeats=1) if args.quick else {}
        report = sweep.measure(**quick, log=lambda s: print(s, file=sys.stderr))
        print(sweep.sweep_table(report))
        if out:
            Path(out).write_text(json.dumps(report, indent=1, default=str))
            print(f"report: {out}")
        return 0
    plot = None if args.quick else str(Path("docs/images/scaling.png"))
    report = run(quick=args.quick, device=args.device, scaling_plot=plot, log=lambda s: print(s, file=sys.stderr))
    print(table(report))
    if out:
        Path(out).write_text(json.dumps(report, indent=1, default=str))
        print(f"report: {out}")
    return 0
