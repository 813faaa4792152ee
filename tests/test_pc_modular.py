"""Rao & Ballard's modular hierarchy: each module gets its own copy of its patch of
the strip, each level-1 module's weights stay on its own patch through learning,
and a strip of the wrong width is a clear error."""

import numpy as np
import pytest
import torch

from pcviz.models import DataInfo, ModelError, build_model
from pcviz.models.pc_modular import PCModularConfig
from pcviz.sim.presets import load_preset
from pcviz.sim.train import train


def test_each_module_gets_its_own_copy_of_its_patch():
    cfg = PCModularConfig(sizes=[3 * 4 * 6, 6, 2], modules=3, module_width=6, module_step=2, module_units=2)
    m = build_model(cfg, DataInfo(4 * 10, (4, 10)))
    strip = np.arange(40, dtype=np.float32).reshape(1, 40)
    m.set_batch(torch.from_numpy(strip), None, learning=False)
    x0 = m.x[0].numpy().reshape(4, 3, 6)  # (rows, patch, column)
    img = strip.reshape(4, 10)
    for k in range(3):
        np.testing.assert_array_equal(x0[:, k, :], img[:, 2 * k:2 * k + 6])
    assert m.layers[0].display_shape == (4, 18) and m.data.dim == 40


def test_modules_learn_only_on_their_patch():
    # stage 1 of the preset's training: level 1 learns (the shipped preset is stage 2, which freezes it)
    cfg = load_preset("patches-end-stopping", ["engine.checkpoint=''", "data.n_samples=200", "model.frozen_weights=[]"])
    W0 = build_model(cfg.model, DataInfo(16 * 26, (16, 26)), seed=cfg.engine.seed).W[0].clone()
    engine = train(cfg, 120, device="cpu")
    assert not torch.equal(engine.model.W[0], W0)
    W = engine.model.W[0].numpy().reshape(16, 3, 16, 96)  # (rows, patch, column, units)
    for k in range(3):
        block = W[:, :, :, 32 * k:32 * (k + 1)]
        others = [j for j in range(3) if j != k]
        assert np.all(block[:, others] == 0), k
        assert np.all(np.abs(block[:, k]).sum((0, 1)) > 0), k
    np.testing.assert_allclose(np.linalg.norm(engine.model.W[0].numpy(), axis=0), 1.0, rtol=1e-5)
    assert tuple(engine.model.basis().shape) == (96, 16, 16)


def test_a_strip_of_the_wrong_width_is_a_clear_error():
    cfg = PCModularConfig(sizes=[768, 96, 8])
    with pytest.raises(ModelError, match="span 26 pixels; the input is 20 wide"):
        build_model(cfg, DataInfo(16 * 20, (16, 20)))
    with pytest.raises(ModelError, match="side by side, 768 values"):
        build_model(PCModularConfig(sizes=[416, 96, 8]), DataInfo(16 * 26, (16, 26)))
    with pytest.raises(ValueError, match="modules x module_units"):
        PCModularConfig(sizes=[416, 90, 8]).validate()


def _probe_bars(model, conditions=("intact", "no-feedback"), units="auto"):
    from pcviz.data.stimuli import stimulus_set
    from pcviz.sim.probe import probe

    st = stimulus_set("bars", (16, 26), "length", [1, 2, 4, 6, 8, 10, 12, 16, 20, 26], {"orientation": 0})
    return probe(model, st, 1, quantity="error", units=units, among=range(32, 64), conditions=list(conditions),
                 hold_steps=30)


def test_the_shipped_hierarchy_is_end_stopped_with_feedback_and_not_without():
    """Rao & Ballard's result and its control, measured as the README's probe command
    does: the middle module's error units, horizontal bars of growing length. With
    feedback the longest bar gives at most 0.6 of the peak response; with level 2's
    prediction lesioned the modules are independent, so a bar growing beyond the middle
    patch changes nothing there and the response does not fall (>= 0.9). Feedback
    explains most of the error away."""
    from pcviz.sim.engine import Engine

    engine = Engine(load_preset("patches-end-stopping", ["data.n_samples=200"]), device="cpu")
    res = _probe_bars(engine.model)
    assert res.last_to_peak("intact") <= 0.6
    assert res.last_to_peak("no-feedback") >= 0.9
    assert res.curve("intact").max() < 0.5 * res.curve("no-feedback").max()


def test_without_feedback_the_error_is_level_one_alone():
    """With no biases (learn_biases = false) and level 2's prediction lesioned, level 1's
    error is its activity, whatever level 2 holds: the control does not move when only
    level 2 is retrained (here: replaced by random weights)."""
    from pcviz.sim.engine import Engine

    engine = Engine(load_preset("patches-end-stopping", ["data.n_samples=200"]), device="cpu")
    units = list(range(32, 64))
    shipped = _probe_bars(engine.model, ["no-feedback"], units)
    engine.model.W[1].copy_(torch.randn_like(engine.model.W[1]) * engine.model.W[1].std())
    other = _probe_bars(engine.model, ["no-feedback"], units)
    np.testing.assert_allclose(other.responses, shipped.responses, rtol=1e-5, atol=1e-7)
    model = engine.model
    model.lesion(1, 0.0)
    model.set_batch(torch.from_numpy(engine.test_data.x[:8]), None, learning=False)
    for _ in range(30):
        model.step(False)
    torch.testing.assert_close(model.err[1], model.x[1])
