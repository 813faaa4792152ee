"""Dataclass configs, TOML preset loading and validation.

Every part of pcviz is configured by a dataclass. This module turns plain mappings
(parsed TOML, ``--set key=value`` overrides) into those dataclasses and checks every
value; every problem raises :class:`ConfigError` with a message that names the key,
the value and the file. Only the standard library is imported here: model families
register their own config dataclasses, and the registry is passed in by the caller
(see :func:`pcviz.sim.presets.load_preset`).

Field constraints live in ``dataclasses.field(metadata=...)``:
``min``/``max`` (inclusive), ``gt``/``lt`` (exclusive), ``choices`` and ``help``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from pcviz.errors import PcvizError

__all__ = [
    "ConfigError",
    "DataConfig",
    "EngineConfig",
    "InterventionSpec",
    "RunConfig",
    "PresetInfo",
    "build",
    "parse_override",
    "apply_overrides",
    "read_toml",
    "resolve_run_config",
    "to_dict",
    "meta",
    "parse_toml",
    "run_config_to_dict",
    "set_field",
]


class ConfigError(PcvizError, ValueError):
    """A configuration problem; the message names the key, the value and the source."""

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None):
        self.key = key
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{message}")


def meta(help: str = "", **constraints: Any) -> dict[str, Any]:
    """Field metadata helper: ``field(default=1.0, metadata=meta("step size", gt=0))``."""
    return {"help": help, **constraints}


# --------------------------------------------------------------------------- parts


@dataclass
class DataConfig:
    source: str = field(
        default="digits",
        metadata=meta(
            "input stream",
            choices=("digits", "digit-chimeras", "bars", "shapes", "patches", "contours", "photos", "mnist"),
        ),
    )
    batch_size: int = field(default=16, metadata=meta("samples run in parallel", min=1, max=65536))
    hold_steps: int = field(default=50, metadata=meta("steps each sample is held (T)", min=1, max=1_000_000))
    shuffle: bool = field(default=True, metadata=meta("draw samples in a random order"))
    test_fraction: float = field(default=0.2, metadata=meta("held-out fraction", min=0.0, max=0.9))
    split: str = field(default="train", metadata=meta("which split the stream shows", choices=("train", "test")))
    n_samples: int = field(default=2000, metadata=meta("size of generated data sets", min=10, max=10_000_000))
    patch_size: int = field(default=16, metadata=meta("side of image patches (patches, photos)", min=4, max=256))
    patch_width: int = field(default=0, metadata=meta("width of generated patches when not square (0: patch_size)",
                                                      min=0, max=256))
    image_size: int = field(default=8, metadata=meta("side of bars/shapes images", min=4, max=256))
    whiten: bool = field(default=True, metadata=meta("whiten patches as Rao & Ballard did"))
    path: str = field(default="", metadata=meta("folder of photos, or MNIST IDX/npz file or folder"))
    noise: float = field(default=0.0, metadata=meta("std of Gaussian pixel noise added to each sample", min=0.0))
    indices: list[int] = field(default_factory=list, metadata=meta(
        "rows of the shown split to present, in this order (empty: all of them)", min=0))
    chimera_rows: int = field(default=4, metadata=meta(
        "digit-chimeras: rows from the top digit, the rest from the other", min=1, max=255))


@dataclass
class EngineConfig:
    seed: int = field(default=0, metadata=meta("random seed", min=0))
    device: str = field(default="auto", metadata=meta("torch device", choices=("auto", "cpu", "cuda", "mps")))
    learning: bool = field(default=True, metadata=meta("update weights and precisions"))
    checkpoint: str = field(default="", metadata=meta("weights to start from (relative to resources/ or absolute)"))
    display_index: int = field(default=0, metadata=meta("batch item streamed in frames", min=0))
    steps_per_second: float = field(
        default=0.0, metadata=meta("rate cap for the engine thread; 0 = as fast as possible", min=0.0)
    )
    divergence_threshold: float = field(
        default=1e8, metadata=meta("total energy above which the run counts as diverged", gt=0.0)
    )
    check_every: int = field(default=10, metadata=meta("steps between divergence checks", min=1))
    train_steps: int = field(default=20000, metadata=meta("steps `pcviz train` runs", min=1))
    threads: int = field(
        default=1,
        metadata=meta("torch CPU threads (0: torch's default). The shipped networks are small: one thread runs"
                      " them fastest, and more threads fight the window and the recorder for the cores", min=0),
    )


@dataclass
class InterventionSpec:
    """One scheduled intervention: at engine step ``step``, the command ``kind`` with
    its own fields (named as the command's dataclass names them). The fields are
    checked, and an earlier version's generic form translated, by the command itself
    (:func:`pcviz.sim.commands.command_from_schedule`), which the preset loader passes
    in as ``schedule_form``."""

    step: int
    kind: str
    fields: dict[str, Any] = field(default_factory=dict)

    def table(self) -> dict[str, Any]:
        """The ``[[interventions]]`` table."""
        return {"step": self.step, "kind": self.kind, **self.fields}


@dataclass
class PresetInfo:
    name: str = field(default="", metadata=meta("preset name"))
    description: str = field(default="", metadata=meta("one line shown by `pcviz presets`"))


@dataclass
class RunConfig:
    """Everything a run needs. ``model`` is the model family's own dataclass."""

    preset: PresetInfo
    data: DataConfig
    model: Any
    engine: EngineConfig
    interventions: list[InterventionSpec]
    source: str = ""

    @property
    def model_kind(self) -> str:
        return getattr(self.model, "kind", type(self.model).__name__)


# ------------------------------------------------------------------ validation core


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "nothing"
    if dataclasses.is_dataclass(tp):
        return "table"
    return getattr(tp, "__name__", str(tp))


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _convert(value: Any, tp: Any, key: str, source: str | None) -> Any:
    """Check ``value`` against the annotation ``tp``; return the converted value."""

    def fail(expected: str | None = None) -> ConfigError:
        expected = expected or _type_name(tp)
        return ConfigError(
            f"{key} = {_describe(value)}: expected {expected}, got {type(value).__name__}",
            key=key,
            source=source,
        )

    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return _convert(value, arg, key, source)
            except ConfigError as exc:
                errors.append(exc)
        raise fail()
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise fail()
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise fail()
        (item_tp, *_rest) = typing.get_args(tp) or (Any,)
        items = [_convert(v, item_tp, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise fail("a table")
        return build(tp, value, prefix=key, source=source)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise fail()
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            return int(value)
        raise fail()
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
            if not math.isfinite(value):
                raise ConfigError(f"{key} = {_describe(value)}: must be a finite number", key=key, source=source)
            return value
        raise fail()
    if tp is str:
        if isinstance(value, str):
            return value
        raise fail()
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise fail()
    raise ConfigError(f"{key}: unsupported annotation {tp!r}", key=key, source=source)


def _check_constraints(value: Any, md: Mapping[str, Any], key: str, source: str | None) -> None:
    def bad(why: str) -> ConfigError:
        return ConfigError(f"{key} = {_describe(value)}: {why}", key=key, source=source)

    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            continue
        if "choices" in md and v not in md["choices"]:
            raise bad("must be one of " + ", ".join(repr(c) for c in md["choices"]))
        if isinstance(v, str):
            continue
        if "min" in md and v < md["min"]:
            raise bad(f"must be at least {md['min']}")
        if "max" in md and v > md["max"]:
            raise bad(f"must be at most {md['max']}")
        if "gt" in md and not v > md["gt"]:
            raise bad(f"must be greater than {md['gt']}")
        if "lt" in md and not v < md["lt"]:
            raise bad(f"must be less than {md['lt']}")


def build(cls: type, mapping: Mapping[str, Any], *, prefix: str = "", source: str | None = None) -> Any:
    """Build dataclass ``cls`` from ``mapping``, checking keys, types and ranges."""
    if not isinstance(mapping, Mapping):
        raise ConfigError(
            f"{prefix or 'config'}: expected a table, got {type(mapping).__name__}", key=prefix, source=source
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    dotted = (prefix + ".") if prefix else ""
    unknown = [k for k in mapping if k not in fields]
    if unknown:
        k = unknown[0]
        known = ", ".join(sorted(fields))
        raise ConfigError(f"unknown key {dotted}{k} (known keys: {known})", key=f"{dotted}{k}", source=source)
    kwargs = {}
    for name, f in fields.items():
        key = f"{dotted}{name}"
        if name not in mapping:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"missing required key {key}", key=key, source=source)
            continue
        value = _convert(mapping[name], hints[name], key, source)
        _check_constraints(value, f.metadata, key, source)
        kwargs[name] = value
    try:
        obj = cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # a __post_init__ check
        raise ConfigError(f"{prefix or cls.__name__}: {exc}", key=prefix, source=source) from None
    check = getattr(obj, "validate", None)
    if callable(check):
        try:
            check()
        except ConfigError:
            raise
        except ValueError as exc:
            raise ConfigError(f"{prefix or cls.__name__}: {exc}", key=prefix, source=source) from None
    return obj


def to_dict(obj: Any) -> Any:
    """A dataclass (tree) as plain dicts/lists, ready for JSON or TOML."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


# -------------------------------------------------------------- TOML and overrides


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"preset file not found: {path}", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read preset: {exc}", source=str(path)) from None
    return parse_toml(text, str(path))


def parse_toml(text: str, source: str | None = None) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=source) from None


def parse_override(text: str) -> tuple[str, Any]:
    """``"model.dt=0.05"`` -> ``("model.dt", 0.05)``. Values are read as TOML values,
    falling back to a plain string (so ``data.source=bars`` works unquoted)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value", key=text)
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part.strip() for part in key.split(".")):
        raise ConfigError(f"override {text!r}: empty key", key=key)
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def apply_overrides(
    doc: Mapping[str, Any], overrides: Mapping[str, Any] | list[tuple[str, Any]], source: str = "--set"
) -> dict[str, Any]:
    """Return a copy of ``doc`` with each dotted ``key = value`` set."""
    out = copy.deepcopy(dict(doc))
    items = overrides.items() if isinstance(overrides, Mapping) else overrides
    for key, value in items:
        parts = key.split(".")
        node: Any = out
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            elif not isinstance(nxt, dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError(
                    f"{key} = {_describe(value)}: {where} is a value, not a table", key=key, source=source
                )
            node = nxt
        node[parts[-1]] = value
    return out


def resolve_run_config(
    doc: Mapping[str, Any],
    model_configs: Mapping[str, type],
    source: str | None = None,
    schedule_form: Callable[[dict[str, Any], str, str | None], dict[str, Any]] | None = None,
) -> RunConfig:
    """Turn a parsed preset document into a :class:`RunConfig`.

    ``model_configs`` maps ``model.kind`` to the family's config dataclass;
    ``schedule_form(table, where, source)`` checks one ``[[interventions]]`` table
    (without ``step``) and returns it in its current form (the commands know theirs).
    """
    if not isinstance(doc, Mapping):
        raise ConfigError("a preset must be a TOML table", source=source)
    allowed = {"preset", "data", "model", "engine", "interventions"}
    for k in doc:
        if k not in allowed:
            raise ConfigError(
                f"unknown section {k} (known: {', '.join(sorted(allowed))})", key=str(k), source=source
            )
    model_doc = doc.get("model", {})
    if not isinstance(model_doc, Mapping):
        raise ConfigError(f"model = {_describe(model_doc)}: expected a table", key="model", source=source)
    kind = model_doc.get("kind", "pc")
    if not isinstance(kind, str) or kind not in model_configs:
        raise ConfigError(
            f"model.kind = {_describe(kind)}: must be one of " + ", ".join(repr(k) for k in model_configs),
            key="model.kind",
            source=source,
        )
    model = build(model_configs[kind], model_doc, prefix="model", source=source)
    interventions_doc = doc.get("interventions", [])
    if not isinstance(interventions_doc, list):
        raise ConfigError(
            f"interventions = {_describe(interventions_doc)}: expected an array of tables ([[interventions]])",
            key="interventions",
            source=source,
        )
    interventions = [_intervention(item, f"interventions[{i}]", source, schedule_form)
                     for i, item in enumerate(interventions_doc)]
    return RunConfig(
        preset=build(PresetInfo, doc.get("preset", {}), prefix="preset", source=source),
        data=build(DataConfig, doc.get("data", {}), prefix="data", source=source),
        model=model,
        engine=build(EngineConfig, doc.get("engine", {}), prefix="engine", source=source),
        interventions=interventions,
        source=source or "",
    )


def _intervention(item: Any, where: str, source: str | None,
                  schedule_form: Callable[[dict[str, Any], str, str | None], dict[str, Any]] | None,
                  ) -> InterventionSpec:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where} = {_describe(item)}: expected a table", key=where, source=source)
    if "step" not in item:
        raise ConfigError(f"missing required key {where}.step", key=f"{where}.step", source=source)
    step = item["step"]
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise ConfigError(f"{where}.step = {_describe(step)}: expected an integer of at least 0",
                          key=f"{where}.step", source=source)
    rest = {str(k): v for k, v in item.items() if k != "step"}
    if schedule_form is not None:
        rest = schedule_form(rest, where, source)
    kind = rest.pop("kind", None)
    if not isinstance(kind, str):
        raise ConfigError(f"{where}.kind = {_describe(kind)}: expected the command's name", key=f"{where}.kind",
                          source=source)
    return InterventionSpec(step, kind, rest)


def run_config_to_dict(cfg: RunConfig) -> dict[str, Any]:
    """The resolved config as a plain document (the inverse of resolve_run_config)."""
    return {
        "preset": to_dict(cfg.preset),
        "data": to_dict(cfg.data),
        "model": to_dict(cfg.model),
        "engine": to_dict(cfg.engine),
        "interventions": [s.table() for s in cfg.interventions],
    }


def set_field(cfg: RunConfig, name: str, value: Any, model_configs: Mapping[str, type]) -> Any:
    """Validate ``name = value`` (dotted, e.g. ``model.dt``) against ``cfg`` and set it.

    Returns the converted value. Used by the engine's ``SetParam`` command, so a bad
    value from the GUI or a script is refused with the same messages as a preset.
    """
    doc = run_config_to_dict(cfg)
    new_doc = apply_overrides(doc, [(name, value)], source="set_param")
    new = resolve_run_config(new_doc, model_configs, source="set_param")
    section, _, attr = name.partition(".")
    if section not in ("data", "model", "engine") or not attr or "." in attr:
        raise ConfigError(f"{name}: only data.*, model.* and engine.* parameters can be changed", key=name)
    if section == "model" and attr == "kind":
        raise ConfigError("model.kind cannot be changed while running", key=name)
    converted = getattr(getattr(new, section), attr)
    setattr(getattr(cfg, section), attr, converted)
    return converted
