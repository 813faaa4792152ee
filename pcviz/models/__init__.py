"""Model families. Each family lives in its own file with its own config dataclass and
registers itself here, so presets can name it by ``model.kind``."""

from __future__ import annotations

from typing import Any

import torch

from pcviz.models.base import COMMON_QUANTITIES, DataInfo, GenerativeModel, LayerSpec, ModelError, grid_shape
from pcviz.models.hybrid_pc import HybridPCConfig, HybridPCModel
from pcviz.models.lvae import BidirectionalVAE, BVAEConfig, LadderVAE, LVAEConfig
from pcviz.models.pc import PCConfig, PCModel
from pcviz.models.pc_conv import PCConvConfig, PCConvModel
from pcviz.models.pc_modular import PCModularConfig, PCModularModel

#: model.kind -> (config dataclass, model class)
MODEL_FAMILIES: dict[str, tuple[type, type[GenerativeModel]]] = {
    "pc": (PCConfig, PCModel),
    "pc_conv": (PCConvConfig, PCConvModel),
    "pc_modular": (PCModularConfig, PCModularModel),
}


def register(kind: str, config_cls: type, model_cls: type[GenerativeModel]) -> None:
    MODEL_FAMILIES[kind] = (config_cls, model_cls)


register("lvae", LVAEConfig, LadderVAE)
register("bvae", BVAEConfig, BidirectionalVAE)
register("hybrid_pc", HybridPCConfig, HybridPCModel)


def model_configs() -> dict[str, type]:
    return {k: v[0] for k, v in MODEL_FAMILIES.items()}


def build_model(config: Any, data: DataInfo, device: torch.device | str = "cpu", seed: int = 0) -> GenerativeModel:
    kind = getattr(config, "kind", None)
    if kind not in MODEL_FAMILIES:
        raise ModelError(f"model.kind = {kind!r}: unknown (known: {', '.join(MODEL_FAMILIES)})")
    return MODEL_FAMILIES[kind][1](config, data, device=device, seed=seed)


__all__ = [
    "COMMON_QUANTITIES", "DataInfo", "GenerativeModel", "HybridPCConfig", "HybridPCModel", "LayerSpec", "MODEL_FAMILIES", "ModelError", "PCConfig",
    "PCModel", "build_model", "grid_shape", "model_configs", "register",
]
