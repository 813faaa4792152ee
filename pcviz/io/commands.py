"""``pcviz record`` (headless recording with a progress bar) and ``pcviz info``."""

from __future__ import annotations

import argparse
import collections
import signal
import sys
import threading
import time
from pathlib import Path

from pcviz.io import format as F
from pcviz.io.errors import RecordingError
from pcviz.io.reader import open_recording
from pcviz.io.recorder import Recorder, _mb
from pcviz.io.repair import open_mark, repair_reasons


def is_recording_path(name: str) -> bool:
    """``--preset run.h5``: a file that starts like HDF5 (or is named .h5/.hdf5)."""
    p = Path(name)
    if p.suffix.lower() in (".h5", ".hdf5"):
        return True
    if p.is_file():
        try:
            with open(p, "rb") as fh:
                return fh.read(8) == F.HDF5_SIGNATURE
        except OSError:
            return False
    return False


def config_for(preset: str, overrides: list[str]):
    """A preset by name or .toml path, or the config stored in a recording."""
    from pcviz.sim.presets import config_from_document, load_preset

    if is_recording_path(preset):
        with open_recording(preset) as rec:
            doc = rec.config_dict
        return config_from_document(doc, overrides, source=str(preset))
    return load_preset(preset, overrides)


def cmd_record(args: argparse.Namespace) -> int:
    if args.steps < 1:
        print(f"pcviz record: --steps {args.steps}: must be at least 1", file=sys.stderr)
        return 2
    # Ctrl-C sets a flag that the step loop checks: a KeyboardInterrupt raised inside
    # native code (torch, HDF5) can be swallowed there, and the run would go on. A
    # second Ctrl-C interrupts at once.
    stop = threading.Event()

    def on_sigint(signum, frame) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    try:
        return _record(args, stop)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _record(args: argparse.Namespace, stop: threading.Event) -> int:
    from tqdm import tqdm

    from pcviz.sim import Engine

    cfg = config_for(args.preset, list(args.overrides))
    engine = Engine(cfg, device=args.device)
    rec = Recorder(engine, args.out, every=args.every, batch=args.batch, weights_every=args.weights_every,
                   compression="lzf" if args.lzf else None)
    rec.start()
    what = f"the whole batch ({cfg.data.batch_size})" if args.batch else "the displayed sample"
    print(f"pcviz record: {cfg.preset.name or args.preset} on {engine.device}, {args.steps} steps, every"
          f" {args.every}, {what} -> {args.out}", file=sys.stderr)
    bar = tqdm(total=args.steps, unit="step", dynamic_ncols=True, file=sys.stderr, mininterval=0.25)
    last = [time.monotonic(), 0]

    def progress(step: int) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        now = time.monotonic()
        if now - last[0] >= 0.25:
            done = step - start_step
            bar.set_postfix_str(f"{rec.frames_written} frames, {_mb(rec.bytes)}, {rec.dropped} dropped",
                                refresh=False)
            bar.update(done - last[1])
            last[:] = [now, done]
            if rec.failed.is_set():
                raise _RecordingFailed

    start_step = engine.step_count
    interrupted = failed = False
    try:
        if stop.is_set():  # Ctrl-C while starting
            raise KeyboardInterrupt
        engine.run_steps(args.steps, progress)
    except KeyboardInterrupt:
        interrupted = True
    except _RecordingFailed:
        failed = True
    done = engine.step_count - start_step
    bar.update(done - last[1])
    bar.close()
    try:
        summary = rec.stop()
    except KeyboardInterrupt:  # a second Ctrl-C while closing: let it finish anyway
        summary = rec.stop()
    engine.stop()
    if rec.error is not None:
        print(f"pcviz record: {rec.error}", file=sys.stderr)
        print(f"pcviz record: {summary.frames} frames flushed before the failure remain readable in {args.out}",
              file=sys.stderr)
        return 1
    if interrupted:
        print(f"pcviz record: interrupted after {done} of {args.steps} steps; recorded {summary.describe()};"
              f" {args.out} closed properly", file=sys.stderr)
        return 130
    print(f"pcviz record: {done} steps; recorded {summary.describe()} -> {args.out}", file=sys.stderr)
    if engine.diverged is not None:
        print(f"pcviz record: {engine.diverged.message}", file=sys.stderr)
        return 1
    return 1 if failed else 0


class _RecordingFailed(Exception):
    pass


# ------------------------------------------------------------------------- info
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
