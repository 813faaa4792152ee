"""The activations of the predictive-coding families: f, and f′ written from f(a)
where that is cheaper."""

from __future__ import annotations

from typing import Callable

import torch

from pcviz.models.base import ModelError


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
