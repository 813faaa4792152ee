"""Making a recording whose writer was killed a clean, closed file that every HDF5
tool opens (``pcviz repair``).

A writer killed mid-run leaves the superblock's "open for SWMR write" mark set: pcviz
reads the file (in SWMR mode), but HDF5 1.10 tools refuse it. Repair does not patch
the damaged file: it copies what a SWMR reader sees into a new file (library bounds
:data:`pcviz.io.format.LIBVER`, booleans as int8), with every per-frame dataset cut to
the frames that are whole, then puts the new file in the old one's place (keeping the
original as a backup unless told otherwise). The same copy also rewrites a file of an
older pcviz whose boolean attributes HDF5 1.10 cannot read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from pcviz import __version__
from pcviz.io import format as F
from pcviz.io.errors import RecordingError, RecordingWriteError
from pcviz.io.reader import open_recording
from pcviz.io.writer import describe_os_error, now_iso

#: bytes copied per read/write while copying a dataset
COPY_BYTES = 32 << 20
STOP_REASON = "repaired"
#: bit 0 of a version-3 superblock's flags: opened for writing; bit 2: for SWMR writing
OPEN_FOR_WRITE = 0x01
OPEN_FOR_SWMR_WRITE = 0x04


def open_mark(path: str | os.PathLike) -> int:
    """The superblock's file-consistency flags (0 for a file closed by its writer)."""
    info = F.superblock_info(path)
    return 0 if info is None else int(info.get("flags", 0) if info.get("version") == 3 else 0)


def old_boolean_attrs(f: h5py.File) -> list[str]:
    """Root attributes stored as h5py's boolean (an HDF5 enum): written by pcviz before
    booleans were int8; HDF5 2.0 with ``libver="latest"`` encodes them so that HDF5 1.10
    and 1.12 cannot read them."""
    return [k for k in f.attrs if f.attrs.get_id(k).dtype == np.bool_]


def repair_reasons(path: str | os.PathLike) -> list[str]:
    """Why a recording should be repaired (empty: it need not be)."""
    reasons = []
    if open_mark(path):
        reasons.append("its writer did not close it: the file is still marked open for writing, which HDF5 1.10"
                       " tools refuse (a killed recording, or one being written right now)")
    try:
        with h5py.File(path, "r", swmr=True) as f:
            if not F.read_bool(f.attrs, "complete", True) and not reasons:
                reasons.append("it is not marked complete (its writer stopped without closing it)")
            old = old_boolean_attrs(f)
            if old:
                reasons.append(f"its boolean attributes ({', '.join(old)}) are in a type HDF5 1.10 and 1.12"
                               " cannot read")
    except OSError:
        pass  # the reader says what is wrong with a file that does not open
    return reasons


@dataclass
class RepairReport:
    """What :func:`repair` did."""

    source: Path
    output: Path
    backup: Path | None
    frames: int                 # frames in the repaired file
    frames_trimmed: int         # rows beyond them that some per-frame dataset held
    torn: int                   # of those, frames with a step but part of their data missing
    weights: int
    events: int
    was_complete: bool
    reasons: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"{self.output}: {self.frames} frames, {self.weights} weights snapshots, {self.events} events;"
                 + (" closed with stop_reason = \"repaired\"" if not self.was_complete else " rewritten")]
        if self.frames_trimmed:
            lines.append(f"  trimmed {self.frames_trimmed} partly written frame(s) at the end"
                         + (f" ({self.torn} with a step but missing data)" if self.torn else ""))
        if self.backup is not None:
            lines.append(f"  the original is kept as {self.backup}")
        return "\n".join(lines)


