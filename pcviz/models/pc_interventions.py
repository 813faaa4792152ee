"""Clamps, lesions, occlusion and labels of the predictive-coding families: which
units are held, at what value, and the precision gains that interventions set.

A mixin of :class:`pcviz.models.pc.PCModel` (and so of the convolutional model); it
works on the model's state lists ``x``, ``gain``, ``_clamps``, ``_occluded``.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from pcviz.models.base import ModelError, units_tensor


class PCInterventions:
    """Interventions on a PC model's state (see the module docstring)."""

    # ---------------------------------------------------------- masks & clamps
    def _label_clamped(self) -> bool:
        if self.label_layer is None:
            return False
        if self._label_override is not None:
            return True
        return self._data_labels is not None and (self._learning or self.config.label_at_test == "clamped")

    def _rebuild_masks(self) -> None:
        """Recompute which units are held fixed and at what value, after any change of
        batch, label, clamp or occlusion."""
        B = self.batch_size
        self._fixed = [torch.zeros(n, dtype=torch.bool, device=self.device) for n in self.sizes]
        dl = self.data_layer
        if self._data_x is not None and not (self._imagine and dl == 0):
            self._fixed[dl][:] = True
            self._fixed_value[dl].copy_(self._data_x)
            if dl == 0:
                self._fixed[0] &= ~self._occluded
        ll = self.label_layer
        if ll is not None and self._label_clamped():
            onehot = torch.zeros(B, self.sizes[ll], device=self.device, dtype=self.dtype)
            if self._label_override is not None:
                onehot[:, self._label_override] = 1.0
            else:
                onehot[torch.arange(B, device=self.device), self._data_labels] = 1.0
            self._fixed[ll][:] = True
            self._fixed_value[ll].copy_(onehot)
        for l, clamps in enumerate(self._clamps):
            for u, v in clamps.items():
                self._fixed[l][u] = True
                self._fixed_value[l][:, u] = v
        self._free = [(~m).to(self.dtype) for m in self._fixed]  # (n_l,)
        self._any_fixed = [bool(m.any()) for m in self._fixed]
        self._all_fixed = [bool(m.all()) for m in self._fixed]
        self._scale = None
        self._diag = None  # the "bound" preconditioner depends on which layers are free
        self._any_occluded = bool(self._occluded.any()) or (self._imagine and self.data_layer == 0)
        self._occ_mask = (torch.ones_like(self._occluded) if self._imagine and self.data_layer == 0
                          else self._occluded)
        for l in range(len(self.sizes)):
            if self._all_fixed[l]:
                self.x[l].copy_(self._fixed_value[l])
            elif self._any_fixed[l]:
                self.x[l].copy_(torch.where(self._fixed[l], self._fixed_value[l], self.x[l]))

    # ----------------------------------------------------------- interventions
    def clamp(self, layer: int, units: Sequence[int] | None, value: float) -> None:
        self.check_layer(layer, "clamp")
        for u in units_tensor(units, self.sizes[layer], f"clamp layer {layer}"):
            self._clamps[layer][u] = float(value)
        self._rebuild_masks()
        self.forward()

    def release(self, layer: int | None = None, units: Sequence[int] | None = None) -> None:
        layers = range(self.L + 1) if layer is None else [self.check_layer(layer, "release")]
        for l in layers:
            if units is None or len(units) == 0:
                self._clamps[l].clear()
            else:
                for u in units_tensor(units, self.sizes[l], f"release layer {l}"):
                    self._clamps[l].pop(u, None)
        self._rebuild_masks()
        self.forward()

    def pulse(self, layer: int, units: Sequence[int] | None, value: float) -> None:
        self.check_layer(layer, "pulse")
        idx = units_tensor(units, self.sizes[layer], f"pulse layer {layer}")
        self.x[layer][:, idx] += float(value)
        self._rebuild_masks()  # clamped units keep their value
        self.forward()

    def lesion(self, layer: int, factor: float, units: Sequence[int] | None = None) -> None:
        self.check_layer(layer, "lesion")
        if factor < 0 or not math.isfinite(factor):
            raise ModelError(f"lesion layer {layer}: factor {factor} must be a finite number >= 0")
        idx = units_tensor(units, self.sizes[layer], f"lesion layer {layer}")
        self.gain[layer][idx] = float(factor)
        self.forward()

    def occlude(self, units: Sequence[int]) -> None:
        if self.data_layer != 0:
            raise ModelError("occlude: in discriminative mode the input is clamped at the top; lesion it instead")
        idx = units_tensor(units, self.sizes[0], "occlude")
        self._occluded[idx] = True
        self.gain[0][idx] = 0.0
        self._rebuild_masks()
        self.forward()

    def unocclude(self) -> None:
        self.gain[0][self._occluded] = 1.0
        self._occluded[:] = False
        self._rebuild_masks()
        if self._data_x is not None:
            self.x[0].copy_(torch.where(self._fixed[0], self._fixed_value[0], self.x[0]))
        self.forward()

    def set_label(self, label: int | None, imagine: bool = False) -> None:
        ll = self.label_layer
        if ll is None:
            raise ModelError(f"set_label: model.mode = {self.config.mode!r} has no label layer")
        if label is not None and not 0 <= int(label) < self.sizes[ll]:
            raise ModelError(f"set_label: label {label} out of range 0..{self.sizes[ll] - 1}")
        self._label_override = None if label is None else int(label)
        self._imagine = bool(imagine) and label is not None and self.data_layer == 0
        if self._imagine:
            self.gain[0].zero_()
        elif not self._occluded.any():
            self.gain[0].fill_(1.0)
        else:
            self.gain[0].fill_(1.0)
            self.gain[0][self._occluded] = 0.0
        self._rebuild_masks()
        self.forward()

    def clear_interventions(self) -> None:
        for c in self._clamps:
            c.clear()
        for g in self.gain:
            g.fill_(1.0)
        self._occluded[:] = False
        self._label_override = None
        self._imagine = False
        self._rebuild_masks()
        self.forward()
