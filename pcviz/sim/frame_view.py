"""A frame as a script or a figure reads it (``pcviz.Session.frame()``, ``pcviz.plot``): numpy arrays by layer (name or index) and quantity,
the scalars, the step and the sample, with the spec that names the layers.

    f = session.frame()
    f["x1"]["activity"]        # (36,) numpy
    f[0]["prediction"]         # the reconstruction of the input
    f.scalars["energy/total"]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from pcviz.sim.frames import Frame, FrameSpec


def layer_index(spec: FrameSpec, layer: int | str, what: str = "layer") -> int:
    """The index of ``layer``: an index (negative counts from the top), a layer's name
    (``"x1"``, ``"label"``, ...), ``"top"`` (the last layer) or ``"input"``/``"bottom"``
    (layer 0). A clear error names the layers."""
    n = len(spec.layers)
    names = ", ".join(f"{l.index} {l.name}" for l in spec.layers)
    if isinstance(layer, (bool, np.bool_)):
        raise ValueError(f"{what}: layer {layer!r} is not a layer (the layers are {names})")
    if isinstance(layer, (int, np.integer)):
        i = int(layer)
        if not -n <= i < n:
            raise ValueError(f"{what}: layer {i} out of range (the layers are {names})")
        return i % n
    if isinstance(layer, str):
        for l in spec.layers:
            if l.name == layer:
                return l.index
        if layer == "top":  # the most abstract layer, whatever its role (top, label)
            return n - 1
        if layer in ("input", "bottom"):
            return 0
        raise ValueError(f"{what}: no layer named {layer!r} (the layers are {names})")
    raise ValueError(f"{what}: a layer is an index or a name, not {type(layer).__name__} (the layers are {names})")


@dataclass(frozen=True)
class SessionFrame:
    """One engine step of the displayed sample (see the module docstring). ``raw`` is
    the engine's :class:`~pcviz.sim.frames.Frame`, the object recordings hold too."""

    raw: Frame
    spec: FrameSpec

    @property
    def step(self) -> int:
        return int(self.raw.step)

    @property
    def sample(self) -> int:
        return int(self.raw.sample_index)

    @property
    def phase(self) -> str:
        return self.raw.phase

    @property
    def scalars(self) -> dict[str, float]:
        return dict(self.raw.scalars)

    @property
    def layers(self) -> dict[str, dict[str, np.ndarray]]:
        """Layer name -> quantity -> array, bottom (input) first."""
        return {l.name: self.raw.layers[l.index] for l in self.spec.layers}

    def __getitem__(self, layer: int | str) -> dict[str, np.ndarray]:
        return self.raw.layers[layer_index(self.spec, layer, "frame")]

    def __iter__(self) -> Iterator[str]:
        return iter(l.name for l in self.spec.layers)

    def __repr__(self) -> str:
        names = ", ".join(l.name for l in self.spec.layers)
        return f"SessionFrame(step={self.step}, sample={self.sample}, phase={self.phase!r}, layers=[{names}])"
