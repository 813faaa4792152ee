"""Typed commands to the engine. Widgets and scripts put these on the engine's
thread-safe queue (``engine.submit(cmd)``); never strings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Command:
    def describe(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Play(Command):
    pass


@dataclass(frozen=True)
class Pause(Command):
    pass


@dataclass(frozen=True)
class Step(Command):
    """Run ``n`` steps, then stay paused."""
    n: int = 1


@dataclass(frozen=True)
class StepHold(Command):
    """Run to the end of the current hold (the next sample's arrival)."""


@dataclass(frozen=True)
class Reset(Command):
    """Start again: fresh state and data stream; with ``weights``, also the initial
    weights (the preset's checkpoint, or a new random draw)."""
    weights: bool = True


@dataclass(frozen=True)
class SetParam(Command):
    """Change a config field at run time, e.g. ``SetParam("model.dt", 0.05)``."""
    name: str
    value: Any


@dataclass(frozen=True)
class Clamp(Command):
    """Hold ``units`` of ``layer`` at ``value``; for ``duration`` steps (0: until released)."""
    layer: int
    units: tuple[int, ...] = ()
    value: float = 1.0
    duration: int = 0


@dataclass(frozen=True)
class Release(Command):
    """Undo clamps: of ``units`` of ``layer``; all of a layer when ``units`` is empty;
    everywhere when ``layer`` is None."""
    layer: int | None = None
    units: tuple[int, ...] = ()


@dataclass(frozen=True)
class Pulse(Command):
    """Add ``value`` to ``units`` of ``layer`` once."""
    layer: int
    units: tuple[int, ...] = ()
    value: float = 1.0


@dataclass(frozen=True)
class Lesion(Command):
    """Multiply the precision of ``layer`` (or of its ``units``) by ``factor`` (0 removes it)."""
    layer: int
    factor: float = 0.0
    units: tuple[int, ...] = ()


@dataclass(frozen=True)
class Occlude(Command):
    """Set the input precision to 0 in ``region`` (row0, col0, row1, col1; end-exclusive,
    in the input's display shape) or at ``units``; the model must fill it in from above."""
    region: tuple[int, ...] = ()
    units: tuple[int, ...] = ()


@dataclass(frozen=True)
class Unocclude(Command):
    pass


@dataclass(frozen=True)
class ClearInterventions(Command):
    """Release every clamp, lesion, occlusion and label."""


@dataclass(frozen=True)
class SetLabel(Command):
    """Clamp the label layer to one-hot ``label`` (None: back to the data's labels);
    with ``imagine``, free the input too, so the network draws what it expects."""
    label: int | None = None
    imagine: bool = False


@dataclass(frozen=True)
class LoadCheckpoint(Command):
    path: str


@dataclass(frozen=True)
class SaveCheckpoint(Command):
    path: str


@dataclass(frozen=True)
class SetDisplayIndex(Command):
    """Which batch item the frames show."""
    index: int


@dataclass(frozen=True)
class Shutdown(Command):
    pass


@dataclass(frozen=True)
class Call(Command):
    """Run ``fn(engine)`` in the engine thread (for tools and tests, not logged)."""
    fn: Any = field(default=None, compare=False)


#: the names of scheduled-intervention kinds (presets) and their command classes
SCHEDULE_KINDS = {
    "clamp": Clamp, "release": Release, "pulse": Pulse, "lesion": Lesion, "occlude": Occlude,
    "unocclude": Unocclude, "set_label": SetLabel, "set_param": SetParam, "pause": Pause, "resume": Play,
}


def command_from_spec(spec) -> Command:
    """A scheduled intervention (``pcviz.config.InterventionSpec``) as a command."""
    k = spec.kind
    units = tuple(spec.units)
    if k == "clamp":
        return Clamp(spec.layer, units, spec.value, spec.duration)
    if k == "release":
        return Release(None if spec.layer < 0 else spec.layer, units)
    if k == "pulse":
        return Pulse(spec.layer, units, spec.value)
    if k == "lesion":
        return Lesion(spec.layer, spec.value, units)
    if k == "occlude":
        return Occlude(tuple(spec.region), units)
    if k == "unocclude":
        return Unocclude()
    if k == "set_label":
        return SetLabel(None if spec.value < 0 else int(spec.value), imagine=bool(spec.duration))
    if k == "set_param":
        return SetParam(spec.name, spec.value)
    if k == "pause":
        return Pause()
    if k == "resume":
        return Play()
    raise ValueError(f"unknown intervention kind {k!r}")


def spec_from_command(step: int, cmd: Command) -> dict[str, Any] | None:
    """The inverse of :func:`command_from_spec`, as a preset table; None for commands
    that are not interventions (so an event list can be saved as a schedule)."""
    base: dict[str, Any] = {"step": int(step)}
    if isinstance(cmd, Clamp):
        return {**base, "kind": "clamp", "layer": cmd.layer, "units": list(cmd.units), "value": cmd.value,
                "duration": cmd.duration}
    if isinstance(cmd, Release):
        return {**base, "kind": "release", "layer": -1 if cmd.layer is None else cmd.layer,
                "units": list(cmd.units)}
    if isinstance(cmd, Pulse):
        return {**base, "kind": "pulse", "layer": cmd.layer, "units": list(cmd.units), "value": cmd.value}
    if isinstance(cmd, Lesion):
        return {**base, "kind": "lesion", "layer": cmd.layer, "units": list(cmd.units), "value": cmd.factor}
    if isinstance(cmd, Occlude):
        return {**base, "kind": "occlude", "region": list(cmd.region), "units": list(cmd.units)}
    if isinstance(cmd, Unocclude):
        return {**base, "kind": "unocclude"}
    if isinstance(cmd, SetLabel):
        return {**base, "kind": "set_label", "value": -1.0 if cmd.label is None else float(cmd.label),
                "duration": int(cmd.imagine)}
    if isinstance(cmd, SetParam):
        return {**base, "kind": "set_param", "name": cmd.name, "value": cmd.value}
    return None
