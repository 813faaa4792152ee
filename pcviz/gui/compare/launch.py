"""``pcviz compare A.h5 B.h5 ... [--screenshot FILE.png]`` and ``pcviz compare
sweep.csv``: the compare window, or a sweep's index, on screen or drawn offscreen."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pcviz.config import ConfigError


def _is_index(files: list[str]) -> bool:
    return len(files) == 1 and Path(files[0]).suffix.lower() == ".csv"


def build_window(files: list[str], by: str = "step", theme: str | None = None):
    """The window for ``files``: a sweep index (one .csv) or 2 to 4 recordings."""
    from pcviz.gui.compare.index_window import SweepIndexWindow
    from pcviz.gui.compare.window import CompareError, open_compare

    if _is_index(files):
        if not Path(files[0]).is_file():
            raise CompareError(f"{files[0]}: no such sweep index")
        return SweepIndexWindow(files[0], theme=theme)
    if any(Path(f).suffix.lower() == ".csv" for f in files):
        raise CompareError("give one sweep.csv, or 2 to 4 recordings (.h5), not both")
    return open_compare(files, theme=theme, by=by)


def cmd_compare(args: argparse.Namespace) -> int:
    from pcviz.gui.compare.window import CompareError
    from pcviz.gui.launch import make_app

    shot = args.screenshot
    if shot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        if Path(shot).suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp"):
            raise ConfigError(f"--screenshot {shot}: give a .png (or .jpg) file name")
    else:
        from pcviz.gui.display_check import display_problem

        problem = display_problem()
        if problem:
            print(f"pcviz: cannot open the window. {problem}", file=sys.stderr)
            print("pcviz: pcviz compare ... --screenshot FILE.png draws it without a display", file=sys.stderr)
            return 2
    app = make_app()
    try:
        win = build_window(list(args.files), by=args.by,
                           theme=os.environ.get("PCVIZ_THEME") or ("light" if shot else None))
    except CompareError as exc:
        print(f"pcviz compare: {exc}", file=sys.stderr)
        return 2
    if shot:
        win.resize(1920, 1080)
        win.show()
        frame = getattr(args, "frame", -1)
        if hasattr(win, "positions") and frame is not None and frame >= 0:
            pos = win.positions[0]
            win.seek_position(float(pos[min(frame, len(pos) - 1)]))
        win.settle(app)
        Path(shot).parent.mkdir(parents=True, exist_ok=True)
        ok = win.save_screenshot(shot)
        win.close()
        if not ok:
            print(f"pcviz: could not write {shot}", file=sys.stderr)
            return 1
        print(f"pcviz compare: wrote {shot}")
        return 0
    win.show()
    app.exec()
    return 0
