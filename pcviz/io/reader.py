"""Reading recordings, without Qt (a notebook is enough)::

    from pcviz.io import open_recording
    with open_recording("run.h5") as rec:
        print(len(rec), rec.spec.layers[0].quantities)
        f = rec.frame(10)                       # a pcviz.sim.frames.Frame
        err = rec.quantity(1, "error", slice(0, 500))   # (500, 100) numpy
        rec.refresh()                           # follow a file still being written

Files are opened in SWMR read mode, so a file that is being written, or whose writer
was killed, opens and shows every frame flushed so far.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from pcviz.io import format as F
from pcviz.io.errors import (
    CorruptRecordingError, FrameIndexError, MissingDataError, NotARecordingError, RecordingError,
    RecordingNotFoundError, TruncatedRecordingError, UnsupportedVersionError,
)
from pcviz.sim.events import Event
from pcviz.sim.frames import Frame, FrameSpec, LayerFrameSpec

REQUIRED_ATTRS = ("format_version", "frame_spec", "config", "model_kind")
#: scalars are kept in memory up to this many bytes (64 MB: 13 scalars of 1.2M frames)
SCALAR_CACHE = 64 << 20


def open_recording(path: str | os.PathLike) -> "Recording":
    """Open a pcviz recording for reading; every problem is a RecordingError subclass
    that names the file and says what is wrong."""
    return Recording(path)


def _short_by(path: Path) -> int:
    """How many bytes the file lacks against the end-of-allocation address in its
    superblock (0 for a whole file; SWMR readers do not check this themselves)."""
    info = F.superblock_info(path)
    if info is None or "eoa" not in info:
        return 0
    return max(0, info["base"] + info["eoa"] - path.stat().st_size)


class Recording:
    """One recording file. ``len(rec)`` frames; ``rec.frame(i)`` / ``rec[i]`` /
    ``rec.frame_at_step(s)``; ``rec.quantity(layer, name, index)``,
    ``rec.scalar(name, index)`` and ``rec.array(path, index)`` give numpy arrays;
    ``rec.events``, ``rec.config``, ``rec.spec``; ``rec.refresh()``; ``rec.close()``."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        p = self.path
        if not p.exists():
            raise RecordingNotFoundError(f"{p}: no such file", str(p))
        if p.is_dir():
            raise RecordingNotFoundError(f"{p}: is a folder, not a recording file", str(p))
        try:
            with open(p, "rb") as fh:
                head = fh.read(8)
        except OSError as exc:
            raise RecordingError(f"{p}: cannot read ({exc.strerror or exc})", str(p)) from None
        if head != F.HDF5_SIGNATURE:
            raise NotARecordingError(f"{p}: not a pcviz recording (not an HDF5 file)", str(p))
        short = _short_by(p)
        try:
            # no chunk cache: a random frame reads its own bytes, not whole chunks
            self._f = h5py.File(p, "r", swmr=True, rdcc_nbytes=0)
        except OSError as exc:
            if short:
                raise TruncatedRecordingError(f"{p}: truncated: {short} bytes are missing at its end", str(p)) \
                    from None
            raise self._open_error(exc) from None
        try:
            complete = F.read_bool(self._f.attrs, "complete", True)
            if short and (complete or self._f.attrs.get("format") != F.FORMAT_NAME):
                raise TruncatedRecordingError(
                    f"{p}: truncated: its end ({short} bytes) is missing; an incomplete copy or download?", str(p))
            #: the end of the file is missing (its writer failed, e.g. a full disk): the
            #: frames whose data lies past the end are left out
            self.damaged = bool(short)
            self._load()
        except BaseException:
            self._f.close()
            raise

    def _open_error(self, exc: OSError) -> RecordingError:
        p, text = self.path, str(exc)
        if "signature" in text:
            return NotARecordingError(f"{p}: not a pcviz recording (not an HDF5 file)", str(p))
        if "truncated" in text or "eof" in text.lower():
            return TruncatedRecordingError(f"{p}: truncated ({text})", str(p))
        if "already open" in text:
            return RecordingError(f"{p}: open for writing in this process; stop the recording first", str(p))
        return CorruptRecordingError(f"{p}: cannot be opened as HDF5 ({text})", str(p))

    # ---------------------------------------------------------------- loading
    def _load(self) -> None:
        f, p = self._f, self.path
        attrs = f.attrs
        fmt = _text(attrs.get("format"))
        if fmt != F.FORMAT_NAME:
            what = "no 'format' attribute" if fmt is None else f"format = {fmt!r}"
            raise NotARecordingError(f"{p}: an HDF5 file, but not a pcviz recording ({what})", str(p))
        for name in REQUIRED_ATTRS:
            if name not in attrs:
                raise MissingDataError(f"{p}: the root attribute '{name}' is missing", str(p))
        version = attrs["format_version"]
        try:
            version = int(version)
        except (TypeError, ValueError):
            raise CorruptRecordingError(f"{p}: format_version = {version!r} is not a number", str(p)) from None
        if version != F.FORMAT_VERSION:
            newer = " (written by a newer pcviz; upgrade pcviz to read it)" if version > F.FORMAT_VERSION else ""
            raise UnsupportedVersionError(
                f"{p}: recording format version {version}; this pcviz reads version {F.FORMAT_VERSION}{newer}",
                str(p))
        self.format_version = version
        try:
            self.spec: FrameSpec = F.spec_from_json(_text(attrs["frame_spec"]))
            self.config_dict: dict[str, Any] = json.loads(_text(attrs["config"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptRecordingError(f"{p}: unreadable frame_spec or config attribute ({exc})", str(p)) from None
        self.batch = F.read_bool(attrs, "batch")
        self.every = int(attrs.get("every", 1))
        self.weights_every = int(attrs.get("weights_every", 0))
        self._ds: dict[str, h5py.Dataset] = {}
        for path in F.required_paths(self.spec, self.batch) + list(F.EVENT_PATHS):
            self._ds[path] = self._dataset(path)
        self._quantities = [
            (l.index, q, self._ds[F.quantity_path(l.index, q)]) for l in self.spec.layers for q in l.quantities
        ]
        self._scalars = [(s, self._ds[F.scalar_path(s)]) for s in self.spec.scalars]
        self.weight_names: list[str] = []
        if self.weights_every and "weights" in f:
            self._ds["weights/step"] = self._dataset("weights/step")
            self.weight_names = [k for k in f["weights"] if k != "step"]
            for k in self.weight_names:
                self._ds[F.weight_path(k)] = self._dataset(F.weight_path(k))
        self._time: dict[str, np.ndarray] = {}
        self._events: list[Event] | None = None
        self._scal: np.ndarray | None = None  # (S, n) in memory, read on the first frame()
        self._n = 0
        self._nw = 0
        self._update()

    def _dataset(self, path: str) -> h5py.Dataset:
        try:
            d = self._f[path]
        except KeyError:
            raise MissingDataError(f"{self.path}: the dataset /{path} is missing (damaged, or not written by"
                                   " pcviz)", str(self.path)) from None
        if not isinstance(d, h5py.Dataset):
            raise CorruptRecordingError(f"{self.path}: /{path} is a group, expected a dataset", str(self.path))
        return d

    def _update(self) -> None:
        """Recount frames (the shortest per-frame dataset: a crash may leave some a
        batch ahead of others) and read the new part of /time."""
        try:
            frame_paths = F.required_paths(self.spec, self.batch)
            n = min(self._ds[p].shape[0] for p in frame_paths)
            if self.damaged:
                n = min(n, self._frames_on_disk(frame_paths))
            old = self._n
            if n < old:
                n = old  # SWMR files only grow
            for name in F.TIME_FIELDS:
                new = self._ds[f"time/{name}"][old:n]
                prev = self._time.get(name)
                self._time[name] = new if prev is None else np.concatenate([prev[:old], new])
            steps = self._time["step"]
            valid = np.flatnonzero(steps >= 0)  # -1 is the fill value of a frame never written
            n_ok = int(valid[-1]) + 1 if len(valid) else 0
            if n_ok < n and n_ok < len(steps):
                for name in self._time:
                    self._time[name] = self._time[name][:n_ok]
                n = n_ok
            self._n = n
            if self.weight_names:
                self._nw = min(self._ds[F.weight_path(k)].shape[0] for k in self.weight_names + ["step"])
                self._wsteps = self._ds["weights/step"][: self._nw]
        except OSError as exc:
            raise CorruptRecordingError(f"{self.path}: cannot read the time datasets ({exc})",
                                        str(self.path)) from None

    def _frames_on_disk(self, paths: list[str]) -> int:
        """Frames before the first chunk that ends past the end of the file."""
        size = self.path.stat().st_size
        limit = None
        for p in paths:
            dsid = self._ds[p].id
            for i in range(dsid.get_num_chunks()):
                info = dsid.get_chunk_info(i)
                if info.byte_offset + info.size > size:
                    t = int(info.chunk_offset[0])
                    limit = t if limit is None else min(limit, t)
        return self._ds[paths[-1]].shape[0] if limit is None else limit

    def _scalars_in_memory(self) -> np.ndarray | None:
        """All scalars as one (S, T) array, kept up to date (one read per scalar for the
        whole run instead of one per frame); None when that would pass SCALAR_CACHE."""
        n, names = self._n, self._scalars
        if not names or len(names) * n * 4 > SCALAR_CACHE:
            return None
        old = 0 if self._scal is None else self._scal.shape[1]
        if old < n:
            new = np.stack([d[old:n] for _, d in names]).astype(np.float32, copy=False)
            self._scal = new if self._scal is None else np.concatenate([self._scal, new], axis=1)
        return self._scal

    def refresh(self) -> int:
        """Take in what a writer appended since (SWMR); returns the new frame count."""
        for d in self._ds.values():
            d.refresh()
        self._events = None
        self._update()
        return self._n

    # ----------------------------------------------------------------- metadata
    @property
    def attrs(self) -> dict[str, Any]:
        out = {k: _plain(v) for k, v in self._f.attrs.items()}
        for k in F.BOOL_ATTRS:
            if k in out:
                out[k] = bool(out[k])
        return out

    @property
    def config(self):
        """The run's resolved config as a :class:`pcviz.config.RunConfig`."""
        from pcviz.sim.presets import config_from_document

        return config_from_document(self.config_dict, None, source=str(self.path))

    @property
    def layers(self) -> tuple[LayerFrameSpec, ...]:
        return self.spec.layers

    def layer_index(self, layer: int | str) -> int:
        if isinstance(layer, (int, np.integer)) and 0 <= int(layer) < len(self.spec.layers):
            return int(layer)
        for spec in self.spec.layers:
            if spec.name == layer:
                return spec.index
        names = ", ".join(f"{l.index} ({l.name})" for l in self.spec.layers)
        raise FrameIndexError(f"{self.path}: no layer {layer!r} (layers: {names})", str(self.path))

    @property
    def complete(self) -> bool:
        """True when the writer closed the file; False while it writes or if it died."""
        return F.read_bool(self._f.attrs, "complete")

    @property
    def dropped(self) -> int:
        return int(self._f.attrs.get("dropped_frames", 0))

    def __len__(self) -> int:
        return self._n

    @property
    def steps(self) -> np.ndarray:
        """(T,) int64 engine step of each frame."""
        return self._time["step"]

    @property
    def samples(self) -> np.ndarray:
        return self._time["sample"]

    @property
    def walls(self) -> np.ndarray:
        return self._time["wall"]

    @property
    def events(self) -> list[Event]:
        if self._events is None:
            self._events = self._read_events()
        return self._events

    def _read_events(self) -> list[Event]:
        d = self._ds
        try:
            n = min(d[p].shape[0] for p in ("events/step", "events/wall", "events/kind", "events/payload"))
            steps, walls = d["events/step"][:n], d["events/wall"][:n]
            kinds, payloads = d["events/kind"][:n], d["events/payload"][:n]
            long_bytes = d["events/payload_long"][:] if d["events/payload_long"].shape[0] else None
            out = []
            for i in range(n):
                if steps[i] < 0:
                    continue
                payload = F.decode_payload(bytes(payloads[i]), long_bytes)
                out.append(Event(int(steps[i]), bytes(kinds[i]).rstrip(b"\0").decode("ascii"), payload,
                                 float(walls[i])))
            return out
        except (OSError, ValueError) as exc:
            raise CorruptRecordingError(f"{self.path}: cannot read the events ({exc})", str(self.path)) from None

    # ------------------------------------------------------------------- frames
    def _check_index(self, i: int) -> int:
        n = self._n
        j = int(i) + n if int(i) < 0 else int(i)
        if not 0 <= j < n:
            raise FrameIndexError(f"{self.path}: frame {i} out of range (the recording has {n} frames)",
                                  str(self.path))
        return j

    def index_of_step(self, step: int) -> int:
        """Index of the last frame at or before engine step ``step``."""
        steps = self.steps
        j = int(np.searchsorted(steps, step, side="right")) - 1
        if j < 0:
            first = f"the first is at step {int(steps[0])}" if len(steps) else "it has no frames"
            raise FrameIndexError(f"{self.path}: no frame at or before step {step} ({first})", str(self.path))
        return j

    def frame_at_step(self, step: int, with_weights: bool = True) -> Frame:
        """The frame of engine step ``step`` (or the last one before it)."""
        return self.frame(self.index_of_step(step), with_weights)

    def frame(self, i: int, with_weights: bool = True) -> Frame:
        """Frame ``i`` as a :class:`pcviz.sim.frames.Frame`, every layer and quantity;
        with the weights snapshot of its step in ``extras`` when there is one."""
        i = self._check_index(i)
        try:
            layers: list[dict[str, np.ndarray]] = [dict() for _ in self.spec.layers]
            for l, q, d in self._quantities:
                layers[l][q] = d[i]
            table = self._scalars_in_memory()
            if table is not None:
                scalars = {name: float(v) for (name, _), v in zip(self._scalars, table[:, i])}
            else:
                scalars = {name: float(d[i]) for name, d in self._scalars}
            extras: dict[str, np.ndarray] = {}
            t = self._time
            step = int(t["step"][i])
            if with_weights and self._nw:
                j = int(np.searchsorted(self._wsteps, step))
                if j < self._nw and self._wsteps[j] == step:
                    for k in self.weight_names:
                        extras[F.weight_path(k)] = self._ds[F.weight_path(k)][j]
            samples = self._ds["time/samples"][i] if self.batch else None
        except OSError as exc:
            raise CorruptRecordingError(f"{self.path}: frame {i} cannot be read ({exc})", str(self.path)) from None
        phase_code = int(t["phase"][i])
        return Frame(
            step=step, sample_index=int(t["sample"][i]),
            phase=F.PHASES[phase_code] if 0 <= phase_code < len(F.PHASES) else "inference",
            layers=layers, scalars=scalars, wall=float(t["wall"][i]), hold_step=int(t["hold_step"][i]),
            display_index=int(t["display_index"][i]), batch=self.batch, sample_indices=samples, extras=extras)

    def __getitem__(self, i: int) -> Frame:
        return self.frame(i)

    def __iter__(self) -> Iterator[Frame]:
        for i in range(self._n):
            yield self.frame(i)

    # ------------------------------------------------------------------- arrays
    def array(self, path: str, index: Any = slice(None)) -> np.ndarray:
        """Numpy slice of any dataset, e.g. ``rec.array("layers/1/error", slice(0, 100))``;
        per-frame datasets are cut to the frames that are complete."""
        path = path.strip("/")
        d = self._ds.get(path)
        if d is None:
            d = self._dataset(path)
        if path.startswith(("layers/", "scalars/", "time/")):
            n = self._n
        elif path.startswith("weights/"):
            n = self._nw
        else:
            n = d.shape[0]
        try:
            if isinstance(index, slice):
                return d[slice(*index.indices(n))]
            if isinstance(index, (int, np.integer)):
                j = int(index) + n if index < 0 else int(index)
                if not 0 <= j < n:
                    raise FrameIndexError(f"{self.path}: index {index} out of range for /{path} ({n} rows)",
                                          str(self.path))
                return d[j]
            idx = np.asarray(index)
            if idx.dtype == bool:
                idx = np.flatnonzero(idx[:n])
            if idx.size and (idx.min() < -n or idx.max() >= n):
                raise FrameIndexError(f"{self.path}: indices out of range for /{path} ({n} rows)", str(self.path))
            idx = np.where(idx < 0, idx + n, idx)
            order = np.argsort(idx, kind="stable")
            uniq, inv = np.unique(idx[order], return_inverse=True)
            data = d[uniq]  # h5py needs increasing, unique indices
            out = np.empty_like(data[inv])
            out[order] = data[inv]
            return out
        except OSError as exc:
            raise CorruptRecordingError(f"{self.path}: /{path} cannot be read ({exc})", str(self.path)) from None

    def quantity(self, layer: int | str, name: str, index: Any = slice(None)) -> np.ndarray:
        """``(frames, *shape)`` values of one quantity of one layer."""
        l = self.layer_index(layer)
        if name not in self.spec.layers[l].quantities:
            known = ", ".join(self.spec.layers[l].quantities)
            raise FrameIndexError(f"{self.path}: layer {l} has no quantity {name!r} (it has {known})",
                                  str(self.path))
        return self.array(F.quantity_path(l, name), index)

    def scalar(self, name: str, index: Any = slice(None)) -> np.ndarray:
        if name not in self.spec.scalars:
            raise FrameIndexError(f"{self.path}: no scalar {name!r} (scalars: {', '.join(self.spec.scalars)})",
                                  str(self.path))
        return self.array(F.scalar_path(name), index)

    @property
    def weight_steps(self) -> np.ndarray:
        return self._wsteps if self._nw else np.zeros(0, np.int64)

    def weights(self, name: str, index: Any = slice(None)) -> np.ndarray:
        """Snapshots of one weight tensor (see :attr:`weight_steps` for their steps)."""
        if name not in self.weight_names:
            have = ", ".join(self.weight_names) or "none (record with --weights-every)"
            raise FrameIndexError(f"{self.path}: no weights {name!r} (recorded: {have})", str(self.path))
        return self.array(F.weight_path(name), index)

    def to_xarray(self, layer: int | str, quantity: str | None = None, index: slice = slice(None)):
        """One quantity of a layer as an ``xarray.DataArray``, or (no ``quantity``)
        every quantity of it as an ``xarray.Dataset``, with named dimensions (``step``,
        then ``batch``, then ``unit`` / ``y, x`` / ``channel, y, x``). Needs xarray."""
        from pcviz.io import export_arrays

        if quantity is None:
            return export_arrays.layer_dataset(self, layer, index)
        return export_arrays.quantity_dataarray(self, layer, quantity, index)

    # -------------------------------------------------------------------- close
    def close(self) -> None:
        f = getattr(self, "_f", None)
        if f is not None:
            f.close()

    def __enter__(self) -> "Recording":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<Recording {self.path.name}: {self.spec.model_kind}, {len(self.spec.layers)} layers,"
                f" {self._n} frames>")


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.dtype.kind in "SU" and v.shape == ():
        return _text(v.item())
    return str(v)


def _plain(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.rstrip(b"\0").decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v
