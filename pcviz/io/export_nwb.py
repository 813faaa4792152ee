"""A recording as a Neurodata Without Borders file (``pcviz export FILE.h5 --nwb OUT.nwb``),
written with pynwb (an optional dependency: ``pip install 'pcviz[export]'``).

Layout of the NWB file (every time is the run's wall clock: the recording's
``/time/wall``, seconds since the engine was created; the session start is the
recording's ``created`` time, to the second, which follows the engine's creation by
about the first frame's wall time):

- processing module ``layer_<l>_<name>``, one per layer: a ``TimeSeries`` per quantity
  (``activity``, ``prediction``, ``error``, ``precision``, ...) of shape
  ``(frames, *shape)`` (``(frames, batch, *shape)`` for whole-batch recordings), and a
  ``TimeSeries`` ``step`` (the engine step of each frame) sharing its timestamps;
- processing module ``scalars``: a ``TimeSeries`` per scalar (``energy/total`` becomes
  ``energy_total``; the original name is in its description, with what the scalar is
  where the recording says it: the spec's note), and ``step``;
- processing module ``weights`` (when the recording has snapshots): a table
  ``snapshots``, one row per snapshot, with columns ``step``, ``timestamp`` and one per
  learned tensor (``W.0`` becomes ``W_0``);
- events table ``pcviz_events``: one row per event (interventions, parameter changes,
  pause/resume, divergence ...) with ``timestamp``, ``step``, ``kind`` and ``payload``
  (the event's fields as JSON);
- file metadata: ``notes`` holds the run's full config as JSON, ``source_script`` the
  pcviz version and recording format, ``session_description`` the preset and model.

Data are streamed from the recording chunk by chunk (a whole run need not fit in memory).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from pcviz import __version__
from pcviz.io import format as F
from pcviz.io.errors import ExportError, missing_package
from pcviz.io.reader import Recording, open_recording

#: buffers of at most this many bytes are read from the recording at a time
BUFFER_BYTES = 64 << 20
STEP_SERIES = "step"
EVENTS_TABLE = "pcviz_events"


def _pynwb():
    try:
        import pynwb
        from pynwb.event import EventsTable  # noqa: F401  (NWB 2.9 / pynwb 4)
    except ImportError:
        raise missing_package("pynwb", "NWB export", "pynwb>=4") from None
    return pynwb


def nwb_name(name: str) -> str:
    """An NWB object name for a pcviz name (no '/' allowed; '.' avoided)."""
    return re.sub(r"[^A-Za-z0-9_\-]", "_", name)


def layer_module_name(index: int, name: str) -> str:
    return f"layer_{index}_{nwb_name(name)}"


def _start_time(rec: Recording) -> _dt.datetime:
    created = rec.attrs.get("created") or ""
    try:
        t = _dt.datetime.fromisoformat(str(created))
    except ValueError:
        t = _dt.datetime.fromtimestamp(rec.path.stat().st_mtime)
    if t.tzinfo is None:
        t = t.astimezone()
    return t


#: NWB's TimeSeries data and table columns have at most this many axes
MAX_AXES = 4


def stored_shape(shape: tuple[int, ...], leading: int) -> tuple[int, ...]:
    """The per-row shape stored in NWB for a per-row ``shape`` after ``leading`` axes
    (time, and batch): as it is where NWB allows it, else the trailing axes flattened
    (C order) into one (a convolutional layer's C x H x W in a whole-batch recording)."""
    if leading + len(shape) <= MAX_AXES:
        return tuple(shape)
    keep = MAX_AXES - leading - 1
    return tuple(shape[:keep]) + (int(np.prod(shape[keep:])),)


def _chunks(rec: Recording, path: str, n: int, leading: int = 1):
    """A chunk iterator over the first ``n`` rows of one dataset of the recording, its
    rows reshaped to :func:`stored_shape`."""
    from hdmf.data_utils import GenericDataChunkIterator

    ds = rec.array(path, slice(0, 0))
    row_shape = (*ds.shape[1:leading], *stored_shape(ds.shape[leading:], leading))

    class RecordingChunks(GenericDataChunkIterator):
        def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
            rows = rec.array(path, selection[0])
            return rows.reshape(len(rows), *row_shape)[(slice(None),) + tuple(selection[1:])]

        def _get_maxshape(self) -> tuple[int, ...]:
            return (n, *row_shape)

        def _get_dtype(self) -> np.dtype:
            return ds.dtype

    row = max(1, ds.dtype.itemsize * int(np.prod(row_shape)))
    rows = max(1, min(n, BUFFER_BYTES // row))
    chunk_rows = max(1, min(rows, (1 << 20) // row))
    rows = max(chunk_rows, rows // chunk_rows * chunk_rows)
    return RecordingChunks(buffer_shape=(min(rows, n), *row_shape), chunk_shape=(min(chunk_rows, n), *row_shape))


def _shape_note(shape: tuple[int, ...], leading: int) -> str:
    stored = stored_shape(shape, leading)
    if stored == tuple(shape):
        return f"per-sample shape {tuple(shape)}"
    return f"per-sample shape {tuple(shape)}, stored flattened (C order) to {stored}"


def build_nwbfile(rec: Recording):
    """The in-memory NWBFile of a recording (its series read lazily from ``rec``)."""
    pynwb = _pynwb()
    from pynwb import TimeSeries
    from pynwb.file import Subject
    from pynwb.event import EventsTable

    n = len(rec)
    if n == 0:
        raise ExportError(f"{rec.path}: the recording has no frames; there is nothing to export", str(rec.path))
    a = rec.attrs
    spec = rec.spec
    start = _start_time(rec)
    preset = a.get("preset") or "?"
    desc = (f"pcviz recording of preset {preset} (model {spec.model_kind}): {n} frames, steps"
            f" {int(rec.steps[0])}-{int(rec.steps[-1])}, every {rec.every} step(s),"
            f" {'whole batch of ' + str(spec.batch_size) if rec.batch else 'the displayed sample'}")
    nwb = pynwb.NWBFile(
        session_description=desc,
        identifier=str(uuid.uuid4()),
        session_start_time=start,
        experiment_description=_preset_description(rec) or desc,
        notes=json.dumps(rec.config_dict, sort_keys=True),
        source_script=(f"pcviz {__version__} (recording written by pcviz {a.get('pcviz_version', '?')},"
                       f" format {F.FORMAT_NAME} version {rec.format_version}, device {a.get('device', '?')},"
                       f" seed {a.get('seed', '?')})"),
        source_script_file_name=rec.path.name,
        keywords=["predictive coding", "simulation", "pcviz", spec.model_kind],
        # the subject is the simulated network; "born" when its engine was created (a
        # preset that starts from a checkpoint was trained before that)
        subject=Subject(subject_id=nwb_name(f"{preset}-seed{a.get('seed', '?')}"), sex="O", date_of_birth=start,
                        description=(f"a simulated network, not an animal: pcviz model {spec.model_kind},"
                                     f" preset {preset}, seed {a.get('seed', '?')}; date of birth: when its"
                                     " engine was created")),
    )
    walls = np.asarray(rec.walls, np.float64)
    steps = np.asarray(rec.steps, np.int64)
    clock = ("seconds since the engine was created (the run's wall clock);"
             " the engine step of each frame is in the 'step' series alongside")

    def module(name: str, description: str):
        mod = nwb.create_processing_module(name=name, description=description)
        ts = TimeSeries(name=STEP_SERIES, data=steps, unit="step", timestamps=walls,
                        description=f"engine step of each frame; timestamps: {clock}")
        mod.add(ts)
        return mod, ts

    for layer in spec.layers:
        what = "the whole batch (axis 1)" if rec.batch else "the displayed sample"
        mod, clock_ts = module(layer_module_name(layer.index, layer.name),
                               f"layer {layer.index} '{layer.name}' ({layer.role}, {layer.size} units, display"
                               f" shape {'x'.join(map(str, layer.display_shape))}) of {what}")
        leading = 2 if rec.batch else 1
        for q, shape in layer.quantities.items():
            mod.add(TimeSeries(
                name=nwb_name(q), data=_chunks(rec, F.quantity_path(layer.index, q), n, leading), unit="a.u.",
                timestamps=clock_ts,
                description=(f"{q} of layer {layer.index} '{layer.name}', {_shape_note(shape, leading)}, in the"
                             " model's own units (see pcviz docs/recording-format.md)")))
    _check_names(list(spec.scalars), "scalars")
    for layer in spec.layers:
        _check_names(list(layer.quantities), f"quantities of layer {layer.index}")
    if spec.scalars:
        mod, clock_ts = module("scalars", "scalars of the model at each frame (energies, error norms, ELBO, ...)")
        for s in spec.scalars:
            note = spec.scalar_notes.get(s)  # what the scalar is, as the recording says (its description)
            mod.add(TimeSeries(name=nwb_name(s), data=_chunks(rec, F.scalar_path(s), n), unit="a.u.",
                               timestamps=clock_ts,
                               description=f"pcviz scalar '{s}'" + (f": {note}" if note else "")))
    ws = rec.weight_steps
    if len(ws):
        nwb.create_processing_module(
            name="weights", description="snapshots of the learned tensors (W.l weights, b.l biases, var.l"
                                        " variances of PC models)").add(_weights_table(rec, steps, walls, clock))
    table = EventsTable(name=EVENTS_TABLE, description=(
        "pcviz events: interventions (clamp, release, pulse, lesion, occlude ...), parameter changes (set_param),"
        f" pause/resume, divergence and errors, in the order they took effect; timestamp: {clock}"))
    table.add_column(name="step", description="engine step at which the event took effect")
    table.add_column(name="kind", description="event kind (start, clamp, set_param, pause, ...)")
    table.add_column(name="payload", description="the event's fields as a JSON object")
    for e in rec.events:
        table.add_event(timestamp=float(e.wall), step=int(e.step), kind=e.kind,
                        payload=json.dumps(e.payload, sort_keys=True))
    nwb.add_events_table(table)
    return nwb


def _weights_table(rec: Recording, steps: np.ndarray, walls: np.ndarray, clock: str):
    """The weights snapshots as a table, one row per snapshot: a few snapshots of large
    tensors are not a time series whose time axis is the longest one."""
    from hdmf.common import DynamicTable, VectorData

    ws = np.asarray(rec.weight_steps, np.int64)
    _check_names(rec.weight_names, "weights")
    columns = [
        VectorData(name="step", description="engine step of the snapshot", data=ws),
        VectorData(name="timestamp", description=f"time of the snapshot in {clock}; interpolated over the"
                   " frames' steps where a snapshot step has no frame", data=np.interp(ws, steps, walls)),
    ]
    for w in rec.weight_names:
        shape = rec.weights(w, slice(0, 0)).shape[1:]
        columns.append(VectorData(name=nwb_name(w), description=f"pcviz learned tensor '{w}', one per row;"
                                  f" {_shape_note(shape, 1).replace('per-sample', 'its')}",
                                  data=_chunks(rec, F.weight_path(w), len(ws))))
    return DynamicTable(name="snapshots", description="weights snapshots, one row per snapshot",
                        columns=columns)


def _check_names(names: list[str], what: str) -> None:
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(nwb_name(name), name)
        if other != name:
            raise ExportError(f"{what} {other!r} and {name!r} would have the same NWB name {nwb_name(name)!r}")


def _preset_description(rec: Recording) -> str:
    preset = rec.config_dict.get("preset", {})
    return str(preset.get("description", "")) if isinstance(preset, dict) else ""


def export_nwb(path: str | os.PathLike, out: str | os.PathLike, overwrite: bool = False) -> str:
    """Write the recording at ``path`` as an NWB file ``out``; returns a summary."""
    pynwb = _pynwb()
    out = Path(out)
    if out.exists() and not overwrite:
        raise ExportError(f"cannot export to {out}: the file exists (choose another name or delete it)", str(out))
    with open_recording(path) as rec:
        nwb = build_nwbfile(rec)
        tmp = out.with_name(f".{out.stem}.writing.nwb")
        try:
            with pynwb.NWBHDF5IO(str(tmp), "w") as io:
                io.write(nwb)
            os.replace(tmp, out)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ExportError(f"cannot write {out}: {exc.strerror or exc}", str(out)) from None
        except Exception:
            tmp.unlink(missing_ok=True)
            raise
        n, layers, events = len(rec), len(rec.spec.layers), len(rec.events)
    return f"{n} frames, {layers} layers, {events} events -> {out}"


def nwb_summary(nwb: Any) -> dict[str, Any]:
    """The modules and series of an NWB file (for messages and tests)."""
    return {name: sorted(mod.data_interfaces) for name, mod in nwb.processing.items()}
