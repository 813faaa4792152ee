"""``pcviz bench``: the benchmark table of :mod:`pcviz.bench`, printed and saved as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pcviz.bench import run, table


def cmd_bench(args: argparse.Namespace) -> int:
    """The table on stdout; with ``--out F.json`` the whole report as JSON and the
    table as ``F.md`` beside it. ``--sweep`` runs the sweep benchmark instead."""
    if args.sweep:
        from pcviz.bench import sweep

        quick = dict(runs=4, steps=2000, repeats=1) if args.quick else {}
        report = sweep.measure(**quick, log=lambda s: print(s, file=sys.stderr))
        print(sweep.sweep_table(report))
        if args.out:
            Path(args.out).write_text(json.dumps(report, indent=1, default=str))
            print(f"report: {args.out}")
        return 0
    only = {s.strip() for s in args.only.split(",") if s.strip()} if args.only else None
    plot = None if args.quick or (only and "scaling" not in only) else str(Path("docs/images/scaling.png"))
    report = run(quick=args.quick, device=args.device, scaling_plot=plot, only=only,
                 log=lambda s: print(s, file=sys.stderr))
    text = table(report)
    print(text)
    if args.out:
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1, default=str))
        path.with_suffix(".md").write_text("```\n" + text + "\n```\n")
        print(f"report: {path} and {path.with_suffix('.md')}")
    return 0
