"""Földiák's bars with ground truth: the shipped bars-foldiak checkpoint's basis
holds every one of the 16 generating bars (|cosine| >= 0.9 with some column). The
true bars are written down here from the generator's definition (rows and
columns of the 8x8 image), not taken from the model."""

import numpy as np

from pcviz.bench.bars_recovery import bar_recovery, true_bars
from pcviz.data import make_bars
from pcviz.sim.engine import Engine
from pcviz.sim.presets import load_preset


def test_true_bars_are_the_generators_causes():
    bars = true_bars(8)
    assert bars.shape == (16, 64)
    # every generated image with exactly one bar on is one of them (up to scale)
    data = make_bars(400, 8, seed=5)
    single = data.x[data.x.sum(1) == 8]
    cos = single @ bars.T / np.linalg.norm(single, axis=1, keepdims=True)
    assert len(single) > 20 and np.allclose(cos.max(1), 1.0)


def test_a_random_basis_does_not_pass():
    cfg = load_preset("bars-foldiak", ["engine.checkpoint=''"])
    assert bar_recovery(Engine(cfg, device="cpu").model, 8).min() < 0.9


def test_the_shipped_checkpoint_recovers_every_bar():
    engine = Engine(load_preset("bars-foldiak"), device="cpu")
    cos = bar_recovery(engine.model, 8)
    assert cos.min() >= 0.9, np.round(cos, 3)
