"""The base of the errors that carry a message meant for the user: each names what is
wrong and where, and the CLI and the window show it without a traceback. Each part
subclasses it for its own errors (``ConfigError``, ``DataError``, ``ModelError``,
``CheckpointError``, ``RecordingError``); this module imports nothing, so every layer
can use it."""


class PcvizError(Exception):
    """An error whose message is for the user (what is wrong, and where)."""
