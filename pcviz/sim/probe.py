"""The stimulus probe: in-silico electrophysiology on a model.

Like a physiologist, present a family of stimuli (:mod:`pcviz.data.stimuli`) to the
model, one hold each with learning off and the state reset between stimuli, and
record chosen units' responses: the value of a quantity (``error``, ``activity``, or
any other the layer streams) at the end of the hold (``steady``) or its mean over
the hold (``mean``). Every stimulus is one row of a batch presented to a fresh copy
of the model (built from its config and loaded with its parameters), so stimuli
cannot leak state into each other and the model that is probed is left as it was.

Conditions are interventions applied to the copy before the stimuli come:

- ``intact``: the parameters as they are, no intervention;
- ``no-feedback``: the probed layer receives no top-down prediction (the precision
  of the prediction from the level above, Π_layer, times 0);
- ``NAME=SPEC``: ``SPEC`` is one or more of ``lesion:LAYER[:FACTOR[:UNITS]]`` (the
  precision of LAYER's prediction error times FACTOR, default 0), ``gain:LAYER:FACTOR``
  (the same, named for gains above 1) and ``clamp:LAYER:UNITS:VALUE``, joined by
  ``+``; UNITS are comma-separated indices or ``all``. E.g.
  ``lesion12=lesion:1+lesion:2``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from pcviz.data.stimuli import StimulusSet
from pcviz.errors import PcvizError
from pcviz.models import GenerativeModel, build_model


class ProbeError(PcvizError, ValueError):
    """A probe cannot run as asked; the message names the option."""


@dataclass(frozen=True)
class Condition:
    """A named set of interventions applied to the probed model's copy."""

    name: str
    apply: Callable[[GenerativeModel], None]
    spec: str = ""


def _units(text: str, where: str) -> list[int] | None:
    if text in ("", "all"):
        return None
    try:
        return [int(u) for u in text.split(",") if u.strip()]
    except ValueError:
        raise ProbeError(f"{where}: units {text!r} are not comma-separated integers or 'all'") from None


def _one_intervention(part: str, where: str) -> Callable[[GenerativeModel], None]:
    bits = part.split(":")
    kind = bits[0]
    try:
        if kind in ("lesion", "gain"):
            if len(bits) < 2 or (kind == "gain" and len(bits) < 3) or len(bits) > 4:
                raise ProbeError(f"{where}: {part!r} should be {kind}:LAYER{'[' if kind == 'lesion' else ''}"
                                 f":FACTOR{']' if kind == 'lesion' else ''}[:UNITS]")
            layer = int(bits[1])
            factor = float(bits[2]) if len(bits) > 2 else 0.0
            units = _units(bits[3], where) if len(bits) > 3 else None
            return lambda m: m.lesion(layer, factor, units)
        if kind == "clamp":
            if len(bits) != 4:
                raise ProbeError(f"{where}: {part!r} should be clamp:LAYER:UNITS:VALUE")
            layer, units, value = int(bits[1]), _units(bits[2], where), float(bits[3])
            return lambda m: m.clamp(layer, units, value)
    except ValueError as exc:
        if isinstance(exc, ProbeError):
            raise
        raise ProbeError(f"{where}: {part!r}: {exc}") from None
    raise ProbeError(f"{where}: {kind!r} is not an intervention (use lesion, gain or clamp)")


def parse_condition(text: str, layer: int) -> Condition:
    """``intact``, ``no-feedback`` (for the probed ``layer``) or ``NAME=SPEC``."""
    text = text.strip()
    if text == "intact":
        return Condition("intact", lambda m: None, "")
    if text == "no-feedback":
        return Condition("no-feedback", lambda m: m.lesion(layer, 0.0), f"lesion:{layer}")
    if "=" not in text:
        raise ProbeError(f"condition {text!r}: use intact, no-feedback or NAME=SPEC (e.g. lesioned=lesion:2)")
    name, spec = (s.strip() for s in text.split("=", 1))
    if not name or not spec:
        raise ProbeError(f"condition {text!r}: NAME=SPEC needs both")
    where = f"condition {name!r}"
    steps = [_one_intervention(p.strip(), where) for p in spec.split("+")]

    def apply(m: GenerativeModel) -> None:
        for s in steps:
            s(m)

    return Condition(name, apply, spec)


