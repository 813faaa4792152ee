"""The window's look, for matplotlib: its colour maps (read from the tables pyqtgraph
ships, without importing Qt), the light theme's colours and the publication settings
(vector text, readable sizes). The words (titles, scalar groups) are the window's own,
from :mod:`pcviz.display.labels`.

The colours mirror constants of ``pcviz.gui.theme``, which lives next to Qt code; a
GUI test checks that the two agree, so a change on one side cannot go unnoticed.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Colormap, ListedColormap
from matplotlib.figure import Figure

#: the window's light theme (pcviz.gui.theme.LIGHT)
PANEL = "#ffffff"
TEXT = "#1a1a1a"
MUTED = "#8a8a8a"
ACCENT = "#111111"
SERIES = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
#: colour maps of the hierarchy (pcviz.gui.theme: LIGHT.signed_map, POSITIVE_MAP)
SIGNED_MAP = "CET-D1A"
POSITIVE_MAP = "viridis"

#: matplotlib settings of every figure: text stays text in SVG, TrueType in PDF
RC = {
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "axes.edgecolor": MUTED,
    "text.color": TEXT,
    "axes.labelcolor": TEXT,
    "xtick.color": TEXT,
    "ytick.color": TEXT,
    "figure.facecolor": "white",
}


class PcvizFigure(Figure):
    """A matplotlib figure that saves with :data:`RC` in force (matplotlib reads the
    font settings of SVG and PDF output when saving, not when drawing)."""

    def savefig(self, *args, **kwargs):
        with matplotlib.rc_context(RC):
            return super().savefig(*args, **kwargs)

    def _repr_png_(self) -> bytes:
        """Shown as a picture in IPython and Jupyter, whatever matplotlib backend runs."""
        import io

        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=110)
        return buf.getvalue()


@functools.lru_cache(maxsize=None)
def colour_map(name: str) -> Colormap:
    """A named map: matplotlib's own, or one of the CET tables pyqtgraph ships (read
    as a CSV file; pyqtgraph itself is not imported, so neither is Qt). Missing values
    (the gaps between maps) show the panel colour, as in the window."""
    if name in colormaps:
        cmap = colormaps[name]
    else:
        spec = importlib.util.find_spec("pyqtgraph")
        folders = list(spec.submodule_search_locations or []) if spec is not None else []
        path = next((Path(f) / "colors" / "maps" / f"{name}.csv" for f in folders
                     if (Path(f) / "colors" / "maps" / f"{name}.csv").exists()), None)
        if path is None:
            raise ValueError(f"colour map {name!r}: not in matplotlib, and pyqtgraph's table of it was not found")
        rgb = np.loadtxt(path, delimiter=",", dtype=np.float64)  # (256, 3) in [0, 1]
        cmap = ListedColormap(rgb, name=name)
    return cmap.with_extremes(bad=PANEL)
