"""The synchronous part of recording: a new file laid out from the ``FrameSpec``,
switched to SWMR mode, then frames appended in batches and flushed on request.

:class:`RecordingWriter` knows nothing of threads or engines; the :class:`Recorder`
(``pcviz.io.recorder``) runs one in its own thread, fed by the engine's queue.
"""

from __future__ import annotations

import datetime as _dt
import errno as _errno
import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np
from h5py import h5s

from pcviz.io import format as F
from pcviz.io.errors import DiskFullError, RecordingWriteError
from pcviz.sim.events import Event
from pcviz.sim.frames import Frame, FrameBlock, FrameSpec

#: the write buffer holds about this many bytes of frames (a multiple of a chunk)
BUFFER_BYTES = 8 << 20


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def describe_os_error(exc: BaseException) -> str:
    """A short reason for a failed write: 'the disk is full', 'permission denied', ..."""
    code = getattr(exc, "errno", None)
    if code is None:
        m = re.search(r"errno = (\d+)", str(exc))
        code = int(m.group(1)) if m else None
    known = {
        _errno.ENOSPC: "the disk is full",
        _errno.EDQUOT: "the disk quota is exhausted",
        _errno.EFBIG: "the file size limit was reached",
        _errno.EACCES: "permission denied",
        _errno.EPERM: "permission denied",
        _errno.EROFS: "the file system is read-only",
        _errno.ENOENT: "the folder does not exist",
        _errno.ENOTDIR: "a part of the path is not a folder",
        _errno.EISDIR: "the path is a folder",
        _errno.EIO: "an input/output error",
    }
    if code in known:
        return known[code]
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 300 else text[:297] + "..."


#: free space kept in reserve so that a recording stopped for a full disk can still close
SPACE_MARGIN = 4 << 20


