"""The window's look, for matplotlib: its colour maps (read from the tables pyqtgraph
ships, without importing Qt), the light theme's colours, cell titles, scalar groups
and the publication settings (vector text, readable sizes).

These mirror constants of ``pcviz.gui`` that live next to Qt code; a GUI test checks
that the two agree, so a change on one side cannot go unnoticed.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.colors import Colormap, ListedColormap
from matplotlib import colormaps

from pcviz.display.tiling import is_signed
from pcviz.models.base import COMMON_QUANTITIES
from pcviz.sim.frames import FrameSpec, LayerFrameSpec

#: the window's light theme (pcviz.gui.theme.LIGHT)
PANEL = "#ffffff"
TEXT = "#1a1a1a"
MUTED = "#8a8a8a"
ACCENT = "#111111"
SERIES = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
#: colour maps of the hierarchy (pcviz.gui.theme: LIGHT.signed_map, POSITIVE_MAP)
SIGNED_MAP = "CET-D1A"
POSITIVE_MAP = "viridis"

#: the time-series groups of the window (pcviz.gui.views.timeseries.GROUPS): prefix, title, log y
GROUPS = (
    ("energy", "energy F per layer", False),
    ("error_norm", "error norm \u2016\u03b5\u2016 per layer", False),
    ("precision", "mean precision \u03a0 per layer", False),
    ("kl", "KL per level", False),
)

_TITLES = {"activity": "activity", "prediction": "prediction", "error": "error", "precision": "precision"}
_INPUT_TITLES = {"activity": "input", "prediction": "reconstruction", "error": "error", "precision": "precision"}
_SYMBOLS = {"activity": "x", "error": "\u03b5", "precision": "\u03a0"}
_SUB = str.maketrans("0123456789", "\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087\u2088\u2089")
_INDEX = re.compile(r"(?:layer|level)_(\d+)$")

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


def ordered_quantities(spec: FrameSpec) -> tuple[list[str], list[str]]:
    """(signed, non-negative) quantities over all layers, the common four first."""
    names = spec.quantity_names()
    names = [q for q in COMMON_QUANTITIES if q in names] + [q for q in names if q not in COMMON_QUANTITIES]
    return [q for q in names if is_signed(q)], [q for q in names if not is_signed(q)]


def cell_title(layer: LayerFrameSpec, q: str, top: bool = False) -> str:
    """The window's title of a map (pcviz.gui.views.hierarchy.cell_title)."""
    titles = _INPUT_TITLES if layer.role == "input" else _TITLES
    base = titles.get(q, q.replace("_", " "))
    sub = str(layer.index).translate(_SUB)
    if q == "prediction":
        return "prior mean" if top else f"{base} from x{str(layer.index + 1).translate(_SUB)}"
    sym = _SYMBOLS.get(q)
    return f"{base} {sym}{sub}" if sym else base


def group_scalars(names: list[str] | tuple[str, ...]) -> list[tuple[str, str, bool, list[str]]]:
    """(key, title, log y, scalar names) of each plot, known groups first (as the window)."""
    out = []
    used: set[str] = set()
    for prefix, title, log in GROUPS:
        found = [s for s in names if s.startswith(prefix + "/")]
        if found:
            out.append((prefix, title, log, found))
            used.update(found)
    rest: dict[str, list[str]] = {}
    for s in names:
        if s not in used:
            rest.setdefault(s.split("/", 1)[0], []).append(s)
    for key, found in rest.items():
        out.append((key, "ELBO" if key == "elbo" else key.replace("_", " "), False, found))
    return out


def scalar_label(scalar: str, names: dict[int, str]) -> str:
    """``energy/layer_1`` -> the layer's name (as the window's legends)."""
    tail = scalar.split("/", 1)[-1]
    m = _INDEX.search(tail)
    if m and int(m.group(1)) in names:
        return names[int(m.group(1))]
    return tail.replace("_", " ")
