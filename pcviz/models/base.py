"""The small protocol every model family implements, so the engine, the recorder and
the views work the same for predictive coding and Ladder VAEs.

A model holds the state of a batch of ``B`` samples on one torch device. The engine
calls, per hold (one sample presented for ``T`` steps)::

    model.set_batch(x, labels, learning)      # first step of a hold
    model.step(learning)                      # every step (PC: one inference step;
                                              #  VAE: one optimiser step or one posterior draw)
    model.end_hold(learning)                  # last step of a hold (PC: weight step)

and reads :meth:`frame_tensors` / :meth:`scalar_tensors` only when someone consumes
a frame. Every layer streams at least the four common quantities.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import torch

from pcviz.errors import PcvizError

COMMON_QUANTITIES = ("activity", "prediction", "error", "precision")
ROLES = ("input", "hidden", "top", "label")


class ModelError(PcvizError, ValueError):
    """A model cannot be built or driven as asked; the message says which setting."""


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about its input stream."""

    dim: int  # values per sample
    display_shape: tuple[int, ...]  # image shape of one sample
    n_classes: int = 0  # 0 when the data has no labels


@dataclass(frozen=True)
class LayerSpec:
    name: str
    role: str  # input | hidden | top | label
    size: int
    display_shape: tuple[int, ...]  # prod == size (C x H x W maps allowed)


