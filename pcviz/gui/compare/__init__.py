"""Runs side by side: two to four recordings on one timeline
(:class:`~pcviz.gui.compare.window.CompareWindow`), and a sweep's index as a table
and a metric-versus-parameter plot (:class:`~pcviz.gui.compare.index_window.SweepIndexWindow`)."""
