"""How the engine applies its typed commands: the event each leaves, and what commands
may ask of a run (run state, reset, run-time parameter changes and their limits,
delayed commands, checkpoints). :class:`CommandHandler` is its own object, composed
by :class:`pcviz.sim.engine.Engine` and given exactly what it uses, each through a
declared interface; it runs in the engine's thread, between steps."""

from __future__ import annotations

import traceback
from typing import Any, Protocol

from pcviz.config import ConfigError, RunConfig, set_field
from pcviz.data import DataError
from pcviz.models import ModelError, model_configs
from pcviz.sim import commands as C
from pcviz.sim.checkpoint import CheckpointError, CheckpointFiles
from pcviz.sim.events import EventLog
from pcviz.sim.frames import FrameSpec
from pcviz.sim.framing import RunState
from pcviz.sim.run_control import DelayedCommands, RunControl

#: run-time-changeable engine and data fields (the rest need a restart)
_LIVE_DATA = {"hold_steps", "noise", "shuffle", "batch_size"}
_LIVE_ENGINE = {"learning", "steps_per_second", "display_index", "divergence_threshold", "check_every"}


class RunParts(Protocol):
    """The run's model, input stream and frame spec, and the ways to remake them. A
    reset replaces all three, so they are read when used, never kept."""

    model: Any  # pcviz.models.GenerativeModel
    stream: Any  # pcviz.data.stream.SampleStream
    spec: FrameSpec

    def rebuild(self) -> None:
        """Model (fresh weights, or the configured checkpoint), stream and spec anew from the config."""

    def start_hold(self) -> None:
        """The stream's next sample (batch) set on the model."""

    def remake_spec(self) -> None:
        """The frame spec again (after the batch size changed)."""


class FrameOutputs(Protocol):
    """What the handler asks of the frame consumers."""

    def flush_rings(self) -> None:
        """Hand every block-mode recorder what it holds (before a command changes anything)."""

    def records_whole_batch(self) -> bool:
        """Whether a recorder takes whole batches (the batch size must then stay)."""


