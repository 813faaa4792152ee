"""Presets and configuration: every bad input raises ConfigError naming the key,
the value and the file; nothing else escapes."""

import string
import tomllib

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcviz.config import ConfigError, parse_override, run_config_to_dict
from pcviz.models import model_configs
from pcviz.sim.presets import config_from_document, list_presets, load_preset


def write(tmp_path, text, name="p.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_every_shipped_preset_loads_and_has_a_description():
    entries = list_presets()
    names = {e.name for e in entries}
    assert {"digits-pc", "digits-pc-scratch", "digits-supervised", "patches-rao-ballard"} <= names
    for e in entries:
        cfg = load_preset(e.path)
        assert e.description, f"{e.name} has no description"
        assert cfg.model_kind == e.model_kind


def test_unknown_key_names_key_and_file(tmp_path):
    p = write(tmp_path, "[model]\nkind = 'pc'\nsizez = [64, 10]\n")
    with pytest.raises(ConfigError) as exc:
        load_preset(p)
    msg = str(exc.value)
    assert "model.sizez" in msg and str(p) in msg and "known keys" in msg


def test_wrong_type_names_key_value_and_file(tmp_path):
    p = write(tmp_path, "[model]\ndt = 'fast'\n")
    with pytest.raises(ConfigError) as exc:
        load_preset(p)
    msg = str(exc.value)
    assert "model.dt" in msg and "'fast'" in msg and "float" in msg and str(p) in msg


def test_out_of_range_value(tmp_path):
    p = write(tmp_path, "[data]\nbatch_size = 0\n")
    with pytest.raises(ConfigError, match=r"data\.batch_size = 0: must be at least 1"):
        load_preset(p)


def test_bad_choice_lists_the_choices(tmp_path):
    p = write(tmp_path, "[model]\nactivation = 'swish'\n")
    with pytest.raises(ConfigError, match=r"model\.activation = 'swish': must be one of 'linear'"):
        load_preset(p)


def test_invalid_toml_names_file_and_line(tmp_path):
    p = write(tmp_path, "[model\n")
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 1"):
        load_preset(p)


def test_missing_preset_lists_known_names():
    with pytest.raises(ConfigError, match="no preset named 'nope'.*digits-pc"):
        load_preset("nope")


def test_overrides_dotted_and_typed():
    cfg = load_preset("digits-pc-scratch", ["model.dt=0.05", "data.source=bars", "engine.learning=false",
                                            "model.sizes=[64, 10]", "data.batch_size=4"])
    assert cfg.model.dt == 0.05 and cfg.data.source == "bars" and cfg.engine.learning is False
    assert cfg.model.sizes == [64, 10] and cfg.data.batch_size == 4


def test_override_into_a_value_is_an_error():
    with pytest.raises(ConfigError, match=r"model\.dt\.x = 1: model\.dt is a value, not a table"):
        load_preset("digits-pc-scratch", ["model.dt.x=1"])


def test_override_without_equals():
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_override("model.dt")


def test_cross_field_validation_names_the_fields(tmp_path):
    p = write(tmp_path, "[model]\nprecision_min = 10.0\nprecision_max = 1.0\n")
    with pytest.raises(ConfigError, match="precision_min = 10.0 must be below precision_max = 1.0"):
        load_preset(p)


def test_unknown_model_kind(tmp_path):
    p = write(tmp_path, "[model]\nkind = 'transformer'\n")
    with pytest.raises(ConfigError, match=r"model\.kind = 'transformer': must be one of 'pc'"):
        load_preset(p)


def test_intervention_schedule_is_checked(tmp_path):
    p = write(tmp_path, "[[interventions]]\nstep = 10\nkind = 'clamp'\nvalue = 'high'\n")
    with pytest.raises(ConfigError, match=r"interventions\[0\].*needs a number"):
        load_preset(p)
    p = write(tmp_path, "[[interventions]]\nkind = 'clamp'\n")
    with pytest.raises(ConfigError, match=r"missing required key interventions\[0\]\.step"):
        load_preset(p)


def test_resolved_config_round_trips():
    cfg = load_preset("digits-pc")
    doc = run_config_to_dict(cfg)
    again = config_from_document(tomllib.loads(tomli_w.dumps(doc)))
    assert run_config_to_dict(again) == doc


# ------------------------------------------------------------- property-based

KEYS = ["preset", "data", "model", "engine", "interventions", "name", "description", "source", "batch_size",
        "hold_steps", "sizes", "dt", "kind", "mode", "activation", "precision", "seed", "learning", "step",
        "layer", "units", "value", "duration", "bogus", "device", "precision_min", "precision_max", "noise"]
scalars = st.one_of(
    st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from(["pc", "digits", "bars", "tanh", "cpu", "auto", "scalar", "clamp"]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.sampled_from(KEYS), children, max_size=4)),
    max_leaves=12,
)
documents = st.dictionaries(st.sampled_from(KEYS + ["extra"]), values, max_size=5)
override_keys = st.lists(st.one_of(st.sampled_from(KEYS), st.text(string.ascii_letters + "._", min_size=1,
                                                                  max_size=8)), min_size=1, max_size=3)
override_values = st.one_of(st.text(max_size=10), st.sampled_from(["1", "0.5", "true", "[1, 2]", "{a=1}",
                                                                   "'x'", "nan", "-3", "1e400"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents, overrides=st.lists(st.tuples(override_keys, override_values), max_size=3))
def test_random_documents_load_or_raise_config_error(tmp_path_factory, doc, overrides):
    path = tmp_path_factory.mktemp("h") / "random.toml"
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):
        text = "garbage = [1, 'mixed'\n"  # tomli_w refuses some documents: try invalid TOML instead
    path.write_text(text)
    sets = [".".join(k) + "=" + v for k, v in overrides]
    try:
        cfg = load_preset(path, sets)
    except ConfigError as exc:
        msg = str(exc)
        assert str(path) in msg or "--set" in msg or "override" in msg
        return
    assert cfg.model_kind in model_configs()
