"""The preconditioner's curvature D is computed once and kept while nothing it depends
on changes (each new batch asks for it again); every change of what it depends on
gives the D computed afresh from the model."""

import torch

from pcviz.models import DataInfo, PCConfig, PCModel
from pcviz.models.pc_curvature import curvature_scale


def _model():
    cfg = PCConfig(sizes=[12, 7, 5], activation="tanh", preconditioner="bound", precision="diagonal",
                   lr_weights=0.05, learn_precision=False)
    m = PCModel(cfg, DataInfo(12, (3, 4)), "cpu", seed=0, dtype=torch.float64)
    m.set_batch(torch.rand(4, 12, dtype=torch.float64), None, learning=False)
    m.step(False)
    return m


def _fresh_equal(m):
    d = m.curvature_diagonal()
    for a, b in zip(d, curvature_scale(m)):
        torch.testing.assert_close(a, b)
    return d


def test_a_new_batch_with_learning_off_keeps_the_curvature():
    m = _model()
    d = _fresh_equal(m)
    for _ in range(3):
        m.set_batch(torch.rand(4, 12, dtype=torch.float64), None, learning=False)
        m.step(False)
        assert m.curvature_diagonal() is d


def test_every_change_it_depends_on_gives_the_curvature_afresh():
    m = _model()
    changes = [
        lambda: m.W[1].mul_(1.5),  # a weight in place
        lambda: m.var[0].mul_(0.5),  # a precision in place
        lambda: m.lesion(1, 0.2),  # a gain
        lambda: m.clamp(1, None, 0.0),  # which layers are held (all of layer 1)
        lambda: m.release(1),
        lambda: setattr(m.config, "prior_strength", 0.3),  # the prior
    ]
    for change in changes:
        before = m.curvature_diagonal()
        change()
        m.step(False)
        after = _fresh_equal(m)
        assert after is not before
        assert any(not torch.equal(a, b) for a, b in zip(after, before))
    m.set_batch(torch.rand(4, 12, dtype=torch.float64), None, learning=True)  # a learning hold moves W
    before = m.curvature_diagonal()
    for _ in range(3):
        m.step(True)
    m.end_hold(True)
    m.step(True)
    assert _fresh_equal(m) is not before
