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
