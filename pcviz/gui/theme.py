"""Light and dark colour schemes (readable on a projector), the colour maps of the
views, and the lookup tables that turn values into pixels."""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PyQt6 import QtGui, QtWidgets

#: sequential map of non-negative quantities (precision)
POSITIVE_MAP = "viridis"
#: grey map of learned receptive fields (zero is mid grey)
BASIS_MAP = "CET-L1"
#: map of error magnitude on the network diagram
SURPRISE_MAP = "inferno"


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    panel: str  # plot backgrounds
    text: str
    muted: str  # axes, faint markers
    accent: str  # selection marker, total energy
    warn_bg: str
    warn_text: str
    error_bg: str
    error_text: str
    series: tuple[str, ...]  # one colour per layer
    signed_map: str = "CET-D1A"  # diverging map of signed quantities (zero blends with the panel)

    def qcolor(self, name: str, alpha: int = 255) -> QtGui.QColor:
        c = QtGui.QColor(getattr(self, name))
        c.setAlpha(alpha)
        return c


LIGHT = Theme(
    name="light", window="#f3f3f1", panel="#ffffff", text="#1a1a1a", muted="#8a8a8a", accent="#111111",
    warn_bg="#fff3c4", warn_text="#4a3b00", error_bg="#f8d0cc", error_text="#5c0a02",
    series=("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"),
)
DARK = Theme(
    name="dark", window="#1e1f22", panel="#121315", text="#ececec", muted="#8d8f94", accent="#ffffff",
    warn_bg="#5a4a0c", warn_text="#fff1bf", error_bg="#6d1a14", error_text="#ffe0dc",
    series=("#5fb0ff", "#ff6b6b", "#6ee07a", "#c7a0ff", "#ffb454", "#d9a27a", "#ff9ed8", "#5fe3f0"),
    signed_map="CET-D4",  # blue, black at zero, red
)
THEMES = {"light": LIGHT, "dark": DARK}


def theme_named(name: str | None) -> Theme:
    return THEMES.get(str(name or "light").lower(), LIGHT)


def series_colour(theme: Theme, i: int) -> str:
    return theme.series[i % len(theme.series)]


def ui_font(point_size: float = 10.0, bold: bool = False) -> QtGui.QFont:
    f = QtGui.QFont()
    f.setPointSizeF(point_size)
    f.setBold(bold)
    return f


def apply_theme(app: QtWidgets.QApplication, theme: Theme) -> None:
    """The Fusion style with the theme's palette, and pyqtgraph's defaults to match."""
    app.setStyle("Fusion")
    pal = QtGui.QPalette()
    window, panel, text = QtGui.QColor(theme.window), QtGui.QColor(theme.panel), QtGui.QColor(theme.text)
    muted = QtGui.QColor(theme.muted)
    R = QtGui.QPalette.ColorRole
    pal.setColor(R.Window, window)
    pal.setColor(R.WindowText, text)
    pal.setColor(R.Base, panel)
    pal.setColor(R.AlternateBase, window)
    pal.setColor(R.Text, text)
    pal.setColor(R.Button, window)
    pal.setColor(R.ButtonText, text)
    pal.setColor(R.ToolTipBase, panel)
    pal.setColor(R.ToolTipText, text)
    pal.setColor(R.PlaceholderText, muted)
    pal.setColor(R.Highlight, QtGui.QColor("#3d7bd9"))
    pal.setColor(R.HighlightedText, QtGui.QColor("#ffffff"))
    for role in (R.WindowText, R.Text, R.ButtonText):
        pal.setColor(QtGui.QPalette.ColorGroup.Disabled, role, muted)
    app.setPalette(pal)
    pg.setConfigOptions(background=theme.panel, foreground=theme.text, antialias=True)
