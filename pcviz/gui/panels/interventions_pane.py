"""The Interventions dock's content: the intervention panel (in a scroll area, above)
and the event list (below), and the selector that picks units on the hierarchy's
maps. The window places it in its "interventions" dock; for a recording the panel is
hidden (a recording has no run to change) and the pane shows the recording's events."""

from __future__ import annotations

from typing import Callable

from PyQt6 import QtCore, QtWidgets

from pcviz.gui.panels.events import EventList
from pcviz.gui.panels.interventions import CanvasSelector, InterventionPanel
from pcviz.gui.sources.frame_source import FrameSource
from pcviz.gui.views.hierarchy import HierarchyCanvas
from pcviz.sim import commands as C
from pcviz.sim.events import Event


class InterventionsPane(QtWidgets.QSplitter):
    def __init__(self, source: FrameSource, canvas: HierarchyCanvas, send: Callable[[C.Command], None]):
        super().__init__(QtCore.Qt.Orientation.Vertical)
        self.source = source
        self.selector = CanvasSelector(canvas, self)
        self.panel = InterventionPanel(source, self.selector, send)
        self.events = EventList(source, send)
        self.scroll = QtWidgets.QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.panel)
        self.addWidget(self.scroll)
        self.addWidget(self.events)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 2)
        if source.recording is not None:
            self.scroll.hide()  # interventions change a run; a recording has none to change

    @property
    def title(self) -> str:
        """The dock's title for this source."""
        return "Events of the recording" if self.source.recording is not None else "Interventions"

    def on_event(self, ev: Event) -> None:
        self.events.add(ev)
        if self.source.live:  # a recording's events all arrive at once, not in step with the frames
            self.panel.on_event(ev)

    def detach(self) -> None:
        self.selector.detach()
