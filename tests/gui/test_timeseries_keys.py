"""Scalars that are not per layer (PC and its backprop twin) are told apart in their
plot: each series its own colour, named in the plot's title in that colour, and the
names follow a change of theme. Per-layer plots keep the shared layer key."""

from __future__ import annotations

from pcviz.gui.theme import series_colour, theme_named
from pcviz.gui.views.timeseries import TimeSeriesView
from pcviz.sim.frames import FrameSpec, LayerFrameSpec

from gui_helpers import ListSource


def _view(qtbot) -> TimeSeriesView:
    q = {k: (4,) for k in ("activity", "prediction", "error", "precision")}
    layers = (LayerFrameSpec(0, "label", "label", 4, (2, 2), q), LayerFrameSpec(1, "input", "input", 4, (2, 2), q))
    spec = FrameSpec("pc", layers, ("energy/layer_0", "energy/layer_1", "heldout_accuracy/pc",
                                    "heldout_accuracy/backprop", "accuracy"), batch_size=1)
    view = TimeSeriesView(ListSource(spec, [], hold_steps=10), theme_named("light"))
    qtbot.addWidget(view)
    return view


def test_series_that_are_not_layers_get_their_own_colours_and_key(qtbot):
    view = _view(qtbot)
    light = theme_named("light")
    acc = view.plots["heldout_accuracy"]
    assert acc.keyed == ["PC", "backprop"]
    pens = [s.item.opts["pen"].color().name() for s in acc.series]
    assert pens == [series_colour(light, 0).lower(), series_colour(light, 1).lower()]
    title = acc.item.titleLabel.text
    assert "held-out accuracy" in title and "PC" in title and "backprop" in title  # the key after the title
    assert series_colour(light, 1) in title
    assert view.plots["energy"].keyed == [] and view.plots["accuracy"].keyed == []  # layers; a single series
    dark = theme_named("dark")
    view.apply_theme(dark)
    if series_colour(dark, 1) != series_colour(light, 1):
        assert series_colour(dark, 1) in acc.item.titleLabel.text
