"""Export what the window shows: the window (or one view) as PNG or SVG, the time
series through pyqtgraph's exporters, and a clip of frames (live or recorded) as GIF
or MP4 through imageio (GIF by pillow, MP4 by ffmpeg from imageio-ffmpeg)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from pcviz.config import ConfigError
from pcviz.gui.sources.frame_source import FrameSource

CLIP_SUFFIXES = (".gif", ".mp4")


def export_widget(widget: QtWidgets.QWidget, path: str | os.PathLike) -> Path:
    """``widget`` as it is drawn now: PNG (or JPG) from a grab, SVG by rendering it
    into an SVG painter (text and lines stay vectors; heatmaps are embedded images)."""
    path = Path(path)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".svg":
        from PyQt6 import QtSvg

        gen = QtSvg.QSvgGenerator()
        gen.setFileName(str(path))
        gen.setSize(widget.size())
        gen.setViewBox(QtCore.QRect(QtCore.QPoint(0, 0), widget.size()))
        gen.setTitle("pcviz")
        p = QtGui.QPainter(gen)
        widget.render(p)
        p.end()
    elif suffix in (".png", ".jpg", ".jpeg"):
        if not widget.grab().save(str(path)):
            raise OSError(f"could not write {path}")
    else:
        raise ConfigError(f"{path}: export as .png, .jpg or .svg")
    return path


def export_plots(scene_view, path: str | os.PathLike) -> Path:
    """A pyqtgraph ``GraphicsLayoutWidget`` (the time series) with pyqtgraph's own
    exporters: SVG (vector curves) or PNG (at the plots' size on screen)."""
    import pyqtgraph.exporters as ex

    path = Path(path)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    item = scene_view.ci  # the central layout: every plot
    if suffix == ".svg":
        try:
            ex.SVGExporter(item).export(str(path))
        except ValueError:
            # pyqtgraph's SVG exporter cannot parse the path data some Qt 6 versions
            # write for curves; Qt's own SVG painter draws the same plots
            return export_widget(scene_view, path)
    elif suffix == ".png":
        ex.ImageExporter(item).export(str(path))
    else:
        raise ConfigError(f"{path}: export plots as .png or .svg")
    return path


def qimage_to_rgb(img: QtGui.QImage) -> np.ndarray:
    """(H, W, 3) uint8 copy of a QImage."""
    img = img.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits().asstring(bpl * h), dtype=np.uint8).reshape(h, bpl)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()


def _even(a: np.ndarray) -> np.ndarray:
    """Crop to even height and width (H.264 with yuv420p needs them)."""
    return a[: a.shape[0] - a.shape[0] % 2, : a.shape[1] - a.shape[1] % 2]


class ClipWriter:
    """Frames (H, W, 3) uint8 to a GIF or MP4 file."""

    def __init__(self, path: str | os.PathLike, fps: float = 20.0):
        import imageio.v2 as iio

        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in CLIP_SUFFIXES:
            raise ConfigError(f"{self.path}: a clip is a .gif or an .mp4 file")
        if not 0 < fps <= 120:
            raise ConfigError(f"clip fps = {fps}: must be in (0, 120]")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.frames = 0
        self._shape: tuple[int, ...] | None = None
        if suffix == ".gif":
            self._w = iio.get_writer(str(self.path), mode="I", duration=1000.0 / fps, loop=0)
        else:
            self._w = iio.get_writer(str(self.path), fps=fps, codec="libx264", quality=7, macro_block_size=2,
                                     pixelformat="yuv420p")

    def add(self, rgb: np.ndarray) -> None:
        rgb = _even(np.asarray(rgb, dtype=np.uint8))
        if self._shape is None:
            self._shape = rgb.shape
        elif rgb.shape != self._shape:  # the window was resized: keep the clip's size
            out = np.zeros(self._shape, dtype=np.uint8)
            h, w = min(rgb.shape[0], out.shape[0]), min(rgb.shape[1], out.shape[1])
            out[:h, :w] = rgb[:h, :w]
            rgb = out
        self._w.append_data(rgb)
        self.frames += 1

    def close(self) -> Path:
        self._w.close()
        return self.path


def export_recorded_clip(source, widget: QtWidgets.QWidget, path: str | os.PathLike, first: int, last: int,
                         fps: float = 20.0, every: int = 1, progress: Callable[[int], None] | None = None) -> Path:
    """Frames ``first``..``last`` (inclusive, every ``every``-th) of a playback source,
    each shown in the window and ``widget`` grabbed, written to ``path``."""
    n = len(source)
    if not (0 <= first <= last < n):
        raise ConfigError(f"clip frames {first}-{last}: the recording has frames 0-{n - 1}")
    if every < 1:
        raise ConfigError(f"clip every = {every}: must be at least 1")
    app = QtWidgets.QApplication.instance()
    was_playing = source.playing
    source.pause()
    writer = ClipWriter(path, fps)
    try:
        for k, i in enumerate(range(first, last + 1, every)):
            source.seek(i)
            source.tick()
            if app is not None:
                app.processEvents()
            writer.add(qimage_to_rgb(widget.grab().toImage()))
            if progress is not None:
                progress(k)
    finally:
        writer.close()
    if was_playing:
        source.play()
    return Path(path)


class LiveClip(QtCore.QObject):
    """The next ``frames`` frames the display shows of a live run, grabbed from
    ``widget`` as they arrive, written to ``path``; ``done`` when complete."""

    done = QtCore.pyqtSignal(object)  # the path

    def __init__(self, source: FrameSource, widget: QtWidgets.QWidget, path: str | os.PathLike, frames: int,
                 fps: float = 20.0, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        if frames < 1:
            raise ConfigError(f"clip frames = {frames}: must be at least 1")
        self.source, self.widget, self.target = source, widget, int(frames)
        self.writer = ClipWriter(path, fps)
        source.frame_ready.connect(self._on_frame)

    @property
    def frames(self) -> int:
        return self.writer.frames

    def _on_frame(self, _frame) -> None:
        # the views took the frame first (connected earlier); draw and grab them now
        self.writer.add(qimage_to_rgb(self.widget.grab().toImage()))
        if self.writer.frames >= self.target:
            self.finish()

    def finish(self) -> None:
        try:
            self.source.frame_ready.disconnect(self._on_frame)
        except TypeError:
            return
        path = self.writer.close()
        self.done.emit(path)


def clip_frame_count(path: str | os.PathLike) -> int:
    """How many frames a GIF or MP4 file holds (read back with imageio)."""
    import imageio.v3 as iio

    return sum(1 for _ in iio.imiter(str(path)))

