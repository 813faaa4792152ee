"""How the engine applies its typed commands: the dispatch from a command to the model,
the data stream or the config, run-time parameter changes and their limits, and the
event each command leaves. A mixin of :class:`pcviz.sim.engine.Engine`; it runs in
the engine's thread, between steps."""

from __future__ import annotations

from typing import Any

from pcviz.config import ConfigError, set_field
from pcviz.data import DataError
from pcviz.models import ModelError, model_configs
from pcviz.paths import resolve_resource
from pcviz.sim import commands as C
from pcviz.sim.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

#: run-time-changeable engine and data fields (the rest need a restart)
_LIVE_DATA = {"hold_steps", "noise", "shuffle", "batch_size"}
_LIVE_ENGINE = {"learning", "steps_per_second", "display_index", "divergence_threshold", "check_every"}


class CommandHandling:
    """Command application for the engine (see the module docstring)."""

    def _log(self, kind: str, **payload: Any) -> None:
        self.events.add(self.step_count, kind, **payload)

    def _apply(self, cmd: C.Command, scheduled: bool = False) -> None:
        """Apply one command now. Errors become 'error' events, never exceptions."""
        name = _snake(type(cmd).__name__)
        self.flush_rings()
        try:
            self._dispatch(cmd)
        except (ConfigError, ModelError, CheckpointError, DataError, ValueError) as exc:
            self._log("error", command=name, message=str(exc))
            return
        if not isinstance(cmd, C.Call):
            payload = cmd.describe()
            if scheduled:
                payload["scheduled"] = True
            self._log({"play": "resume"}.get(name, name), **payload)
        self._version += 1

    def _dispatch(self, cmd: C.Command) -> None:
        m = self.model
        if isinstance(cmd, C.Play):
            if self.diverged is not None:
                raise ModelError("the run diverged: reset it, or lower model.dt, before playing on")
            self.running = True
        elif isinstance(cmd, C.Pause):
            self.running = False
            self._pending = 0
            self._to_hold_end = False
        elif isinstance(cmd, C.Step):
            if cmd.n < 1:
                raise ValueError(f"step n = {cmd.n}: must be at least 1")
            self.running = False
            self._pending += cmd.n
        elif isinstance(cmd, C.StepHold):
            self.running = False
            self._to_hold_end = True
        elif isinstance(cmd, C.Reset):
            self.running = False
            self._pending = 0
            self._to_hold_end = False
            self.diverged = None
            self._expiry.clear()
            if cmd.weights:
                self._build()
            else:
                m.clear_interventions()
                self._start_hold()
        elif isinstance(cmd, C.SetParam):
            self._set_param(cmd.name, cmd.value)
        elif isinstance(cmd, C.Clamp):
            m.clamp(cmd.layer, list(cmd.units), float(cmd.value))
            if cmd.duration > 0:
                self._expiry.setdefault(self.step_count + cmd.duration, []).append(
                    C.Release(cmd.layer, tuple(cmd.units)))
        elif isinstance(cmd, C.Release):
            m.release(cmd.layer, list(cmd.units))
        elif isinstance(cmd, C.Pulse):
            m.pulse(cmd.layer, list(cmd.units), float(cmd.value))
        elif isinstance(cmd, C.Lesion):
            m.lesion(cmd.layer, float(cmd.factor), list(cmd.units))
        elif isinstance(cmd, C.Occlude):
            m.occlude(self._occlusion_units(cmd))
        elif isinstance(cmd, C.Unocclude):
            m.unocclude()
        elif isinstance(cmd, C.ClearInterventions):
            m.clear_interventions()
        elif isinstance(cmd, C.SetLabel):
            m.set_label(cmd.label, cmd.imagine)
        elif isinstance(cmd, C.LoadCheckpoint):
            load_checkpoint(m, resolve_resource(cmd.path))
        elif isinstance(cmd, C.SaveCheckpoint):
            try:
                save_checkpoint(m, cmd.path, extra={"step": self.step_count, "preset": self.config.preset.name})
            except OSError as exc:
                raise CheckpointError(f"cannot save checkpoint to {cmd.path}: {exc}") from None
        elif isinstance(cmd, C.SetDisplayIndex):
            self._set_param("engine.display_index", cmd.index)
        elif isinstance(cmd, C.Call):
            cmd.fn(self)
        else:
            raise ValueError(f"unknown command {cmd!r}")

    def _occlusion_units(self, cmd: C.Occlude) -> list[int]:
        units = list(cmd.units)
        if cmd.region:
            shape = self.spec.layers[0].display_shape
            if len(cmd.region) != 4 or len(shape) != 2:
                raise ModelError(f"occlude region {list(cmd.region)}: expected [row0, col0, row1, col1] on a 2-D input")
            r0, c0, r1, c1 = (int(v) for v in cmd.region)
            h, w = shape
            r0, r1 = max(0, min(r0, r1)), min(h, max(r0, r1))
            c0, c1 = max(0, min(c0, c1)), min(w, max(c0, c1))
            if r0 >= r1 or c0 >= c1:
                raise ModelError(f"occlude region {list(cmd.region)}: empty inside the {h}x{w} input")
            units += [r * w + c for r in range(r0, r1) for c in range(c0, c1)]
        if not units:
            raise ModelError("occlude: give a region or units")
        return units

    def _set_param(self, name: str, value: Any) -> None:
        section, _, attr = name.partition(".")
        if section == "data" and attr not in _LIVE_DATA:
            raise ConfigError(f"{name} cannot change during a run; restart with --set {name}=...", key=name)
        if section == "engine" and attr not in _LIVE_ENGINE:
            raise ConfigError(f"{name} cannot change during a run; restart with --set {name}=...", key=name)
        if section == "model" and attr in type(self.model).structural:
            raise ConfigError(f"{name} changes the architecture; restart with --set {name}=...", key=name)
        if name == "data.batch_size" and any(q.batch for q in self._queues):
            raise ConfigError("data.batch_size cannot change while a whole-batch recording runs", key=name)
        if name == "engine.display_index" and not 0 <= int(value) < self.stream.batch_size:
            raise ConfigError(f"engine.display_index = {value}: the batch has {self.stream.batch_size} items",
                              key=name)
        value = set_field(self.config, name, value, model_configs())
        if section == "model":
            self.model.param_changed(attr)
        elif name == "data.hold_steps":
            self.stream.hold_steps = value
        elif name == "data.noise":
            self.stream.noise = value
        elif name == "data.shuffle":
            self.stream.shuffle = value
        elif name == "data.batch_size":
            self.stream.batch_size = value
            self._start_hold()
            self.spec = self._make_spec()


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
