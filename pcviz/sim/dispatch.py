"""How the engine applies its typed commands: the event each leaves, and what commands
may ask of the engine (run state, reset, run-time parameter changes and their limits,
delayed commands, checkpoints). A mixin of :class:`pcviz.sim.engine.Engine`; it runs
in the engine's thread, between steps."""

from __future__ import annotations

import traceback
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
    """The engine's side of the commands: :meth:`_apply` runs one (each command type
    says itself what it does, through the methods below, which are the engine's
    :class:`pcviz.sim.commands.CommandTarget`) and logs its event."""

    def _log(self, kind: str, **payload: Any) -> None:
        self.events.add(self.step_count, kind, **payload)

    def _apply(self, cmd: C.Command, scheduled: bool = False) -> None:
        """Apply one command now. Errors become events, never exceptions: a refused
        command (a user error) an 'error' event; anything else (a bug, a device out of
        memory) an 'engine_error' event with its traceback, and the run paused."""
        try:
            self.flush_rings()
            cmd.apply(self)
        except (ConfigError, ModelError, CheckpointError, DataError, ValueError) as exc:
            self._log("error", command=cmd.kind, message=str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - nothing the engine does may fail unseen
            self.engine_failed(f"command {cmd.kind}", exc)
            return
        if cmd.logged:
            payload = cmd.describe()
            if scheduled:
                payload["scheduled"] = True
            self._log(cmd.kind, **payload)
        self._version += 1

    def engine_failed(self, where: str, exc: BaseException) -> None:
        """An exception the engine did not expect (in a step, a command, a ``Call``, a
        recorder): an ``engine_error`` event that says where, what and the traceback,
        and the run paused. The engine itself goes on taking commands."""
        self.running = False
        self._pending = 0
        self._to_hold_end = False
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self._log("engine_error", where=where, error=type(exc).__name__, message=str(exc),
                  last_line=error_line(exc), traceback=tb)
        self._version += 1

    # ------------------------------------------------------- CommandTarget
    def play(self) -> None:
        if self.diverged is not None:
            raise ModelError("the run diverged: reset it, or lower model.dt, before playing on")
        self.running = True

    def pause(self) -> None:
        self.running = False
        self._pending = 0
        self._to_hold_end = False

    def request_steps(self, n: int) -> None:
        self.running = False
        self._pending += n

    def request_hold_end(self) -> None:
        self.running = False
        self._to_hold_end = True

    def reset(self, weights: bool) -> None:
        self.pause()
        self.diverged = None
        self._expiry.clear()
        if weights:
            self._build()
        else:
            self.model.clear_interventions()
            self._start_hold()

    def after(self, steps: int, cmd: C.Command) -> None:
        """Apply ``cmd`` ``steps`` steps from now (a clamp's end)."""
        self._expiry.setdefault(self.step_count + steps, []).append(cmd)

    def load_checkpoint(self, path: str) -> None:
        load_checkpoint(self.model, resolve_resource(path))

    def save_checkpoint(self, path: str) -> None:
        try:
            save_checkpoint(self.model, path, extra={"step": self.step_count, "preset": self.config.preset.name})
        except OSError as exc:
            raise CheckpointError(f"cannot save checkpoint to {path}: {exc}") from None

    def occlusion_units(self, region: tuple[int, ...], units: tuple[int, ...]) -> list[int]:
        units = list(units)
        if region:
            shape = self.spec.layers[0].display_shape
            if len(region) != 4 or len(shape) != 2:
                raise ModelError(f"occlude region {list(region)}: expected [row0, col0, row1, col1] on a 2-D input")
            r0, c0, r1, c1 = (int(v) for v in region)
            h, w = shape
            r0, r1 = max(0, min(r0, r1)), min(h, max(r0, r1))
            c0, c1 = max(0, min(c0, c1)), min(w, max(c0, c1))
            if r0 >= r1 or c0 >= c1:
                raise ModelError(f"occlude region {list(region)}: empty inside the {h}x{w} input")
            units += [r * w + c for r in range(r0, r1) for c in range(c0, c1)]
        if not units:
            raise ModelError("occlude: give a region or units")
        return units

    def set_param(self, name: str, value: Any) -> None:
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



def error_line(exc: BaseException) -> str:
    """The last line of a traceback: ``Type: message``."""
    return traceback.format_exception_only(type(exc), exc)[-1].strip()
