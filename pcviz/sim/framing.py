"""From the model's state to host frames, at the least cost per step.

- A display frame: the streamed rows of the displayed sample (cached views), one
  concatenation, one host transfer; the scalars are then computed on the host.
- A recorder in block mode: every recorded step writes one row into a device-side
  ring buffer (one concatenation, no host work); every ``K`` steps (or sooner, when
  asked) the ring goes to the host in one transfer and becomes a :class:`FrameBlock`,
  whose scalars are computed on the host for all ``K`` frames at once.

Models that cannot compute their scalars on the host (``host_scalar_inputs`` is
None) have their device scalars appended to each row instead.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np
import torch

from pcviz.sim.frames import Frame, FrameBlock, FrameQueue, FrameSpec
from pcviz.sim.hostcopy import HostCopier


class RunState(Protocol):
    """What frames are built from (the engine provides it; its model, stream and spec
    are replaced on a reset, so they are read at each frame, not kept)."""

    model: Any  # pcviz.models.GenerativeModel
    stream: Any  # pcviz.data.stream.SampleStream
    spec: FrameSpec
    device: torch.device
    step_count: int
    step_wall: float

    @property
    def display_index(self) -> int: ...


class FrameBuilder:
    def __init__(self, engine: RunState):
        self.engine = engine  # read through RunState only
        self.copier = HostCopier(engine.device)
        self._flat_src: tuple | None = None  # the (rows, inputs, batch) the cache was made from
        self._flat: list[torch.Tensor] = []
        self.flat_width = 0  # values in one row of the cached parts

    def flat_parts(self, batch: bool) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
        """:meth:`parts` as 1-D tensors ready to concatenate; cached while the model
        hands out the same (cached) row views."""
        e = self.engine
        m = e.model
        rows = m.frame_rows(None if batch else e.display_index)
        inputs = m.host_scalar_inputs()
        src = self._flat_src
        # identity, not equality: the cache holds the objects, so they cannot be reused
        if inputs is None or src is None or not (src[0] is rows and src[1] is inputs and src[2] == batch):
            parts, inputs = self.parts(batch)
            self._flat = [p.detach().reshape(-1) for p in parts]
            self.flat_width = sum(p.numel() for p in self._flat)
            self._flat_src = (rows, inputs, batch) if inputs is not None else None
        return self._flat, inputs

    # ------------------------------------------------------------------ layout
    def parts(self, batch: bool) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
        """(the tensors of one row, the host-scalar inputs or None) for the current state."""
        e = self.engine
        m = e.model
        rows = list(m.frame_rows(None if batch else e.display_index))
        inputs = m.host_scalar_inputs()
        if inputs is None:
            sc = m.scalar_tensors(None if batch else e.display_index)
            nan = torch.tensor(float("nan"), device=e.device)
            rows.append(torch.stack([sc.get(name, nan).float() for name in e.spec.scalars]))
        else:
            rows += inputs
        return rows, inputs

    def labels(self, batch: bool) -> np.ndarray | None:
        cur = self.engine.stream.current
        if cur is None or cur.labels is None:
            return None
        return cur.labels.copy() if batch else np.asarray(cur.labels[self.engine.display_index])

    def split(self, flat: np.ndarray, batch: bool, n_inputs: int | None, lead: tuple[int, ...] = ()
              ) -> tuple[list[dict[str, np.ndarray]], list[np.ndarray], np.ndarray | None]:
        """Cut host rows (``lead`` + (Q,)) into per-layer quantities, the host-scalar
        inputs (or the device scalars when ``n_inputs`` is None)."""
        e = self.engine
        B = e.stream.batch_size
        layers: list[dict[str, np.ndarray]] = []
        off = 0
        for spec in e.spec.layers:
            d = {}
            for q, shape in spec.quantities.items():
                full = ((B,) if batch else ()) + tuple(shape)
                n = int(np.prod(full)) if full else 1
                d[q] = flat[..., off : off + n].reshape(lead + full)
                off += n
            layers.append(d)
        inputs: list[np.ndarray] = []
        device_scalars = None
        if n_inputs is None:
            device_scalars = flat[..., off : off + len(e.spec.scalars)]
        else:
            for t in e.model.host_scalar_inputs() or []:
                n = t.numel()
                inputs.append(flat[..., off : off + n].reshape(lead + tuple(t.shape)))
                off += n
        return layers, inputs, device_scalars

    def scalars(self, layers, inputs, device_scalars, labels, batch: bool) -> dict[str, np.ndarray]:
        if device_scalars is not None:
            return {name: device_scalars[..., i] for i, name in enumerate(self.engine.spec.scalars)}
        return self.engine.model.host_scalars(layers, inputs, labels, batch)

    # ------------------------------------------------------------ one frame
    def frame(self, batch: bool, basis: bool, weights: bool, phase: str = "inference") -> Frame:
        e = self.engine
        m = e.model
        rows, inputs = self.parts(batch)
        extras: dict[str, torch.Tensor] = {}
        if basis:
            b = m.basis()
            if b is not None:
                extras["basis"] = b
        if weights:
            for k, t in m.weight_tensors().items():
                extras[f"weights/{k}"] = t
        flat = torch.cat([r.detach().reshape(-1).to(torch.float32) for r in rows])
        arrays = self.copier.to_host([flat] + list(extras.values()))
        layers, ins, dev_sc = self.split(arrays[0], batch, None if inputs is None else len(inputs))
        sc = self.scalars(layers, ins, dev_sc, self.labels(batch), batch)
        cur = e.stream.current
        idx = e.display_index
        return Frame(
            step=e.step_count, sample_index=int(cur.indices[idx]) if cur is not None else -1, phase=phase,
            layers=layers, scalars={k: float(v) for k, v in sc.items()},
            wall=e.step_wall, hold_step=e.stream.hold_step, display_index=idx, batch=batch,
            sample_indices=None if (not batch or cur is None) else cur.indices.copy(),
            extras=dict(zip(extras.keys(), arrays[1:])),
        )


class Ring:
    """A device-side ring of recorded rows for one block-mode queue."""

    def __init__(self, builder: FrameBuilder, queue: FrameQueue):
        self.builder = builder
        self.queue = queue
        self.K = queue.block
        self.buf: torch.Tensor | None = None  # (K, Q) on the device
        self.k = 0
        self.meta: list[tuple] = []  # per row: step, sample, phase, wall, hold_step, display_index, labels, samples
        self.weights: list[tuple[int, dict[str, np.ndarray]]] = []
        self.n_inputs: int | None = None
        self.t_first = 0.0

    def add(self, phase: str, weights: bool) -> None:
        e = self.builder.engine
        batch = self.queue.batch
        flat, inputs = self.builder.flat_parts(batch)
        width = self.builder.flat_width
        if self.buf is None or self.buf.shape[1] != width:
            self.flush()
            self.buf = torch.empty(self.K, width, device=e.device, dtype=torch.float32)
            self.n_inputs = None if inputs is None else len(inputs)
        torch.cat(flat, out=self.buf[self.k])
        cur = e.stream.current
        idx = e.display_index
        self.meta.append((
            e.step_count, int(cur.indices[idx]), phase, e.step_wall, e.stream.hold_step, idx,
            self.builder.labels(batch), cur.indices.copy() if batch else None,
        ))
        if self.k == 0:
            self.t_first = time.perf_counter()
        self.k += 1
        if weights:
            w = e.model.weight_tensors()
            arrays = self.builder.copier.to_host(list(w.values()))
            self.weights.append((e.step_count, dict(zip(w.keys(), (a.copy() for a in arrays)))))
        if self.k >= self.K:
            self.flush()

    def due(self, max_age: float) -> bool:
        return self.k > 0 and time.perf_counter() - self.t_first >= max_age

    def flush(self) -> None:
        """Send what the ring holds to the queue as one FrameBlock."""
        if self.k == 0:
            return
        k, meta = self.k, self.meta
        batch = self.queue.batch
        host = self.builder.copier.to_host([self.buf[:k]])[0]  # (k, Q)
        layers, inputs, dev_sc = self.builder.split(host, batch, self.n_inputs, lead=(k,))
        layers = [{q: np.ascontiguousarray(a) for q, a in d.items()} for d in layers]
        labels = None
        if meta[0][6] is not None:
            labels = np.stack([m[6] for m in meta])
        sc = self.builder.scalars(layers, inputs, dev_sc, labels, batch)
        block = FrameBlock(
            step=np.fromiter((m[0] for m in meta), np.int64, k),
            sample_index=np.fromiter((m[1] for m in meta), np.int64, k),
            phase=[m[2] for m in meta],
            wall=np.fromiter((m[3] for m in meta), np.float64, k),
            hold_step=np.fromiter((m[4] for m in meta), np.int64, k),
            display_index=np.fromiter((m[5] for m in meta), np.int64, k),
            layers=layers,
            scalars={n: np.ascontiguousarray(v, np.float32) for n, v in sc.items()},
            batch=batch,
            sample_indices=np.stack([m[7] for m in meta]) if batch else None,
            weights=self.weights,
        )
        self.k, self.meta, self.weights = 0, [], []
        self.queue.offer(block)
