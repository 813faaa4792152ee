"""The error a session raises when the engine refuses a command or an argument does
not fit the run (an unknown layer, a unit out of range, a parameter that does not
exist). Its message is the one the window's banner shows for the same command."""

from __future__ import annotations

from pcviz.errors import PcvizError


class CommandError(PcvizError, ValueError):
    """A command of a :class:`~pcviz.api.session.Session` was refused; the session
    keeps running. ``command`` is the command's name (``clamp``, ``set_param``...)."""

    def __init__(self, command: str, message: str):
        super().__init__(f"{command} refused: {message}")
        self.command = command
        self.reason = message
