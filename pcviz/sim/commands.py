"""Typed commands to the engine. Widgets and scripts put these on the engine's
thread-safe queue (``engine.submit(cmd)``); never strings.

Each command type owns what is known about it, in one place: how it is applied
(:meth:`Command.apply`, through the engine's declared :class:`CommandTarget`), the
name of its events and schedule entries (``kind``), whether it is an intervention
(listed, marked, undoable), its inverse (:meth:`Command.inverse`, for undo), a line
that describes it (:meth:`Command.describe_text`) and its schedule form
(:meth:`Command.to_schedule` / :func:`command_from_schedule`: the dataclass fields,
named as they are). The engine's dispatcher, the event list and the schedule writer
use only these, so a new command type needs no edit anywhere else.
"""

from __future__ import annotations

import abc
import math
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable, ClassVar, Protocol

from pcviz.config import ConfigError

#: kind -> command class, filled as the classes are defined
_KINDS: dict[str, type[Command]] = {}

#: keys of the generic schedule table before the commands owned their forms, and
#: their defaults (old presets and recordings carry them all)
_OLD_DEFAULTS: dict[str, Any] = {"layer": 0, "units": [], "value": 0.0, "duration": 0, "region": [], "name": ""}


class CommandTarget(Protocol):
    """What a command may use of the engine (and nothing more)."""

    model: Any  # pcviz.models.GenerativeModel
    step_count: int
    #: what a :class:`Call`'s function is given (the engine, read through
    #: :class:`pcviz.sim.framing.RunState`); no other command uses it
    call_subject: Any

    def play(self) -> None: ...
    def pause(self) -> None: ...
    def request_steps(self, n: int) -> None: ...
    def request_hold_end(self) -> None: ...
    def reset(self, weights: bool) -> None: ...
    def set_param(self, name: str, value: Any) -> None: ...
    def after(self, steps: int, cmd: Command) -> None: ...
    def occlusion_units(self, region: tuple[int, ...], units: tuple[int, ...]) -> list[int]: ...
    def region_units(self, layer: int, region: tuple[int, ...], units: tuple[int, ...], what: str) -> list[int]: ...
    def load_checkpoint(self, path: str) -> None: ...
    def save_checkpoint(self, path: str) -> None: ...


LayerNamer = Callable[[int | None], str]


def units_text(units: tuple[int, ...]) -> str:
    if not units:
        return "all units"
    return f"unit {units[0]}" if len(units) == 1 else f"{len(units)} units"


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


@dataclass(frozen=True)
class Command(abc.ABC):
    """Base of the commands. A subclass is a frozen dataclass that implements
    :meth:`apply`; the class attributes and the other methods say the rest."""

    #: the name of its events and schedule entries (default: the class name in snake case)
    kind: ClassVar[str] = ""
    #: changes what the model computes: listed, marked on the plots and the timeline
    intervention: ClassVar[bool] = False
    #: shown in the event list (interventions, parameter changes)
    listed: ClassVar[bool] = False
    #: marked on a recording's timeline
    marked: ClassVar[bool] = False
    #: may be written in a preset's ``[[interventions]]`` schedule
    schedulable: ClassVar[bool] = False
    #: leaves an event when applied
    logged: ClassVar[bool] = True

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if not cls.__dict__.get("kind"):
            cls.kind = _snake(cls.__name__)
        if cls.intervention:
            cls.listed = True
        if cls.listed and "marked" not in cls.__dict__:
            cls.marked = True
        if cls.kind in _KINDS and _KINDS[cls.kind].__qualname__ != cls.__qualname__:
            raise TypeError(f"command kind {cls.kind!r} of {cls.__qualname__} is taken by {_KINDS[cls.kind]}")
        _KINDS[cls.kind] = cls

    @abc.abstractmethod
    def apply(self, run: CommandTarget) -> None:
        """Do it, in the engine's thread between steps; raise a user error to refuse."""

    def inverse(self) -> Command | None:
        """What undoes it (None: nothing to undo)."""
        return None

    def describe_text(self, layer_name: LayerNamer) -> str:
        """One line for the event list."""
        return self.kind.replace("_", " ")

    def describe(self) -> dict[str, Any]:
        """The event payload: the fields, tuples as lists."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    def to_schedule(self) -> dict[str, Any]:
        """The schedule table (without ``step``): ``kind`` and the fields that are set
        (TOML has no null: a field left out is its default)."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None:
                continue
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def from_old_schedule(cls, table: dict[str, Any]) -> dict[str, Any]:
        """Translate the generic schedule table of earlier versions (one ``value`` for
        every meaning) into this command's fields; the default drops what the old
        writer filled in with its defaults."""
        names = {f.name for f in fields(cls)}
        return {k: v for k, v in table.items() if k in names or k not in _OLD_DEFAULTS or v != _OLD_DEFAULTS[k]}


