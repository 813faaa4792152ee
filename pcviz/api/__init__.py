"""The Python API: :class:`Session` opens, steers and reads a live run from a script,
IPython or a notebook (no Qt needed until ``show()``)."""

from pcviz.api.errors import CommandError
from pcviz.sim.frame_view import SessionFrame, layer_index
from pcviz.api.session import Session

__all__ = ["CommandError", "Session", "SessionFrame", "layer_index"]
