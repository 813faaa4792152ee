"""``pcviz info``: what a recording holds, as text."""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

from pcviz.io import format as F
from pcviz.io.errors import RecordingError
from pcviz.io.reader import open_recording
from pcviz.io.recorder import _mb
from pcviz.io.repair import open_mark, repair_reasons

def describe(path: str) -> str:
    """The text of ``pcviz info``."""
    out: list[str] = []
    with open_recording(path) as rec:
        a = rec.attrs
        spec = rec.spec
        size = Path(path).stat().st_size
        out.append(f"{path}: {_mb(size)}, {F.FORMAT_NAME} version {rec.format_version}"
                   f" (pcviz {a.get('pcviz_version', '?')}, torch {a.get('torch_version', '?')},"
                   f" HDF5 {a.get('hdf5_version', '?')})")
        closer = "pcviz repair" if a.get("repaired") else "its writer"
        state = f"complete (closed by {closer})" if rec.complete else \
            "INCOMPLETE: still being written, or its writer stopped without closing it"
        out.append(f"  created {a.get('created', '?')}; {state}")
        if a.get("stop_reason") and a.get("stop_reason") != "repaired":
            out.append(f"  stopped early: {a['stop_reason']}")
        if a.get("repaired"):
            out.append(f"  repaired: {a['repaired']}")
        reasons = repair_reasons(path)
        if reasons:
            out.append("  NEEDS REPAIR: " + "; ".join(reasons))
            out.append(f"    `pcviz repair {path}` makes it a closed file that HDF5 1.10 tools open"
                       + (" (once no program is writing it)" if open_mark(path) else ""))
        if rec.damaged:
            out.append("  the end of the file is missing (its writer failed, e.g. the disk filled up);"
                       " the frames before it are readable")
        out.append(f"  model {spec.model_kind}, preset {a.get('preset') or '?'}, device {a.get('device', '?')},"
                   f" seed {a.get('seed', '?')}")
        what = f"the whole batch of {spec.batch_size}" if rec.batch else "the displayed sample"
        out.append(f"  records {what}, every {rec.every} step(s)"
                   + (f", weights every {rec.weights_every}" if rec.weights_every else "")
                   + f", compression {a.get('compression', 'none')}")
        out.append("  layers:")
        for l in spec.layers:
            shape = "x".join(map(str, l.display_shape))
            qs = ", ".join(f"{q}{_shape(s, rec.batch, spec.batch_size)}" for q, s in l.quantities.items())
            out.append(f"    {l.index} {l.name:<8} {l.role:<6} {l.size:>6} units ({shape}): {qs}")
        out.append(f"  scalars: {', '.join(spec.scalars)}")
        n = len(rec)
        if n:
            steps, walls = rec.steps, rec.walls
            dur = float(walls[-1] - walls[0]) if n > 1 else 0.0
            out.append(f"  frames: {n}, steps {int(steps[0])}-{int(steps[-1])}, {dur:.1f} s of run time"
                       + (f" ({n / dur:.0f} frames/s)" if dur > 0 else ""))
        else:
            out.append("  frames: 0")
        if rec.weight_names:
            ws = rec.weight_steps
            span = f", steps {int(ws[0])}-{int(ws[-1])}" if len(ws) else ""
            out.append(f"  weight snapshots: {len(ws)}{span} ({', '.join(rec.weight_names)})")
        events = rec.events
        counts = collections.Counter(e.kind for e in events)
        out.append(f"  events: {len(events)}" + (": " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))
                                                 if events else ""))
        for e in events[:12]:
            payload = ", ".join(f"{k}={v}" for k, v in e.payload.items())
            out.append(f"    step {e.step:>7}  {e.kind}" + (f"  ({payload[:100]})" if payload else ""))
        if len(events) > 12:
            out.append(f"    ... {len(events) - 12} more")
        dropped = rec.dropped
        out.append(f"  dropped frames: {dropped}" + ("" if dropped == 0 else
                                                     " (the writer fell behind; see the gaps in /time/step)"))
    return "\n".join(out)


def _shape(shape: tuple[int, ...], batch: bool, batch_size: int) -> str:
    s = ((batch_size,) if batch else ()) + tuple(shape)
    return "(" + "x".join(map(str, s)) + ")"


def cmd_info(args: argparse.Namespace) -> int:
    try:
        print(describe(args.file))
    except RecordingError as exc:
        print(f"pcviz info: {exc}", file=sys.stderr)
        return 2
    return 0