@dataclass(frozen=True)
class Play(Command):
    kind: ClassVar[str] = "resume"
    schedulable: ClassVar[bool] = True

    def apply(self, run: CommandTarget) -> None:
        run.play()


@dataclass(frozen=True)
class Pause(Command):
    schedulable: ClassVar[bool] = True

    def apply(self, run: CommandTarget) -> None:
        run.pause()


@dataclass(frozen=True)
class Step(Command):
    """Run ``n`` steps, then stay paused."""
    n: int = 1

    def apply(self, run: CommandTarget) -> None:
        if self.n < 1:
            raise ValueError(f"step n = {self.n}: must be at least 1")
        run.request_steps(self.n)


@dataclass(frozen=True)
class StepHold(Command):
    """Run to the end of the current hold (the next sample's arrival)."""

    def apply(self, run: CommandTarget) -> None:
        run.request_hold_end()


@dataclass(frozen=True)
class Reset(Command):
    """Start again: fresh state and data stream; with ``weights``, also the initial
    weights (the preset's checkpoint, or a new random draw)."""
    marked: ClassVar[bool] = True
    weights: bool = True

    def apply(self, run: CommandTarget) -> None:
        run.reset(self.weights)


@dataclass(frozen=True)
class SetParam(Command):
    """Change a config field at run time, e.g. ``SetParam("model.dt", 0.05)``."""
    listed: ClassVar[bool] = True
    schedulable: ClassVar[bool] = True
    name: str
    value: Any

    def apply(self, run: CommandTarget) -> None:
        run.set_param(self.name, self.value)

    def describe_text(self, layer_name: LayerNamer) -> str:
        return f"set {self.name} = {self.value}"


@dataclass(frozen=True)
class Clamp(Command):
    """Hold ``units`` of ``layer`` at ``value``; for ``duration`` steps (0: until released)."""
    intervention: ClassVar[bool] = True
    schedulable: ClassVar[bool] = True
    layer: int
    units: tuple[int, ...] = ()
    value: float = 1.0
    duration: int = 0

    def apply(self, run: CommandTarget) -> None:
        if self.duration < 0:
            raise ValueError(f"clamp duration = {self.duration}: must be at least 0")
        run.model.clamp(self.layer, list(self.units), float(self.value))
        if self.duration > 0:
            run.after(self.duration, Release(self.layer, tuple(self.units)))

    def inverse(self) -> Command:
        return Release(self.layer, self.units)

    def describe_text(self, layer_name: LayerNamer) -> str:
        dur = f" for {self.duration} steps" if self.duration else ""
        return f"clamp {layer_name(self.layer)} {units_text(self.units)} = {self.value:g}{dur}"


@dataclass(frozen=True)
class Release(Command):
    """Undo clamps: of ``units`` of ``layer``; all of a layer when ``units`` is empty;
    everywhere when ``layer`` is None (left out of a schedule table)."""
    intervention: ClassVar[bool] = True
    schedulable: ClassVar[bool] = True
    layer: int | None = None
    units: tuple[int, ...] = ()

    def apply(self, run: CommandTarget) -> None:
        run.model.release(self.layer, list(self.units))

    def describe_text(self, layer_name: LayerNamer) -> str:
        return f"release {layer_name(self.layer)} {units_text(self.units)}"

    @classmethod
    def from_old_schedule(cls, table: dict[str, Any]) -> dict[str, Any]:
        out = super().from_old_schedule(table)
        if out.get("layer") == -1:  # the old form's "every layer"
            del out["layer"]
        return out


@dataclass(frozen=True)
class Pulse(Command):
    """Add ``value`` to ``units`` of ``layer`` once."""
    intervention: ClassVar[bool] = True
    schedulable: ClassVar[bool] = True
    layer: int
    units: tuple[int, ...] = ()
    value: float = 1.0

    def apply(self, run: CommandTarget) -> None:
        run.model.pulse(self.layer, list(self.units), float(self.value))

    def describe_text(self, layer_name: LayerNamer) -> str:
        return f"pulse {layer_name(self.layer)} {units_text(self.units)} {self.value:+g}"


