"""The words of the views, without Qt: the titles of a layer's maps and their order,
and the time-series groups of a run's scalars with their legends. The window
(``pcviz.gui.views``) and the matplotlib figures (``pcviz.plot``) both use them."""

from __future__ import annotations

import math
import re

from pcviz.display.tiling import is_signed
from pcviz.models.base import COMMON_QUANTITIES
from pcviz.models.lvae import BidirectionalVAE, LadderVAE
from pcviz.models.vae_refine import REFINE_SCALARS
from pcviz.sim.frames import FrameSpec, LayerFrameSpec

_TITLES = {"activity": "activity", "prediction": "prediction", "error": "error", "precision": "precision",
           "forward_error": "fwd error", "forward_precision": "fwd precision",
           "sample_mean": "sample mean", "sample_std": "sample std"}
_INPUT_TITLES = {"activity": "input", "prediction": "reconstruction", "error": "error", "precision": "precision",
                 "sample_mean": "reconstr. mean", "sample_std": "reconstr. std"}
_SYMBOLS = {"activity": "x", "error": "\u03b5", "precision": "\u03a0", "amortised": "x\u0303",
            "forward_error": "\u03b4", "forward_precision": "\u03a6"}
_SUB = str.maketrans("0123456789", "\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087\u2088\u2089")

#: known scalar groups: (prefix, title, log y)
GROUPS = (
    ("energy", "energy F per layer", False),
    ("error_norm", "error norm \u2016\u03b5\u2016 per layer", False),
    ("precision", "mean precision \u03a0 per layer", False),
    ("kl", "KL per level", False),
    ("refine", "ELBO along the refinement (nats)", False),
    ("heldout_accuracy", "held-out accuracy", False),
    ("train_loss", "training loss \u00bd\u2016y \u2212 \u0177\u2016\u00b2", False),
    ("bp_cosine", "cosine of PC's update with backprop's, per layer", False),
)
#: legend words of scalars that are not per layer (``heldout_accuracy/pc``)
_TAILS = {"pc": "PC"}
#: legend words of scalars whose own name would not tell them apart from their group's others
_NAMED = {"refine/elbo": "refined", "refine/amortised_elbo": "amortised"}
#: Scalars that a model family streams in one of its modes only, as NaN in the others
#: (a frame spec, and so the list of scalars, is fixed before the first step):
#: model kind -> (the mode, in words; its scalars). The semi-amortised VAEs stream their
#: refinement's ELBO, gaps and step count only while they refine (learning off and
#: ``inference = "refine"``; pcviz.models.vae_refine).
MODAL_SCALARS: dict[str, tuple[str, tuple[str, ...]]] = {
    kind: ("refine", REFINE_SCALARS) for kind in (LadderVAE.kind, BidirectionalVAE.kind)}
_INDEX = re.compile(r"(?:layer|level)_(\d+)$")


def ordered_quantities(spec: FrameSpec) -> tuple[list[str], list[str]]:
    """(signed, non-negative) quantity names over all layers: the common four first."""
    names = spec.quantity_names()
    names = [q for q in COMMON_QUANTITIES if q in names] + [q for q in names if q not in COMMON_QUANTITIES]
    if "amortised" in names:  # the hybrid family's forward guess, beside the refined state
        names.remove("amortised")
        names.insert(names.index("activity") + 1 if "activity" in names else 0, "amortised")
    return [q for q in names if is_signed(q)], [q for q in names if not is_signed(q)]


def cell_title(layer: LayerFrameSpec, q: str, top: bool = False) -> str:
    """The title of layer ``layer``'s map of ``q`` (``top``: the top layer, whose
    prediction is its prior mean)."""
    titles = _INPUT_TITLES if layer.role == "input" else _TITLES
    base = titles.get(q, q.replace("_", " "))
    sub = str(layer.index).translate(_SUB)
    if q == "prediction":
        return "prior mean" if top else f"{base} from x{str(layer.index + 1).translate(_SUB)}"
    sym = _SYMBOLS.get(q)
    return f"{base} {sym}{sub}" if sym else base


#: the quantities without a symbol, in as few letters as can still be told apart
_ABBREVIATIONS = {"bu_mean": "bu \u03bc", "bu_precision": "bu \u03c0", "bu_weight": "bu w"}


def symbol_title(layer: LayerFrameSpec, q: str) -> str:
    """The shortest title of layer ``layer``'s map of ``q``, for narrow columns: its
    symbol and index ("x\u2083", "\u03b5\u2083", "\u03a0\u2083"; "pred" for the prediction: a
    combining hat over x is drawn askew by common fonts), or a short form of its name."""
    sub = str(layer.index).translate(_SUB)
    if q == "prediction":
        return "pred"
    sym = _SYMBOLS.get(q)
    if sym:
        return f"{sym}{sub}"
    return _ABBREVIATIONS.get(q, q.replace("_", " "))


def short_title(title: str) -> str:
    """A title without its explanation: "prediction from x2" -> "prediction"."""
    return title.split(" from ")[0].replace("reconstruction", "reconstr.")


def group_scalars(names, notes: dict[str, str] | None = None) -> list[tuple[str, str, bool, list[str]]]:
    """(key, title, log y, scalar names) of each plot of ``names`` (a run's scalars),
    the known groups first; ``notes`` (the spec's ``scalar_notes``) say what a scalar
    of the other groups means, after its title."""
    notes = notes or {}
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
        title = "ELBO" if key == "elbo" else key.replace("_", " ")
        note = next((notes[n] for n in found if n in notes), None)
        out.append((key, f"{title}: {note}" if note else title, False, found))
    return out


def modal_groups(spec: FrameSpec, groups: list[tuple[str, str, bool, list[str]]]) -> dict[str, str]:
    """The plots of ``groups`` (of :func:`group_scalars`) that show a mode's scalars only
    (every scalar of the group declared in :data:`MODAL_SCALARS` for ``spec``'s model):
    key -> the mode. A view shows such a plot only while one of its newest values is not
    NaN, that is, while the model is in that mode."""
    mode, names = MODAL_SCALARS.get(spec.model_kind, ("", ()))
    return {key: mode for key, _, _, found in groups if names and all(s in names for s in found)}


def in_mode(scalars: dict[str, float], names: list[str]) -> bool:
    """Whether a frame's ``scalars`` hold a value of one of ``names`` that is not NaN
    (the model is in the mode whose scalars these are; an infinite value is a diverged
    one, and shown)."""
    return any(not math.isnan(scalars.get(s, math.nan)) for s in names)


def scalar_label(scalar: str, names: dict[int, str]) -> str:
    """``energy/layer_1`` -> the name of layer 1 (the legends' words)."""
    if scalar in _NAMED:
        return _NAMED[scalar]
    tail = scalar.split("/", 1)[-1]
    m = _INDEX.search(tail)
    if m and int(m.group(1)) in names:
        return names[int(m.group(1))]
    return _TAILS.get(tail, tail.replace("_", " "))


def short_labels(labels: list[str]) -> list[str]:
    """The last word of each legend label, for a key in a plot's title ("held-out PC"
    -> "PC"), or the whole labels where the last words would not tell them apart."""
    short = [lab.split()[-1] if lab.split() else lab for lab in labels]
    return short if len(set(short)) == len(short) else list(labels)