@dataclass
class ProbeResult:
    """Responses ``(C, S, U)``: conditions × stimuli × units."""

    stimuli: StimulusSet
    layer: int
    quantity: str
    response: str
    units: list[int]
    conditions: list[str]
    responses: np.ndarray  # (C, S, U)
    hold_steps: int
    notes: list[str] = field(default_factory=list)

    def curve(self, condition: str) -> np.ndarray:
        """The tuning curve (S,): the response averaged over the probed units."""
        return self.responses[self.conditions.index(condition)].mean(axis=1)

    def last_to_peak(self, condition: str) -> float:
        """The mean response to the last stimulus over the peak of the mean curve."""
        c = self.curve(condition)
        peak = float(c.max())
        return float(c[-1] / peak) if peak != 0 else float("nan")

    def summary_lines(self) -> list[str]:
        out = []
        for name in self.conditions:
            c = self.curve(name)
            i = int(np.argmax(c))
            out.append(f"{name}: last/peak = {self.last_to_peak(name):.3f}  (peak {c[i]:.4g} at"
                       f" {self.stimuli.vary}={self.stimuli.values[i]:g}; last {c[-1]:.4g} at"
                       f" {self.stimuli.vary}={self.stimuli.values[-1]:g})")
        return out

    def rows(self):
        """(condition, parameter, unit, response) for every measurement."""
        for ci, name in enumerate(self.conditions):
            for si, v in enumerate(self.stimuli.values):
                for ui, u in enumerate(self.units):
                    yield name, float(v), u, float(self.responses[ci, si, ui])

    def write_csv(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["condition", "parameter", "unit", "response"])
            for name, v, u, r in self.rows():
                w.writerow([name, f"{v:g}", u, f"{r:.7g}"])
        return path


def copy_model(model: GenerativeModel) -> GenerativeModel:
    """A fresh model of the same config with ``model``'s learned parameters (and none
    of its interventions or state)."""
    fresh = build_model(model.config, model.data, model.device, seed=model.seed)
    fresh.load_state_tensors({k: v.detach().clone() for k, v in model.state_tensors().items()})
    return fresh


def _present(model: GenerativeModel, x: torch.Tensor, layer: int, quantity: str, steps: int,
             response: str) -> torch.Tensor:
    """Hold ``x`` (S, D) for ``steps`` steps with learning off -> (S, n) responses."""
    model.set_batch(x, None, learning=False)
    total = None
    for _ in range(steps):
        model.step(learning=False)
        if response == "mean":
            q = model.frame_tensors()[layer][quantity].reshape(x.shape[0], -1)
            total = q.clone() if total is None else total + q
    if response == "mean":
        return total / steps
    return model.frame_tensors()[layer][quantity].reshape(x.shape[0], -1).clone()


