"""The sweep index, ``DIR/sweep.csv``: one row per run (status, preset, seed, swept
parameters, metrics, attempts, host, error, recording), rewritten whole (to a temporary
file, then renamed) each time a run finishes, so that it is never half written. The
sweep file is copied beside it as ``DIR/sweep.toml``."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any, Iterable

from pcviz.sweep.run import RunResult
from pcviz.sweep.spec import RunSpec, SweepSpec

INDEX_NAME = "sweep.csv"
SWEEP_COPY = "sweep.toml"
METRICS = ("heldout_recon_mse", "heldout_accuracy", "final_energy", "final_elbo", "steps_per_second",
           "steps", "frames", "dropped", "seconds", "cpu_seconds", "process_cpu_seconds")
LEADING = ("run", "status", "preset", "seed")
TRAILING = ("attempt", "host", "error", "path")


def columns(spec: SweepSpec) -> list[str]:
    return [*LEADING, *spec.swept_keys, *METRICS, *TRAILING]


def row_for(run: RunSpec, result: RunResult | None, status: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"run": run.run_id, "preset": Path(run.preset).stem, "seed": run.seed,
                           "path": run.filename, **run.params}
    if result is None:
        row["status"] = status or "not run"
        return row
    row.update(status=status or result.status, attempt=result.attempt, host=result.host, error=result.error)
    for m in METRICS:
        row[m] = getattr(result, m)
    return row


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return str(v)


def write_index(out_dir: str | os.PathLike, spec: SweepSpec, rows: Iterable[dict[str, Any]]) -> Path:
    out_dir = Path(out_dir)
    path = out_dir / INDEX_NAME
    tmp = path.with_name(f".{INDEX_NAME}.tmp")
    cols = columns(spec)
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for row in rows:
            w.writerow({c: _text(row.get(c)) for c in cols})
    os.replace(tmp, path)
    return path


def copy_sweep_file(out_dir: str | os.PathLike, spec: SweepSpec) -> None:
    dest = Path(out_dir) / SWEEP_COPY
    if dest.resolve() != spec.path.resolve():
        dest.write_text(spec.text)


def _value(text: str) -> Any:
    if text == "":
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    if text in ("True", "False"):
        return text == "True"
    return text


def read_index(path: str | os.PathLike) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns and rows of a ``sweep.csv``, numbers as numbers; ``path`` of each
    row made absolute (it is stored relative to the index)."""
    path = Path(path)
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        cols = list(reader.fieldnames or [])
        rows = [{k: _value(v or "") for k, v in r.items()} for r in reader]
    for r in rows:
        if r.get("path"):
            r["path"] = str((path.parent / str(r["path"])).resolve())
    return cols, rows


def parameter_columns(cols: list[str]) -> list[str]:
    """The swept parameters of an index, then the preset and the seed."""
    return [c for c in cols if c not in (*LEADING, *METRICS, *TRAILING)] + ["preset", "seed"]