@dataclass(frozen=True)
class Lesion(Command):
    """Multiply the precision of ``layer`` (or of its ``units``, and of the units in
    ``region``: row0, col0, row1, col1, end-exclusive in the layer's display shape) by
    ``factor``: 0 removes it, above 1 is a gain (attention to that region)."""
    intervention: ClassVar[bool] = True
    schedulable: ClassVar[bool] = True
    layer: int
    factor: float = 0.0
    units: tuple[int, ...] = ()
    region: tuple[int, ...] = ()

    def apply(self, run: CommandTarget) -> None:
        units = run.region_units(self.layer, self.region, self.units, "lesion") if self.region else list(self.units)
        run.model.lesion(self.layer, float(self.factor), units)

    def inverse(self) -> Command:
        return Lesion(self.layer, 1.0, self.units, self.region)

    def describe_text(self, layer_name: LayerNamer) -> str:
        what = "precision gain" if self.factor > 1 else ("restore" if self.factor == 1 else "lesion")
        if len(self.region) == 4:
            r0, c0, r1, c1 = self.region
            where = f"rows {r0}-{r1 - 1}, cols {c0}-{c1 - 1}" + (f" + {units_text(self.units)}" if self.units else "")
        else:
            where = units_text(self.units)
        return f"{what} {layer_name(self.layer)} {where} precision \u00d7{self.factor:g}"

    @classmethod
    def from_old_schedule(cls, table: dict[str, Any]) -> dict[str, Any]:
        table = dict(table)
        if "factor" not in table and "value" in table:  # the old form carried the factor in value
            table["factor"] = table.pop("value")
        return super().from_old_schedule(table)


@dataclass(frozen=True)
class Occlude(Command):
    """Set the input precision to 0 in ``region`` (row0, col0, row1, col1; end-exclusive,
    in the input's display shape) or at ``units``; the model must fill it in from above."""
    intervention: ClassVar[bool] = True
    schedulable: ClassVar[bool] = True
    region: tuple[int, ...] = ()
    units: tuple[int, ...] = ()

    def apply(self, run: CommandTarget) -> None:
        run.model.occlude(run.occlusion_units(self.region, self.units))

    def inverse(self) -> Command:
        return Unocclude()

    def describe_text(self, layer_name: LayerNamer) -> str:
        if len(self.region) == 4:
            r0, c0, r1, c1 = self.region
            return f"occlude input rows {r0}-{r1 - 1}, cols {c0}-{c1 - 1}"
        return f"occlude input {units_text(self.units)}"


@dataclass(frozen=True)
class Unocclude(Command):
    intervention: ClassVar[bool] = True
    schedulable: ClassVar[bool] = True

    def apply(self, run: CommandTarget) -> None:
        run.model.unocclude()

    def describe_text(self, layer_name: LayerNamer) -> str:
        return "unocclude input"


@dataclass(frozen=True)
class ClearInterventions(Command):
    """Release every clamp, lesion, occlusion and label."""
    intervention: ClassVar[bool] = True
    schedulable: ClassVar[bool] = True

    def apply(self, run: CommandTarget) -> None:
        run.model.clear_interventions()

    def describe_text(self, layer_name: LayerNamer) -> str:
        return "clear all interventions"


@dataclass(frozen=True)
class SetLabel(Command):
    """Clamp the label layer to one-hot ``label`` (None, left out of a schedule table:
    back to the data's labels); with ``imagine``, free the input too, so the network
    draws what it expects."""
    intervention: ClassVar[bool] = True
    schedulable: ClassVar[bool] = True
    label: int | None = None
    imagine: bool = False

    def apply(self, run: CommandTarget) -> None:
        run.model.set_label(self.label, self.imagine)

    def inverse(self) -> Command | None:
        return None if self.label is None else SetLabel(None)

    def describe_text(self, layer_name: LayerNamer) -> str:
        if self.label is None:
            return "label free (the data's)"
        return f"{'imagine' if self.imagine else 'clamp label'} {self.label}"

    @classmethod
    def from_old_schedule(cls, table: dict[str, Any]) -> dict[str, Any]:
        table = dict(table)
        if "label" not in table and "value" in table:  # old form: value < 0 meant "no label"
            v = table.pop("value")
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0:
                table["label"] = int(v)
            elif not isinstance(v, (int, float)) or isinstance(v, bool):
                table["label"] = v  # let the type check name it
        if "imagine" not in table and "duration" in table:  # old form: duration 1 meant "imagine"
            table["imagine"] = bool(table.pop("duration"))
        return super().from_old_schedule(table)