def probe(model: GenerativeModel, stimuli: StimulusSet, layer: int, *, quantity: str = "error",
          units: Sequence[int] | str = "auto", n_auto: int = 5, among: Sequence[int] | None = None, conditions: Sequence[str | Condition] = ("intact",),
          hold_steps: int = 100, response: str = "steady") -> ProbeResult:
    """Present ``stimuli`` to copies of ``model`` under each condition and record the
    responses of ``units`` of ``layer``'s ``quantity`` (see the module docstring).
    ``units="auto"``: the ``n_auto`` units that respond most (largest value) to the
    family's centre stimulus in the first condition, chosen ``among`` the given
    units (all when None: e.g. one module of a modular hierarchy)."""
    if not 0 <= layer < len(model.layers):
        raise ProbeError(f"--layer {layer}: the model has layers 0..{len(model.layers) - 1}")
    shapes = model.quantity_shapes()[layer]
    if quantity not in shapes:
        raise ProbeError(f"--quantity {quantity!r}: layer {layer} streams {', '.join(shapes)}")
    if response not in ("steady", "mean"):
        raise ProbeError(f"--response {response!r}: use steady or mean")
    if hold_steps < 1:
        raise ProbeError(f"--hold {hold_steps}: at least one step")
    if model.data.dim != stimuli.images[0].size:
        raise ProbeError(f"the stimuli have {stimuli.images[0].size} pixels, the model's input {model.data.dim}")
    conds = [c if isinstance(c, Condition) else parse_condition(c, layer) for c in conditions]
    if not conds:
        raise ProbeError("give at least one condition")
    names = [c.name for c in conds]
    if len(set(names)) != len(names):
        raise ProbeError(f"conditions {names}: each name once")
    x = torch.from_numpy(stimuli.images.reshape(len(stimuli.values), -1)).to(model.device)  # (S, D)
    out = []
    for c in conds:
        m = copy_model(model)
        try:
            c.apply(m)
        except PcvizError as exc:
            raise ProbeError(f"condition {c.name!r}: {exc}") from None
        with torch.no_grad():
            out.append(_present(m, x, layer, quantity, hold_steps, response).cpu().numpy())  # (S, n)
    resp = np.stack(out).astype(np.float64)  # (C, S, n)
    n = resp.shape[2]
    if isinstance(units, str):
        if units != "auto":
            raise ProbeError(f"--units {units!r}: auto or comma-separated unit indices")
        pool = np.arange(n) if among is None else np.asarray(list(among), np.int64)
        if pool.size == 0 or pool.min() < 0 or pool.max() >= n:
            raise ProbeError(f"--among: layer {layer} {quantity} has units 0..{n - 1}")
        k = max(1, min(int(n_auto), pool.size))
        centre = resp[0, stimuli.centre_index, pool]  # (len(pool),)
        chosen = [int(u) for u in pool[np.argsort(-centre, kind="stable")[:k]]]
    else:
        chosen = [int(u) for u in units]
        bad = [u for u in chosen if not 0 <= u < n]
        if bad or not chosen:
            raise ProbeError(f"--units {list(units)}: layer {layer} {quantity} has units 0..{n - 1}")
    notes = []
    if not np.all(np.isfinite(resp[:, :, chosen])):
        notes.append("some responses are not finite: the model diverged on a stimulus")
    return ProbeResult(stimuli, layer, quantity, response, chosen, names, resp[:, :, chosen], hold_steps, notes)


def family_images(dataset, family: str, sample: int = 0, digits: tuple[int, int] = (3, 8)) -> dict[str, np.ndarray]:
    """The pictures a stimulus family needs, from a data set (``x`` (N, D),
    ``labels``, ``display_shape``): ``base`` (row ``sample``) for the occluder,
    ``a`` and ``b`` (the first sample of each of the two ``digits``) for interpolation."""
    shape = tuple(dataset.display_shape)
    if family == "occluder":
        if not 0 <= sample < len(dataset.x):
            raise ProbeError(f"--sample {sample}: the data set has samples 0..{len(dataset.x) - 1}")
        return {"base": dataset.x[sample].reshape(shape)}
    if family == "interpolation":
        if dataset.labels is None:
            raise ProbeError("stimulus 'interpolation' needs labelled data (two digits); this data set has no labels")
        out = {}
        for key, d in zip(("a", "b"), digits):
            rows = np.flatnonzero(dataset.labels == int(d))
            if rows.size == 0:
                raise ProbeError(f"--digits: the data set has no sample labelled {d}")
            out[key] = dataset.x[rows[0]].reshape(shape)
        return out
    return {}


def probe_engine(engine, stimulus: str, vary: str, values: Sequence[float] | None,
                 params: dict[str, float] | None, layer: int, sample: int = 0,
                 digits: tuple[int, int] = (3, 8), hold_steps: int | None = None,
                 options: dict | None = None) -> ProbeResult:
    """:func:`probe` on a copy of a running engine's model, with the stimuli drawn at
    its input's shape: a module-level function, so that it can run in the engine's
    thread or process (``Session.probe``, ``compute``); the run itself is untouched.
    ``options``: :func:`probe`'s keyword arguments."""
    from pcviz.data.stimuli import stimulus_set

    images = family_images(engine.test_data, stimulus, sample, digits)
    st = stimulus_set(stimulus, tuple(engine.dataset.display_shape), vary, values, params, images)
    return probe(copy_model(engine.model), st, layer, hold_steps=hold_steps or engine.config.data.hold_steps,
                 **(options or {}))