def _whole_frames(rec) -> tuple[int, int]:
    """Frames of ``rec`` that are whole, and how many of the frames the reader counts are
    torn: a frame is torn when a /time field holds its fill value (never written) or the
    input layer's activity (the data, never NaN) is all NaN."""
    n = len(rec)
    if n == 0:
        return 0, 0
    lo = max(0, n - 256)  # a torn end is at most one write; look at the last chunk's worth
    t = {name: rec.array(f"time/{name}", slice(lo, n)) for name in F.TIME_FIELDS}
    ok = (t["step"] >= 0) & np.isfinite(t["wall"]) & (t["phase"] >= 0) & (t["hold_step"] >= 0) \
        & (t["display_index"] >= 0)
    layer0 = rec.spec.layers[0]
    if "activity" in layer0.quantities:
        x = rec.quantity(layer0.index, "activity", slice(lo, n)).reshape(n - lo, -1)
        ok &= ~np.isnan(x).all(axis=1)
    whole = n
    while whole > lo and not ok[whole - lo - 1]:
        whole -= 1
    return whole, n - whole


def _lengths(rec, f: h5py.File) -> dict[str, int]:
    """The length each dataset gets in the repaired file."""
    n, torn = _whole_frames(rec)
    nw = len(rec.weight_steps)
    ev = [f[p] for p in ("events/step", "events/wall", "events/kind", "events/payload")]
    ne = min(d.shape[0] for d in ev)
    steps = ev[0][:ne]
    ne = int(np.flatnonzero(steps >= 0)[-1]) + 1 if (steps >= 0).any() else 0
    out: dict[str, int] = {}

    def visit(name: str, obj: Any) -> None:
        if not isinstance(obj, h5py.Dataset) or obj.ndim == 0:
            return
        if name.startswith(("time/", "layers/", "scalars/")):
            out[name] = n
        elif name.startswith("weights/"):
            out[name] = nw
        elif name in ("events/step", "events/wall", "events/kind", "events/payload"):
            out[name] = ne
        else:  # events/payload_long and anything this pcviz does not know: whole
            out[name] = obj.shape[0]

    f.visititems(visit)
    out["_frames"], out["_torn"] = n, torn
    return out


def _copy_attrs(src: h5py.AttributeManager, dst: h5py.AttributeManager) -> None:
    for k in src:
        aid = src.get_id(k)
        value = src[k]
        if aid.dtype == np.bool_:  # the enum bool: int8, readable everywhere
            dst[k] = np.asarray(value).astype(np.int8) if np.ndim(value) else F.bool_attr(bool(value))
        else:
            dst.create(k, value, dtype=aid.dtype)


