"""How far one inference step is from the machine's matmul limit: its counted matmul
FLOPs per second against the FLOP/s of one large plain matmul on the same device."""

from __future__ import annotations

import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from pcviz.models.pc_fast import fast_path_covers
from pcviz.models import GenerativeModel, PCModel


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_flops(model: PCModel) -> int:
    """Matmul FLOPs of one ``model.step(False)`` (elementwise work is not counted): the
    fast step's products as its plan lists them (whatever calls it binds, torch or
    numpy, eager or a replayed CUDA graph), or, where the reference step runs, torch's
    FLOP counter over one step."""
    model.step(False)  # settle a switch of the learning flag (it runs a full forward once)
    if model.config.implementation == "fast" and fast_path_covers(model) is None:
        return sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in model._fast.plan.products)
    with FlopCounterMode(display=False) as counter:
        model.step(False)
    return int(counter.get_total_flops())


def step_time(model: GenerativeModel, n: int = 50, repeats: int = 5) -> list[float]:
    """Seconds per inference step, one figure per repeat of ``n`` steps."""
    model.step(False)
    out = []
    for _ in range(repeats):
        _sync(model.device)
        t = time.perf_counter()
        for _ in range(n):
            model.step(False)
        _sync(model.device)
        out.append((time.perf_counter() - t) / n)
    return out


def matmul_flops_per_second(device: torch.device, size: int | None = None, repeats: int = 5,
                            dtype: torch.dtype = torch.float32) -> list[float]:
    """FLOP/s of a plain (size x size) @ (size x size) matmul, per repeat."""
    size = size or (8192 if device.type == "cuda" else 1024)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    out = torch.empty(size, size, device=device, dtype=dtype)
    torch.matmul(a, b, out=out)
    n = 10 if device.type == "cuda" else 3
    res = []
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        for _ in range(n):
            torch.matmul(a, b, out=out)
        _sync(device)
        res.append(2 * size**3 * n / (time.perf_counter() - t))
    return res
