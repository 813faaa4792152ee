"""Every preset that opens on a trained checkpoint opens with learning off (issue 11,
part 5, extended to the VAE and hybrid presets): the numbers on screen are the
checkpoint's until the user turns learning on, and one setting turns it on."""

from pathlib import Path

import pytest

from pcviz.sim.presets import load_preset

PRESETS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "resources" / "presets").glob("*.toml"))
TRAINED = [p for p in PRESETS if load_preset(p).engine.checkpoint]


def test_the_trained_presets_are_the_ones_the_readme_lists_as_trained():
    assert {"digits-pc", "digits-lvae", "digits-bvae", "digits-hybrid"} <= set(TRAINED)


@pytest.mark.parametrize("preset", TRAINED)
def test_trained_presets_open_with_learning_off_and_one_setting_turns_it_on(preset):
    assert load_preset(preset).engine.learning is False
    assert load_preset(preset, ["engine.learning=true"]).engine.learning is True