class CommandHandler:
    """Applies one command at a time (:meth:`apply`: each command type says itself what
    it does, through the methods below, which are the :class:`pcviz.sim.commands.CommandTarget`)
    and logs its event; turns an unexpected exception into an ``engine_error`` event
    (:meth:`engine_failed`)."""

    def __init__(self, *, control: RunControl, config: RunConfig, parts: RunParts, outputs: FrameOutputs,
                 events: EventLog, delayed: DelayedCommands, checkpoints: CheckpointFiles, call_subject: RunState):
        self.control = control
        self.config = config
        self.parts = parts
        self.outputs = outputs
        self.events = events
        self.delayed = delayed
        self.checkpoints = checkpoints
        #: what a ``Call``'s function is given: the run as frames read it (model, stream,
        #: spec, step, display index); the handler itself only passes it on
        self.call_subject = call_subject

    # the CommandTarget's attributes, read when used (a reset replaces the model)
    @property
    def model(self) -> Any:
        return self.parts.model

    @property
    def step_count(self) -> int:
        return self.control.step_count

    def log(self, kind: str, **payload: Any) -> None:
        self.events.add(self.control.step_count, kind, **payload)

    def apply(self, cmd: C.Command, scheduled: bool = False) -> None:
        """Apply one command now. Errors become events, never exceptions: a refused
        command (a user error) an 'error' event; anything else (a bug, a device out of
        memory) an 'engine_error' event with its traceback, and the run paused."""
        try:
            self.outputs.flush_rings()
            cmd.apply(self)
        except (ConfigError, ModelError, CheckpointError, DataError, ValueError) as exc:
            self.log("error", command=cmd.kind, message=str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - nothing the engine does may fail unseen
            self.engine_failed(f"command {cmd.kind}", exc)
            return
        if cmd.logged:
            payload = cmd.describe()
            if scheduled:
                payload["scheduled"] = True
            self.log(cmd.kind, **payload)
        self.control.changed()

    def engine_failed(self, where: str, exc: BaseException) -> None:
        """An exception the engine did not expect (in a step, a command, a ``Call``, a
        recorder): an ``engine_error`` event that says where, what and the traceback,
        and the run paused. The engine itself goes on taking commands."""
        self.control.pause()
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.log("engine_error", where=where, error=type(exc).__name__, message=str(exc),
                 last_line=error_line(exc), traceback=tb)
        self.control.changed()

    # ------------------------------------------------------- CommandTarget
    def play(self) -> None:
        if self.control.diverged is not None:
            raise ModelError("the run diverged: reset it, or lower model.dt, before playing on")
        self.control.play()

    def pause(self) -> None:
        self.control.pause()

    def request_steps(self, n: int) -> None:
        self.control.request_steps(n)

    def request_hold_end(self) -> None:
        self.control.request_hold_end()

    def reset(self, weights: bool) -> None:
        self.control.pause()
        self.control.diverged = None
        self.delayed.clear()
        if weights:
            self.parts.rebuild()
        else:
            self.parts.model.clear_interventions()
            self.parts.start_hold()

    def after(self, steps: int, cmd: C.Command) -> None:
        """Apply ``cmd`` ``steps`` steps from now (a clamp's end)."""
        self.delayed.after(self.control.step_count + steps, cmd)

    def load_checkpoint(self, path: str) -> None:
        self.checkpoints.load(self.parts.model, path)

    def save_checkpoint(self, path: str) -> None:
        self.checkpoints.save(self.parts.model, path,
                              extra={"step": self.control.step_count, "preset": self.config.preset.name})

    def occlusion_units(self, region: tuple[int, ...], units: tuple[int, ...]) -> list[int]:
        out = self.region_units(0, region, units, "occlude")
        if not out:
            raise ModelError("occlude: give a region or units")
        return out

    def region_units(self, layer: int, region: tuple[int, ...], units: tuple[int, ...], what: str) -> list[int]:
        """``units`` plus those of ``region`` (row0, col0, row1, col1; end-exclusive, in
        layer ``layer``'s 2-D display shape)."""
        units = list(units)
        if region:
            if not 0 <= layer < len(self.parts.spec.layers):
                raise ModelError(f"{what}: layer {layer} out of range (the model has"
                                 f" {len(self.parts.spec.layers)} layers)")
            shape = self.parts.spec.layers[layer].display_shape
            where = "input" if layer == 0 else f"layer {layer}"
            if len(region) != 4 or len(shape) != 2:
                raise ModelError(f"{what} region {list(region)}: expected [row0, col0, row1, col1] on a 2-D {where}")
            r0, c0, r1, c1 = (int(v) for v in region)
            h, w = shape
            r0, r1 = max(0, min(r0, r1)), min(h, max(r0, r1))
            c0, c1 = max(0, min(c0, c1)), min(w, max(c0, c1))
            if r0 >= r1 or c0 >= c1:
                raise ModelError(f"{what} region {list(region)}: empty inside the {h}x{w} {where}")
            units += [r * w + c for r in range(r0, r1) for c in range(c0, c1)]
        return units

    def set_param(self, name: str, value: Any) -> None:
        model, stream = self.parts.model, self.parts.stream
        section, _, attr = name.partition(".")
        if section == "data" and attr not in _LIVE_DATA:
            raise ConfigError(f"{name} cannot change during a run; restart with --set {name}=...", key=name)
        if section == "engine" and attr not in _LIVE_ENGINE:
            raise ConfigError(f"{name} cannot change during a run; restart with --set {name}=...", key=name)
        if section == "model" and attr in type(model).structural:
            raise ConfigError(f"{name} changes the architecture; restart with --set {name}=...", key=name)
        if name == "data.batch_size" and self.outputs.records_whole_batch():
            raise ConfigError("data.batch_size cannot change while a whole-batch recording runs", key=name)
        if name == "engine.display_index" and not 0 <= int(value) < stream.batch_size:
            raise ConfigError(f"engine.display_index = {value}: the batch has {stream.batch_size} items",
                              key=name)
        value = set_field(self.config, name, value, model_configs())
        self.control.config_version += 1
        if section == "model":
            model.param_changed(attr)
        elif name == "data.hold_steps":
            stream.hold_steps = value
        elif name == "data.noise":
            stream.noise = value
        elif name == "data.shuffle":
            stream.shuffle = value
        elif name == "data.batch_size":
            stream.batch_size = value
            self.parts.start_hold()
            self.parts.remake_spec()


def error_line(exc: BaseException) -> str:
    """The last line of a traceback: ``Type: message``."""
    return traceback.format_exception_only(type(exc), exc)[-1].strip()
