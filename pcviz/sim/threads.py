"""torch's CPU thread count, decided and set here only. torch's intra-op count is per
thread, so it is set in the thread that computes: the engine's loop applies its
``Engine.threads`` there, a headless run in the caller's thread. The shipped
networks are small: one thread runs them fastest, and more threads fight the
window and the recorder for the cores (see ``engine.threads`` in the config)."""

from __future__ import annotations

import torch

#: what the benchmarks run with, the engine and the plain torch loops it is compared
#: with alike, so that their ratios compare like with like
BENCH_THREADS = 1


def use_torch_threads(n: int, device: torch.device | str | None = None) -> None:
    """Set the calling thread's torch CPU thread count to ``n`` (0: leave torch's own);
    a model on another device leaves it alone."""
    if n > 0 and (device is None or torch.device(device).type == "cpu"):
        torch.set_num_threads(int(n))


def window_threads(configured: int = 0) -> int:
    """The count for an engine beside a window: ``configured`` (the preset's
    ``engine.threads``) when set, else one core fewer than the process would use, so
    that the window keeps one. (On a busy two-core machine the default preset ran
    about 100 times slower when the count was set in the main thread only: its team
    waits for a core the other thread holds.)"""
    return configured if configured > 0 else max(1, torch.get_num_threads() - 1)
