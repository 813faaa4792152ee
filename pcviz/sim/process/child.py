"""The engine process: builds the engine (model, data stream), runs its step loop in
its thread, and serves the window over a pipe.

Its main thread copies the newest frame into the shared-memory ring (at most
``frame_hz`` times a second), forwards new events, sends a heartbeat with the run's
state (and the recording's) every quarter second, applies what the window sends
(commands, computations, record start and stop), and ends on ``shutdown``, when the
window's end of the pipe closes (the window's process died), or when the engine
thread has died (after saying why). The recorder runs here, beside the engine.

Messages (tuples, pickled by the pipe; frames never go through it):

    window -> engine   ("command", Command) | ("compute", token, fn, args)
                       | ("record_start", token, Recorder, path, options) | ("record_stop", token)
                       | ("shutdown",)
    engine -> window   ("ready", info) | ("failed", message, traceback)
                       | ("events", [Event, ...]) | ("beat", state) | ("reply", token, result, error)
"""

from __future__ import annotations

import os
import queue
import time
import traceback
from typing import Any

#: seconds between heartbeats
BEAT_S = 0.25


def report_failure(conn, exc: BaseException) -> None:
    """Tell the window why there is no engine (the reason and its traceback), then
    close the pipe: the last thing an engine process that could not start does."""
    try:
        conn.send(("failed", f"{type(exc).__name__}: {exc}",
                   "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))))
    finally:
        conn.close()


def engine_main(conn, config, device: str | None, threads: int, running: bool, frame_hz: float,
                slots: int) -> None:
    """The engine process's entry point (module-level, so that spawn can import it)."""
    ppid = os.getppid()
    try:
        from pcviz.sim.engine import Engine
        from pcviz.sim.process.ring import FrameLayout, FrameRing

        engine = Engine(config, device=device)
        if threads > 0:
            engine.threads = threads
        latest = engine.subscribe_latest(with_basis=True)
        first = engine.snapshot()
        layout = FrameLayout.of(first)
        ring = FrameRing.create(layout, slots)
        ring.write(first)
    except BaseException as exc:  # noqa: BLE001 - the window must hear why there is no engine
        report_failure(conn, exc)
        return
    server = _Server(conn, engine, latest, ring, frame_hz)
    try:
        conn.send(("ready", {"spec": engine.spec, "layout": layout, "shm": ring.name, "slots": slots,
                             "config": engine.config, "device": str(engine.device), "pid": os.getpid(),
                             "t0": engine.events.t0}))
        engine.start(running=running)
        server.serve(ppid)
    finally:
        server.finish()


class _Server:
    """Serves one window over ``conn``: frames into ``ring`` (the shared-memory ring, or
    :class:`pcviz.sim.process.serve.PipeFrames` over a socket), events, heartbeats and
    replies down ``conn``, commands up. ``owns_loop``: the engine's thread is this
    server's to watch (the engine process); ``stop`` ends :meth:`serve` (a server)."""

    def __init__(self, conn, engine, latest, ring, frame_hz: float, owns_loop: bool = True, stop=None):
        self.conn, self.engine, self.latest, self.ring = conn, engine, latest, ring
        self.owns_loop, self.stop = owns_loop, stop
        self.frame_period = 1.0 / max(1.0, frame_hz)
        self.cursor = 0
        self.recorder = None
        self.rec_error: str | None = None
        self.results: queue.SimpleQueue = queue.SimpleQueue()  # computations done in the engine thread
        self.spec = engine.spec
        self.done = False

    # ------------------------------------------------------------------ loop
    def serve(self, ppid: int | None) -> None:
        next_beat = 0.0
        next_frame = 0.0
        while not self.done and not (self.stop is not None and self.stop.is_set()):
            try:
                ready = self.conn.poll(min(self.frame_period, BEAT_S))
            except (EOFError, OSError):
                return  # the window's process is gone
            try:
                if ready:
                    self._handle(self.conn.recv())
                    while not self.done and self.conn.poll(0):
                        self._handle(self.conn.recv())
            except (EOFError, OSError):
                return
            if self.done:
                return
            now = time.perf_counter()
            try:
                if now >= next_frame:
                    frame = self.latest.take()
                    if frame is not None:
                        self.ring.write(frame)
                    next_frame = now + self.frame_period
                self._forward()
                if now >= next_beat:
                    self._beat()
                    next_beat = now + BEAT_S
            except (EOFError, OSError, BrokenPipeError):
                return
            except Exception as exc:  # noqa: BLE001 - said as an engine error, the loop goes on
                self.engine.engine_failed("engine process", exc)
            if ppid is not None and os.getppid() != ppid:
                return  # orphaned: the window died without closing the pipe
            if self.owns_loop and not self.engine.alive:  # its loop died: say why, then end
                self._forward()
                self._beat()
                return

    def _handle(self, msg: tuple) -> None:
        kind = msg[0]
        try:
            if kind == "command":
                self.engine.submit(msg[1])
            elif kind == "compute":
                self._compute(*msg[1:])
            elif kind in ("record_start", "record_stop") and not self.owns_loop:
                self.conn.send(("reply", msg[1], None, "the served run records itself; an attached window cannot"))
            elif kind == "record_start":
                self._record_start(*msg[1:])
            elif kind == "record_stop":
                token = msg[1]
                self.conn.send(("reply", token, self._record_stop(), None))
            elif kind == "shutdown":
                self.done = True
            else:
                raise ValueError(f"unknown message {kind!r} from the window")
        except (EOFError, OSError):
            raise
        except Exception as exc:  # noqa: BLE001 - the engine goes on; the window hears it
            self.engine.engine_failed(f"the window's {kind!r} message", exc)

    def _compute(self, token: int, fn, args: tuple) -> None:
        from pcviz.sim.commands import Call

        results = self.results

        def run(engine) -> None:  # in the engine thread
            try:
                results.put((token, fn(engine, *args), None))
            except Exception as exc:  # noqa: BLE001 - the window is told, the run goes on
                results.put((token, None, f"{type(exc).__name__}: {exc}"))

        self.engine.submit(Call(run))

    def _record_start(self, token: int, recorder, path: str, options: dict[str, Any]) -> None:
        """``recorder`` is the recorder class (:class:`pcviz.io.Recorder`, sent by name:
        the io layer sits above this one): ``recorder(engine, path, on_error=..., **options)``."""
        if self.recorder is not None:
            self.conn.send(("reply", token, None, "a recording already runs"))
            return
        try:
            rec = recorder(self.engine, path, on_error=self._on_record_error, **options)
            rec.start()
        except Exception as exc:  # noqa: BLE001 - a file that cannot be made: the window says why
            self.conn.send(("reply", token, None, str(exc)))
            return
        self.recorder, self.rec_error = rec, None
        self.conn.send(("reply", token, str(rec.path), None))

    def _on_record_error(self, err) -> None:  # the recorder's thread: only note it
        self.rec_error = str(err)

    def _record_stop(self):
        rec, self.recorder = self.recorder, None
        return None if rec is None else rec.stop()

    # --------------------------------------------------------------- outbound
    def _forward(self) -> None:
        new, self.cursor = self.engine.events.since(self.cursor)
        if new:
            self.conn.send(("events", new))
        while True:
            try:
                token, result, error = self.results.get_nowait()
            except queue.Empty:
                break
            try:
                self.conn.send(("reply", token, result, error))
            except (EOFError, OSError):
                raise
            except Exception as exc:  # noqa: BLE001 - a result that does not pickle
                self.conn.send(("reply", token, None, f"the result could not be sent: {type(exc).__name__}: {exc}"))

    def _beat(self) -> None:
        e = self.engine
        state = {"step": e.step_count, "running": bool(e.running),
                 "diverged": e.diverged is not None,
                 "learning": bool(e.config.engine.learning), "steps_per_second": e.steps_per_second,
                 "alive": e.alive, "frames": self.ring.written, "config": None, "spec": None}
        if e.spec is not self.spec:  # the batch size changed
            self.spec = e.spec
            state["spec"] = e.spec
        rec = self.recorder
        if rec is not None:
            state["recording"] = (str(rec.path), rec.frames_written, rec.bytes, rec.dropped, self.rec_error)
        version = e.config_version
        state["config_version"] = version
        if version != self._config_sent:  # a parameter changed: the window's copy follows
            self._config_sent = version
            state["config"] = e.config
        self.conn.send(("beat", state))

    #: the engine's config_version whose config was last sent (None: none sent yet)
    _config_sent: int | None = None

    # ----------------------------------------------------------------- finish
    def finish(self) -> None:
        """Close the recording (the file complete), stop the engine, free the ring."""
        try:
            self._record_stop()
        except Exception:  # noqa: BLE001 - what was flushed stays readable
            traceback.print_exc()
        try:
            self.engine.stop(timeout=10.0)
        except Exception:  # noqa: BLE001 - the process ends anyway
            traceback.print_exc()
        self.ring.close()
        self.ring.unlink()
        try:
            self.conn.close()
        except OSError:
            pass
