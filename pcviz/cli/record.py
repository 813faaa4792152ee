"""``pcviz record``: a headless run recorded to HDF5, with a progress bar."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from pcviz.io import format as F
from pcviz.io.reader import open_recording
from pcviz.io.recorder import Recorder, _mb


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
    server = None
    if args.serve is not None:
        from pcviz.sim.process import EngineServer

        try:
            server = EngineServer(engine, args.serve or None, token=args.token).start()
        except Exception:
            rec.stop()
            raise
        if server.family == "AF_INET":
            print(f"pcviz record: serving on {server.where}; attach with: pcviz attach {server.where}"
                  f" --token {server.token}", file=sys.stderr, flush=True)
        else:
            print(f"pcviz record: serving on {server.where}; attach with: pcviz attach {server.where}",
                  file=sys.stderr, flush=True)
    what = f"the whole batch ({cfg.data.batch_size})" if args.batch else "the displayed sample"
    print(f"pcviz record: {cfg.preset.name or args.preset} on {engine.device}, {args.steps} steps, every"
          f" {args.every}, {what} -> {args.out}", file=sys.stderr)
    bar = tqdm(total=args.steps, unit="step", dynamic_ncols=True, file=sys.stderr, mininterval=0.25)
    last = [time.monotonic(), 0]
    paused = [False]

    def progress(step: int) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        now = time.monotonic()
        if server is not None and paused[0] != (not engine.running):  # a served run: a window paused it
            paused[0] = not engine.running
            bar.set_description_str("paused, the recording waits" if paused[0] else "", refresh=False)
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
        if server is None:
            engine.run_steps(args.steps, progress)
        else:  # in the engine's thread, so that a window's Pause, Play and Step govern it
            from pcviz.sim.process.serve import serve_steps

            serve_steps(engine, args.steps, progress)
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
    if server is not None:
        server.close()  # an attached window hears that the run ended
        print(f"pcviz record: {server.attached} window(s) attached, {server.refused} refused,"
              f" {server.bytes_sent / 1e6:.1f} MB of frames sent", file=sys.stderr)
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
