"""Recording and playback: the HDF5 recording format (version 1), the recorder that
writes a live engine to it from its own thread, and the reader (no Qt needed)."""

from pcviz.io.errors import (
    CorruptRecordingError, DiskFullError, ExportError, FrameIndexError, MissingDataError, NotARecordingError,
    RecordingError,
    RecordingNotFoundError, RecordingWriteError, TruncatedRecordingError, UnsupportedVersionError,
)
from pcviz.io.format import FORMAT_NAME, FORMAT_VERSION
from pcviz.io.reader import Recording, open_recording
from pcviz.io.recorder import Recorder, RecordingSummary
from pcviz.io.writer import RecordingWriter

__all__ = [
    "CorruptRecordingError", "DiskFullError", "ExportError", "FORMAT_NAME", "FORMAT_VERSION", "FrameIndexError",
    "MissingDataError",
    "NotARecordingError", "Recorder", "Recording", "RecordingError", "RecordingNotFoundError", "RecordingSummary",
    "RecordingWriteError", "RecordingWriter", "TruncatedRecordingError", "UnsupportedVersionError",
    "open_recording",
]
