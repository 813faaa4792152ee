"""Where a :class:`~pcviz.api.session.Session` sends its commands and reads its run:
one declared interface, :class:`Backend`, with two implementations.

- :class:`LocalBackend`: an :class:`~pcviz.sim.engine.Engine` in this process (the
  session's own, or the window's engine thread).
- :class:`HostBackend`: an engine behind the engine process's protocol, through the
  host object that already speaks it: an :class:`~pcviz.sim.process.EngineProcess`
  (the window's engine in its own process) or an
  :class:`~pcviz.sim.process.EngineClient` (a served run, ``pcviz record --serve``).
  Everything is a command (``submit``) or a computation in the engine thread
  (``compute``, answered with the host's ``request``), so no second protocol exists.
  ``request`` reads the connection for its reply and leaves every event it meets in the
  host's queue, so a window polling that host still lists all of them.

The session speaks only this interface; it never asks which kind it has.
"""

from __future__ import annotations

import abc
import contextlib
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from pcviz.api.errors import CommandError
from pcviz.sim import commands as C
from pcviz.sim.frames import Frame, FrameSpec


@dataclass(frozen=True)
class EngineState:
    """What a session waits on: where the run is and whether it moves."""

    step: int
    running: bool
    steps_pending: int
    diverged: str | None  # the divergence message, or None
    events: int  # how many events the run has logged


# ---------------------------------------------------------------------------
# functions run in the engine thread (module level: a host sends them by name)
def engine_state(engine) -> EngineState:
    d = engine.diverged
    return EngineState(int(engine.step_count), bool(engine.running), int(engine.steps_pending),
                       None if d is None else str(d.message), len(engine.events))


def hold_pending(engine) -> bool:
    return bool(engine.hold_pending)


def snapshot(engine) -> Frame:
    return engine.snapshot()


def events_since(engine, since: int) -> list:
    return engine.events.all()[since:]


def refusals_since(engine, cursor: int, kind: str) -> list[str]:
    """The messages of ``error`` events about commands of ``kind`` from event ``cursor``."""
    return [str(ev.payload.get("message", "")) for ev in engine.events.all()[cursor:]
            if ev.kind == "error" and ev.payload.get("command") == kind]


def schedule_commands(engine, specs: list) -> list[str]:
    errors = []
    for step, cmd in specs:
        try:
            engine.schedule_command(step, cmd)
        except Exception as exc:  # noqa: BLE001 - a ConfigError naming what is wrong, sent back as text
            errors.append(str(exc))
    return errors


# ---------------------------------------------------------------------------
class Backend(abc.ABC):
    """What a session needs of a run. ``what`` names it in messages ("this process",
    "the engine process", "the served run at ADDRESS")."""

    what: str
    #: seconds a waiting session sleeps between looks at the run
    poll_s: float = 0.002

    @property
    @abc.abstractmethod
    def spec(self) -> FrameSpec: ...

    @property
    @abc.abstractmethod
    def config(self): ...

    @property
    @abc.abstractmethod
    def device(self) -> str: ...

    @property
    @abc.abstractmethod
    def alive(self) -> bool:
        """The engine runs and can be reached."""

    @abc.abstractmethod
    def submit(self, cmd: C.Command) -> None:
        """Queue ``cmd`` for the engine."""

    @abc.abstractmethod
    def compute(self, fn: Callable[..., Any], *args: Any, wait: Callable[[Callable[[], bool]], None]) -> Any:
        """``fn(engine, *args)`` in the engine thread, after every command submitted
        before; its result. ``wait(done)`` is the session's waiting loop."""

    @abc.abstractmethod
    def frames(self, every: int, steps: int, start_steps: Callable[[int], int],
               wait_idle: Callable[[], None], steps_over: Callable[[int], bool]) -> Iterator[Frame]:
        """Run ``steps`` steps, yielding every ``every``-th frame."""

    @abc.abstractmethod
    def record(self, path, every: int, options: dict[str, Any]) -> contextlib.AbstractContextManager:
        """A context that records the frames made inside it (yields the recorder)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop an engine the session owns, detach from one it does not."""

    def local_engine(self):
        """The engine object when it lives in this process (a window can open on it), else None."""
        return None


