"""The recording format, version 1: names, dtypes, chunking and the layout of a new
file. ``docs/recording-format.md`` describes the same thing for people; the writer
and the reader both take their names from here.

Everything is laid out before the first frame, because a file in SWMR mode can grow
its datasets but not gain new ones. Strings are fixed-length (SWMR readers cannot
follow variable-length data that is still being written).
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any, Iterable

import h5py
import numpy as np

from pcviz.sim.events import Event
from pcviz.sim.frames import FrameSpec, LayerFrameSpec

FORMAT_NAME = "pcviz-recording"
FORMAT_VERSION = 1

#: library-version bounds of a new file: the oldest that SWMR allows (1.10), also as the
#: upper bound, so that HDF5 1.10 and 1.12 tools read every object, however new the HDF5
#: that writes it (``"latest"`` let HDF5 2.0 write encodings older tools cannot open)
LIBVER = ("v110", "v110")

#: root attributes that hold a boolean, stored as int8 0/1: the boolean type of h5py
#: (an HDF5 enum) as written by HDF5 2.0 is unreadable for HDF5 1.10 and 1.12. Readers
#: take both (files written before pcviz stored them as integers hold enums).
BOOL_ATTRS = ("batch", "complete")


def bool_attr(value: bool) -> np.int8:
    """How a boolean attribute is stored."""
    return np.int8(1 if value else 0)


def read_bool(attrs: Any, name: str, default: bool = False) -> bool:
    """A boolean attribute, stored as int8 0/1 or (older files) as h5py's enum bool."""
    v = attrs.get(name)
    return default if v is None else bool(v)

#: /time datasets of every frame: name -> (dtype, fill value)
TIME_FIELDS: dict[str, tuple[str, Any]] = {
    "step": ("int64", -1),
    "sample": ("int64", -1),
    "wall": ("float64", np.nan),
    "phase": ("int8", -1),
    "hold_step": ("int32", -1),
    "display_index": ("int32", -1),
}
PHASES = ("inference", "learning", "paused")
PHASE_CODE = {p: i for i, p in enumerate(PHASES)}

EVENT_KIND_BYTES = 64
EVENT_PAYLOAD_BYTES = 512  # longer JSON payloads go to /events/payload_long

CHUNK_MIN_FRAMES, CHUNK_MAX_FRAMES = 64, 256
CHUNK_MIN_BYTES, CHUNK_MAX_BYTES = 10 * 1024, 1 << 20
EVENT_CHUNK = 64


