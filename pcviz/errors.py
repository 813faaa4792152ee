"""The error types that carry a message meant for the user (the CLI prints them
without a traceback). Each names what is wrong and where."""

from __future__ import annotations


def _collect() -> tuple[type[BaseException], ...]:
    from pcviz.config import ConfigError
    from pcviz.data import DataError
    from pcviz.models import ModelError
    from pcviz.sim.checkpoint import CheckpointError

    found: list[type[BaseException]] = [ConfigError, DataError, ModelError, CheckpointError]
    try:
        from pcviz.io.errors import RecordingError

        found.append(RecordingError)
    except ImportError:
        pass
    from pcviz.api.errors import CommandError

    found.append(CommandError)
    return tuple(found)


USER_ERRORS = _collect()
