"""The window's side of an engine process (no Qt): start it (spawn), read its frames
from the shared-memory ring, its events, heartbeats and replies from the pipe, send it
commands, tell whether it runs, is paused, stalled or dead, and stop it.

    proc = EngineProcess(config)
    proc.start()                  # returns when the engine is built (or raises why not)
    proc.submit(Play())
    proc.poll(); frame = proc.take()
    proc.close()                  # shutdown, join; terminate and kill if it must
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing as mp
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable

from pcviz.errors import PcvizError
from pcviz.sim.commands import Command
from pcviz.sim.events import Event
from pcviz.sim.frames import Frame
from pcviz.sim.process.child import engine_main
from pcviz.sim.process.ring import FrameRing

#: a running engine that sent neither a frame nor a heartbeat for this long is stalled
STALL_S = 5.0


class EngineProcessError(PcvizError):
    """The engine process could not start, or it is gone."""


@dataclass
class RunState:
    """What the last heartbeat said."""

    step: int = 0
    running: bool = False
    diverged: bool = False
    learning: bool = True
    steps_per_second: float = 0.0
    recording: tuple | None = None  # (path, frames, bytes, dropped, error)
    #: the engine's ``config_version``: it moves with every parameter change, and
    #: the heartbeat that says so brings the changed config
    config_version: int = 0


class EngineProcess:
    def __init__(self, config, device: str | None = None, threads: int = 0, frame_hz: float = 120.0,
                 slots: int = 3):
        self.config = config
        self.requested_device = device
        self.threads = threads
        self.frame_hz = frame_hz
        self.slots = slots
        self.state = RunState()
        self.spec = None
        self.device = "cpu"
        self.ring: FrameRing | None = None
        self.pid: int | None = None
        self.engine_t0 = 0.0
        self._proc = None
        self._conn = None
        self._tokens = itertools.count(1)
        self._replies: dict[int, tuple[Any, str | None]] = {}
        self._callbacks: dict[int, Callable[[Any, str | None], None]] = {}
        self._events: list[Event] = []
        self.last_contact = time.perf_counter()
        self.exitcode: int | None = None
        self.closed = False
        self._dead_said = False
        self._started = False
        self._running_at_start = False
        self._pipe_frame: bytes | None = None  # the newest frame sent down the connection (a server's)
        self.bytes_received = 0  # frames' bytes down the connection

    # -------------------------------------------------------------- lifecycle
    def start(self, running: bool = False, timeout: float = 180.0) -> "EngineProcess":
        """Spawn the engine process and wait until its engine is built. A configuration
        or checkpoint problem there is raised here as :class:`EngineProcessError`."""
        return self.launch(running).wait_ready(timeout)

    def launch(self, running: bool = False) -> "EngineProcess":
        """Spawn the engine process and return at once: the caller does its own work (a
        window imports Qt and builds itself) while the new interpreter imports torch and
        builds the engine; :meth:`wait_ready` then waits for it."""
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=engine_main, name="pcviz-engine",
                           args=(child, self.config, self.requested_device, self.threads, running,
                                 self.frame_hz, self.slots), daemon=True)
        proc.start()
        child.close()
        return self.adopt(proc, parent, running)

    def adopt(self, proc, conn, running: bool = False) -> "EngineProcess":
        """Take over an engine process spawned elsewhere (its entry point ends in
        :func:`pcviz.sim.process.child.engine_main`, on this object's configuration, and
        ``conn`` is the window's end of its pipe): from now on this object closes it."""
        self._proc, self._conn, self.pid = proc, conn, proc.pid
        self._running_at_start = running
        _LIVE.add(self)
        return self

    def wait_ready(self, timeout: float = 180.0) -> "EngineProcess":
        """Wait until the launched engine is built (raises :class:`EngineProcessError`
        naming why it could not be)."""
        proc, parent, running = self._proc, self._conn, self._running_at_start
        deadline = time.perf_counter() + timeout
        while True:
            if parent.poll(0.05):
                try:
                    msg = parent.recv()
                except EOFError:
                    msg = None
                if msg is None or msg[0] == "failed":
                    self.close()
                    why = "it ended without a word" if msg is None else msg[1]
                    raise EngineProcessError(f"the engine process could not start: {why}")
                if msg[0] == "ready":
                    info = msg[1]
                    self.spec, self.device = info["spec"], info["device"]
                    self.config = info["config"]
                    #: the engine's clock origin (time.perf_counter there; on Linux and macOS the
                    #: same monotonic clock as here): a frame's step happened at engine_t0 + wall
                    self.engine_t0 = info["t0"]
                    self.ring = FrameRing.attach(info["shm"], info["layout"], info["slots"])
                    self.state.running = running
                    self.last_contact = time.perf_counter()
                    self._started = True
                    return self
            if not proc.is_alive():
                code = proc.exitcode
                self.close()
                raise EngineProcessError(f"the engine process ended while starting (exit code {code})")
            if time.perf_counter() > deadline:
                self.close()
                raise EngineProcessError(f"the engine process did not start within {timeout:g} s")

    def close(self, timeout: float = 15.0) -> None:
        """Ask the engine to shut down (it closes a recording), join it; terminate, then
        kill, a process that does not end. Idempotent."""
        if self.closed:
            return
        self.closed = True
        proc, conn = self._proc, self._conn
        if conn is not None:
            try:
                conn.send(("shutdown",))
            except (OSError, ValueError):
                pass
        if proc is not None:
            proc.join(timeout)
            if proc.is_alive():
                proc.terminate()
                proc.join(5.0)
            if proc.is_alive():
                proc.kill()
                proc.join(5.0)
            self.exitcode = proc.exitcode
        if conn is not None:
            conn.close()
        if self.ring is not None:
            self.ring.close()
            self.ring.unlink()  # the engine does it on an orderly end; not when it was killed
            self.ring = None
        _LIVE.discard(self)

    # ------------------------------------------------------------------ state
    @property
    def alive(self) -> bool:
        """The process runs (checked now: a killed process is seen at the next call)."""
        return self._proc is not None and not self.closed and self._proc.is_alive()

    def health(self, now: float | None = None) -> str:
        if self.closed:
            return "closed"
        if not self.alive:
            return "dead"
        if self.state.diverged:
            return "diverged"
        if not self.state.running:
            return "paused"
        now = time.perf_counter() if now is None else now
        return "stalled" if now - self.last_contact > STALL_S else "running"

    def poll(self) -> list[Event]:
        """Read what the engine sent: new events are returned (with an ``engine_dead``
        event, once, when the process is gone); heartbeats and replies are kept."""
        conn = self._conn
        if conn is not None and not self.closed:
            try:
                while conn.poll(0):
                    self._take(conn.recv())
            except (EOFError, OSError):
                pass
        out, self._events = self._events, []
        if not self._dead_said and not self.closed and self._started and not self.alive:
            self._dead_said = True
            self.state.running = False
            out.append(Event(self.state.step, "engine_dead", self._death()))
        return out

    def _death(self) -> dict:
        """Why the engine is gone (the payload of ``engine_dead``)."""
        self.exitcode = self._proc.exitcode
        code = self.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return {"message": f"the engine process ended ({how})", "exitcode": code}

    def _take(self, msg: tuple) -> None:
        self.last_contact = time.perf_counter()
        kind = msg[0]
        if kind == "frame":
            self.bytes_received += len(msg[1])
            self._pipe_frame = msg[1]
        elif kind == "events":
            self._events.extend(msg[1])
        elif kind == "beat":
            s = msg[1]
            st = self.state
            st.step, st.running, st.diverged = s["step"], s["running"], s["diverged"]
            st.learning, st.steps_per_second = s["learning"], s["steps_per_second"]
            st.recording = s.get("recording")
            if s.get("spec") is not None:
                self.spec = s["spec"]
            if s.get("config") is not None:
                self.config = s["config"]
            st.config_version = s.get("config_version", st.config_version)
        elif kind == "reply":
            _, token, result, error = msg
            cb = self._callbacks.pop(token, None)
            if cb is not None:
                cb(result, error)
            else:
                self._replies[token] = (result, error)

    def take(self) -> Frame | None:
        """The newest frame since the last call (from shared memory), or None."""
        ring = self.ring
        if ring is not None:
            frame = ring.read()
        elif self._pipe_frame is not None:
            from pcviz.sim.process.serve import decode_frame

            frame, self._pipe_frame = decode_frame(self._pipe_frame), None
        else:
            return None
        if frame is not None:
            self.last_contact = time.perf_counter()
            self.state.step = max(self.state.step, frame.step)
        return frame

    # --------------------------------------------------------------- requests
    def _send(self, msg: tuple) -> None:
        if self.closed or self._conn is None:
            raise EngineProcessError("the engine process was stopped")
        if not self.alive:
            raise EngineProcessError("the engine process is gone; restart it")
        try:
            self._conn.send(msg)
        except (OSError, ValueError) as exc:
            raise EngineProcessError(f"the engine process cannot be reached: {exc}") from None

    def submit(self, cmd: Command) -> None:
        if not isinstance(cmd, Command):
            raise TypeError(f"engine commands are pcviz.sim.commands objects, not {type(cmd).__name__}")
        self._send(("command", cmd))

    def compute(self, fn: Callable[..., Any], args: tuple, on_result: Callable[[Any, str | None], None]) -> None:
        """Run ``fn(engine, *args)`` in the engine thread there; ``on_result`` is called
        from :meth:`poll` (``fn`` must be importable by name: a module-level function)."""
        token = next(self._tokens)
        self._callbacks[token] = on_result
        try:
            self._send(("compute", token, fn, args))
        except Exception:
            self._callbacks.pop(token, None)
            raise

    def request(self, kind: str, *args: Any, timeout: float = 60.0) -> Any:
        """Send ``(kind, token, *args)`` and wait for its reply; an error reply raises."""
        token = next(self._tokens)
        self._send((kind, token, *args))
        deadline = time.perf_counter() + timeout
        while token not in self._replies:
            if not self.alive:
                raise EngineProcessError(f"the engine process ended before answering {kind!r}")
            if time.perf_counter() > deadline:
                raise EngineProcessError(f"the engine process did not answer {kind!r} within {timeout:g} s")
            try:
                if self._conn.poll(0.05):
                    self._take(self._conn.recv())
            except (EOFError, OSError):
                pass
        result, error = self._replies.pop(token)
        if error is not None:
            raise EngineProcessError(error)
        return result


#: engine processes of this process, closed at exit so none outlives its window
_LIVE: "weakref.WeakSet[EngineProcess]" = weakref.WeakSet()


@atexit.register
def _close_at_exit() -> None:
    for p in list(_LIVE):
        try:
            p.close(timeout=5.0)
        except Exception:  # noqa: BLE001 - exit goes on
            pass


class EngineClient(EngineProcess):
    """A window's link to an engine served elsewhere (``pcviz record --serve``): the
    same protocol over a socket, frames down the connection (compressed). Closing it
    detaches; the run goes on."""

    def __init__(self, address: str | None = None, token: str | None = None):
        super().__init__(None)
        self.address, self.token = address, token
        self._eof = False

    def start(self, running: bool = False, timeout: float = 60.0) -> "EngineClient":
        from pcviz.sim.process.serve import ServeError, connect

        conn = connect(self.address, self.token)
        self._conn = conn
        if not conn.poll(timeout):
            conn.close()
            raise ServeError(f"attach {self.address}: the server did not say hello within {timeout:g} s")
        try:
            kind, info = conn.recv()
        except (EOFError, OSError) as exc:
            raise ServeError(f"attach {self.address}: the server closed the connection ({exc})") from None
        self.spec, self.device, self.config = info["spec"], info["device"], info["config"]
        self.engine_t0, self.pid = info["t0"], info["pid"]
        self.state.running = True
        self.last_contact = time.perf_counter()
        self._started = True
        return self

    @property
    def alive(self) -> bool:
        """Connected: the server has not closed the connection (seen by :meth:`poll`)."""
        return not (self.closed or self._conn is None or self._eof)

    def poll(self):
        conn = self._conn
        if conn is not None and not self.closed and not self._eof:
            try:
                while conn.poll(0):
                    self._take(conn.recv())
            except (EOFError, OSError):
                self._eof = True
        return super().poll()

    def _death(self) -> dict:
        return {"message": "the served run ended or the connection was lost"}

    def close(self, timeout: float = 5.0) -> None:
        """Detach: the server's run goes on."""
        if self.closed:
            return
        self.closed = True
        if self._conn is not None:
            try:
                self._conn.send(("shutdown",))
            except (OSError, ValueError):
                pass
            self._conn.close()
