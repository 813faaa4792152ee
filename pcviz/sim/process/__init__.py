"""The engine in its own process: the shared-memory frame ring, the engine process's
loop, and the window's side of it (no Qt here)."""

from pcviz.sim.process.host import EngineClient, EngineProcess, EngineProcessError
from pcviz.sim.process.serve import EngineServer, ServeError

__all__ = ["EngineClient", "EngineProcess", "EngineProcessError", "EngineServer", "ServeError"]
