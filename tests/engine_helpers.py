"""Helpers of the engine tests: a tiny network's settings, and waiting on a condition
(never sleeping and hoping)."""

from __future__ import annotations

import time

#: a tiny digits network that steps in microseconds
SMALL = ["engine.checkpoint=''", "model.sizes=[64, 12, 6]", "data.batch_size=4", "data.hold_steps=10"]


def wait_for(pred, timeout: float = 60.0, poll=None) -> None:
    """Return once ``pred()`` holds (calling ``poll()`` between tries); fail after
    ``timeout`` seconds."""
    t0 = time.perf_counter()
    while not pred():
        if poll is not None:
            poll()
        if time.perf_counter() - t0 > timeout:
            raise AssertionError("condition not reached")
        time.sleep(0.005)
