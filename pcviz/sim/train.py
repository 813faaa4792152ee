"""Training a preset's model and evaluating it on held-out samples (the ``pcviz
train`` command in :mod:`pcviz.cli.train` drives it)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import torch

from pcviz.config import ConfigError, RunConfig
from pcviz.data import Dataset
from pcviz.models import GenerativeModel
from pcviz.paths import resolve_resource
from pcviz.sim.checkpoint import load_frozen_parameters
from pcviz.sim.engine import Engine


@torch.no_grad()
def heldout_energy(model: GenerativeModel, data: Dataset, hold_steps: int, n: int = 256, batch: int = 64) -> float:
    """Mean total energy (or loss) at the end of a hold over the first ``n`` samples
    of ``data``, with learning off. The model's batch state is replaced."""
    totals = [float(model.layer_energies().sum()) * len(x) for x in _settled(model, data, hold_steps, n, batch)]
    return float(np.sum(totals) / min(n, len(data)))


def _settled(model: GenerativeModel, data: Dataset, hold_steps: int, n: int, batch: int) -> Iterator[torch.Tensor]:
    """Each batch of the first ``n`` samples of ``data`` (yielded as the input tensor)
    once the model has run one hold on it, learning off."""
    for i in range(0, min(n, len(data)), batch):
        x = torch.from_numpy(data.x[i : i + batch]).to(model.device)
        labels = None if data.labels is None else torch.from_numpy(data.labels[i : i + batch]).to(model.device)
        model.set_batch(x, labels, learning=False)
        for _ in range(hold_steps):
            model.step(False)
        yield x


@torch.no_grad()
def heldout_reconstruction(model: GenerativeModel, data: Dataset, hold_steps: int, n: int = 256,
                           batch: int = 64) -> float:
    """Mean squared error per input value between the held-out samples and the model's
    reconstruction of them (the prediction it streams for its input layer; against each
    module's copy of its patch for the modular hierarchy) at the end
    of a hold, with learning off, over the first ``n`` samples of ``data``. Unlike the
    energy it does not reward precisions: a model that learned only precisions scores
    as badly as an untrained one. The model's batch state is replaced."""
    inputs = [l for l, spec in enumerate(model.layers) if spec.role == "input"]
    if len(inputs) != 1:
        raise ValueError(f"{model.kind}: expected one input layer, found {len(inputs)}")
    sq, count = 0.0, 0
    for x in _settled(model, data, hold_steps, n, batch):
        layer = model.frame_tensors()[inputs[0]]
        recon = layer["prediction"].reshape(len(x), -1)  # (B, n_0)
        # the data; where the input layer holds more than the data (the modular
        # hierarchy's copy of each patch), the input as that layer holds it
        held = x.reshape(len(x), -1) if recon.shape[1] == x[0].numel() else layer["activity"].reshape(len(x), -1)
        sq += float(((recon.to(x.dtype) - held.to(x.dtype)) ** 2).sum())
        count += held.numel()
    return sq / count


def train(cfg: RunConfig, steps: int, device: str | None = None, log=print, init: str | None = None) -> Engine:
    """Train ``cfg``'s model for ``steps`` engine steps from scratch, or with ``init``
    (a checkpoint) from the parameters the model keeps frozen taken from it (a staged
    training's later stage: :func:`load_frozen_parameters`)."""
    cfg.engine.learning = True
    engine = Engine(cfg, device=device or "cpu")
    frozen = engine.model.frozen_parameters()
    if frozen and not init:
        raise ConfigError(f"{cfg.preset.name}: the model keeps {', '.join(frozen)} frozen (model.frozen_weights ="
                         f" {cfg.model.frozen_weights}): they come from an earlier stage of training; give that"
                         " stage's checkpoint with --init, or train everything with --set model.frozen_weights=[]")
    if init:
        names = load_frozen_parameters(engine.model, resolve_resource(init))
        log(f"  from {init}: {', '.join(names)} (frozen)")
    hold = cfg.data.hold_steps
    chunk = max(hold, (steps // 20) // hold * hold)
    t0 = time.perf_counter()
    done = 0
    while done < steps:
        n = engine.run_steps(min(chunk, steps - done))
        done += n
        if engine.diverged is not None:
            raise RuntimeError(engine.diverged.message)
        e = float(engine.model.layer_energies().sum())
        log(f"  step {done:>7}/{steps}  batch energy {e:10.3f}  ({done / (time.perf_counter() - t0):.0f} steps/s)")
    return engine
