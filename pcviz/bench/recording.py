"""Recording benchmarks, reported as ratios and latencies measured side by side in
one run (never asserted in tests):

1. writer throughput: the recording writer against ``numpy.tofile`` of the same bytes
   into the same folder (goal: ratio >= 0.8);
2. random frame access on a recording of ``--size-mb`` (default 1024): median and 95th
   percentile latency of reading one whole frame, every layer and quantity, from a
   cold page cache (the file is evicted with posix_fadvise) and warm (goal: p95 < 5 ms);
3. frames dropped when each preset is recorded at full rate (goal: 0), with the step
   rate with and without recording.

    python -m pcviz.bench.recording [--quick] [--size-mb N] [--dir DIR] [--out report.json]

Files are written under ``--dir`` (default: a temporary folder) and deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pcviz.io import Recorder, RecordingWriter, open_recording
from pcviz.sim import Engine, list_presets, load_preset
from pcviz.sim.frames import Frame, FrameBlock
from pcviz.sim.threads import BENCH_THREADS, use_torch_threads

GOALS = {"throughput_ratio": 0.8, "random_p95_ms": 5.0, "dropped": 0}


def sample_frames(preset: str, batch: bool, n: int = 64) -> tuple[Engine, list[Frame]]:
    """``n`` real frames of a preset (a pool the benchmarks cycle through)."""
    engine = Engine(load_preset(preset, ["engine.checkpoint=''"]), device="cpu")
    q = engine.subscribe_queue(n + 1, batch=batch)
    engine.run_steps(n)
    frames = [q.get_nowait() for _ in range(n)]
    engine.unsubscribe(q)
    return engine, frames


def payload_bytes(frame: Frame) -> int:
    """Bytes a frame carries: every layer array, the scalars (float32) and six time fields."""
    n = sum(a.nbytes for layer in frame.layers for a in layer.values())
    return n + 4 * len(frame.scalars) + 8 * 6 + (frame.sample_indices.nbytes if frame.batch else 0)


def write_recording(path: Path, engine: Engine, frames: list[Frame], n: int, batch: bool,
                    flush_interval: float = 0.5, block: int = 512) -> float:
    """Write ``n`` frames the way the recorder does: blocks of up to ``block`` frames
    (as the engine's block-mode queue hands them over, built here from a pool of real
    frames, steps renumbered), a flush every ``flush_interval`` s; returns seconds."""
    attrs = {"config": "{}", "model_kind": engine.spec.model_kind, "every": np.int64(1)}
    pool = FrameBlock.from_frames([frames[i % len(frames)] for i in range(block)])
    t0 = time.perf_counter()
    w = RecordingWriter(path, engine.spec, attrs=attrs, batch=batch, overwrite=True)
    next_flush = t0 + flush_interval
    done = 0
    while done < n:
        k = min(block, n - done)
        blk = pool if k == block else FrameBlock.from_frames([frames[i % len(frames)] for i in range(k)])
        blk.step = np.arange(done + 1, done + k + 1, dtype=np.int64)
        w.add(blk)
        done += k
        if time.perf_counter() >= next_flush:
            w.flush()
            next_flush = time.perf_counter() + flush_interval
    w.close()
    _fsync(path)
    return time.perf_counter() - t0


def write_tofile(path: Path, nbytes: int, block: int) -> float:
    """The same number of bytes, written with ``numpy.tofile`` in blocks of ``block``."""
    data = np.random.default_rng(0).random(block // 4, dtype=np.float32)
    t0 = time.perf_counter()
    with open(path, "wb") as fh:
        left = nbytes
        while left > 0:
            part = data if left >= data.nbytes else data[: left // 4 + 1]
            part.tofile(fh)
            left -= part.nbytes
    _fsync(path)
    return time.perf_counter() - t0


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def evict(path: Path) -> bool:
    """Drop the file from the page cache (cold reads); False where not supported."""
    if not hasattr(os, "posix_fadvise"):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return True


# ---------------------------------------------------------------- benchmarks
def bench_throughput(folder: Path, size_mb: float, batch: bool, repeats: int = 3) -> dict:
    engine, frames = sample_frames("digits-pc", batch)
    per_frame = payload_bytes(frames[0])
    n = max(256, int(size_mb * 1e6 / per_frame))
    nbytes = n * per_frame
    rec_path, raw_path = folder / "throughput.h5", folder / "throughput.bin"
    t_rec, t_raw = [], []
    for _ in range(repeats):  # alternate, so both see the same machine
        t_rec.append(write_recording(rec_path, engine, frames, n, batch))
        rec_path.unlink()
        t_raw.append(write_tofile(raw_path, nbytes, 8 << 20))
        raw_path.unlink()
    rec_s, raw_s = float(np.median(t_rec)), float(np.median(t_raw))
    return {"mode": "batch" if batch else "sample", "frames": n, "frame_bytes": per_frame, "mb": nbytes / 1e6,
            "writer_mb_s": nbytes / 1e6 / rec_s, "tofile_mb_s": nbytes / 1e6 / raw_s,
            "ratio": raw_s / rec_s, "writer_s": t_rec, "tofile_s": t_raw}


def bench_random_access(folder: Path, size_mb: float, batch: bool, reads: int = 400) -> dict:
    engine, frames = sample_frames("digits-pc", batch)
    per_frame = payload_bytes(frames[0])
    n = max(256, int(size_mb * 1e6 / per_frame))
    path = folder / "random.h5"
    t_write = write_recording(path, engine, frames, n, batch)
    size = path.stat().st_size
    rng = np.random.default_rng(1)
    out = {"mode": "batch" if batch else "sample", "frames": n, "file_mb": size / 1e6, "write_s": t_write}
    for label in ("cold", "warm"):
        if label == "cold" and not evict(path):
            continue
        idx = rng.integers(0, n, reads)
        lat = []
        with open_recording(path) as rec:
            for i in idx:
                t = time.perf_counter()
                rec.frame(int(i))
                lat.append(time.perf_counter() - t)
            if label == "warm":  # warm: read the same frames a second time
                lat = []
                for i in idx:
                    t = time.perf_counter()
                    rec.frame(int(i))
                    lat.append(time.perf_counter() - t)
        ms = np.asarray(lat) * 1e3
        out[label] = {"median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)),
                      "max_ms": float(ms.max())}
    path.unlink()
    return out


def bench_presets(folder: Path, steps: int) -> list[dict]:
    rows = []
    for entry in list_presets():
        overrides = []
        cfg = load_preset(entry.name)
        if cfg.engine.checkpoint and not _exists(cfg.engine.checkpoint):
            overrides.append("engine.checkpoint=''")
        try:
            plain = Engine(load_preset(entry.name, overrides), device="cpu")
            recorded = Engine(load_preset(entry.name, overrides), device="cpu")
        except Exception as exc:  # noqa: BLE001 - a preset whose data is missing here
            rows.append({"preset": entry.name, "skipped": str(exc)})
            continue
        t0 = time.perf_counter()
        plain.run_steps(steps)
        t_plain = time.perf_counter() - t0
        path = folder / f"{entry.name}.h5"
        rec = Recorder(recorded, path, overwrite=True).start()
        t0 = time.perf_counter()
        recorded.run_steps(steps)
        t_rec = time.perf_counter() - t0
        summary = rec.stop()
        rows.append({"preset": entry.name, "steps": steps, "frames": summary.frames, "dropped": summary.dropped,
                     "steps_s_plain": steps / t_plain, "steps_s_recording": steps / t_rec,
                     "rate_ratio": t_plain / t_rec, "checkpoint": "none" if overrides else "shipped"})
        path.unlink()
    return rows


def _exists(checkpoint: str) -> bool:
    from pcviz.paths import resolve_resource

    return resolve_resource(checkpoint).exists()


def run(quick: bool = False, size_mb: float | None = None, folder: str | None = None, steps: int | None = None,
        log=print) -> dict:
    use_torch_threads(BENCH_THREADS)
    tmp = Path(tempfile.mkdtemp(prefix="pcviz-bench-", dir=folder))
    size = size_mb if size_mb is not None else (64 if quick else 1024)
    thr_mb = min(size, 64 if quick else 256)
    report: dict = {"goals": GOALS, "machine": {"cpus": os.cpu_count()}}
    try:
        log(f"writer throughput, {thr_mb:.0f} MB per run, against numpy.tofile in {tmp} ...")
        report["throughput"] = [bench_throughput(tmp, thr_mb, batch) for batch in (False, True)]
        for r in report["throughput"]:
            log(f"  {r['mode']:<6} frame {r['frame_bytes']} B: writer {r['writer_mb_s']:.0f} MB/s, tofile"
                f" {r['tofile_mb_s']:.0f} MB/s, ratio {r['ratio']:.2f} (goal >= {GOALS['throughput_ratio']})")
        log(f"random frame access on a {size:.0f} MB recording ...")
        report["random_access"] = [bench_random_access(tmp, size, batch) for batch in (False, True)]
        for r in report["random_access"]:
            for label in ("cold", "warm"):
                if label in r:
                    x = r[label]
                    log(f"  {r['mode']:<6} {r['frames']} frames, {r['file_mb']:.0f} MB, {label}: median"
                        f" {x['median_ms']:.2f} ms, p95 {x['p95_ms']:.2f} ms (goal < {GOALS['random_p95_ms']})")
        n = steps or (500 if quick else 3000)
        log(f"every preset at full rate, {n} steps, every frame recorded ...")
        report["presets"] = bench_presets(tmp, n)
        for r in report["presets"]:
            if "skipped" in r:
                log(f"  {r['preset']}: skipped ({r['skipped']})")
            else:
                log(f"  {r['preset']:<20} {r['frames']} frames, {r['dropped']} dropped; {r['steps_s_plain']:.0f}"
                    f" steps/s plain, {r['steps_s_recording']:.0f} recording (ratio {r['rate_ratio']:.2f})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (64 MB, 500 steps)")
    p.add_argument("--size-mb", type=float, default=None, help="size of the random-access recording (default 1024)")
    p.add_argument("--steps", type=int, default=None, help="steps per preset (default 3000)")
    p.add_argument("--dir", default=None, help="folder for the temporary files (default: the system's temp)")
    p.add_argument("--out", default=None, help="write the report as JSON")
    args = p.parse_args(argv)
    report = run(args.quick, args.size_mb, args.dir, args.steps)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
