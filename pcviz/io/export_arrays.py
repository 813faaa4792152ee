"""A recording as arrays for analysis: labelled xarray objects (when xarray is
installed) and a plain numpy ``.npz`` (``pcviz export FILE.h5 --npz OUT.npz``).

Dimensions are named: ``step`` (one per frame; the engine step is its coordinate, with
``frame``, ``wall`` and ``sample`` alongside), ``batch`` in whole-batch recordings,
then ``unit`` for a vector layer, ``y, x`` for an image layer and ``channel, y, x``
for a convolutional one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pcviz.io import format as F
from pcviz.io.errors import ExportError, missing_package
from pcviz.io.reader import Recording, open_recording

SHAPE_DIMS = {1: ("unit",), 2: ("y", "x"), 3: ("channel", "y", "x")}


def shape_dims(shape: tuple[int, ...]) -> tuple[str, ...]:
    """Names of a quantity's per-sample axes."""
    if len(shape) in SHAPE_DIMS:
        return SHAPE_DIMS[len(shape)]
    return tuple(f"axis_{i}" for i in range(len(shape)))


def parse_steps(text: str | None) -> tuple[int | None, int | None] | None:
    """``"A:B"`` (either end may be empty) as ``(A, B)``: frames with A <= step < B."""
    if text is None:
        return None
    parts = text.split(":")
    if len(parts) != 2:
        raise ExportError(f"--steps {text!r}: expected A:B, e.g. 1000:2000, 1000: or :2000")
    try:
        a, b = (int(p) if p.strip() else None for p in parts)
    except ValueError:
        raise ExportError(f"--steps {text!r}: A and B must be whole numbers") from None
    if a is not None and b is not None and b <= a:
        raise ExportError(f"--steps {text!r}: B must be greater than A")
    return a, b


def frame_range(rec: Recording, steps: tuple[int | None, int | None] | None) -> slice:
    """The frames whose engine step lies in ``[A, B)``."""
    if steps is None:
        return slice(0, len(rec))
    a, b = steps
    s = rec.steps
    lo = 0 if a is None else int(np.searchsorted(s, a, side="left"))
    hi = len(s) if b is None else int(np.searchsorted(s, b, side="left"))
    if hi <= lo:
        span = f"steps {int(s[0])}-{int(s[-1])}" if len(s) else "no frames"
        raise ExportError(f"{rec.path}: no frame with {a if a is not None else ''}:{b if b is not None else ''}"
                          f" (the recording has {span})", str(rec.path))
    return slice(lo, hi)


# --------------------------------------------------------------------- xarray
def _xarray():
    try:
        import xarray
    except ImportError:
        raise missing_package("xarray", "Recording.to_xarray") from None
    return xarray


def _coords(rec: Recording, frames: slice) -> dict[str, Any]:
    return {"step": rec.steps[frames], "frame": ("step", np.arange(len(rec))[frames]),
            "wall": ("step", rec.walls[frames]), "sample": ("step", rec.samples[frames])}


def quantity_dataarray(rec: Recording, layer: int | str, quantity: str, frames: slice = slice(None)):
    """One quantity of one layer as an ``xarray.DataArray``."""
    xr = _xarray()
    frames = slice(*frames.indices(len(rec)))
    l = rec.layer_index(layer)
    spec = rec.spec.layers[l]
    data = rec.quantity(l, quantity, frames)
    dims = ("step",) + (("batch",) if rec.batch else ()) + shape_dims(spec.quantities[quantity])
    return xr.DataArray(data, dims=dims, coords=_coords(rec, frames), name=quantity,
                        attrs={"layer": l, "layer_name": spec.name, "role": spec.role,
                               "units": "model units (see docs/recording-format.md)"})


def layer_dataset(rec: Recording, layer: int | str, frames: slice = slice(None)):
    """Every quantity of one layer as an ``xarray.Dataset``."""
    xr = _xarray()
    l = rec.layer_index(layer)
    spec = rec.spec.layers[l]
    arrays = {q: quantity_dataarray(rec, l, q, frames) for q in spec.quantities}
    return xr.Dataset(arrays, attrs={"layer": l, "layer_name": spec.name, "role": spec.role,
                                     "display_shape": list(spec.display_shape), "source": str(rec.path)})


# ------------------------------------------------------------------------ npz
def npz_arrays(rec: Recording, layers: Sequence[int | str] | None = None,
               steps: tuple[int | None, int | None] | None = None) -> dict[str, np.ndarray]:
    """The arrays ``export_npz`` writes, keyed by their path in the recording."""
    frames = frame_range(rec, steps)
    chosen = [rec.layer_index(_layer_arg(l)) for l in layers] if layers else [l.index for l in rec.spec.layers]
    out: dict[str, np.ndarray] = {}
    for name in F.TIME_FIELDS:
        out[f"time/{name}"] = rec.array(f"time/{name}", frames)
    if rec.batch:
        out["time/samples"] = rec.array("time/samples", frames)
    for l in dict.fromkeys(chosen):
        for q in rec.spec.layers[l].quantities:
            out[F.quantity_path(l, q)] = rec.quantity(l, q, frames)
    for s in rec.spec.scalars:
        out[F.scalar_path(s)] = rec.scalar(s, frames)
    ws = rec.weight_steps
    if len(ws) and frames.stop > frames.start:
        lo_step, hi_step = int(rec.steps[frames.start]), int(rec.steps[frames.stop - 1])
        keep = np.flatnonzero((ws >= lo_step) & (ws <= hi_step))
        out["weights/step"] = ws[keep]
        for name in rec.weight_names:
            out[F.weight_path(name)] = rec.weights(name, keep)
    events = rec.events
    out["events/step"] = np.asarray([e.step for e in events], np.int64)
    out["events/wall"] = np.asarray([e.wall for e in events], np.float64)
    out["events/kind"] = np.asarray([e.kind for e in events], dtype=str)
    out["events/payload"] = np.asarray([json.dumps(e.payload, sort_keys=True) for e in events], dtype=str)
    out["config"] = np.asarray(json.dumps(rec.config_dict, sort_keys=True))
    out["frame_spec"] = np.asarray(json.dumps(rec.spec.to_dict()))
    return out


def _layer_arg(value: int | str) -> int | str:
    return int(value) if isinstance(value, str) and value.isdigit() else value


def export_npz(path: str | os.PathLike, out: str | os.PathLike, layers: Sequence[int | str] | None = None,
               steps: tuple[int | None, int | None] | None = None) -> str:
    """Write the recording's arrays (optionally some layers, some steps) to an
    uncompressed ``.npz`` that ``np.load`` opens without pickle; returns a summary."""
    out = Path(out)
    if out.suffix != ".npz":
        raise ExportError(f"{out}: the output of --npz must end in .npz", str(out))
    with open_recording(path) as rec:
        arrays = npz_arrays(rec, layers, steps)
    try:
        np.savez(out, **arrays)
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}", str(out)) from None
    n = len(arrays["time/step"])
    return f"{n} frames, {len(arrays)} arrays -> {out}"