@dataclass(frozen=True)
class LoadCheckpoint(Command):
    path: str

    def apply(self, run: CommandTarget) -> None:
        run.load_checkpoint(self.path)


@dataclass(frozen=True)
class SaveCheckpoint(Command):
    path: str

    def apply(self, run: CommandTarget) -> None:
        run.save_checkpoint(self.path)


@dataclass(frozen=True)
class SetDisplayIndex(Command):
    """Which batch item the frames show."""
    index: int

    def apply(self, run: CommandTarget) -> None:
        run.set_param("engine.display_index", self.index)


@dataclass(frozen=True)
class Shutdown(Command):
    def apply(self, run: CommandTarget) -> None:
        pass  # the engine's loop stops when it takes this off the queue


@dataclass(frozen=True)
class Call(Command):
    """Run ``fn(engine)`` in the engine thread (for tools and tests, not logged)."""
    logged: ClassVar[bool] = False
    fn: Any = field(default=None, compare=False)

    def apply(self, run: CommandTarget) -> None:
        self.fn(run.call_subject)


# ------------------------------------------------------------------ lookups
def command_class(kind: str) -> type[Command] | None:
    return _KINDS.get(kind)


def kinds(which: str) -> tuple[str, ...]:
    """The kinds whose class says ``which`` ("intervention", "listed", "marked", "schedulable")."""
    return tuple(k for k, c in _KINDS.items() if getattr(c, which))


def command_from_event(kind: str, payload: dict[str, Any]) -> Command | None:
    """The command an engine event logged (its payload is the command's fields); None
    when ``kind`` is not a command, or the payload no longer fits it."""
    cls = _KINDS.get(kind)
    if cls is None or not cls.logged:
        return None
    given = {k: (tuple(v) if isinstance(v, list) else v) for k, v in payload.items() if k != "scheduled"}
    try:
        return cls(**given)
    except TypeError:
        return None


def command_from_schedule(table: dict[str, Any], where: str = "interventions[?]", source: str | None = None) -> Command:
    """A schedule table (without ``step``), new form or old, as a command; every
    problem is a :class:`ConfigError` that names the key, the value and the file."""
    kind = table.get("kind")
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None or not cls.schedulable:
        choices = ", ".join(repr(k) for k in kinds("schedulable"))
        raise ConfigError(f"{where}.kind = {kind!r}: must be one of {choices}", key=f"{where}.kind", source=source)
    given = cls.from_old_schedule({k: v for k, v in table.items() if k != "kind"})
    known = {f.name: f for f in fields(cls)}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, v in given.items():
        if name not in known:
            raise ConfigError(f"{where}.{name}: a {kind} has no such field (it has: {', '.join(known) or 'none'})",
                              key=f"{where}.{name}", source=source)
        values[name] = _convert(v, hints[name], f"{where}.{name}", kind, source)
    for name, f in known.items():
        if name not in values and f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(f"missing required key {where}.{name} (a {kind} needs it)", key=f"{where}.{name}",
                              source=source)
    return cls(**values)


def schedule_form(table: dict[str, Any], where: str, source: str | None) -> dict[str, Any]:
    """A schedule table checked and rewritten in the current form (``kind`` and the
    command's fields): what the preset loader keeps."""
    return command_from_schedule(table, where, source).to_schedule()


def _convert(v: Any, tp: Any, key: str, kind: str, source: str | None) -> Any:
    """A schedule value as the field's type (TOML has no tuples and no null)."""
    if tp is Any:
        return v
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        tp = next(a for a in args if a is not type(None))
    if typing.get_origin(tp) is tuple:
        if isinstance(v, (list, tuple)) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            return tuple(int(x) for x in v)
        raise ConfigError(f"{key} = {v!r}: a {kind} needs a list of integers", key=key, source=source)
    if tp is float and isinstance(v, (int, float)) and not isinstance(v, bool):
        if not math.isfinite(v):
            raise ConfigError(f"{key} = {v!r}: must be a finite number", key=key, source=source)
        return float(v)
    if tp is int and isinstance(v, int) and not isinstance(v, bool):
        return v
    if tp in (bool, str) and isinstance(v, tp):
        return v
    need = {float: "a number", int: "an integer", bool: "true or false", str: "a string"}.get(tp, str(tp))
    raise ConfigError(f"{key} = {v!r}: a {kind} needs {need}", key=key, source=source)
