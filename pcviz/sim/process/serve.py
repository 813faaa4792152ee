"""Serving a running engine to a window elsewhere (``pcviz record --serve``), and
attaching to one (``pcviz attach``).

The protocol is the engine process's (:mod:`pcviz.sim.process.child`), over a
``multiprocessing.connection`` socket: a Unix socket by default, or TCP as
``HOST:PORT``. Every connection first answers a challenge: the server sends 32 random
bytes, the window returns their HMAC-SHA256 under the token, and the server compares
it with ``hmac.compare_digest`` (constant time) before it reads anything else: no
token, no connection. (The library's own ``authkey`` handshake is not used: in Python
3.11 it compares the digests with ``==``.) Messages are pickles, so the token is the key to this Python process:
give it only to yourself. Frames cannot use shared memory across machines: each is
pickled and compressed (zlib) and sent at most ``frame_hz`` times a second.

One window at a time; closing it detaches and leaves the run going.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import secrets
import tempfile
import threading
import time
import zlib
from multiprocessing.connection import Client, Listener
from pathlib import Path

from pcviz.errors import PcvizError


class ServeError(PcvizError):
    """A bad address, or a server that cannot be reached or refused the token."""


def default_address() -> str:
    """A Unix socket in the user's runtime folder (or the temporary folder)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return str(Path(base) / f"pcviz-{os.getuid() if hasattr(os, 'getuid') else 'user'}.sock")


def parse_address(text: str | None):
    """``HOST:PORT`` -> a TCP address (tuple); anything else -> a Unix socket path."""
    if not text:
        return default_address(), "AF_UNIX"
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and "/" not in text:
        return (host or "127.0.0.1", int(port)), "AF_INET"
    if sep and not port.isdigit() and "/" not in text and host:
        raise ServeError(f"address {text!r}: the port must be a number (HOST:PORT), or give a socket path")
    return text, "AF_UNIX"


def token_file(address: str) -> Path:
    """Where a Unix-socket server leaves its token for local windows (mode 0600)."""
    return Path(address + ".token")


_WELCOME, _REFUSED = b"pcviz welcome", b"pcviz refused"


class AuthenticationError(ServeError):
    """The token was wrong (or the peer did not answer the challenge)."""


def challenge(conn, token: str, timeout: float = 10.0) -> None:
    """The server's side: raise :class:`AuthenticationError` unless the peer knows ``token``."""
    nonce = secrets.token_bytes(32)
    conn.send_bytes(nonce)
    if not conn.poll(timeout):
        raise AuthenticationError("no answer to the challenge")
    answer = conn.recv_bytes(64)  # a longer message raises OSError
    if not hmac.compare_digest(answer, hmac.new(token.encode(), nonce, hashlib.sha256).digest()):
        conn.send_bytes(_REFUSED)
        raise AuthenticationError("wrong token")
    conn.send_bytes(_WELCOME)


def answer(conn, token: str, timeout: float = 10.0) -> None:
    """The window's side of :func:`challenge`."""
    if not conn.poll(timeout):
        raise AuthenticationError("the server sent no challenge")
    nonce = conn.recv_bytes(64)
    conn.send_bytes(hmac.new(token.encode(), nonce, hashlib.sha256).digest())
    if not conn.poll(timeout) or conn.recv_bytes(64) != _WELCOME:
        raise AuthenticationError("the server refused the token")


class PipeFrames:
    """Frames down the connection itself (no shared memory across machines),
    pickled and compressed; counts what it sent."""

    def __init__(self, conn, level: int = 1):
        self.conn, self.level = conn, level
        self.written = 0
        self.bytes = 0

    def write(self, frame) -> None:
        data = zlib.compress(pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL), self.level)
        self.conn.send(("frame", data))
        self.written += 1
        self.bytes += len(data)


def decode_frame(data: bytes):
    return pickle.loads(zlib.decompress(data))


