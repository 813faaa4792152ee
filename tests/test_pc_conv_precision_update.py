"""The convolutional family has only the point update of learned precisions: asking
for the dense family's laplace correction is refused with a message that says so,
and no shipped conv preset learns precisions (so none of its numbers rests on the
biased point rule)."""

from pathlib import Path

import pytest

from pcviz.config import ConfigError
from pcviz.sim.presets import load_preset

PRESETS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "resources" / "presets").glob("*.toml"))
CONV = [p for p in PRESETS if load_preset(p).model.kind == "pc_conv"]


def test_there_is_a_conv_preset():
    assert "patches-conv-pc" in CONV


@pytest.mark.parametrize("preset", CONV)
def test_conv_presets_keep_precisions_fixed_and_use_the_point_rule(preset):
    cfg = load_preset(preset).model
    assert cfg.precision == "fixed"
    assert cfg.precision_update == "point"


@pytest.mark.parametrize("precision", ["fixed", "scalar", "channel"])
def test_laplace_is_refused_by_name_for_conv(precision):
    with pytest.raises((ConfigError, ValueError)) as info:
        load_preset("patches-conv-pc", [f"model.precision={precision}", "model.precision_update=laplace"])
    msg = str(info.value)
    assert "precision_update" in msg and "laplace" in msg and "convolutional" in msg


def test_the_dense_families_accept_laplace():
    for preset in ("digits-pc", "digits-hybrid"):
        assert load_preset(preset, ["model.precision_update=laplace"]).model.precision_update == "laplace"
