"""Questions a window asks of the live model, answered in the engine (its thread, or
its process): module-level functions of plain data, so that they can be sent to an
engine process by name (``FrameSource.compute``)."""

from __future__ import annotations

import numpy as np
import torch


def latent_images(engine, kind: str, level: int, unit: int | None, values: list[float], count: int,
                  seed: int) -> tuple[np.ndarray, int, int | None]:
    """A latent traversal (``kind = "traverse"``: ``unit`` of ``level`` across ``values``,
    the rest at the displayed sample's posterior means; ``unit`` None picks the level's
    most active unit) or ``count`` samples from the prior from ``level`` down, with their
    own generator seeded ``seed`` (the run's random stream is left alone). Returns the
    images, the engine step, and the unit used."""
    model = engine.model
    idx = engine.display_index
    if kind == "traverse":
        if unit is None:
            unit = int(model.posterior_means()[level - 1].var(0).argmax())  # (B, n_l) -> the most active
        imgs = model.traverse(level, unit, values, index=idx)
    else:
        gen = torch.Generator(device=model.device).manual_seed(seed)
        imgs = model.sample_prior(level, count, index=idx, generator=gen)
    return imgs.detach().float().cpu().numpy(), int(engine.step_count), unit
