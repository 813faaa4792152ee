"""Both amortised-inference families record and play back: a hybrid PC run and a VAE
refining its posterior give back, from the file, the frames the engine produced, with
their new quantities and scalars."""

import numpy as np
import pytest
from io_helpers import assert_same_frame, drain

from pcviz.io import Recorder, open_recording
from pcviz.sim import Engine, load_preset


@pytest.mark.parametrize("preset", ["digits-lvae", "digits-hybrid"])
def test_refinement_and_hybrid_runs_record_and_play_back(tmp_path, preset):
    extra = ["model.inference=refine", "data.hold_steps=6"] if preset == "digits-lvae" else ["data.hold_steps=6"]
    engine = Engine(load_preset(preset, ["engine.learning=false", "data.batch_size=4"] + extra), "cpu")
    check = engine.subscribe_queue(10_000)
    path = tmp_path / f"{preset}.h5"
    rec = Recorder(engine, path).start()
    engine.run_steps(12)
    summary = rec.stop()
    frames = drain(check)
    assert summary.complete and summary.dropped == 0 and len(frames) == 12
    with open_recording(path) as r:
        assert r.spec == engine.spec
        for i, want in enumerate(frames):
            assert_same_frame(r.frame(i), want)
        names = ("amortisation_gap", "approximation_gap", "refine/elbo") if preset == "digits-lvae" else \
            ("amortisation_gap", "steps_to_settle", "forward_loss")
        for name in names:  # the new scalars are recorded, and finite while they apply
            assert np.all(np.isfinite(r.scalar(name))), name
        if preset == "digits-hybrid":
            assert {"amortised", "forward_error", "forward_precision"} <= set(r.frame(0).layers[1])
