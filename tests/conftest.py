"""Test configuration: Qt offscreen, small torch thread pool, isolated settings."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PCVIZ_RECORDINGS", os.path.join(os.path.dirname(__file__), "..", "recordings"))

import torch  # noqa: E402

torch.set_num_threads(1)  # the engine's default on CPU: small networks run fastest on one
