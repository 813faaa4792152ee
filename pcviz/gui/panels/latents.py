"""The "Latents" dock of the main window, made only for models that stream the
hierarchical VAEs' quantities (``bu_weight`` or ``active_units/level_l``): the
bottom-up weight per level, active units over the run, and the latent traversal strip.

The window makes the dock (:mod:`pcviz.gui.window.docks`) and puts a
:class:`VaePanel` in it when it builds its views for such a source (also after a
preset switch); the dock is removed again when the new source is not such a model.
"""

from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

from pcviz.gui.sources.frame_source import FrameSource
from pcviz.gui.theme import Theme
from pcviz.gui.views.traversal import TraversalStrip
from pcviz.gui.views.vae import ActiveUnitsView, BuWeightView, bu_weight_layers, level_scalars
from pcviz.sim.frames import FrameSpec

KEY = "vae"


def wants_vae_views(spec: FrameSpec) -> bool:
    return bool(bu_weight_layers(spec)) or bool(level_scalars(spec, "active_units"))


def _section(title: str, tip: str, body: QtWidgets.QWidget) -> QtWidgets.QWidget:
    w = QtWidgets.QWidget()
    lay = QtWidgets.QVBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(0)
    head = QtWidgets.QLabel(f"<b>{title}</b>")
    head.setToolTip(tip)
    head.setContentsMargins(6, 2, 6, 0)
    lay.addWidget(head)
    lay.addWidget(body, 1)
    return w


class VaePanel(QtWidgets.QWidget):
    """The three views, one above the other in a splitter."""

    def __init__(self, source: FrameSource, theme: Theme, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.bu_weight = BuWeightView(source, theme)
        self.active_units = ActiveUnitsView(source, theme)
        self.traversal = TraversalStrip(source, theme)
        self.parts = (self.bu_weight, self.active_units, self.traversal)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        split.addWidget(_section(
            "Posterior trust in the data: bu_weight = \u03c0<sub>bu</sub> / (\u03c0<sub>bu</sub> + \u03c0<sub>td</sub>)",
            "per unit, the share of the posterior's precision that comes from the bottom-up (data) estimate "
            "rather than the top-down prior", self.bu_weight))
        split.addWidget(_section("Active units per level (Burda et al.)",
                                 "a unit is active when its posterior mean varies over held-out data",
                                 self.active_units))
        split.addWidget(_section("Latent traversal and prior samples",
                                 "computed by the model in the engine thread", self.traversal))
        self.splitter = split
        self._user_split = False  # until the user drags a handle, the shares below hold
        split.splitterMoved.connect(self._on_split_moved)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

    SHARES = (0.24, 0.28, 0.48)  # bu_weight, active units, traversal

    def _on_split_moved(self, *_) -> None:
        self._user_split = True

    def resizeEvent(self, ev) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(ev)
        if not self._user_split:
            h = self.splitter.height()
            self.splitter.setSizes([int(f * h) for f in self.SHARES])

    def apply_theme(self, theme: Theme) -> None:
        for p in self.parts:
            p.apply_theme(theme)

    def detach(self) -> None:
        for p in self.parts:
            p.detach()
