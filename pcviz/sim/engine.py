"""The engine: owns config, data, model and device; runs the step loop in its own
thread or in the caller's; takes typed commands; publishes frames and events.

It never blocks on a consumer: displays read a latest-frame slot, recorders a
bounded queue whose overflow is counted. Host copies are made only for frames that
someone asked for.
"""

from __future__ import annotations

import atexit
import math
import queue
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable

import torch

from pcviz.config import ConfigError, RunConfig, set_field
from pcviz.data import DataError, SampleStream, make_dataset
from pcviz.models import DataInfo, GenerativeModel, ModelError, build_model, model_configs
from pcviz.paths import resolve_resource
from pcviz.sim import commands as C
from pcviz.sim.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from pcviz.sim.events import EventLog
from pcviz.sim.frames import Frame, FrameQueue, FrameSpec, LatestFrame, LayerFrameSpec
from pcviz.sim.framing import FrameBuilder, Ring

#: run-time-changeable engine and data fields (the rest need a restart)
_LIVE_DATA = {"hold_steps", "noise", "shuffle", "batch_size"}
_LIVE_ENGINE = {"learning", "steps_per_second", "display_index", "divergence_threshold", "check_every"}


def pick_device(name: str = "auto") -> torch.device:
    """auto: cuda, then mps, then cpu."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("engine.device = 'cuda': no CUDA device is available (try --device cpu)",
                          key="engine.device")
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError("engine.device = 'mps': MPS is not available (try --device cpu)", key="engine.device")
    return torch.device(name)


@dataclass
class Divergence:
    step: int
    layer: int
    value: float
    message: str


class Engine:
    """Runs one model on one input stream.

    Headless: ``engine.run_steps(n)``. Threaded: ``engine.start()``, then
    ``engine.submit(Play())`` etc., and ``engine.stop()``.
    """

    def __init__(self, config: RunConfig, device: str | torch.device | None = None):
        self.config = config
        self.device = pick_device(str(device or config.engine.device))
        if config.engine.threads > 0 and self.device.type == "cpu":
            torch.set_num_threads(config.engine.threads)
        self.events = EventLog()
        self.commands: queue.Queue[C.Command] = queue.Queue()
        self.step_count = 0
        self.running = False
        self.diverged: Divergence | None = None
        self._pending = 0
        self._to_hold_end = False
        self._slots: list[LatestFrame] = []
        self._slot_version: dict[int, int] = {}
        self._queues: list[FrameQueue] = []
        self._version = 0
        self._expiry: dict[int, list[C.Command]] = {}
        self._schedule: dict[int, list[C.Command]] = {}
        for spec in config.interventions:
            self._schedule.setdefault(spec.step, []).append(C.command_from_spec(spec))
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.RLock()  # guards the model against concurrent step/command
        self.steps_per_second = 0.0
        self.step_wall = 0.0
        self._rate_t = time.perf_counter()
        self._rate_n = 0
        self._builder = FrameBuilder(self)
        self._rings: dict[int, Ring] = {}
        self.block_max_age = 0.25  # seconds a recorded frame may wait in a ring
        self.train_data, self.test_data = make_dataset(config.data, seed=config.engine.seed)
        self.dataset = self.test_data if config.data.split == "test" else self.train_data
        self.data_info = DataInfo(self.dataset.dim, tuple(self.dataset.display_shape), self.dataset.n_classes)
        self._build()
        self.events.add(0, "start", preset=config.preset.name, device=str(self.device),
                        model_kind=config.model_kind)

    # ------------------------------------------------------------------ set-up
    def _build(self) -> None:
        cfg = self.config
        torch.manual_seed(cfg.engine.seed)
        self.model: GenerativeModel = build_model(cfg.model, self.data_info, self.device, seed=cfg.engine.seed)
        if cfg.engine.checkpoint:
            load_checkpoint(self.model, resolve_resource(cfg.engine.checkpoint))
        self.model.set_reference_data(torch.from_numpy(self.test_data.x[:4096]).to(self.device))
        self.stream = SampleStream(self.dataset, cfg.data.batch_size, cfg.data.hold_steps,
                                   shuffle=cfg.data.shuffle, seed=cfg.engine.seed, noise=cfg.data.noise)
        self._start_hold()
        self.spec = self._make_spec()

    def _make_spec(self) -> FrameSpec:
        shapes = self.model.quantity_shapes()
        layers = tuple(
            LayerFrameSpec(i, spec.name, spec.role, spec.size, tuple(spec.display_shape), dict(shapes[i]))
            for i, spec in enumerate(self.model.layers)
        )
        return FrameSpec(self.model.kind, layers, tuple(self.model.scalar_names()), self.config.data.batch_size)

    def _start_hold(self) -> None:
        batch = self.stream.start_hold()
        x = torch.from_numpy(batch.x).to(self.device)
        labels = None if batch.labels is None else torch.from_numpy(batch.labels).to(self.device)
        self.model.set_batch(x, labels, self.config.engine.learning)

    @property
    def display_index(self) -> int:
        return min(self.config.engine.display_index, self.stream.batch_size - 1)

    # -------------------------------------------------------------- consumers
    def subscribe_latest(self, with_basis: bool = False) -> LatestFrame:
        slot = LatestFrame(with_basis=with_basis)
        with self._lock:
            self._slots.append(slot)
            self._slot_version[id(slot)] = -1
        return slot

    def subscribe_queue(self, maxsize: int = 1024, every: int = 1, batch: bool = False,
                        weights_every: int = 0, block: int = 0) -> FrameQueue:
        """A bounded queue of every ``every``-th frame. With ``block`` > 0 the items are
        :class:`FrameBlock` s of up to ``block`` frames (handed over at least every
        ``block_max_age`` seconds): the cheap way to record every step."""
        q = FrameQueue(maxsize, every, batch, weights_every, block)
        with self._lock:
            self._queues.append(q)
            if block:
                self._rings[id(q)] = Ring(self._builder, q)
        return q

    def unsubscribe(self, consumer: LatestFrame | FrameQueue) -> None:
        with self._lock:
            if consumer in self._slots:
                self._slots.remove(consumer)
            if consumer in self._queues:
                ring = self._rings.pop(id(consumer), None)
                if ring is not None:
                    ring.flush()
                self._queues.remove(consumer)
                consumer.close()

    def snapshot(self, batch: bool = False) -> Frame:
        """A frame of the current state, built now (safe from any thread)."""
        with self._lock:
            return self._build_frame(batch, basis=True, weights=False)

    # ------------------------------------------------------------ the step loop
    def _do_step(self) -> None:
        learning = self.config.engine.learning
        if self.stream.hold_due:
            self._start_hold()
        self.model.step(learning)
        hold_ended = self.stream.advance()
        phase = "inference"
        if hold_ended:
            self.model.end_hold(learning)
            if learning:
                phase = "learning"
        self.step_count += 1
        self.step_wall = time.perf_counter() - self.events.t0  # the wall time every frame of this step carries
        self._version += 1
        self._rate_n += 1
        now = time.perf_counter()
        if now - self._rate_t >= 0.5:
            self.steps_per_second = self._rate_n / (now - self._rate_t)
            self._rate_t, self._rate_n = now, 0
        self._publish(phase)
        if hold_ended or self.step_count % self.config.engine.check_every == 0:
            self._check_divergence()
        self._apply_due(self.step_count)

    def _apply_due(self, step: int) -> None:
        for cmd in self._expiry.pop(step, []):
            self._apply(cmd, scheduled=True)
        for cmd in self._schedule.get(step, []):
            self._apply(cmd, scheduled=True)

    def run_steps(self, n: int, callback: Callable[[int], None] | None = None) -> int:
        """Run ``n`` steps in the caller's thread (commands on the queue are applied
        between steps; Play/Pause are logged but do not stop it). Stops early on
        divergence. Returns the number of steps run."""
        done = 0
        with self._lock:
            if self.step_count == 0:
                self._apply_due(0)
        for _ in range(n):
            self._drain(block=False)
            if self.diverged is not None or self._stop.is_set():
                break
            with self._lock:
                self._do_step()
            done += 1
            if callback is not None:
                callback(self.step_count)
        with self._lock:
            self.flush_rings()  # the caller may now wait: recorders get what was recorded
        return done

    # ------------------------------------------------------------ threading
    def start(self, running: bool = False) -> None:
        """Start the engine thread (paused unless ``running``)."""
        if self._thread is not None:
            return
        self.running = running
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="pcviz-engine", daemon=True)
        self._thread.start()
        _RUNNING.add(self)

    def submit(self, cmd: C.Command) -> None:
        if not isinstance(cmd, C.Command):
            raise TypeError(f"engine commands are pcviz.sim.commands objects, not {type(cmd).__name__}")
        self.commands.put(cmd)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (if any) and close every recorder queue."""
        self._stop.set()
        self.commands.put(C.Shutdown())
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError("the engine thread did not stop")
            self._thread = None
        _RUNNING.discard(self)
        self.close_queues()

    def close_queues(self) -> None:
        with self._lock:
            self.flush_rings()
        for q in list(self._queues):
            q.close()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        if self.config.engine.threads > 0 and self.device.type == "cpu":
            torch.set_num_threads(self.config.engine.threads)  # torch's count is per thread
        with self._lock:
            if self.step_count == 0:
                self._apply_due(0)
        next_t = time.perf_counter()
        while not self._stop.is_set():
            active = self.running or self._pending > 0 or self._to_hold_end
            if not self._drain(block=not active, timeout=1 / 120):
                break
            if not (self.running or self._pending > 0 or self._to_hold_end) or self.diverged is not None:
                with self._lock:
                    self._publish("paused", only_if_stale=True)
                    self.flush_rings()
                next_t = time.perf_counter()  # a resumed run starts at the cap, not with a catch-up burst
                continue
            with self._lock:
                self._do_step()
            if self._pending > 0:
                self._pending -= 1
            if self._to_hold_end and self.stream.hold_due:
                self._to_hold_end = False
            cap = self.config.engine.steps_per_second
            if cap > 0 and self.running:
                next_t = max(next_t + 1.0 / cap, time.perf_counter() - 1.0)
                delay = next_t - time.perf_counter()
                if delay > 0:
                    self._stop.wait(delay)
            else:
                next_t = time.perf_counter()

    def _drain(self, block: bool = False, timeout: float = 0.05) -> bool:
        """Apply queued commands; False once Shutdown arrives."""
        try:
            cmd = self.commands.get(timeout=timeout) if block else self.commands.get_nowait()
        except queue.Empty:
            return True
        while True:
            if isinstance(cmd, C.Shutdown):
                self._stop.set()
                return False
            with self._lock:
                self._apply(cmd)
            try:
                cmd = self.commands.get_nowait()
            except queue.Empty:
                return True

    # -------------------------------------------------------------- commands
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

    # -------------------------------------------------------------- divergence
    def _check_divergence(self) -> None:
        e = self.model.layer_energies().detach().to("cpu").numpy()  # (L+1,)
        thr = self.config.engine.divergence_threshold
        bad = [i for i, v in enumerate(e) if not math.isfinite(float(v)) or abs(float(v)) > thr]
        if not bad:
            return
        layer = bad[0]
        value = float(e[layer])
        what = "not a number" if math.isnan(value) else ("infinite" if math.isinf(value) else f"{value:.3g}")
        dt = getattr(self.config.model, "dt", None)
        hint = f"lower model.dt (now {dt:g}) or reset" if dt is not None else "lower the learning rate or reset"
        msg = f"diverged at step {self.step_count}: energy of layer {layer} is {what}; {hint}"
        self.diverged = Divergence(self.step_count, layer, value, msg)
        self.running = False
        self._pending = 0
        self._to_hold_end = False
        self._log("divergence", layer=layer, value=value if math.isfinite(value) else str(value), message=msg)
        self._version += 1
        self._publish("paused")
        self.flush_rings()

    # ---------------------------------------------------------------- frames
    def _publish(self, phase: str, only_if_stale: bool = False) -> None:
        step = self.step_count
        frame: Frame | None = None
        for slot in self._slots:
            if not slot.wanted:
                continue
            if only_if_stale and self._slot_version.get(id(slot)) == self._version:
                continue
            if frame is None or (slot.with_basis and "basis" not in frame.extras):
                frame = self._build_frame(False, basis=slot.with_basis, weights=False, phase=phase)
            slot.publish(frame)
            self._slot_version[id(slot)] = self._version
        if only_if_stale:
            return
        batch_frame: Frame | None = None
        for q in self._queues:
            if q.block:
                ring = self._rings[id(q)]
                if step % q.every == 0:
                    ring.add(phase, q.with_basis_every > 0 and step % q.with_basis_every == 0)
                elif ring.due(self.block_max_age):
                    ring.flush()
                continue
            if step % q.every:
                continue
            weights = q.with_basis_every > 0 and step % q.with_basis_every == 0
            if q.batch:
                if batch_frame is None or weights:
                    batch_frame = self._build_frame(True, basis=False, weights=weights, phase=phase)
                q.offer(batch_frame)
            else:
                if frame is None or (weights and not frame.extras):
                    frame = self._build_frame(False, basis=False, weights=weights, phase=phase)
                q.offer(frame)

    def _build_frame(self, batch: bool, basis: bool, weights: bool, phase: str = "inference") -> Frame:
        return self._builder.frame(batch, basis, weights, phase)

    def flush_rings(self) -> None:
        """Hand every block-mode recorder what its ring holds (before any change of
        parameters, so that each block's host-side scalars use the right ones)."""
        for ring in self._rings.values():
            ring.flush()


#: engines whose thread runs; stopped at interpreter exit, so no thread is inside
#: torch while the interpreter tears down (that aborts the process)
_RUNNING: "weakref.WeakSet[Engine]" = weakref.WeakSet()


@atexit.register
def _stop_running_engines() -> None:
    for engine in list(_RUNNING):
        try:
            engine.stop(timeout=5.0)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
