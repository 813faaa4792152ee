"""A time-series group of series that are not layers (the fraction of Langevin
samples per class) gets a distinct colour per series, keyed in the plot's title."""

from __future__ import annotations

import dataclasses

from gui_helpers import ListSource, synthetic_frames, synthetic_spec
from pcviz.gui.theme import LIGHT
from pcviz.gui.views.timeseries import TimeSeriesView


def test_class_fractions_get_a_hue_each_and_a_key_in_the_title(qtbot):
    spec = synthetic_spec()
    spec = dataclasses.replace(spec, scalars=spec.scalars + tuple(f"samples/class_{k}" for k in range(10)))
    src = ListSource(spec, synthetic_frames(spec, 5), hold_steps=10)
    view = TimeSeriesView(src, LIGHT)
    qtbot.addWidget(view)
    plot = view.plots["samples"]
    assert [s.name for s in plot.series] == [f"class {k}" for k in range(10)]
    colours = {s.item.opts["pen"].color().name() for s in plot.series}
    assert len(colours) == 10  # the 8 layer colours would repeat two
    title = plot.item.titleLabel.text
    for k, s in enumerate(plot.series):
        assert f'color:{s.item.opts["pen"].color().name()}"><b>{k}</b>' in title
    # layer-named groups keep the layers' colours
    assert [s.name for s in view.plots["kl"].series] == ["z1", "z2"]
    src.close()
