"""The activations of the predictive-coding families: f, f′ (written from f(a) where
that is cheaper) and sup |f′|, which the curvature bound of
:mod:`pcviz.models.pc_curvature` needs."""

from __future__ import annotations

from typing import Callable

import torch

from pcviz.models.base import ModelError

#: sup |f′| of each activation (relu's and softplus's are 1)
FPRIME_SUP = {"linear": 1.0, "tanh": 1.0, "sigmoid": 0.25, "relu": 1.0, "softplus": 1.0}


def activation(name: str) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable | None]:
    """(f, f′ expressed from (a, f(a))); f′ None means identity (linear)."""
    if name == "linear":
        return (lambda a: a), None
    if name == "tanh":
        return torch.tanh, lambda a, y: 1.0 - y * y
    if name == "sigmoid":
        return torch.sigmoid, lambda a, y: y * (1.0 - y)
    if name == "relu":
        return torch.relu, lambda a, y: (a > 0).to(a.dtype)
    if name == "softplus":
        return torch.nn.functional.softplus, lambda a, y: torch.sigmoid(a)
    raise ModelError(f"model.activation = {name!r}: unknown")
