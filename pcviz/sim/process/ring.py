"""The shared-memory frame ring between the engine process and the window.

A few slots, each a fixed layout of numpy arrays (laid out once from the first frame
the engine builds: every layer's quantities for the displayed sample, the basis, the
scalars, and the frame's step, sample, phase, wall time, hold step and display
index), with a sequence number. The engine writes slot after slot: it makes the
slot's number odd, copies the frame in, and makes it even again; the header says
which slot holds the newest frame. A reader copies the newest slot out and compares
the slot's number before and after: a number that changed, or an odd one, is a torn
read and is retried. No pickling per frame; one writer, any number of readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np

from pcviz.sim.frames import Frame

PHASES = ("inference", "learning", "paused")
_META = ("step", "sample_index", "hold_step", "display_index", "phase")  # int64 fields
_ALIGN = 64
_HEADER = 64  # bytes: int64 [newest slot, frames written]


def _align(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


@dataclass(frozen=True)
class FrameLayout:
    """Where each array of a frame lies in a slot: plain data, sent to the window once."""

    layers: tuple[tuple[tuple[str, tuple[int, ...]], ...], ...]  # per layer: (quantity, shape)
    extras: tuple[tuple[str, tuple[int, ...]], ...]
    scalars: tuple[str, ...]

    @classmethod
    def of(cls, frame: Frame) -> "FrameLayout":
        return cls(tuple(tuple((q, tuple(a.shape)) for q, a in layer.items()) for layer in frame.layers),
                   tuple((k, tuple(a.shape)) for k, a in frame.extras.items()),
                   tuple(frame.scalars))

    def fields(self) -> list[tuple[str, tuple[int, ...], str]]:
        """(key, shape, dtype) of every array of a slot, in order."""
        out: list[tuple[str, tuple[int, ...], str]] = [("seq", (1,), "int64"), ("meta", (len(_META),), "int64"),
                                                        ("wall", (1,), "float64"),
                                                        ("scalars", (len(self.scalars),), "float64")]
        for i, layer in enumerate(self.layers):
            out += [(f"L{i}/{q}", shape, "float32") for q, shape in layer]
        out += [(f"X/{k}", shape, "float32") for k, shape in self.extras]
        return out

    def slot_bytes(self) -> int:
        return sum(_align(int(np.prod(s, dtype=np.int64)) * np.dtype(d).itemsize) for _, s, d in self.fields())


class FrameRing:
    """``slots`` frame slots in one shared-memory block. :meth:`create` in the engine
    process, :meth:`attach` (by name) in the window's."""

    def __init__(self, shm: shared_memory.SharedMemory, layout: FrameLayout, slots: int, owner: bool):
        self.shm, self.layout, self.slots, self.owner = shm, layout, slots, owner
        self._head = np.ndarray((2,), np.int64, shm.buf, 0)  # newest slot, frames written
        self._views: list[dict[str, np.ndarray]] = []
        size = layout.slot_bytes()
        for k in range(slots):
            off = _HEADER + k * size
            views = {}
            for key, shape, dtype in layout.fields():
                views[key] = np.ndarray(shape, dtype, shm.buf, off)
                off += _align(int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize)
            self._views.append(views)
        self._read = 0  # frames written when this reader last took one
        self.torn = 0  # torn reads seen (and retried)

    @classmethod
    def create(cls, layout: FrameLayout, slots: int = 3) -> "FrameRing":
        shm = shared_memory.SharedMemory(create=True, size=_HEADER + slots * layout.slot_bytes())
        ring = cls(shm, layout, slots, owner=True)
        ring._head[:] = (-1, 0)
        for v in ring._views:
            v["seq"][0] = 0
        return ring

    @classmethod
    def attach(cls, name: str, layout: FrameLayout, slots: int) -> "FrameRing":
        return cls(shared_memory.SharedMemory(name=name), layout, slots, owner=False)

    @property
    def name(self) -> str:
        return self.shm.name

    @property
    def written(self) -> int:
        return int(self._head[1])

    # ---------------------------------------------------------------- writer
    def write(self, frame: Frame) -> None:
        n = int(self._head[1])
        k = n % self.slots
        v = self._views[k]
        seq = v["seq"]
        seq[0] += 1  # odd: being written
        v["meta"][:] = (frame.step, frame.sample_index, frame.hold_step, frame.display_index,
                        PHASES.index(frame.phase) if frame.phase in PHASES else 0)
        v["wall"][0] = frame.wall
        sc = v["scalars"]
        for j, name in enumerate(self.layout.scalars):
            sc[j] = frame.scalars.get(name, np.nan)
        for i, layer in enumerate(frame.layers):
            for q, a in layer.items():
                dst = v.get(f"L{i}/{q}")
                if dst is not None and dst.shape == a.shape:
                    dst[...] = a
        for key, a in frame.extras.items():
            dst = v.get(f"X/{key}")
            if dst is not None and dst.shape == a.shape:
                dst[...] = a
        seq[0] += 1  # even: complete
        self._head[0] = k
        self._head[1] = n + 1

    # ---------------------------------------------------------------- reader
    def read(self, retries: int = 50) -> Frame | None:
        """The newest frame if one was written since the last read, else None. A torn
        read (the writer came round to the slot meanwhile) is retried."""
        for _ in range(retries):
            n = int(self._head[1])
            if n == self._read or n == 0:
                return None
            k = int(self._head[0])
            v = self._views[k]
            s1 = int(v["seq"][0])
            if s1 % 2:
                self.torn += 1
                continue
            frame = self._copy(v)
            if int(v["seq"][0]) != s1:
                self.torn += 1
                continue
            self._read = n
            return frame
        return None

    def _copy(self, v: dict[str, np.ndarray]) -> Frame:
        step, sample, hold, display, phase = (int(x) for x in v["meta"])
        sc = v["scalars"]
        return Frame(
            step=step, sample_index=sample, phase=PHASES[phase] if 0 <= phase < len(PHASES) else "inference",
            layers=[{q: v[f"L{i}/{q}"].copy() for q, _ in layer} for i, layer in enumerate(self.layout.layers)],
            scalars={name: float(sc[j]) for j, name in enumerate(self.layout.scalars)}, wall=float(v["wall"][0]),
            hold_step=hold, display_index=display,
            extras={k: v[f"X/{k}"].copy() for k, _ in self.layout.extras})

    def close(self) -> None:
        """Drop the views and the mapping; the owner's side also removes the block."""
        self._views = []
        self._head = None
        try:
            self.shm.close()
        except BufferError:  # a view still held somewhere: the mapping goes with the process
            pass

    def unlink(self) -> None:
        try:
            self.shm.unlink()
        except FileNotFoundError:
            pass
