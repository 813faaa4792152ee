"""Rao & Ballard's (1999) hierarchy: several level-1 modules, each seeing its own
patch of the input, under one level 2 that predicts them all together.

The data is a strip of ``modules`` overlapping patches (each ``module_width``
pixels wide, ``module_step`` pixels apart, as high as the image). As in the paper,
each module has its own copy of its patch: the model's input layer holds the
patches side by side (``modules × module_width`` pixels wide; the pixels of the
overlaps appear in two or three patches), so that the modules do not explain
away each other's input. Level 1 has ``module_units`` units per module, and module
m's units have weights only on patch m (W_0 is block-diagonal, and stays so: the
weight gradient is masked before each step, so the unit-norm basis keeps its
zeros). Everything else is the dense predictive-coding model of
:mod:`pcviz.models.pc`: level 2 is fully connected to every level-1 unit, so its
top-down prediction of one module can use what the others see. That is what makes
level-1 error units end-stopped in the paper: a bar that runs on into the
neighbouring patches is predicted from them, a short one is not; without feedback
the modules are independent, and the response saturates with length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from pcviz.config import meta
from pcviz.models.base import DataInfo, ModelError
from pcviz.models.pc import PCConfig, PCModel


@dataclass
class PCModularConfig(PCConfig):
    kind: str = field(default="pc_modular", metadata=meta("model family", choices=("pc_modular",)))
    modules: int = field(default=3, metadata=meta("level-1 modules side by side", min=1, max=64))
    module_width: int = field(default=16, metadata=meta("width in pixels of each module's patch", min=1, max=1024))
    module_step: int = field(default=5, metadata=meta("pixels between neighbouring modules' patches", min=1,
                                                      max=1024))
    module_units: int = field(default=32, metadata=meta("level-1 units per module", min=1, max=100_000))

    def validate(self) -> None:
        super().validate()
        if len(self.sizes) < 3:
            raise ValueError(f"sizes = {self.sizes}: the modular hierarchy needs an input, level 1 and level 2")
        if self.sizes[1] != self.modules * self.module_units:
            raise ValueError(f"sizes[1] = {self.sizes[1]}: level 1 has modules x module_units ="
                             f" {self.modules} x {self.module_units} = {self.modules * self.module_units} units")
        if self.mode != "unsupervised":
            raise ValueError(f"mode = {self.mode!r}: the modular hierarchy is unsupervised")


class PCModularModel(PCModel):
    kind: ClassVar[str] = "pc_modular"
    structural: ClassVar[frozenset[str]] = PCModel.structural | {"modules", "module_width", "module_step",
                                                                 "module_units"}

    def __init__(self, config: PCModularConfig, data: DataInfo, device: torch.device | str = "cpu", seed: int = 0,
                 dtype: torch.dtype = torch.float32):
        h, w, need = self._strip(config, data)
        patches = DataInfo(h * config.modules * config.module_width, (h, config.modules * config.module_width),
                           data.n_classes)
        super().__init__(config, patches, device, seed, dtype)
        self.data = data  # what the engine feeds (the strip); self.layers[0] shows the patches
        # expanded pixel (row r, patch m, column c) <- strip pixel (r, m * step + c)
        r = torch.arange(h).view(h, 1, 1)
        m = torch.arange(config.modules).view(1, -1, 1)
        c = torch.arange(config.module_width).view(1, 1, -1)
        self.gather = (r * w + m * config.module_step + c).reshape(-1).to(self.device)  # (n_0,)
        self.mask = self._module_mask(config, h)  # (n_0, n_1)
        self.W[0].mul_(self.mask)
        if config.normalize_basis:
            self.W[0].div_(self.W[0].norm(dim=0, keepdim=True).clamp_min(1e-8))
        self.forward()

    @staticmethod
    def _strip(cfg: PCModularConfig, data: DataInfo) -> tuple[int, int, int]:
        if len(data.display_shape) != 2:
            raise ModelError(f"model.kind = 'pc_modular' needs image input (the input is {data.display_shape})")
        h, w = data.display_shape
        need = cfg.module_width + (cfg.modules - 1) * cfg.module_step
        if w != need:
            raise ModelError(f"model.modules = {cfg.modules}, module_width = {cfg.module_width}, module_step ="
                             f" {cfg.module_step} span {need} pixels; the input is {w} wide (set data.patch_width"
                             f" = {need})")
        if cfg.sizes[0] != h * cfg.modules * cfg.module_width:
            raise ModelError(f"model.sizes[0] = {cfg.sizes[0]}: the input layer holds the {cfg.modules} patches of"
                             f" {h}x{cfg.module_width} side by side, {h * cfg.modules * cfg.module_width} values")
        return h, w, need

    def _module_mask(self, cfg: PCModularConfig, h: int) -> torch.Tensor:
        col = torch.arange(cfg.modules * cfg.module_width, device=self.device).repeat(h)  # (n_0,)
        module = col // cfg.module_width  # (n_0,) the patch of each input unit
        unit_module = torch.arange(cfg.modules * cfg.module_units, device=self.device) // cfg.module_units
        return (module[:, None] == unit_module[None, :]).to(self.dtype)  # (n_0, n_1)

    def set_batch(self, x: torch.Tensor, labels: torch.Tensor | None, learning: bool) -> None:
        """``x`` (B, strip pixels) -> each module's patch, side by side (B, n_0)."""
        x = x.to(self.device)
        super().set_batch(x[:, self.gather], labels, learning)

    def basis(self) -> torch.Tensor | None:
        """Each level-1 unit's weights on its own patch, (n_1, h, module_width)."""
        cfg = self.config
        h = self.layers[0].display_shape[0]
        w = self.W[0].T.reshape(self.sizes[1], h, cfg.modules, cfg.module_width)
        m = torch.arange(self.sizes[1], device=self.device) // cfg.module_units
        return w[torch.arange(self.sizes[1], device=self.device), :, m, :]

    def weight_gradients(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        dW, db = super().weight_gradients()
        dW[0] = dW[0] * self.mask  # each module learns only its own patch
        return dW, db

    def weight_step(self, lr: float) -> None:
        super().weight_step(lr)
        self.W[0].mul_(self.mask)  # W_0 is zero off each module's patch: as masking the gradient

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        super().load_state_tensors(tensors)
        self.W[0].mul_(self.mask)
        self.forward()

    def architecture(self) -> dict[str, Any]:
        cfg = self.config
        return {**super().architecture(), "modules": cfg.modules, "module_width": cfg.module_width,
                "module_step": cfg.module_step, "module_units": cfg.module_units}
