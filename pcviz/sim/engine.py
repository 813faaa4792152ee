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
from typing import Callable

import torch

from pcviz.config import ConfigError, RunConfig
from pcviz.data import SampleStream, make_dataset
from pcviz.models import DataInfo, GenerativeModel, build_model
from pcviz.paths import resolve_resource
from pcviz.sim import commands as C
from pcviz.sim.checkpoint import CheckpointFiles, load_checkpoint
from pcviz.sim.dispatch import CommandHandler
from pcviz.sim.events import EventLog
from pcviz.sim.frames import Frame, FrameQueue, FrameSpec, LatestFrame, LayerFrameSpec
from pcviz.sim.framing import FrameBuilder, Ring
from pcviz.sim.run_control import DelayedCommands, Divergence, RunControl
from pcviz.sim.threads import use_torch_threads



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


class Engine:
    """Runs one model on one input stream.

    Headless: ``engine.run_steps(n)``. Threaded: ``engine.start()``, then
    ``engine.submit(Play())`` etc., and ``engine.stop()``. Commands are applied by its
    :class:`CommandHandler` (``engine.handler``), which it gives the run's state, the
    event log, the delayed commands, checkpoint I/O and itself only as the run's
    parts (model, stream, spec) and its frame outputs.
    """

    def __init__(self, config: RunConfig, device: str | torch.device | None = None):
        self.config = config
        self.device = pick_device(str(device or config.engine.device))
        #: torch CPU threads of the thread that steps the model (0: leave torch's count);
        #: a window sets it before start (pcviz.sim.threads.window_threads)
        self.threads = config.engine.threads
        self._use_threads()  # run_steps steps in the caller's thread
        self.events = EventLog()
        self.commands: queue.Queue[C.Command] = queue.Queue()
        #: running, steps asked for, divergence, step count: shared with the command handler
        self.control = RunControl()
        #: what ended the engine thread, if anything escaped its loop
        self.failure: BaseException | None = None
        #: the engine thread steps no further than this step (None: no limit); reached,
        #: the run pauses (a served ``pcviz record`` runs its N steps this way)
        self.step_limit: int | None = None
        self._slots: list[LatestFrame] = []
        self._slot_version: dict[int, int] = {}
        self._queues: list[FrameQueue] = []
        schedule: dict[int, list[C.Command]] = {}
        for spec in config.interventions:
            schedule.setdefault(spec.step, []).append(
                C.command_from_schedule({"kind": spec.kind, **spec.fields}, f"interventions (step {spec.step})",
                                        config.source or None))
        self.delayed = DelayedCommands(schedule)
        self.handler = CommandHandler(control=self.control, config=config, parts=self, outputs=self,
                                      events=self.events, delayed=self.delayed, checkpoints=CheckpointFiles(),
                                      call_subject=self)
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
        if config.data.indices:  # a demo's chosen samples, in order
            self.dataset = self.dataset.rows(config.data.indices)
        self.data_info = DataInfo(self.dataset.dim, tuple(self.dataset.display_shape), self.dataset.n_classes)
        self.rebuild()
        self.events.add(0, "start", preset=config.preset.name, device=str(self.device),
                        model_kind=config.model_kind)

    # ----------------------------------------------- run state, as properties
    @property
    def step_count(self) -> int:
        return self.control.step_count

    @property
    def running(self) -> bool:
        return self.control.running

    @property
    def diverged(self) -> Divergence | None:
        return self.control.diverged

    @property
    def config_version(self) -> int:
        """A number that changes whenever :attr:`config` is changed (a parameter set by a
        control, a script, a schedule); what shows the settings watches it."""
        return self.control.config_version

    def engine_failed(self, where: str, exc: BaseException) -> None:
        """An unexpected exception: an ``engine_error`` event and the run paused
        (:meth:`CommandHandler.engine_failed`)."""
        self.handler.engine_failed(where, exc)

    # ------------------------------------------------------------------ set-up
    def rebuild(self) -> None:
        """Model, stream and frame spec from the config (:class:`RunParts`)."""
        cfg = self.config
        torch.manual_seed(cfg.engine.seed)
        self.model: GenerativeModel = build_model(cfg.model, self.data_info, self.device, seed=cfg.engine.seed)
        if cfg.engine.checkpoint:
            load_checkpoint(self.model, resolve_resource(cfg.engine.checkpoint))
        ref = self.test_data
        self.model.set_reference_data(torch.from_numpy(ref.x[:4096]).to(self.device),
                                      None if ref.labels is None else torch.from_numpy(ref.labels[:4096]).to(self.device))
        self.stream = SampleStream(self.dataset, cfg.data.batch_size, cfg.data.hold_steps,
                                   shuffle=cfg.data.shuffle, seed=cfg.engine.seed, noise=cfg.data.noise)
        self.start_hold()
        self.remake_spec()

    def remake_spec(self) -> None:
        self.spec = self._make_spec()

    def _make_spec(self) -> FrameSpec:
        shapes = self.model.quantity_shapes()
        layers = tuple(
            LayerFrameSpec(i, spec.name, spec.role, spec.size, tuple(spec.display_shape), dict(shapes[i]))
            for i, spec in enumerate(self.model.layers)
        )
        return FrameSpec(self.model.kind, layers, tuple(self.model.scalar_names()), self.config.data.batch_size,
                         scalar_notes=self.model.scalar_notes())

    def start_hold(self) -> None:
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
            self.start_hold()
        self.model.step(learning)
        hold_ended = self.stream.ends_hold
        phase = "inference"
        if hold_ended:
            self.model.end_hold(learning)
            if learning:
                phase = "learning"
        # the count first, then the hold: a thread that sees the hold over (hold_due)
        # also sees the step that ended it counted
        self.control.step_count += 1
        self.stream.advance()
        now = time.perf_counter()
        self.step_wall = now - self.events.t0  # the wall time every frame of this step carries
        self.control.changed()
        self._rate_n += 1
        if now - self._rate_t >= 0.5:
            self.steps_per_second = self._rate_n / (now - self._rate_t)
            self._rate_t, self._rate_n = now, 0
        self._publish(phase)
        if hold_ended or self.step_count % self.config.engine.check_every == 0:
            self._check_divergence()
        self._apply_due(self.step_count)

    def _apply_due(self, step: int) -> None:
        for cmd in self.delayed.due(step):
            self.handler.apply(cmd, scheduled=True)

    @property
    def steps_pending(self) -> int:
        """Steps a ``Step`` command asked for that have not run yet (read it in the
        engine's thread, e.g. from a ``Call``, for a consistent count)."""
        return int(self.control.pending)

    @property
    def hold_pending(self) -> bool:
        """A ``StepHold`` is still running to the end of the hold."""
        return bool(self.control.to_hold_end)

    def schedule_command(self, step: int, cmd: C.Command) -> None:
        """Apply ``cmd`` when the run reaches engine step ``step`` (as a preset's
        ``[[interventions]]`` do; logged as scheduled). Call it in the engine's thread."""
        if step < self.step_count:
            raise ConfigError(f"schedule: step {step} has passed (the run is at step {self.step_count})",
                              key="interventions")
        if step == self.step_count:  # this step's schedule has run: apply it now
            self.handler.apply(cmd, scheduled=True)
        else:
            self.delayed.schedule(int(step), cmd)

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
        self.control.running = running
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

    def _use_threads(self) -> None:
        """Apply :attr:`threads` in the calling thread (torch's count is per thread)."""
        use_torch_threads(self.threads, self.device)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        try:
            self._run_loop()
        except BaseException as exc:  # noqa: BLE001 - the thread ends, but says why
            self.failure = exc
            try:
                self.engine_failed("engine loop (the engine thread stopped)", exc)
            except Exception:  # noqa: BLE001 - the event log is plain Python; the failure attribute stays
                pass
            raise

    def _run_loop(self) -> None:
        self._use_threads()
        with self._lock:
            if self.step_count == 0:
                self._apply_due(0)
        next_t = time.perf_counter()
        run = self.control
        while not self._stop.is_set():
            if not self._drain(block=not run.active, timeout=1 / 120):
                break
            at_limit = self.step_limit is not None and run.step_count >= self.step_limit
            if not run.active or run.diverged is not None or at_limit:
                if at_limit and run.running:
                    run.pause()
                with self._lock:
                    self._publish("paused", only_if_stale=True)
                    self.flush_rings()
                next_t = time.perf_counter()  # a resumed run starts at the cap, not with a catch-up burst
                continue
            try:
                with self._lock:
                    self._do_step()
            except Exception as exc:  # noqa: BLE001 - an event and a paused run, never a dead thread
                with self._lock:
                    self.engine_failed(f"step {self.step_count + 1}", exc)
                    self._publish("paused", only_if_stale=True)
                continue
            if run.pending > 0:
                run.pending -= 1
            if run.to_hold_end and self.stream.hold_due:
                run.to_hold_end = False
            cap = self.config.engine.steps_per_second
            if cap > 0 and run.running:
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
                self.handler.apply(cmd)
            try:
                cmd = self.commands.get_nowait()
            except queue.Empty:
                return True

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
        self.control.diverged = Divergence(self.step_count, layer, value, msg)
        self.control.pause()
        self.handler.log("divergence", layer=layer, value=value if math.isfinite(value) else str(value), message=msg)
        self.control.changed()
        self._publish("paused")
        self.flush_rings()

    # ---------------------------------------------------------------- frames
    def _publish(self, phase: str, only_if_stale: bool = False) -> None:
        step = self.step_count
        frame: Frame | None = None
        for slot in self._slots:
            if not slot.wanted:
                continue
            if only_if_stale and self._slot_version.get(id(slot)) == self.control.version:
                continue
            if frame is None or (slot.with_basis and "basis" not in frame.extras):
                frame = self._build_frame(False, basis=slot.with_basis, weights=False, phase=phase)
            slot.publish(frame)
            self._slot_version[id(slot)] = self.control.version
        if only_if_stale:
            return
        batch_frame: Frame | None = None
        for q in self._queues:
            if q.block:
                ring = self._rings[id(q)]
                if q.wants(step):
                    ring.add(phase, q.wants_weights(step))
                if ring.due(self.block_max_age):  # a slow run still hands frames over promptly
                    ring.flush()
                continue
            if not q.wants(step):
                continue
            weights = q.wants_weights(step)
            if q.batch:
                if batch_frame is None or weights:
                    batch_frame = self._build_frame(True, basis=False, weights=weights, phase=phase)
                q.offer(batch_frame)
            else:
                # a display's frame carries no weights (at most the basis): build one
                # that does when this queue asked for a snapshot
                if frame is None or (weights and not _has_weights(frame)):
                    frame = self._build_frame(False, basis=False, weights=weights, phase=phase)
                q.offer(frame)

    def _build_frame(self, batch: bool, basis: bool, weights: bool, phase: str = "inference") -> Frame:
        return self._builder.frame(batch, basis, weights, phase)

    def flush_rings(self) -> None:
        """Hand every block-mode recorder what its ring holds (before any change of
        parameters, so that each block's host-side scalars use the right ones)."""
        for ring in self._rings.values():
            ring.flush()

    def records_whole_batch(self) -> bool:
        return any(q.batch for q in self._queues)


def _has_weights(frame: Frame) -> bool:
    return any(k.startswith("weights/") for k in frame.extras)


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