class LocalBackend(Backend):
    def __init__(self, engine, owns: bool):
        self.engine, self.owns, self.what = engine, owns, "this process"

    spec = property(lambda self: self.engine.spec)
    config = property(lambda self: self.engine.config)
    device = property(lambda self: str(self.engine.device))
    alive = property(lambda self: bool(self.engine.alive))

    def submit(self, cmd: C.Command) -> None:
        self.engine.submit(cmd)

    def compute(self, fn, *args, wait):
        box: list = []

        def run(engine) -> None:
            try:
                box.append((fn(engine, *args), None))
            except Exception as exc:  # noqa: BLE001 - raised in the caller's thread below
                box.append((None, exc))

        self.engine.submit(C.Call(run))
        wait(lambda: bool(box))
        result, exc = box[0]
        if exc is not None:
            raise exc
        return result

    def frames(self, every, steps, start_steps, wait_idle, steps_over):
        q = self.engine.subscribe_queue(maxsize=steps // every + 2, every=every)
        try:
            target = start_steps(steps)
            while True:
                try:
                    f = q.get(timeout=0.02)
                except queue.Empty:
                    if steps_over(target) and q.qsize() == 0:
                        return
                    wait_idle()
                    continue
                if f is None:
                    return
                yield f
                if f.step >= target:
                    return
        finally:
            self.engine.unsubscribe(q)
            if q.dropped:
                raise RuntimeError(f"frames: {q.dropped} frames were dropped (the reader fell behind)")

    @contextlib.contextmanager
    def record(self, path, every, options):
        from pcviz.io import Recorder

        rec = Recorder(self.engine, path, every=every, **options).start()
        try:
            yield rec
        finally:
            rec.stop()

    def close(self) -> None:
        if self.owns:
            self.engine.stop()

    def local_engine(self):
        return self.engine


class HostBackend(Backend):
    """An engine behind an :class:`~pcviz.sim.process.EngineProcess` or
    :class:`~pcviz.sim.process.EngineClient` (see the module docstring)."""

    poll_s = 0.01

    def __init__(self, host, owns: bool, what: str):
        self.host, self.owns, self.what = host, owns, what
        self._lock = threading.Lock()

    spec = property(lambda self: self.host.spec)
    config = property(lambda self: self.host.config)
    device = property(lambda self: str(self.host.device))
    alive = property(lambda self: bool(self.host.alive))

    def submit(self, cmd: C.Command) -> None:
        from pcviz.sim.process import EngineProcessError

        try:
            self.host.submit(cmd)
        except EngineProcessError as exc:
            raise RuntimeError(f"{self.what}: {exc}") from None

    def compute(self, fn, *args, wait):
        from pcviz.sim.process import EngineProcessError

        try:
            with self._lock:
                return self.host.request("compute", fn, args)
        except EngineProcessError as exc:
            if not self.host.alive:
                raise RuntimeError(f"{self.what}: {exc}") from None
            raise RuntimeError(f"{self.what}: {exc}") from None

    def frames(self, every, steps, start_steps, wait_idle, steps_over):
        """Frames cross the connection one at a time here: step ``every`` steps, read
        the frame at that step, repeat (the frames at the same steps as in-process)."""
        for _ in range(steps // every):
            target = start_steps(every)
            while not steps_over(target):
                wait_idle()
            yield self.compute(snapshot, wait=None)

    def record(self, path, every, options):
        raise CommandError("record", f"the engine runs in {self.what}: record there (`pcviz record`, or the "
                                     "window's Record button), not from this session")

    def close(self) -> None:
        if self.owns:
            self.host.close()
