"""What can go wrong with a recording, one class per problem. Every message names
the file and says what is wrong with it (the CLI prints it without a traceback)."""

from __future__ import annotations

from pcviz.errors import PcvizError


class RecordingError(PcvizError):
    """Base class: a recording cannot be written or read; ``path`` names the file."""

    def __init__(self, message: str, path: str | None = None):
        self.path = path
        super().__init__(message)


class RecordingNotFoundError(RecordingError, FileNotFoundError):
    """The file does not exist (or is a folder)."""


class NotARecordingError(RecordingError):
    """The file is not HDF5 at all, or an HDF5 file of another kind."""


class UnsupportedVersionError(RecordingError):
    """A pcviz recording of a format version this pcviz does not read."""


class TruncatedRecordingError(RecordingError):
    """The file is shorter than its own header says (an incomplete copy or download)."""


class MissingDataError(RecordingError):
    """A dataset or attribute that the format requires is absent."""


class CorruptRecordingError(RecordingError):
    """The file opens but some of its content cannot be read or makes no sense."""


class FrameIndexError(RecordingError, IndexError):
    """A frame index or step outside what the recording holds."""


class RecordingWriteError(RecordingError):
    """The recording cannot be written (unwritable path, existing file, disk full)."""


class DiskFullError(RecordingWriteError):
    """The file system is (nearly) full: the recording stopped and was closed."""


class ExportError(RecordingError):
    """A recording cannot be exported as asked (a missing optional package, a selection
    that matches nothing, an output that exists)."""


def missing_package(package: str, what: str, requirement: str | None = None) -> ExportError:
    """The error for an optional package that is not installed (or too old), with how
    to install it."""
    req = requirement or package
    return ExportError(f"{what} needs the Python package {req}, which is not installed: install it with"
                       f" `pip install '{req}'`, or `pip install 'pcviz[export]'` for every export format")


__all__ = [
    "CorruptRecordingError", "DiskFullError", "ExportError", "FrameIndexError", "MissingDataError",
    "NotARecordingError", "RecordingError",
    "RecordingNotFoundError", "RecordingWriteError", "TruncatedRecordingError", "UnsupportedVersionError",
]
