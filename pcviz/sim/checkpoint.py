"""Checkpoints: learned tensors plus a plain description of the architecture, saved
with torch.save and loaded with ``weights_only=True`` (no pickled code)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from pcviz.errors import PcvizError
from pcviz.models.base import GenerativeModel, ModelError
from pcviz.paths import resolve_resource

FORMAT = "pcviz-checkpoint"
VERSION = 1


class CheckpointError(PcvizError, ValueError):
    """A checkpoint cannot be read or does not fit the model; the message says why."""


def save_checkpoint(model: GenerativeModel, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": json.dumps(model.architecture(), sort_keys=True),
        "extra": json.dumps(extra or {}, sort_keys=True),
        "tensors": {k: v.detach().to("cpu").clone() for k, v in model.checkpoint_tensors().items()},
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # atomic: a crash never leaves half a checkpoint
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found: {path}") from None
    except Exception as exc:  # torch raises many kinds for a bad file
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a pcviz checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {payload.get('version')} (this pcviz reads {VERSION})")
    payload["architecture"] = json.loads(payload["architecture"])
    payload["extra"] = json.loads(payload.get("extra", "{}"))
    return payload


def load_checkpoint(model: GenerativeModel, path: str | Path) -> dict[str, Any]:
    payload = read_checkpoint(path)
    want, got = model.architecture(), payload["architecture"]
    if want != got:
        diffs = [f"{k}: checkpoint {got.get(k)!r}, model {want.get(k)!r}"
                 for k in sorted(set(want) | set(got)) if want.get(k) != got.get(k)]
        raise CheckpointError(f"{path}: made for another architecture ({'; '.join(diffs)})")
    try:
        model.load_state_tensors(payload["tensors"])
    except ModelError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return payload


def load_frozen_parameters(model: GenerativeModel, path: str | Path) -> list[str]:
    """Copy the parameters that ``model`` keeps frozen (:meth:`GenerativeModel.frozen_parameters`,
    e.g. level 1's W_0 and b_0 with ``model.frozen_weights = [0]``) from the checkpoint at
    ``path``, which may be of another architecture above them (another level 2): the
    second stage of a staged training starts there. Returns the names copied."""
    names = model.frozen_parameters()
    if not names:
        raise CheckpointError(f"--init {path}: the model freezes no parameters, so there is nothing to take from"
                              " it (set model.frozen_weights, e.g. [0] to keep level 1's weights)")
    payload = read_checkpoint(path)
    tensors = model.state_tensors()
    merged = {k: v.detach().clone() for k, v in tensors.items()}
    for name in names:
        src = payload["tensors"].get(name)
        if src is None:
            raise CheckpointError(f"{path}: has no {name} (frozen by the model)")
        if tuple(src.shape) != tuple(tensors[name].shape):
            raise CheckpointError(f"{path}: {name} has shape {tuple(src.shape)}, the model needs"
                                  f" {tuple(tensors[name].shape)}")
        merged[name] = src
    try:
        model.load_state_tensors(merged)
    except ModelError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return names


class CheckpointFiles:
    """Checkpoint I/O as the engine's commands use it: a path or a shipped checkpoint's
    name (``resources/…``) to load, a path to save to; a file that cannot be written is
    a :class:`CheckpointError` that names it."""

    def load(self, model: GenerativeModel, path: str) -> None:
        load_checkpoint(model, resolve_resource(path))

    def save(self, model: GenerativeModel, path: str, extra: dict[str, Any]) -> None:
        try:
            save_checkpoint(model, path, extra=extra)
        except OSError as exc:
            raise CheckpointError(f"cannot save checkpoint to {path}: {exc}") from None