def chunk_frames(frame_bytes: int) -> int:
    """Frames per chunk for a dataset whose one frame takes ``frame_bytes``: 64-256
    frames, halved from 256 until the chunk is at most 1 MiB; fewer than 64 only for
    frames so large that 64 would pass 1 MiB; more than 256 (a power of two) only for
    tiny per-frame data (time, scalars) that would otherwise make chunks under 10 KiB."""
    b = max(1, int(frame_bytes))
    n = CHUNK_MAX_FRAMES
    while n > CHUNK_MIN_FRAMES and n * b > CHUNK_MAX_BYTES:
        n //= 2
    if n * b > CHUNK_MAX_BYTES:
        return max(1, CHUNK_MAX_BYTES // b)
    if n * b < CHUNK_MIN_BYTES:
        n = 1 << math.ceil(math.log2(CHUNK_MIN_BYTES / b))
    return n


def snapshot_chunk(snapshot_bytes: int) -> int:
    """Snapshots per chunk for the (rare, often large) weight snapshots: about 64 KiB,
    at most 64 snapshots, one if a snapshot is larger."""
    return max(1, min(64, (64 * 1024) // max(1, int(snapshot_bytes))))


def layer_path(index: int) -> str:
    return f"layers/{index}"


def quantity_path(index: int, quantity: str) -> str:
    return f"layers/{index}/{quantity}"


def scalar_path(name: str) -> str:
    return f"scalars/{name}"


def weight_path(name: str) -> str:
    return f"weights/{name}"


def check_name(name: str, what: str) -> None:
    """Scalar and weight names become HDF5 paths: no empty parts, no leading '/'."""
    if not name or name.startswith("/") or any(not p for p in name.split("/")) or "." == name:
        raise ValueError(f"{what} name {name!r} cannot be stored as an HDF5 path")


def frame_shape(spec_shape: tuple[int, ...], batch: bool, batch_size: int) -> tuple[int, ...]:
    """The per-frame shape of a layer dataset (with the batch axis when ``batch``)."""
    return ((batch_size,) if batch else ()) + tuple(int(s) for s in spec_shape)


# ------------------------------------------------------------------ the layout
def create_layout(f: h5py.File, spec: FrameSpec, *, batch: bool, weight_shapes: dict[str, tuple[int, ...]],
                  compression: str | None = None) -> None:
    """Create every group and dataset of a new recording (length 0, unlimited time)."""
    comp: dict[str, Any] = {}
    if compression == "lzf":
        comp = {"compression": "lzf", "shuffle": True}
    elif compression not in (None, "", "none"):
        raise ValueError(f"compression {compression!r}: expected none or lzf")

    def series(path: str, shape: tuple[int, ...], dtype: str, fill: Any = None, snapshots: bool = False,
               **extra: Any) -> h5py.Dataset:
        itemsize = np.dtype(dtype).itemsize
        per_frame = itemsize * int(np.prod(shape)) if shape else itemsize
        n = snapshot_chunk(per_frame) if snapshots else chunk_frames(per_frame)
        kw: dict[str, Any] = dict(comp)
        kw.update(extra)
        if fill is not None:
            kw["fillvalue"] = fill
        return f.create_dataset(path, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype,
                                chunks=(n, *shape), **kw)

    time = f.create_group("time")
    for name, (dtype, fill) in TIME_FIELDS.items():
        series(f"time/{name}", (), dtype, fill)
    time["phase"].attrs["codes"] = json.dumps(PHASE_CODE)
    time["wall"].attrs["unit"] = "s"
    if batch:
        series("time/samples", (spec.batch_size,), "int64", -1)

    f.create_group("layers")
    for layer in spec.layers:
        g = f.create_group(layer_path(layer.index))
        g.attrs["name"] = layer.name
        g.attrs["role"] = layer.role
        g.attrs["size"] = int(layer.size)
        g.attrs["display_shape"] = np.asarray(layer.display_shape, dtype=np.int64)
        g.attrs["quantities"] = json.dumps(list(layer.quantities))
        for q, shape in layer.quantities.items():
            series(quantity_path(layer.index, q), frame_shape(shape, batch, spec.batch_size), "float32", np.nan)

    f.create_group("scalars")
    for name in spec.scalars:
        check_name(name, "scalar")
        series(scalar_path(name), (), "float32", np.nan)

    if weight_shapes:
        f.create_group("weights")
        series("weights/step", (), "int64", -1, snapshots=True)
        for name, shape in weight_shapes.items():
            check_name(name, "weight")
            series(weight_path(name), tuple(shape), "float32", np.nan, snapshots=True)

    f.create_group("events")
    ev = dict(maxshape=(None,), chunks=(EVENT_CHUNK,), **comp)
    f.create_dataset("events/step", shape=(0,), dtype="int64", fillvalue=-1, **ev)
    f.create_dataset("events/wall", shape=(0,), dtype="float64", fillvalue=np.nan, **ev)
    f.create_dataset("events/kind", shape=(0,), dtype=f"S{EVENT_KIND_BYTES}", **ev)
    f.create_dataset("events/payload", shape=(0,), dtype=f"S{EVENT_PAYLOAD_BYTES}", **ev)
    f.create_dataset("events/payload_long", shape=(0,), dtype="uint8", maxshape=(None,),
                     chunks=(4096,), **comp)


def required_paths(spec: FrameSpec, batch: bool) -> list[str]:
    """The datasets a reader needs, in the order a writer fills them."""
    paths = [quantity_path(l.index, q) for l in spec.layers for q in l.quantities]
    paths += [scalar_path(s) for s in spec.scalars]
    paths += [f"time/{name}" for name in TIME_FIELDS if name != "step"]
    if batch:
        paths.append("time/samples")
    paths.append("time/step")  # last: a frame counts once its step is there
    return paths


EVENT_PATHS = ("events/step", "events/wall", "events/kind", "events/payload", "events/payload_long")


# ------------------------------------------------------------- the frame spec
def spec_from_json(text: str) -> FrameSpec:
    d = json.loads(text)
    layers = tuple(
        LayerFrameSpec(int(l["index"]), str(l["name"]), str(l["role"]), int(l["size"]),
                       tuple(int(s) for s in l["display_shape"]),
                       {str(k): tuple(int(s) for s in v) for k, v in l["quantities"].items()})
        for l in d["layers"]
    )
    return FrameSpec(str(d["model_kind"]), layers, tuple(str(s) for s in d["scalars"]), int(d["batch_size"]),
                     str(d.get("dtype", "float32")),
                     {str(k): str(v) for k, v in d.get("scalar_notes", {}).items()})


# --------------------------------------------------------------------- events
def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


def encode_events(events: Iterable[Event], long_offset: int) -> tuple[dict[str, np.ndarray], bytes]:
    """Rows for /events/* and the bytes to append to /events/payload_long (which
    currently holds ``long_offset`` bytes)."""
    events = list(events)
    n = len(events)
    rows = {
        "step": np.empty(n, np.int64),
        "wall": np.empty(n, np.float64),
        "kind": np.empty(n, f"S{EVENT_KIND_BYTES}"),
        "payload": np.empty(n, f"S{EVENT_PAYLOAD_BYTES}"),
    }
    extra = bytearray()
    for i, ev in enumerate(events):
        rows["step"][i] = int(ev.step)
        rows["wall"][i] = float(ev.wall)
        kind = ev.kind.encode("ascii", "replace")
        if len(kind) > EVENT_KIND_BYTES:
            raise ValueError(f"event kind {ev.kind!r} is longer than {EVENT_KIND_BYTES} bytes")
        rows["kind"][i] = kind
        text = json.dumps(ev.payload, sort_keys=True, default=_jsonable).encode("ascii")  # ensure_ascii
        if len(text) > EVENT_PAYLOAD_BYTES:
            ref = json.dumps({"_pcviz_long": [long_offset + len(extra), len(text)]}).encode("ascii")
            extra += text
            text = ref
        rows["payload"][i] = text
    return rows, bytes(extra)


def decode_payload(raw: bytes, long_bytes: np.ndarray | None) -> dict[str, Any]:
    """One /events/payload row as a dict (following a reference into payload_long)."""
    d = json.loads(raw.rstrip(b"\0").decode("ascii") or "{}")
    if isinstance(d, dict) and set(d) == {"_pcviz_long"} and long_bytes is not None:
        off, n = (int(v) for v in d["_pcviz_long"])
        if off + n > len(long_bytes):
            raise ValueError(f"payload_long holds {len(long_bytes)} bytes, an event refers to {off}..{off + n}")
        d = json.loads(bytes(long_bytes[off : off + n]).decode("ascii"))
    return d


# ----------------------------------------------------------- the file's header
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def superblock_info(path: str | Path) -> dict[str, int] | None:
    """Version, consistency flags and end-of-allocation address of an HDF5 superblock
    (versions 2 and 3: every file written with a lower bound of 1.8 or later); None when
    the file does not start with one (older superblocks, or a user block). A flag set in
    a version 3 superblock says a writer has the file open (for SWMR writing: bit 2)."""
    with open(path, "rb") as fh:
        head = fh.read(48)
    if len(head) < 12 or head[:8] != HDF5_SIGNATURE:
        return None
    version, size_off = head[8], head[9]
    if version not in (2, 3) or size_off != 8 or len(head) < 44:
        return {"version": version}
    flags = head[11]
    base, _ext, eoa, _root = struct.unpack("<QQQQ", head[12:44])
    return {"version": version, "flags": flags, "base": base, "eoa": eoa}
