"""The declared rule that hides a mode's plots: which scalar groups belong to a mode
(the semi-amortised VAEs' refinement) and when a frame says the model is in it."""

from __future__ import annotations

import math

from pcviz.display.labels import group_scalars, in_mode, modal_groups
from pcviz.sim.frames import FrameSpec, LayerFrameSpec

LAYER = LayerFrameSpec(0, "input", "input", 4, (2, 2), {"activity": (4,)})
VAE_SCALARS = ("energy/total", "elbo", "refine/elbo", "refine/amortised_elbo", "amortisation_gap",
               "approximation_gap", "refine_steps")


def spec(kind: str, scalars: tuple[str, ...]) -> FrameSpec:
    return FrameSpec(kind, (LAYER,), scalars, batch_size=1)


def test_the_vaes_refinement_plots_are_declared_modal_and_nothing_else():
    for kind in ("lvae", "bvae"):
        s = spec(kind, VAE_SCALARS)
        modal = modal_groups(s, group_scalars(s.scalars))
        assert modal == {"refine": "refine", "amortisation_gap": "refine", "approximation_gap": "refine",
                         "refine_steps": "refine"}
    # the hybrid PC family streams an amortisation gap at every step: never hidden
    hybrid = spec("hybrid_pc", ("energy/total", "amortisation_gap", "steps_to_settle"))
    assert modal_groups(hybrid, group_scalars(hybrid.scalars)) == {}
    # a group that mixes a mode's scalar with an always-streamed one is not modal
    mixed = spec("lvae", ("refine/elbo", "refine/other"))
    assert modal_groups(mixed, group_scalars(mixed.scalars)) == {}


def test_a_frame_is_in_the_mode_when_one_of_its_values_is_not_nan():
    names = ["refine/elbo", "refine/amortised_elbo"]
    assert not in_mode({"refine/elbo": math.nan, "refine/amortised_elbo": math.nan}, names)
    assert not in_mode({}, names)  # not streamed at all
    assert in_mode({"refine/elbo": -80.5, "refine/amortised_elbo": math.nan}, names)
    assert in_mode({"refine/elbo": -math.inf}, names[:1])  # diverged in the mode: still shown


def test_the_refinement_plot_keys_its_two_elbos_apart():
    """Its key (in the title) once read "elbo elbo": both labels shortened to their last word."""
    from pcviz.display.labels import scalar_label, short_labels

    labels = [scalar_label(s, {}) for s in ("refine/elbo", "refine/amortised_elbo")]
    assert labels == ["refined", "amortised"]
    assert short_labels(labels) == labels
    assert scalar_label("elbo", {}) == "elbo"  # the ELBO plot's own scalar keeps its name
    assert short_labels(["held-out PC", "held-out backprop"]) == ["PC", "backprop"]
    assert short_labels(["a elbo", "b elbo"]) == ["a elbo", "b elbo"]  # the last words would not tell them apart
