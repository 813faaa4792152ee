"""The grid of the time-series plots in Qt: which plots are on screen (a mode's plots
only while the model is in that mode), how they are laid out, their titles fitted to
their columns, and the hint in the empty "pinned units" plot."""

from __future__ import annotations

from PyQt6 import QtCore, QtGui

from pcviz.display.labels import in_mode

#: what the empty "pinned units" plot says, longest first (the first that fits is shown)
PIN_HINTS = ("click a unit in the hierarchy,\nthen press P to pin its trace", "click a unit,\nthen press P",
             "P pins a unit")



class PlotGrid:
    """The grid part of :class:`pcviz.gui.views.timeseries.TimeSeriesView` (a mixin: it
    uses the view's ``plots``, ``modal``, ``canvas``, ``theme``, ``pin_hint`` and
    ``_pin_hint_wanted``)."""

    def _arrange(self) -> None:
        """Lay the shown plots out in a grid: one row up to five, else two rows."""
        ci = self.canvas.ci
        for plot in self.plots.values():
            if plot.item in ci.items:
                ci.removeItem(plot.item)
            plot.item.setVisible(plot.shown)
        shown = [p for p in self.plots.values() if p.shown]
        ncols = len(shown) if len(shown) <= 5 else (len(shown) + 1) // 2
        for i, plot in enumerate(shown):
            ci.addItem(plot.item, row=i // ncols, col=i % ncols)
            # the x axis is shared: its words only under the bottom row, the room to the data
            plot.x_label = i + ncols >= len(shown)
            plot.item.getAxis("bottom").showLabel(plot.x_label)
        #: rows of plots in the grid (the window's default layout gives two rows more height)
        self.grid_rows = 1 if len(shown) <= 5 else 2
        self._ncols = max(1, ncols)
        self._fit_titles()

    def _fit_titles(self) -> None:
        """Every shown plot's title fitted to its column, and the grid laid out again
        in the canvas (it was laid out, before, around the titles it had then)."""
        if any([self._set_title(p) for p in self.plots.values() if p.shown]):
            QtCore.QTimer.singleShot(0, self._refit_canvas)  # once the grid has its new minimum

    def _refit_canvas(self) -> None:
        if self.canvas.ci.geometry().width() > self.canvas.width() + 0.5:
            size = self.canvas.size()
            self.canvas.resizeEvent(QtGui.QResizeEvent(size, size))

    def _set_title(self, plot) -> bool:
        """The plot's title, its scale's note after it, in the longest form that fits
        its column (a title's explanation after a colon goes first, then the note):
        the grid cannot be narrower than its titles, and a wider grid is cut off."""
        fm = QtGui.QFontMetricsF(self._title_font)
        width = self.canvas.width() / self._ncols - 50 - fm.horizontalAdvance(plot.key_text)  # the left axis, a key
        short = plot.title.split(":")[0]
        text = next((t for t in (plot.title + plot.note, short + plot.note, short)
                     if fm.horizontalAdvance(t) <= width), short) + plot.key_html
        if plot.item.titleLabel.text == text:
            return False
        plot.item.setTitle(text, size="10pt", color=self.theme.text)
        return True

    def resizeEvent(self, ev) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(ev)
        self._fit_titles()

    def shown_plots(self) -> list[str]:
        """The keys of the plots on screen, in the grid's order."""
        return [k for k, p in self.plots.items() if p.shown]

    def _follow_modes(self, scalars: dict[str, float]) -> None:
        """Show a mode's plots while the newest frame has a value of theirs that is not
        NaN (the model is in that mode), hide them otherwise."""
        changed = False
        for key in self.modal:
            plot = self.plots[key]
            on = in_mode(scalars, plot.scalars)
            if on != plot.shown:
                plot.shown, changed = on, True
        if changed:
            self._arrange()

    def _fit_pin_hint(self, *_) -> None:
        """Centre the pin hint in its plot, in the longest wording that fits it (none: hidden)."""
        box = self.plots["pins"].item.getViewBox().rect()
        fm = QtGui.QFontMetricsF(self.pin_hint.textItem.font())
        fits = [t for t in PIN_HINTS
                if (r := fm.boundingRect(QtCore.QRectF(0, 0, 1e4, 1e4), 0, t)).width() + 8 <= box.width()
                and r.height() + 4 <= box.height()]
        if fits and self.pin_hint.toPlainText() != fits[0]:
            self.pin_hint.setText(fits[0])
        self.pin_hint.setPos(box.center())
        self.pin_hint.setVisible(bool(fits) and self._pin_hint_wanted)
