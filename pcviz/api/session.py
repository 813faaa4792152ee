"""``pcviz.Session``: open, steer and read a live run from a script, IPython or a
notebook, without Qt.

    s = pcviz.Session("digits-supervised", set={"engine.learning": False})
    s.label(3, imagine=True)          # what the window's "3" button (imagine) does
    s.run(steps=200)                  # blocking; a progress bar when interactive
    f = s.frame()                     # numpy arrays by layer and quantity
    with s.record("run.h5"):
        s.run(steps=500)
    s.show()                          # the window, on this same engine

The session owns an :class:`~pcviz.sim.engine.Engine` whose step loop runs in the
engine's own thread (paused until told otherwise), exactly as under the window; or it
steers a run elsewhere: ``Session.attach(address)`` a served run (``pcviz record
--serve``), ``Session.on(host)`` the window's engine process. Which one is a
:class:`~pcviz.api.backends.Backend`; the session speaks only that interface. Every
method puts the same typed command on the engine's queue that the matching window
control puts there, so the event list shows the same events at the same steps, and
waits until the engine has applied it: a refused command raises
:class:`~pcviz.api.errors.CommandError` with the message the window shows, and the
run goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from pcviz.api import backends as B
from pcviz.api.errors import CommandError
from pcviz.config import ConfigError, read_toml
from pcviz.sim import commands as C
from pcviz.sim.engine import Engine
from pcviz.sim.events import Event
from pcviz.sim.frame_view import SessionFrame, layer_index
from pcviz.sim.frames import FrameSpec
from pcviz.sim.presets import load_preset

Units = int | Sequence[int] | np.ndarray | range | None


class Session:
    """A live run to steer and read from Python (see the module docstring).

    ``preset``: a preset name (``pcviz presets``) or a .toml path; ``set``: overrides,
    validated like ``--set`` (``{"model.dt": 0.1}``); ``device``: auto, cpu, cuda, mps.
    """

    def __init__(self, preset: str = "digits-pc", set: dict[str, Any] | None = None,  # noqa: A002 - the CLI's word
                 device: str | None = None, *, _backend: B.Backend | None = None):
        owns_local = _backend is None
        if _backend is None:
            cfg = load_preset(preset, dict(set or {}))
            engine = Engine(cfg, device=device if device not in (None, "") else None)
            _backend = B.LocalBackend(engine, owns=True)
        self._backend = _backend
        #: called while a method waits for the engine (the window sets it, so that it
        #: keeps painting while a script runs steps)
        self.on_wait: Callable[[], None] | None = None
        #: windows shown on this session (kept so they are not garbage-collected)
        self.windows: list[Any] = []
        self._closed = False
        if owns_local:
            self.engine.start(running=False)  # its thread, paused, as under the window

    @classmethod
    def from_engine(cls, engine: Engine) -> "Session":
        """A session on an engine someone else owns and starts (the window's console
        uses it); :meth:`close` leaves that engine running."""
        return cls(_backend=B.LocalBackend(engine, owns=False))

    @classmethod
    def on(cls, engine_or_host: Any) -> "Session":
        """A session on a run someone else owns: an :class:`Engine` here, or the host
        object of an engine process (:class:`~pcviz.sim.process.EngineProcess`, the
        window's; :class:`~pcviz.sim.process.EngineClient`, an attached run). Closing
        the session leaves that run going."""
        from pcviz.sim.process import EngineClient, EngineProcess

        if isinstance(engine_or_host, Engine):
            return cls.from_engine(engine_or_host)
        if isinstance(engine_or_host, EngineClient):
            return cls(_backend=B.HostBackend(engine_or_host, owns=False, what=f"the served run at {engine_or_host.address}"))
        if isinstance(engine_or_host, EngineProcess):
            return cls(_backend=B.HostBackend(engine_or_host, owns=False, what="the engine process"))
        raise TypeError(f"Session.on: expected an Engine, EngineProcess or EngineClient, not {type(engine_or_host).__name__}")

    @classmethod
    def attach(cls, address: str | None = None, token: str | None = None) -> "Session":
        """A session on a served run (``pcviz record --serve``): ``address`` is its Unix
        socket path or ``HOST:PORT``; ``token`` the one the server printed (a local
        socket's is read from its file when omitted). A wrong token or an address with
        no server raises :class:`~pcviz.sim.process.serve.ServeError`. Commands and
        reads work as on a local session; recording from here is refused (the served
        run records itself). :meth:`close` detaches; the run goes on."""
        from pcviz.sim.process import EngineClient

        client = EngineClient(address, token).start()
        return cls(_backend=B.HostBackend(client, owns=True, what=f"the served run at {client.address}"))

    @property
    def engine(self) -> Engine | None:
        """The :class:`Engine` when it runs in this process; None for a run in an engine
        process or a served run."""
        return self._backend.local_engine()

    @property
    def backend(self) -> B.Backend:
        return self._backend

    # ------------------------------------------------------------------ reading
    @property
    def spec(self) -> FrameSpec:
        """Layers (index, name, role, size, display shape, quantities) and scalars."""
        return self._backend.spec

    @property
    def config(self):
        """The run's resolved config (read it; change it with :meth:`set`)."""
        return self._backend.config

    @property
    def step_count(self) -> int:
        return self._state().step

    @property
    def running(self) -> bool:
        return self._state().running

    def frame(self) -> SessionFrame:
        """The current state as a frame (the displayed sample)."""
        self._check_open()
        return SessionFrame(self._compute(B.snapshot), self.spec)

    def frames(self, every: int = 1, steps: int = 1) -> Iterator[SessionFrame]:
        """Run ``steps`` steps and yield every ``every``-th frame as it is made."""
        every, steps = _positive(every, "frames", "every"), _positive(steps, "frames", "steps")
        self._check_open()
        for f in self._backend.frames(every, steps, self._start_steps, self._idle, self._steps_over):
            yield SessionFrame(f, self.spec)

    def events(self, since: int = 0) -> list[Event]:
        """The run's events (commands, interventions, errors, divergence) from index ``since``."""
        self._check_open()
        return self._compute(B.events_since, int(since))

    # ---------------------------------------------------------------- running
    def step(self, n: int = 1) -> SessionFrame:
        """Run ``n`` steps (the window's Step), then stay paused; returns the frame."""
        self._run_steps(_positive(n, "step", "n"), progress=False)
        return self.frame()

    def run(self, steps: int | None = None, seconds: float | None = None, progress: bool | None = None) -> SessionFrame:
        """Run ``steps`` steps as fast as the engine goes, or play for ``seconds`` (at
        the preset's speed cap) and pause. Blocks; Ctrl-C pauses the run."""
        if (steps is None) == (seconds is None):
            raise CommandError("run", "give steps or seconds (one of them)")
        if progress is None:
            progress = _interactive()
        if steps is not None:
            self._run_steps(_positive(steps, "run", "steps"), progress)
        else:
            if not seconds > 0:
                raise CommandError("run", f"seconds = {seconds}: must be more than 0")
            self.play()
            end = time.perf_counter() + float(seconds)
            try:
                self._wait(lambda: time.perf_counter() >= end or self._state().diverged is not None)
            finally:
                self.pause()
        self._raise_if_diverged()
        return self.frame()

    def play(self) -> None:
        self._send(C.Play())

    def pause(self) -> None:
        self._send(C.Pause())

    def step_hold(self) -> SessionFrame:
        """Run to the end of the current hold (the window's Step hold)."""
        self._send(C.StepHold())
        self._wait(lambda: not self._state().running and not self._compute(B.hold_pending))
        return self.frame()

    def reset(self, state_only: bool = False) -> None:
        """Start again (the window's Reset); ``state_only`` keeps the learned weights
        (Reset state)."""
        self._send(C.Reset(weights=not state_only))

    # ------------------------------------------------------------ interventions
    def clamp(self, layer: int | str, units: Units = None, value: float = 1.0, steps: int | None = None) -> None:
        """Hold ``units`` of ``layer`` at ``value`` (None: every unit) for ``steps`` steps
        (None: until released)."""
        duration = 0 if steps is None else _positive(steps, "clamp", "steps")
        self._send(C.Clamp(self._layer(layer, "clamp"), _units(units, "clamp"), float(value), duration))

    def release(self, layer: int | str | None = None, units: Units = None) -> None:
        """Release clamps: of ``units`` of ``layer``, all of a layer, or (no layer) all."""
        li = None if layer is None else self._layer(layer, "release")
        self._send(C.Release(li, _units(units, "release")))

    def pulse(self, layer: int | str, units: Units = None, value: float = 1.0) -> None:
        """Add ``value`` to ``units`` of ``layer`` once."""
        self._send(C.Pulse(self._layer(layer, "pulse"), _units(units, "pulse"), float(value)))

    def lesion(self, layer: int | str, units: Units = None, factor: float = 0.0) -> None:
        """Multiply the precision of ``layer`` (or of its ``units``) by ``factor``."""
        self._send(C.Lesion(self._layer(layer, "lesion"), float(factor), _units(units, "lesion")))

    def restore(self, layer: int | str, units: Units = None) -> None:
        """Undo a lesion: the precision gain of ``units`` (all: None) back to 1 (what
        the window's undo of a lesion sends)."""
        self._send(C.Lesion(self._layer(layer, "lesion"), 1.0, _units(units, "lesion")))

    def occlude(self, rect: Sequence[int]) -> None:
        """Set the input precision to 0 in ``rect`` = (row0, col0, row1, col1), end-exclusive
        (a drag on the input in occlude mode)."""
        region = tuple(int(v) for v in rect)
        if len(region) != 4:
            raise CommandError("occlude", f"rect {list(rect)}: expected (row0, col0, row1, col1)")
        self._send(C.Occlude(region=region))

    def unocclude(self) -> None:
        self._send(C.Unocclude())

    def clear(self) -> None:
        """Release every clamp, lesion, occlusion and label (the window's Clear all)."""
        self._send(C.ClearInterventions())

    def label(self, k: int | None, imagine: bool = False) -> None:
        """Clamp the label layer to ``k`` (None: back to the data's labels); with
        ``imagine`` the input is freed too (the window's digit buttons)."""
        self._send(C.SetLabel(None if k is None else int(k), bool(imagine)))

    def set(self, params: dict[str, Any] | None = None, /, **named: Any) -> None:
        """Change parameters during the run, validated like ``--set``:
        ``s.set({"model.dt": 0.05})`` or, by field name, ``s.set(dt=0.05, hold_steps=20)``."""
        items = list((params or {}).items()) + [(self._param_name(k), v) for k, v in named.items()]
        if not items:
            raise CommandError("set_param", "give at least one parameter")
        for name, value in items:
            self._send(C.SetParam(str(name), value))

    def schedule(self, path_or_list: str | Path | Iterable[dict[str, Any]]) -> None:
        """Add scheduled interventions: a TOML file with ``[[interventions]]`` tables (a
        preset, or a schedule saved from the event list) or a list of such tables, e.g.
        ``[{"step": 400, "kind": "occlude", "region": [0, 0, 4, 8]}]`` (engine steps)."""
        if isinstance(path_or_list, (str, Path)):
            doc = read_toml(path_or_list)
            items, source = doc.get("interventions", []), str(path_or_list)
            if not isinstance(items, list) or not items:
                raise CommandError("schedule", f"{path_or_list}: no [[interventions]] tables")
        else:
            items, source = list(path_or_list), None
        specs = []
        for i, item in enumerate(items):
            where = f"interventions[{i}]"
            if not isinstance(item, dict):
                raise CommandError("schedule", f"{where} = {item!r}: expected a table (a dict)")
            step = item.get("step")
            if isinstance(step, bool) or not isinstance(step, int) or step < 0:
                raise CommandError("schedule", f"{where}.step = {step!r}: must be an engine step (an integer >= 0)")
            try:
                table = {k: v for k, v in item.items() if k != "step"}
                specs.append((step, C.command_from_schedule(table, where, source)))
            except ConfigError as exc:
                raise CommandError("schedule", str(exc)) from None
        self._check_open()
        errors = self._compute(B.schedule_commands, specs)
        if errors:
            raise CommandError("schedule", "; ".join(errors))

    def save_checkpoint(self, path: str | Path) -> Path:
        """Save the run's checkpoint to ``path`` (on the machine the engine runs on)."""
        self._send(C.SaveCheckpoint(str(path)))
        return Path(path)

    def load_checkpoint(self, path: str | Path) -> None:
        self._send(C.LoadCheckpoint(str(path)))

    def show_item(self, index: int) -> None:
        """Which batch item the frames show (the window's "batch item")."""
        self._send(C.SetDisplayIndex(int(index)))

    # -------------------------------------------------------------- recording
    @contextlib.contextmanager
    def record(self, path: str | Path, every: int = 1, **options: Any):
        """``with s.record("run.h5"): s.run(steps=5000)``: record the frames made
        inside the block (``every``-th step; ``batch``, ``weights_every``,
        ``compression``, ``overwrite`` as for :class:`~pcviz.io.Recorder`). The
        recorder is yielded; its ``summary()`` says what was written. Only where the
        engine runs in this process: elsewhere it raises :class:`CommandError`."""
        self._check_open()
        with self._backend.record(path, every, options) as rec:
            yield rec

    # ----------------------------------------------------------------- window
    def show(self, theme: str | None = None, persist: bool = True):
        """Open the window on this session (the same engine, not a second one) and
        return it. In IPython the Qt event loop is started by itself, so the prompt
        stays live; in a script, call :func:`pcviz.run` to keep the window open.
        ``persist``: remember the window's layout for next time."""
        if self.engine is None:
            raise CommandError("show", f"the engine runs in {self._backend.what}; open a window on a served run "
                                       "with `pcviz attach`, or use the window the engine process belongs to")
        from pcviz.gui.session_window import show_session

        return show_session(self, theme=theme, persist=persist)

    # ---------------------------------------------------------------- closing
    def close(self) -> None:
        """Stop the engine (a session on someone else's engine leaves it running)."""
        if self._closed:
            return
        self._closed = True
        for win in list(self.windows):
            with contextlib.suppress(RuntimeError):  # already deleted by Qt
                win.close()
        self.windows.clear()
        self._backend.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._closed or not self._backend.alive:
            step, state = "?", "closed" if self._closed else "stopped"
        else:
            st = self._state()
            step, state = st.step, "running" if st.running else "paused"
        layers = ", ".join(l.name for l in self.spec.layers)
        return (f"Session({self.config.preset.name!r}, step={step}, {state}, "
                f"device={self._backend.device}, layers=[{layers}])")

    # ---------------------------------------------------------------- helpers
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this session is closed; open a new pcviz.Session")
        if not self._backend.alive:
            raise RuntimeError(f"the session's engine ({self._backend.what}) has stopped or is unreachable; "
                               "open a new pcviz.Session")

    def _layer(self, layer: int | str, command: str) -> int:
        try:
            return layer_index(self.spec, layer, command)
        except ValueError as exc:
            raise CommandError(command, str(exc)) from None

    def _param_name(self, name: str) -> str:
        """``dt`` -> ``model.dt``: a bare field name of exactly one config section."""
        cfg = self.config
        found = [f"{sec}.{name}" for sec in ("model", "data", "engine")
                 if name in {f.name for f in dataclasses.fields(getattr(cfg, sec))}]
        if len(found) != 1:
            why = "no parameter of that name" if not found else f"ambiguous ({', '.join(found)})"
            raise CommandError("set_param", f"{name}: {why}; give the full name, e.g. s.set({{'model.dt': 0.05}})")
        return found[0]

    def _send(self, cmd: C.Command) -> None:
        """Put ``cmd`` on the engine's queue, wait until it was applied; a refusal raises."""
        self._check_open()
        cursor = self._state().events
        self._backend.submit(cmd)
        refusals = self._compute(B.refusals_since, cursor, cmd.kind)
        if refusals:
            raise CommandError(cmd.kind, refusals[0])

    def _compute(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(engine, *args)`` in the engine thread, after the commands sent before."""
        return self._backend.compute(fn, *args, wait=self._wait)

    def _state(self) -> B.EngineState:
        return self._compute(B.engine_state)

    def _start_steps(self, n: int) -> int:
        """Send Step(n); the engine step at which those steps are done."""
        self._send(C.Step(n))
        st = self._state()
        return st.step + st.steps_pending

    def _steps_over(self, target: int) -> bool:
        if not self._backend.alive:
            return True
        st = self._state()
        return (st.step >= target or st.diverged is not None
                or (not st.running and st.steps_pending == 0))

    def _run_steps(self, n: int, progress: bool) -> None:
        start = self.step_count
        target = self._start_steps(n)
        bar = None
        if progress:
            from tqdm import tqdm

            class Bar(tqdm):
                monitor_interval = 0  # no monitor thread: the bar is updated while we wait anyway

            bar = Bar(total=n, unit="step", desc=self.config.preset.name, leave=False)
        try:
            last = start

            def tick() -> bool:
                nonlocal last
                if bar is not None:
                    now = self.step_count
                    bar.update(max(0, now - last))
                    last = now
                return self._steps_over(target)

            self._wait(tick)
        except KeyboardInterrupt:
            self._backend.submit(C.Pause())
            raise
        finally:
            if bar is not None:
                bar.close()

    def _wait(self, done: Callable[[], bool], timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.perf_counter() + timeout
        while not done():
            if not self._backend.alive:
                raise RuntimeError(f"the session's engine ({self._backend.what}) stopped")
            if deadline is not None and time.perf_counter() > deadline:
                raise TimeoutError("the engine did not answer")
            self._idle()

    def _idle(self) -> None:
        if self.on_wait is not None:
            self.on_wait()
        time.sleep(self._backend.poll_s)

    def _raise_if_diverged(self) -> None:
        d = self._state().diverged
        if d is not None:
            import warnings

            warnings.warn(d, RuntimeWarning, stacklevel=3)


def _positive(n: Any, command: str, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or int(n) < 1:
        raise CommandError(command, f"{name} = {n!r}: must be a whole number of at least 1")
    return int(n)


def _units(units: Units, command: str) -> tuple[int, ...]:
    if units is None:
        return ()
    if isinstance(units, (int, np.integer)) and not isinstance(units, bool):
        return (int(units),)
    try:
        out = tuple(int(u) for u in np.asarray(units).reshape(-1))
    except (TypeError, ValueError):
        raise CommandError(command, f"units {units!r}: give unit indices (an int, a list, a range)") from None
    if not out:
        raise CommandError(command, "units: an empty selection (give None for every unit)")
    return out


def _interactive() -> bool:
    """A person is watching: a terminal, or an IPython / Jupyter shell."""
    ipython = sys.modules.get("IPython")
    if ipython is not None and ipython.get_ipython() is not None:
        return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())
