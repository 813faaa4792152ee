"""``model.layer_precisions``: a precision per layer (Rao & Ballard's 1/σ² for the
image and 1/σ_td² for level 2's prediction of level 1), checked against the closed
form of a linear network's steady state, and refused when malformed."""

import numpy as np
import pytest
import torch

from pcviz.models import DataInfo, PCConfig, PCModel

PI0, PI1, LAM = 2.0, 0.25, 0.3


def test_each_layer_starts_at_its_own_precision_and_the_steady_state_weighs_them():
    cfg = PCConfig(sizes=[16, 3], activation="linear", input_activation="linear", precision="fixed",
                   layer_precisions=[PI0, PI1], prior="gaussian", prior_strength=LAM, dt=0.5,
                   preconditioner="diagonal", state_init="zeros", learn_precision=False)
    m = PCModel(cfg, DataInfo(16, (4, 4)), seed=3)
    assert float(m.precision(0)) == pytest.approx(PI0) and float(m.precision(1)) == pytest.approx(PI1)
    rng = np.random.default_rng(0)
    W = rng.normal(0, 0.5, (16, 3))
    b1 = np.array([0.2, -0.1, 0.4])
    m.W[0].copy_(torch.from_numpy(W.astype(np.float32)))
    m.b[1].copy_(torch.from_numpy(b1.astype(np.float32)))
    x0 = rng.normal(0, 1, (5, 16))
    m.set_batch(torch.from_numpy(x0.astype(np.float32)), None, learning=False)
    for _ in range(400):
        m.step(learning=False)
    # argmin ½π0|x0 − W x1|² + ½π1|x1 − b1|² + ½λ|x1|², solved by numpy
    A = PI0 * W.T @ W + (PI1 + LAM) * np.eye(3)
    want = np.linalg.solve(A, (PI0 * x0 @ W + PI1 * b1).T).T
    np.testing.assert_allclose(m.x[1].numpy(), want, atol=1e-4)


def test_malformed_layer_precisions_are_refused_naming_the_field():
    with pytest.raises(ValueError, match="layer_precisions.*one per layer"):
        PCConfig(sizes=[16, 3], layer_precisions=[1.0, 1.0, 1.0]).validate()
    with pytest.raises(ValueError, match="layer_precisions.*> 0"):
        PCConfig(sizes=[16, 3], layer_precisions=[1.0, 0.0]).validate()
