"""Opening the compare window (2 to 4 recordings) or a sweep's index window, on
screen or drawn offscreen into a picture."""

from __future__ import annotations

import os
from pathlib import Path

from pcviz.config import ConfigError
from pcviz.gui.app import make_app
from pcviz.gui.compare.index_window import SweepIndexWindow
from pcviz.gui.compare.window import CompareError, CompareWindow, open_compare


def build_window(files: list[str], by: str = "step", theme: str | None = None) -> CompareWindow | SweepIndexWindow:
    """The window for ``files``: a sweep index (one .csv) or 2 to 4 recordings."""
    if len(files) == 1 and Path(files[0]).suffix.lower() == ".csv":
        if not Path(files[0]).is_file():
            raise CompareError(f"{files[0]}: no such sweep index")
        return SweepIndexWindow(files[0], theme=theme)
    if any(Path(f).suffix.lower() == ".csv" for f in files):
        raise CompareError("give one sweep.csv, or 2 to 4 recordings (.h5), not both")
    return open_compare(files, theme=theme, by=by)


def compare_screenshot(files: list[str], out: str | os.PathLike, by: str = "step", frame: int = -1,
                       size: tuple[int, int] = (1920, 1080)) -> Path:
    """Draw the window for ``files`` offscreen (the first run at ``frame``, or at its
    end) and save it to ``out``."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    out = Path(out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp"):
        raise ConfigError(f"--screenshot {out}: give a .png (or .jpg) file name")
    app = make_app()
    win = build_window(files, by=by, theme=os.environ.get("PCVIZ_THEME") or "light")
    try:
        win.resize(*size)
        win.show()
        if isinstance(win, CompareWindow) and frame >= 0:
            pos = win.positions[0]
            win.seek_position(float(pos[min(frame, len(pos) - 1)]))
        win.settle(app)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not win.save_screenshot(out):
            raise CompareError(f"could not write {out}")
    finally:
        win.close()
        win.deleteLater()  # only Qt deletes a window: here, in the GUI thread
    return out


def compare_window(files: list[str], by: str = "step") -> int:
    """The window on screen until it is closed."""
    app = make_app()
    win = build_window(files, by=by, theme=os.environ.get("PCVIZ_THEME"))
    win.show()
    app.exec()
    return 0
