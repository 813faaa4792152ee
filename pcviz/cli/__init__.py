"""The ``pcviz`` command: one module per command or family of commands."""

from pcviz.cli.main import main

__all__ = ["main"]
