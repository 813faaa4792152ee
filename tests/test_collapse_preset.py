"""The posterior-collapse preset: no warm-up and no free bits, and a schedule that
turns free bits on (the measured collapse and revival are in the README's gallery,
made by docs/render_phenomena.py: a run of 12000 steps is too long for the suite)."""

from pcviz.sim.presets import load_preset


def test_the_collapse_preset_schedules_free_bits():
    cfg = load_preset("digits-lvae-collapse")
    assert cfg.model.warmup == "none" and cfg.model.free_bits == 0.0
    (spec,) = cfg.interventions
    assert spec.kind == "set_param" and spec.fields["name"] == "model.free_bits" and spec.fields["value"] == 0.5
