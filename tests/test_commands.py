"""Commands own their knowledge: a command type defined here, and nowhere else, is
dispatched by the engine, listed, undone and written to (and replayed from) a
schedule; old schedule tables keep loading; bad tables are refused with the key, the
value and the file."""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import tomli_w

from pcviz.config import ConfigError, run_config_to_dict
from pcviz.sim import Engine, Release, load_preset
from pcviz.sim import commands as C
from pcviz.sim.schedule import listed_command, save_schedule

SMALL = ["engine.checkpoint=''", "model.sizes=[64, 12, 6]", "data.batch_size=4", "data.hold_steps=10"]


@dataclass(frozen=True)
class Pin(C.Command):
    """A command type of this test only: hold units at a value; undo releases them."""
    intervention: ClassVar[bool] = True
    schedulable: ClassVar[bool] = True
    layer: int
    units: tuple[int, ...] = ()
    at: float = 0.5

    def apply(self, run: C.CommandTarget) -> None:
        run.model.clamp(self.layer, list(self.units), float(self.at))

    def inverse(self) -> C.Command:
        return Release(self.layer, self.units)

    def describe_text(self, layer_name) -> str:
        return f"pin {layer_name(self.layer)} at {self.at:g}"


def small_engine(path="digits-pc-scratch"):
    return Engine(load_preset(path, SMALL), device="cpu")


def test_a_new_command_type_is_dispatched_listed_undone_and_scheduled(tmp_path):
    e = small_engine()
    e.run_steps(2)
    e.submit(Pin(2, (1, 4), at=0.7))
    e.run_steps(3)
    act = e.snapshot().layers[2]["activity"]
    assert act[1] == np.float32(0.7) and act[4] == np.float32(0.7)  # held at the value it was given
    (ev,) = [ev for ev in e.events.all() if ev.kind == "pin"]
    assert ev.step == 2 and ev.payload == {"layer": 2, "units": [1, 4], "at": 0.7}
    # listed, described in its own words, undone by its inverse
    cmd = listed_command(ev)
    assert cmd == Pin(2, (1, 4), 0.7)
    assert cmd.describe_text(lambda l: f"x{l}") == "pin x2 at 0.7"
    e.submit(cmd.inverse())
    e.run_steps(3)
    assert e.snapshot().layers[2]["activity"][1] != np.float32(0.7)
    # written to a schedule in its own fields, and replayed from it
    doc = run_config_to_dict(load_preset("digits-pc-scratch", SMALL))
    path = save_schedule(tmp_path / "pinned.toml", doc, e.events.all())
    assert 'kind = "pin"' in path.read_text() and "at = 0.7" in path.read_text()
    cfg = load_preset(str(path))
    assert [(s.step, s.kind, s.fields) for s in cfg.interventions if s.kind == "pin"] == \
        [(2, "pin", {"layer": 2, "units": [1, 4], "at": 0.7})]
    again = Engine(cfg, device="cpu")
    again.run_steps(4)
    assert again.snapshot().layers[2]["activity"][4] == np.float32(0.7)
    assert [(ev.step, ev.payload.get("scheduled")) for ev in again.events.all() if ev.kind == "pin"] == [(2, True)]


def write(tmp_path, interventions):
    doc = {"preset": {"name": "t"}, "data": {"batch_size": 4, "hold_steps": 10},
           "model": {"kind": "pc", "sizes": [64, 12, 6]}, "engine": {"checkpoint": ""}, "interventions": interventions}
    p = tmp_path / "t.toml"
    p.write_text(tomli_w.dumps(doc))
    return p


OLD_DEFAULTS = {"layer": 0, "units": [], "value": 0.0, "duration": 0, "region": [], "name": ""}


def test_old_schedule_tables_load_in_the_new_form(tmp_path):
    """The generic table of earlier versions: every key present (as the old writer
    stored configs in recordings), the lesion factor in ``value``, ``layer = -1`` for
    every layer, ``value < 0`` for no label, ``duration = 1`` for imagine."""
    old = [
        {**OLD_DEFAULTS, "step": 1, "kind": "lesion", "layer": 1, "value": 0.25},
        {**OLD_DEFAULTS, "step": 2, "kind": "release", "layer": -1},
        {**OLD_DEFAULTS, "step": 3, "kind": "set_label", "value": 3.0, "duration": 1},
        {**OLD_DEFAULTS, "step": 4, "kind": "set_label", "value": -1.0},
        {**OLD_DEFAULTS, "step": 5, "kind": "clamp", "layer": 2, "units": [0], "value": 0.5, "duration": 2},
        {**OLD_DEFAULTS, "step": 6, "kind": "pause"},
    ]
    cfg = load_preset(str(write(tmp_path, old)))
    got = [(s.kind, s.fields) for s in cfg.interventions]
    assert got == [
        ("lesion", {"layer": 1, "factor": 0.25, "units": [], "region": []}),  # region: a field since lesions take one
        ("release", {"units": []}),
        ("set_label", {"label": 3, "imagine": True}),
        ("set_label", {"imagine": False}),
        ("clamp", {"layer": 2, "units": [0], "value": 0.5, "duration": 2}),
        ("pause", {}),
    ]
    assert run_config_to_dict(cfg)["interventions"][1] == {"step": 2, "kind": "release", "units": []}
    cmds = [C.command_from_schedule({"kind": s.kind, **s.fields}) for s in cfg.interventions]
    assert cmds[0] == C.Lesion(1, 0.25) and cmds[1] == C.Release(None) and cmds[2] == C.SetLabel(3, True)
    assert cmds[3] == C.SetLabel(None)


@pytest.mark.parametrize("table, message", [
    ({"kind": "clamp", "layer": 1, "valu": 1.0}, r"interventions\[0\]\.valu: a clamp has no such field"),
    ({"kind": "clamp", "units": [0]}, r"missing required key interventions\[0\]\.layer"),
    ({"kind": "lesion", "layer": 1, "factor": "half"}, r"interventions\[0\]\.factor = 'half': a lesion needs a number"),
    ({"kind": "occlude", "units": [1, "x"]}, r"interventions\[0\]\.units = \[1, 'x'\]: .*list of integers"),
    ({"kind": "explode"}, r"interventions\[0\]\.kind = 'explode': must be one of .*'clamp'"),
])
def test_bad_schedule_tables_name_key_value_and_file(tmp_path, table, message):
    p = write(tmp_path, [{"step": 1, **table}])
    with pytest.raises(ConfigError, match=message) as info:
        load_preset(str(p))
    assert str(p) in str(info.value)