class RecordingWriter:
    """Write one recording. ``add(frame)`` copies the frame into a buffer that is
    written to the datasets when full; ``flush()`` writes what is buffered and the
    new events and makes it visible to readers; ``close()`` finishes the file.

    Errors while writing are :class:`RecordingWriteError` (which says why)."""

    def __init__(self, path: str | os.PathLike, spec: FrameSpec, *, attrs: Mapping[str, Any],
                 batch: bool = False, weight_shapes: Mapping[str, tuple[int, ...]] | None = None,
                 compression: str | None = None, overwrite: bool = False, buffer_bytes: int = BUFFER_BYTES):
        self.path = Path(path)
        self.spec = spec
        self.batch = bool(batch)
        self.weight_shapes = {k: tuple(int(s) for s in v) for k, v in (weight_shapes or {}).items()}
        self.frames_written = 0  # in the datasets (not necessarily flushed)
        self.frames_flushed = 0  # visible to readers
        self.events_written = 0
        self.weights_written = 0
        self.first_step: int | None = None
        self.last_step: int | None = None
        self.bytes = 0
        self.unknown_scalars: set[str] = set()
        self._long_bytes = 0
        self._pending_events: list[Event] = []
        self._pending_weights: list[tuple[int, dict[str, np.ndarray]]] = []
        self._dropped_attr = 0
        self._check_space(SPACE_MARGIN)
        self._f = self._create(attrs, compression, overwrite)
        self._alloc(buffer_bytes)

    # --------------------------------------------------------------- creation
    def _create(self, attrs: Mapping[str, Any], compression: str | None, overwrite: bool) -> h5py.File:
        p = self.path
        if p.is_dir():
            raise RecordingWriteError(f"cannot record to {p}: it is a folder; give a file name ending in .h5",
                                      str(p))
        if p.exists() and not overwrite:
            raise RecordingWriteError(f"cannot record to {p}: the file exists (choose another name or delete it)",
                                      str(p))
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordingWriteError(f"cannot record to {p}: cannot create the folder {p.parent}"
                                      f" ({describe_os_error(exc)})", str(p)) from None
        try:
            # no raw-data chunk cache: every write goes to the file at once, so a failed
            # write fails there and then, and nothing is left half-cached to fail again
            # (or crash the HDF5 library) when the file is closed
            f = h5py.File(p, "w", libver=F.LIBVER, rdcc_nbytes=0)
        except OSError as exc:
            raise RecordingWriteError(f"cannot record to {p}: {describe_os_error(exc)}", str(p)) from None
        try:
            a = f.attrs
            a["format"] = F.FORMAT_NAME
            a["format_version"] = np.int64(F.FORMAT_VERSION)
            a["created"] = now_iso()
            a["frame_spec"] = json.dumps(self.spec.to_dict())
            a["batch"] = F.bool_attr(self.batch)
            for k, v in attrs.items():  # booleans as int8: see F.BOOL_ATTRS
                a[k] = F.bool_attr(v) if isinstance(v, (bool, np.bool_)) else v
            # updated in place while recording (SWMR allows rewriting an attribute, not adding one)
            a.create("complete", F.bool_attr(False))
            a.create("dropped_frames", np.int64(0))
            a.create("closed", np.bytes_(b""), dtype="S40")
            a.create("stop_reason", np.bytes_(b""), dtype="S400")
            F.create_layout(f, self.spec, batch=self.batch, weight_shapes=self.weight_shapes,
                            compression=compression)
            for name, note in self.spec.scalar_notes.items():
                if F.scalar_path(name) in f:
                    f[F.scalar_path(name)].attrs["description"] = note
            f.swmr_mode = True
            self._ds = {name: f[name] for name in F.required_paths(self.spec, self.batch)}
            self._ev = {name: f[name] for name in F.EVENT_PATHS}
            self._wds = {name: f[F.weight_path(name)] for name in self.weight_shapes}
            if self.weight_shapes:
                self._wds_step = f["weights/step"]
        except (OSError, ValueError, TypeError) as exc:
            f.close()
            raise RecordingWriteError(f"cannot record to {p}: {describe_os_error(exc)}", str(p)) from None
        self.bytes = _size(p)
        return f

    def _alloc(self, buffer_bytes: int) -> None:
        spec, batch = self.spec, self.batch
        frame_bytes = 64 + 4 * len(spec.scalars)
        self._layout: list[tuple[int, str, tuple[int, ...], h5py.Dataset]] = []
        for layer in spec.layers:
            for q, shape in layer.quantities.items():
                fs = F.frame_shape(shape, batch, spec.batch_size)
                self._layout.append((layer.index, q, fs, self._ds[F.quantity_path(layer.index, q)]))
                frame_bytes += 4 * int(np.prod(fs))
        self._frame_bytes = frame_bytes
        self.capacity = max(16, min(16384, buffer_bytes // frame_bytes))
        # the buffer holds frames (fresh host copies, never views of the engine's
        # state) and blocks of frames; frames are stacked into a block on write
        self._frames: list[Frame] = []
        self._blocks: list[FrameBlock] = []
        self._n_buffered = 0

    # ---------------------------------------------------------------- frames
    def add(self, item: Frame | FrameBlock) -> None:
        """Buffer one frame or block (written when the buffer is full or on :meth:`flush`)."""
        if bool(item.batch) != self.batch:
            first = item.step if isinstance(item, Frame) else int(item.step[0])
            raise ValueError(f"frame of step {first} is {'a batch' if item.batch else 'one sample'};"
                             f" this recording holds {'batches' if self.batch else 'one sample per frame'}")
        if isinstance(item, FrameBlock):
            self._flush_frames_to_block()
            self._blocks.append(item)
            self._n_buffered += len(item)
            snaps = item.weights
        else:
            self._frames.append(item)
            self._n_buffered += 1
            snaps = []
            if self.weight_shapes and item.extras:
                w = {name[len("weights/"):]: a for name, a in item.extras.items() if name.startswith("weights/")}
                if w:
                    snaps = [(int(item.step), w)]
        for step, w in snaps:
            if not self.weight_shapes:
                break
            missing = sorted(set(self.weight_shapes) - set(w))
            if missing:
                raise ValueError(f"weights snapshot of step {step} lacks {', '.join(missing)}")
            self._pending_weights.append((int(step), {n: w[n] for n in self.weight_shapes}))
        if self._n_buffered >= self.capacity:
            self.write()

    def _flush_frames_to_block(self) -> None:
        if self._frames:
            self._blocks.append(FrameBlock.from_frames(self._frames))
            self._frames = []

    def add_events(self, events: list[Event]) -> None:
        self._pending_events.extend(events)

    @property
    def buffered(self) -> int:
        return self._n_buffered

    def _pending_bytes(self) -> int:
        n = self._n_buffered * self._frame_bytes
        n += sum(a.nbytes for _, w in self._pending_weights for a in w.values())
        return n + len(self._pending_events) * (F.EVENT_PAYLOAD_BYTES + 100)

    def _check_space(self, nbytes: int) -> None:
        """Refuse to write when the file system has not room for ``nbytes`` twice over
        plus a reserve: the recording can then still be closed properly."""
        try:
            st = os.statvfs(self.path.parent if self.path.parent.exists() else Path.cwd())
        except (OSError, AttributeError):
            return
        free = st.f_bavail * st.f_frsize
        if free < 2 * nbytes + SPACE_MARGIN:
            raise DiskFullError(
                f"recording to {self.path} stopped after {self.frames_flushed} frames: the disk is full"
                f" ({free / 1e6:.1f} MB left)", str(self.path))

    def write(self, check_space: bool = True) -> None:
        """Append the buffered frames, weights and events to the datasets (not flushed)."""
        if check_space:
            self._check_space(self._pending_bytes())
        try:
            self._write_frames()
            self._write_weights()
            self._write_events()
        except (OSError, RuntimeError) as exc:  # h5py raises either for a failed write
            raise RecordingWriteError(
                f"recording to {self.path} stopped after {self.frames_flushed} frames:"
                f" {describe_os_error(exc)}", str(self.path)) from None

    def _write_frames(self) -> None:
        self._flush_frames_to_block()
        blocks = self._blocks
        if len(blocks) > 1:  # one append per dataset for everything buffered
            blocks = [FrameBlock.concatenate(blocks)]
        for block in blocks:
            self._write_block(block)
        self._blocks = []
        self._n_buffered = 0

    def _write_block(self, block: FrameBlock) -> None:
        n = len(block)
        if n == 0:
            return
        t0 = self.frames_written
        for l, q, shape, d in self._layout:
            data = block.layers[l][q]
            if data.shape[1:] != shape:
                raise ValueError(f"layer {l} {q} of the frame at step {int(block.step[0])} has shape"
                                 f" {data.shape[1:]}; this recording holds {shape}")
            _append(d, t0, np.ascontiguousarray(data, np.float32))
        nan = np.full(n, np.nan, np.float32)
        for name in self.spec.scalars:
            v = block.scalars.get(name)
            _append(self._ds[F.scalar_path(name)], t0, nan if v is None else np.ascontiguousarray(v, np.float32))
        self.unknown_scalars |= set(block.scalars) - set(self.spec.scalars)  # not in the spec: not kept
        if self.batch:
            samples = (block.sample_indices if block.sample_indices is not None
                       else np.full((n, self.spec.batch_size), -1))
            _append(self._ds["time/samples"], t0, np.asarray(samples, np.int64))
        columns = {
            "sample": block.sample_index, "wall": block.wall,
            "phase": [F.PHASE_CODE.get(p, -1) for p in block.phase], "hold_step": block.hold_step,
            "display_index": block.display_index,
        }
        for name, (dtype, _fill) in F.TIME_FIELDS.items():
            if name != "step":
                _append(self._ds[f"time/{name}"], t0, np.asarray(columns[name], dtype))
        steps = np.asarray(block.step, np.int64)
        _append(self._ds["time/step"], t0, steps)  # last: the frame is complete
        if self.first_step is None:
            self.first_step = int(steps[0])
        self.last_step = int(steps[-1])
        self.frames_written = t0 + n

    def _write_weights(self) -> None:
        if not self._pending_weights:
            return
        w0 = self.weights_written
        snaps = self._pending_weights
        for name, d in self._wds.items():
            _append(d, w0, np.stack([s[name] for _, s in snaps]).astype(np.float32, copy=False))
        _append(self._wds_step, w0, np.asarray([step for step, _ in snaps], np.int64))
        self.weights_written = w0 + len(snaps)
        self._pending_weights = []

    def _write_events(self) -> None:
        if not self._pending_events:
            return
        rows, extra = F.encode_events(self._pending_events, self._long_bytes)
        if extra:
            _append(self._ev["events/payload_long"], self._long_bytes, np.frombuffer(extra, np.uint8))
            self._long_bytes += len(extra)
        e0 = self.events_written
        for name in ("payload", "kind", "wall", "step"):
            _append(self._ev[f"events/{name}"], e0, rows[name])
        self.events_written = e0 + len(self._pending_events)
        self._pending_events = []

    def flush(self, dropped: int | None = None, check_space: bool = True) -> None:
        """Write everything buffered and make it visible to readers (and to a reader
        of the file after a crash)."""
        self.write(check_space)
        try:
            if dropped is not None and dropped != self._dropped_attr:
                self._f.attrs.modify("dropped_frames", np.int64(dropped))
                self._dropped_attr = dropped
            self._f.flush()
        except (OSError, RuntimeError) as exc:  # h5py raises either for a failed write
            raise RecordingWriteError(
                f"recording to {self.path} stopped after {self.frames_flushed} frames:"
                f" {describe_os_error(exc)}", str(self.path)) from None
        self.frames_flushed = self.frames_written
        self.bytes = _size(self.path)

    def close(self, dropped: int = 0, reason: str = "") -> None:
        """Flush, mark the file complete (with the dropped-frame count and, when it
        stopped early, the reason) and close it. After a :class:`DiskFullError` (with
        the buffer discarded) this writes only metadata, into the space held in reserve."""
        if self._f is None:
            return
        try:
            self.flush(dropped, check_space=not reason)
            if reason:
                self._f.attrs.modify("stop_reason", np.bytes_(reason.encode("utf-8")[:400]))
            self._f.attrs.modify("complete", F.bool_attr(True))
            self._f.attrs.modify("closed", np.bytes_(now_iso().encode("ascii")))
            self._f.close()
        except (OSError, RuntimeError) as exc:
            self.abandon()
            raise RecordingWriteError(f"recording to {self.path}: closing failed after {self.frames_flushed}"
                                      f" frames: {describe_os_error(exc)}", str(self.path)) from None
        self._f = None
        self.bytes = _size(self.path)

    def discard(self) -> int:
        """Drop the buffered frames and weights (not the events); returns the frames dropped."""
        n = self._n_buffered
        self._frames, self._blocks, self._n_buffered = [], [], 0
        self._pending_weights = []
        return n

    def abandon(self) -> None:
        """After a failed write: drop what is buffered and close the file as far as
        the file system lets us (what was flushed stays readable)."""
        self._frames = []
        self._pending_events = []
        self._pending_weights = []
        f, self._f = self._f, None
        if f is None:
            return
        self._ds, self._ev, self._wds, self._wds_step = {}, {}, {}, None  # no dataset ids outlive the file
        try:
            f.close()
        except Exception:  # noqa: BLE001 - the disk may refuse even this; the flushed part stays
            pass

    @property
    def closed(self) -> bool:
        return self._f is None


def _append(ds: h5py.Dataset, start: int, data: np.ndarray) -> None:
    """Grow ``ds`` along time to ``start + len(data)`` and write ``data`` there (the
    low-level calls: half the overhead of ``ds.resize`` + ``ds[a:b] = data``)."""
    data = np.ascontiguousarray(data, dtype=ds.dtype)
    ds.id.set_extent((start + len(data), *data.shape[1:]))
    fspace = ds.id.get_space()
    fspace.select_hyperslab((start,) + (0,) * (data.ndim - 1), data.shape)
    ds.id.write(h5s.create_simple(data.shape), fspace, data)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