def _copy_dataset(src: h5py.Dataset, dst_file: h5py.File, name: str, length: int) -> None:
    kw: dict[str, Any] = {}
    if src.compression:
        kw["compression"] = src.compression
        if src.compression_opts is not None:
            kw["compression_opts"] = src.compression_opts
    if src.shuffle:
        kw["shuffle"] = True
    if src.fillvalue is not None:
        kw["fillvalue"] = src.fillvalue
    shape = (length, *src.shape[1:])
    d = dst_file.create_dataset(name, shape=shape, maxshape=src.maxshape, dtype=src.dtype,
                                chunks=src.chunks, **kw)
    row = max(1, src.dtype.itemsize * int(np.prod(src.shape[1:])))
    step = max(1, COPY_BYTES // row)
    if src.chunks:
        step = max(src.chunks[0], step // src.chunks[0] * src.chunks[0])
    for a in range(0, length, step):
        b = min(length, a + step)
        d[a:b] = src[a:b]
    _copy_attrs(src.attrs, d.attrs)


def _copy(f: h5py.File, out: Path, lengths: dict[str, int], was_complete: bool, note: str) -> None:
    with h5py.File(out, "w", libver=F.LIBVER) as g:
        _copy_attrs(f.attrs, g.attrs)

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Group):
                _copy_attrs(obj.attrs, g.create_group(name).attrs)
            elif isinstance(obj, h5py.Dataset):
                if obj.ndim == 0:
                    g.create_dataset(name, data=obj[()], dtype=obj.dtype)
                    _copy_attrs(obj.attrs, g[name].attrs)
                else:
                    _copy_dataset(obj, g, name, lengths[name])

        f.visititems(visit)
        a = g.attrs
        if not was_complete:
            a["complete"] = F.bool_attr(True)
            _set_text(a, "closed", now_iso(), 40)
            _set_text(a, "stop_reason", STOP_REASON, 400)
        _set_text(a, "repaired", note, 400)


def _set_text(attrs: h5py.AttributeManager, name: str, text: str, size: int) -> None:
    """A fixed-length string attribute, of the length the format gives it."""
    attrs.create(name, np.bytes_(text.encode("ascii", "replace")[:size]), dtype=f"S{size}")


def _free_name(path: Path) -> Path:
    if not path.exists():
        return path
    i = 1
    while Path(f"{path}.{i}").exists():
        i += 1
    return Path(f"{path}.{i}")


def repair(path: str | os.PathLike, out: str | os.PathLike | None = None, *, in_place: bool = False,
           backup_suffix: str = ".bak") -> RepairReport:
    """Make ``path`` a clean, closed recording.

    With ``out``, the repaired copy goes there and ``path`` is left as it is. Otherwise
    the repaired copy takes ``path``'s place and the original is kept as
    ``path + backup_suffix`` (``.bak``; ``.bak.1``, ... when that exists), unless
    ``in_place``. Make sure no program is still writing the file: a live writer's file
    looks the same as a killed one's."""
    src = Path(path)
    reasons = repair_reasons(src) if src.exists() else []
    with open_recording(src) as rec:  # every problem the reader knows is a RecordingError here
        was_complete = rec.complete
        weights = len(rec.weight_steps)
        with h5py.File(src, "r", swmr=True) as f:
            lengths = _lengths(rec, f)
            frames, torn = lengths.pop("_frames"), lengths.pop("_torn")
            longest = max(_frame_rows(f).values(), default=frames)
            events = lengths.get("events/step", 0)
            dest = Path(out) if out is not None else src
            if out is not None and dest.exists():
                raise RecordingWriteError(f"cannot repair into {dest}: the file exists", str(dest))
            tmp = _free_name(dest.with_name(dest.name + ".repairing"))
            trimmed = max(0, longest - frames)
            note = (f"{now_iso()}: pcviz {__version__} repair; {frames} frames kept, {trimmed} trimmed; was "
                    + ("complete" if was_complete else "not closed by its writer"))
            try:
                _copy(f, tmp, lengths, was_complete, note)
            except (OSError, ValueError, TypeError, RuntimeError) as exc:
                tmp.unlink(missing_ok=True)
                raise RecordingWriteError(f"cannot repair {src} into {tmp}: {describe_os_error(exc)}",
                                          str(src)) from None
    try:
        with open_recording(tmp) as check:  # the copy reads back, with the frames counted
            if len(check) != frames or not check.complete or open_mark(tmp):
                raise RecordingError(f"{tmp}: the repaired copy holds {len(check)} frames, expected {frames}",
                                     str(tmp))
    except RecordingError:
        tmp.unlink(missing_ok=True)
        raise
    backup = None
    try:
        if out is None and not in_place:
            backup = _free_name(Path(str(src) + backup_suffix))
            os.replace(src, backup)
        os.replace(tmp, dest)
    except OSError as exc:
        raise RecordingWriteError(f"cannot put the repaired copy {tmp} in place of {dest}:"
                                  f" {describe_os_error(exc)}", str(dest)) from None
    return RepairReport(src, dest, backup, frames, trimmed, torn, weights, events, was_complete, reasons)


def _frame_rows(f: h5py.File) -> dict[str, int]:
    """Rows each per-frame dataset holds (they may differ by one write after a crash)."""
    out: dict[str, int] = {}

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and obj.ndim and name.startswith(("time/", "layers/", "scalars/")):
            out[name] = obj.shape[0]

    f.visititems(visit)
    return out
