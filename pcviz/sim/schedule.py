"""Writing a run's hand-made interventions as the ``[[interventions]]`` schedule of a
preset (``pcviz record --preset saved.toml`` replays them). Each command gives its own
schedule form (:meth:`pcviz.sim.commands.Command.to_schedule`)."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np

from pcviz.sim import commands as C
from pcviz.sim.events import Event


def _plain(v: Any) -> Any:
    """A TOML-writable copy: no None (TOML has no null), tuples as lists."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items() if x is not None}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v if x is not None]
    if isinstance(v, np.generic):
        return v.item()
    return v


def schedule_entries(events: list[Event]) -> list[dict[str, Any]]:
    """The hand-made (not scheduled) commands of ``events`` as preset tables, in the
    form each command gives itself."""
    out: list[dict[str, Any]] = []
    for ev in events:
        if ev.payload.get("scheduled"):
            continue
        cmd = listed_command(ev)
        if cmd is not None and cmd.schedulable:
            out.append(_plain({"step": int(ev.step), **cmd.to_schedule()}))
    return out


def listed_command(ev: Event) -> C.Command | None:
    """The command of an event the list shows (None for other events)."""
    cls = C.command_class(ev.kind)
    if cls is None or not cls.listed:
        return None
    return C.command_from_event(ev.kind, ev.payload)


def save_schedule(path: str | os.PathLike, config_doc: dict[str, Any], events: list[Event],
                  name: str | None = None) -> Path:
    """Write a preset: ``config_doc`` (the run's config as it started) with the events'
    interventions appended to its schedule. Returns the path written."""
    import tomli_w

    path = Path(path)
    doc = copy.deepcopy(config_doc)
    doc.setdefault("preset", {})
    doc["preset"]["name"] = name or path.stem
    base = doc["preset"].get("description", "")
    doc["preset"]["description"] = (f"{base} (with a hand-made intervention schedule)" if base
                                    else "a hand-made intervention schedule")
    sched = list(doc.get("interventions", [])) + schedule_entries(events)
    sched.sort(key=lambda s: s["step"])
    doc["interventions"] = sched
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tomli_w.dumps(_plain(doc)).encode("utf-8"))
    return path