class EngineServer:
    """Serves ``engine`` (running in its own thread: :func:`serve_steps`) to one window
    at a time, from a thread of its own."""

    def __init__(self, engine, address: str | None = None, token: str | None = None, frame_hz: float = 60.0):
        self.engine = engine
        self.address, self.family = parse_address(address)
        self.token = token or secrets.token_hex(16)
        self.frame_hz = frame_hz
        self.stop_event = threading.Event()
        self.attached = 0  # windows served so far
        self.refused = 0  # connections refused (a wrong token)
        self.bytes_sent = 0
        self._thread: threading.Thread | None = None
        self._listener: Listener | None = None

    @property
    def where(self) -> str:
        return self.address if self.family == "AF_UNIX" else f"{self.address[0]}:{self.address[1]}"

    def start(self) -> "EngineServer":
        if self.family == "AF_UNIX":
            try:
                os.unlink(self.address)  # a socket left by a killed server
            except FileNotFoundError:
                pass
        try:
            self._listener = Listener(self.address, self.family)
        except OSError as exc:
            raise ServeError(f"cannot listen on {self.where}: {exc}") from None
        if self.family == "AF_INET":  # port 0: the system chose one
            self.address = self._listener.address
        else:
            os.chmod(self.address, 0o600)
            tf = token_file(self.address)
            fd = os.open(tf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(self.token)
        self._thread = threading.Thread(target=self._accept_loop, name="pcviz-serve", daemon=True)
        self._thread.start()
        return self

    def _accept_loop(self) -> None:
        from pcviz.sim.process.child import _Server

        while not self.stop_event.is_set():
            try:
                conn = self._listener.accept()
            except (OSError, EOFError):
                if self.stop_event.is_set():
                    return
                continue
            if self.stop_event.is_set():
                conn.close()
                return
            try:
                challenge(conn, self.token)
            except (AuthenticationError, OSError, EOFError):
                self.refused += 1  # counted, not an event: the run's record stays the run's
                conn.close()
                continue
            self.attached += 1
            latest = self.engine.subscribe_latest(with_basis=True)
            sink = PipeFrames(conn)
            server = _Server(conn, self.engine, latest, sink, self.frame_hz, owns_loop=False, stop=self.stop_event)
            server.serving = True
            try:
                first = self.engine.snapshot()
                conn.send(("ready", {"spec": self.engine.spec, "layout": None, "shm": None, "slots": 0,
                                     "config": self.engine.config, "device": str(self.engine.device),
                                     "pid": os.getpid(), "t0": self.engine.events.t0}))
                sink.write(first)
                server.serve(None)
            except (OSError, EOFError):
                pass
            finally:
                self.bytes_sent += sink.bytes
                self.engine.unsubscribe(latest)
                try:
                    conn.close()
                except OSError:
                    pass

    def close(self) -> None:
        """Stop accepting, detach a window (it hears the run ended), remove the socket."""
        self.stop_event.set()
        if self._listener is not None:
            try:  # wake accept(): the loop sees the flag and closes this connection
                Client(self.address, self.family).close()
            except OSError:
                pass
            self._listener.close()
        if self._thread is not None:
            self._thread.join(10.0)
        if self.family == "AF_UNIX":
            for p in (self.address, str(token_file(self.address))):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass


def serve_steps(engine, n: int, callback=None, poll_s: float = 0.05) -> int:
    """Run ``n`` steps of a served run in the engine's own thread, so that an attached
    window's Pause, Play, Step and Reset govern it as they do a window's own engine.
    Paused (from a window, or by an engine error), the run and its recording wait: no
    step, no frame, the file open, until a window plays or steps it on, or the caller
    stops (``callback`` raising, e.g. on Ctrl-C). Ends at ``n`` steps (never more: the
    engine's :attr:`step_limit`), on divergence, or if the engine thread died.
    ``callback(step)`` is called about every ``poll_s`` seconds. Returns the steps run
    (interrupted, a step in flight may still complete after it counted)."""
    start = engine.step_count
    engine.step_limit = start + n
    engine.start(running=True)
    try:
        while engine.step_count < engine.step_limit and engine.diverged is None and engine.alive:
            if callback is not None:
                callback(engine.step_count)
            time.sleep(poll_s)
    finally:
        engine.step_limit = engine.step_count  # interrupted: step no further
    if callback is not None:
        callback(engine.step_count)
    return engine.step_count - start


def connect(address: str | None, token: str | None = None, timeout: float = 10.0):
    """A connection to a server; the token of a local Unix socket is read from its file."""
    addr, family = parse_address(address)
    if token is None:
        if family != "AF_UNIX":
            raise ServeError(f"attach {address}: give the token the server printed (--token or PCVIZ_TOKEN)")
        try:
            token = token_file(addr).read_text().strip()
        except OSError:
            raise ServeError(f"attach {addr}: no server there (no token file {token_file(addr)})") from None
    deadline = time.perf_counter() + timeout
    while True:
        try:
            conn = Client(addr, family)
            break
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            if time.perf_counter() > deadline:
                raise ServeError(f"attach {address or addr}: no server ({exc})") from None
            time.sleep(0.1)
    try:
        answer(conn, token)
    except (AuthenticationError, OSError, EOFError) as exc:
        conn.close()
        raise AuthenticationError(f"attach {address or addr}: {exc}") from None
    return conn
