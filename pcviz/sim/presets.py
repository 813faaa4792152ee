"""Presets: TOML files in resources/presets (or any path), resolved with overrides."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from pcviz.config import ConfigError, RunConfig, apply_overrides, parse_override, read_toml, resolve_run_config
from pcviz.models import model_configs
from pcviz.paths import presets_dir
from pcviz.sim.commands import schedule_form

DEFAULT_PRESET = "digits-pc"


@dataclass(frozen=True)
class PresetEntry:
    name: str
    description: str
    path: Path
    model_kind: str


def preset_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.exists():
            raise ConfigError(f"preset file not found: {p}", source=str(p))
        return p
    cand = presets_dir() / f"{name_or_path}.toml"
    if not cand.exists():
        known = ", ".join(e.name for e in list_presets())
        raise ConfigError(f"no preset named {str(name_or_path)!r} (known: {known})", source=str(name_or_path))
    return cand


def list_presets() -> list[PresetEntry]:
    out = []
    for p in sorted(presets_dir().glob("*.toml")):
        try:
            doc = read_toml(p)
        except ConfigError:
            continue
        info = doc.get("preset", {}) if isinstance(doc.get("preset"), dict) else {}
        model = doc.get("model", {}) if isinstance(doc.get("model"), dict) else {}
        out.append(PresetEntry(str(info.get("name") or p.stem), str(info.get("description", "")), p,
                               str(model.get("kind", "pc"))))
    return out


def normalise_overrides(overrides: Iterable[str] | Iterable[tuple[str, Any]] | dict | None) -> list[tuple[str, Any]]:
    if overrides is None:
        return []
    if isinstance(overrides, dict):
        return list(overrides.items())
    out = []
    for o in overrides:
        out.append(parse_override(o) if isinstance(o, str) else tuple(o))
    return out


def config_from_document(doc: dict[str, Any], overrides=None, source: str | None = None) -> RunConfig:
    """Resolve an already-parsed preset document (e.g. the config stored in a recording)."""
    doc = apply_overrides(doc, normalise_overrides(overrides), source=source or "--set")
    return resolve_run_config(doc, model_configs(), source=source, schedule_form=schedule_form)


def load_preset(name_or_path: str | Path = DEFAULT_PRESET, overrides=None) -> RunConfig:
    """A preset by name (``resources/presets/NAME.toml``) or path, with ``key=value``
    overrides; every problem raises :class:`ConfigError` naming key, value and file."""
    path = preset_path(name_or_path)
    doc = read_toml(path)
    cfg = config_from_document(doc, overrides, source=str(path))
    if not cfg.preset.name:
        cfg.preset.name = path.stem
    return cfg