def grid_shape(n: int) -> tuple[int, int]:
    """The most square (rows, cols) with rows * cols == n (rows <= cols)."""
    best = (1, n)
    for r in range(1, int(math.isqrt(n)) + 1):
        if n % r == 0:
            best = (r, n // r)
    return best


def units_tensor(units: Sequence[int] | None, size: int, where: str) -> list[int]:
    """Check unit indices against a layer size; ``None`` or empty means all units."""
    if units is None or len(units) == 0:
        return list(range(size))
    out = []
    for u in units:
        u = int(u)
        if not 0 <= u < size:
            raise ModelError(f"{where}: unit {u} out of range (layer has {size} units)")
        out.append(u)
    return out


def check_tensors(own: dict[str, torch.Tensor], given: dict[str, torch.Tensor], lacks: str, needs: str) -> None:
    """Raise a ModelError naming what ``given`` (a checkpoint's tensors) lacks of ``own``
    ("<lacks> W.0, b.0") or holds in another shape ("... <needs> needs (4, 3)")."""
    missing = sorted(set(own) - set(given))
    if missing:
        raise ModelError(f"{lacks} {', '.join(missing)}")
    for name, t in own.items():
        if tuple(given[name].shape) != tuple(t.shape):
            raise ModelError(f"checkpoint {name} has shape {tuple(given[name].shape)}, {needs} needs {tuple(t.shape)}")


class GenerativeModel(ABC):
    """Base class of every model family. Subclasses set ``kind`` and ``layers``."""

    kind: ClassVar[str] = ""
    #: config fields whose change needs a rebuilt model (fresh weights)
    structural: ClassVar[frozenset[str]] = frozenset({"kind"})

    def __init__(self, config: Any, data: DataInfo, device: torch.device | str = "cpu", seed: int = 0):
        self.config = config
        self.data = data
        self.device = torch.device(device)
        self.seed = seed
        self.layers: list[LayerSpec] = []
        self.batch_size = 0

    # ----------------------------------------------------------------- the loop
    @abstractmethod
    def set_batch(self, x: torch.Tensor, labels: torch.Tensor | None, learning: bool) -> None:
        """Present a new batch: ``x`` (B, D) on the model's device, ``labels`` (B,) or None."""

    @abstractmethod
    def step(self, learning: bool) -> None:
        """One simulation step."""

    def end_hold(self, learning: bool) -> None:
        """Called after the last step of a hold."""

    def set_reference_data(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        """Held-out samples ``x`` (N, D) and their ``labels`` (N,) (None for unlabelled
        data) on the model's device, for diagnostics that a model computes now and then
        (a VAE's active units, a discriminative PC model's held-out accuracy); the
        default ignores them."""

    # ------------------------------------------------------------ what it streams
    @abstractmethod
    def frame_tensors(self) -> list[dict[str, torch.Tensor]]:
        """Per layer, named tensors with a leading batch axis (B, ...). Views of the
        live state are fine: the engine copies what it streams."""

    @abstractmethod
    def scalar_tensors(self, index: int | None) -> dict[str, torch.Tensor]:
        """Named 0-d tensors for batch item ``index`` (``None``: the batch mean)."""

    def frame_rows(self, index: int | None) -> list[torch.Tensor]:
        """The streamed tensors in spec order (layer by layer, quantity by quantity):
        batch item ``index`` (1-D each), or the whole batch (``None``). Models may cache
        these views so that a frame costs one concatenation."""
        return [t if index is None else t[index] for layer in self.frame_tensors() for t in layer.values()]

    def host_scalar_inputs(self) -> list[torch.Tensor] | None:
        """Small tensors which, with a frame's arrays, let the model compute its scalars
        on the host, vectorised over many frames. None (the default): not supported, and
        the engine asks :meth:`scalar_tensors` on the device for every frame. A model that
        returns tensors here also defines ``host_scalars(layers, inputs, labels, batch)``,
        returning the scalars of :meth:`scalar_tensors` as arrays from host arrays with any
        leading frame axes (and, with ``batch``, a batch axis that is averaged); ``inputs``
        are the host copies of these tensors."""
        return None

    def quantity_shapes(self) -> list[dict[str, tuple[int, ...]]]:
        """Per layer, the per-sample shape of each streamed quantity."""
        return [{k: tuple(v.shape[1:]) for k, v in layer.items()} for layer in self.frame_tensors()]

    def scalar_names(self) -> list[str]:
        return list(self.scalar_tensors(0).keys())

    def scalar_notes(self) -> dict[str, str]:
        """What a scalar means where its name cannot say it (its units, the likelihood
        it is a bound of), by scalar name; frames' specs carry it to the window and
        recordings. None by default."""
        return {}

    def layer_energies(self) -> torch.Tensor:
        """(L+1,) batch-mean energy (or loss) per layer; used to detect divergence."""
        return torch.stack([t.float() for k, t in self.scalar_tensors(None).items() if k.startswith("energy/layer_")])

    def basis(self) -> torch.Tensor | None:
        """The first layer's learned basis as images (n_units, *input display shape)."""
        return None

    def checkpoint_tensors(self) -> dict[str, torch.Tensor]:
        """What a checkpoint saves: :meth:`state_tensors` plus any tensors a model keeps
        beside its own (discriminative PC's backprop twin), which older checkpoints lack
        and :meth:`load_state_tensors` must then do without."""
        return self.state_tensors()

    def weight_tensors(self) -> dict[str, torch.Tensor]:
        """The learned parameters that a viewer may want to see change."""
        return self.state_tensors()

    # ------------------------------------------------------------ interventions
    def clamp(self, layer: int, units: Sequence[int] | None, value: float) -> None:
        raise ModelError(f"{self.kind}: clamping is not supported")

    def release(self, layer: int | None = None, units: Sequence[int] | None = None) -> None:
        raise ModelError(f"{self.kind}: clamping is not supported")

    def pulse(self, layer: int, units: Sequence[int] | None, value: float) -> None:
        raise ModelError(f"{self.kind}: pulses are not supported")

    def lesion(self, layer: int, factor: float, units: Sequence[int] | None = None) -> None:
        raise ModelError(f"{self.kind}: precision lesions are not supported")

    def occlude(self, units: Sequence[int]) -> None:
        raise ModelError(f"{self.kind}: occlusion is not supported")

    def unocclude(self) -> None:
        raise ModelError(f"{self.kind}: occlusion is not supported")

    def set_label(self, label: int | None, imagine: bool = False) -> None:
        raise ModelError(f"{self.kind}: this model has no label layer")

    def clear_interventions(self) -> None:
        """Undo every clamp, lesion, occlusion and label."""

    # -------------------------------------------------------------- parameters
    @abstractmethod
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Learned parameters by name (what a checkpoint holds)."""

    @abstractmethod
    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Load what :meth:`state_tensors` returned (same architecture)."""

    def check_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Raise a ModelError naming the first tensor a checkpoint lacks or has in
        another shape than :meth:`state_tensors`; loaders call it before copying."""
        check_tensors(self.state_tensors(), tensors, "checkpoint lacks", "the model")

    def frozen_parameters(self) -> list[str]:
        """Names (keys of :meth:`state_tensors`) of the parameters that learning leaves
        as they are: those trained in an earlier stage, which ``pcviz train --init``
        takes from a checkpoint. The default: none."""
        return []

    def architecture(self) -> dict[str, Any]:
        """Plain (JSON-able) description that a checkpoint must match to be loaded."""
        return {"kind": self.kind, "sizes": [layer.size for layer in self.layers]}

    def param_changed(self, name: str) -> None:
        """A config field was changed at run time (already validated and set)."""

    def check_layer(self, layer: int, where: str) -> int:
        if not 0 <= layer < len(self.layers):
            raise ModelError(f"{where}: layer {layer} out of range (the model has {len(self.layers)} layers)")
        return layer
