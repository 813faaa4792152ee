"""Figures without Qt: the window's hierarchy and time series drawn with matplotlib,
for notebooks on a machine without a display and for publication (vector PDF/SVG
with text kept as text, the window's colour maps and symmetric scales).

    fig = pcviz.plot.hierarchy(session.frame())
    fig.savefig("hierarchy.pdf")
    fig = pcviz.plot.timeseries(pcviz.io.open_recording("run.h5"))
"""

from pcviz.plot.hierarchy import as_frame, hierarchy
from pcviz.plot.timeseries import timeseries

__all__ = ["as_frame", "hierarchy", "timeseries"]
