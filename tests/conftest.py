"""Test configuration: Qt offscreen, small torch thread pool, isolated settings."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PCVIZ_RECORDINGS", os.path.join(os.path.dirname(__file__), "..", "recordings"))

import torch  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Every test runs torch on one CPU thread, the engine's default: the networks are
    small, and on a busy two-core machine a second intra-op thread makes each call
    many times slower. Restored after the test (an engine may have changed it)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def no_orphan_process():
    """Fail a test that leaves a child process running (an engine process nobody joined);
    the leftover is killed so it cannot hold the next test up."""
    import multiprocessing as mp
    import time

    before = {p.pid for p in mp.active_children()}
    yield
    deadline = time.monotonic() + 5.0
    while True:
        left = [p for p in mp.active_children() if p.pid not in before]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for p in left:
        p.kill()
        p.join(5.0)
    if left:
        pytest.fail("processes left running: " + ", ".join(f"{p.name} (pid {p.pid})" for p in left), pytrace=False)
