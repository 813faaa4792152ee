"""Generation from the hierarchical VAEs of :mod:`pcviz.models.vae_base`: posterior
means, latent traversals, and samples from the prior from a chosen level down.

A mixin of :class:`pcviz.models.vae_base.HierarchicalVAE`; it works through the
model's top-down pass (``_run``) and its held batch.
"""

from __future__ import annotations

from typing import Sequence

import torch

from pcviz.models.base import ModelError, units_tensor
from pcviz.models.vae_parts import likelihood_mean_precision


class VAEGeneration:
    """Posterior means, traversals and prior samples (see the module docstring)."""

    def _check_level(self, level: int, where: str) -> int:
        if not 1 <= int(level) <= self.L:
            raise ModelError(f"{where}: level {level} out of range (latent levels are 1..{self.L})")
        return int(level)

    def _index(self, index: int | None) -> int:
        i = 0 if index is None else int(index)
        if not 0 <= i < self._x.shape[0]:
            raise ModelError(f"batch index {i} out of range (the batch has {self._x.shape[0]} items)")
        return i

    def _images(self, out: torch.Tensor) -> torch.Tensor:
        lik = self.net["lik"]["logvar"] if "lik" in self.net else None
        mean, _ = likelihood_mean_precision(self.config.likelihood, out, lik)
        return mean.reshape(out.shape[0], *self.data.display_shape)

    @torch.no_grad()
    def posterior_means(self, x: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Per level, (B, n_l) posterior means with posterior means (not draws) passed
        down; ``x`` None: the held batch (occlusion filled in); clamps apply."""
        x = self._input() if x is None else x.to(self.device, torch.float32)
        return self._run(x, ["q_mean"] * self.L, None).mu_q

    @torch.no_grad()
    def traverse(self, level: int, unit: int, values: Sequence[float] | torch.Tensor,
                 index: int | None = None) -> torch.Tensor:
        """Images (K, *display_shape): unit ``unit`` of ``level`` set to each of ``values``,
        the levels above and the rest of ``level`` at the posterior means of batch item
        ``index``, the levels below at their prior means; clamps apply."""
        level = self._check_level(level, "traverse")
        unit = units_tensor([unit], self.sizes[level], f"traverse level {level}")[0]
        vals = torch.as_tensor(values, dtype=torch.float32, device=self.device).reshape(-1)  # (K,)
        if vals.numel() == 0:
            raise ModelError("traverse: no values given")
        i = self._index(index)
        x = self._input()[i : i + 1].expand(vals.numel(), -1)  # (K, D)
        policy = ["q_mean" if l >= level else "p_mean" for l in range(1, self.L + 1)]
        p = self._run(x, policy, None, override={level: (unit, vals)})
        return self._images(p.out)

    @torch.no_grad()
    def sample_prior(self, level: int, n: int, index: int | None = None, generator: torch.Generator | None = None,
                     return_latents: bool = False):
        """Images (n, *display_shape) sampled from the prior from ``level`` down; the
        levels above ``level`` are held at the posterior means of batch item ``index``
        (``level`` = L: plain ancestral samples); clamps apply. With ``return_latents``,
        also the list of z per level, (n, n_l) each."""
        level = self._check_level(level, "sample_prior")
        if int(n) < 1:
            raise ModelError(f"sample_prior: n = {n} must be at least 1")
        i = self._index(index)
        x = self._input()[i : i + 1].expand(int(n), -1)  # (n, D)
        policy = ["q_mean" if l > level else "p" for l in range(1, self.L + 1)]
        p = self._run(x, policy, generator if generator is not None else self._gen)
        images = self._images(p.out)
        return (images, p.z) if return_latents else images

    def manual_seed(self, seed: int) -> None:
        """Reseed the posterior and prior draws (and the inputs' binarisation)."""
        self._gen.manual_seed(int(seed))
        self._bin_gen.manual_seed(int(seed) + 7919)

