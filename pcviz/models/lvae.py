"""Hierarchical VAEs with latent levels z_1 (bottom) ... z_L (top) over the input x.

Generative model (both families): p(z_L) = N(0, I), p(z_l | z_{l+1}) = N(μ_p, σ_p²) from a
top-down block on z_{l+1}, p(x | z_1) Bernoulli or Gaussian from the decoder.

``lvae``, the Ladder VAE (Sønderby et al. 2016): a deterministic bottom-up pass gives,
per level, a Gaussian estimate N(μ_bu, 1/π_bu); the top-down pass merges it with the
prior by precision, μ_q = (μ_bu π_bu + μ_p π_p)/(π_bu + π_p), σ_q² = 1/(π_bu + π_p),
and samples z_l from it (reparameterised). The top level is merged with N(0, I) like
every other level. The prior and the posterior share the top-down parameters.

``bvae``, the bidirectional hierarchical VAE (bidirectional inference as in Kingma et
al. 2016 and NVAE): the posterior of level l is a learned function of the bottom-up
features and the top-down features of z_{l+1}; there is no precision merge. For
comparison it streams the implied bottom-up factor, the Gaussian that times the prior
gives the posterior: π_bu = max(0, π_q − π_p), bu_weight = π_bu/(π_bu + π_p), bu_mean =
(π_q μ_q − π_p μ_p)/π_bu (the posterior mean where bu_weight < 0.001).

Training (one optimiser step per engine step): Adam on −ELBO with analytic per-level
KL, per-level warm-up weights β_l and free bits λ_l:
loss = −E_q log p(x|z) + Σ_l β_l max(λ_l, ⟨KL_l⟩_batch), gradient-norm clipping.
With learning off a step is one posterior draw. Diagnostics: active units per level
(Burda et al. 2016: Var_x of the posterior mean, computed with posterior means all the
way down, on held-out samples), held-out ELBO and a collapsed flag per level (held-out
KL below ``collapse_kl`` nats), every ``diagnostics_every`` optimiser steps.

Streamed per latent level: activity = μ_q, prediction = μ_p, error = μ_q − μ_p,
precision = π_p (as the merge uses it, lesions included), bu_mean, bu_precision,
bu_weight, z (the draw) and kl (per unit); level 0: input, reconstruction (the
likelihood's mean), their difference and the likelihood's precision 1/Var[x|z] (0 on
occluded pixels). Scalars: energy/layer_0 = −log p(x|z), energy/layer_l = KL_l,
elbo, recon, kl/level_l, kl_weight/level_l, loss, heldout/elbo, active_units/level_l
and collapsed/level_l (the last three keep their value between computations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Sequence

import torch
from torch import nn

from pcviz.config import meta
from pcviz.models.base import ModelError, units_tensor
from pcviz.models.vae_base import HierarchicalVAE
from pcviz.models.vae_parts import GaussianHead, VAEConfig, block, precision_merge
from pcviz.models.vae_refine import RefineConfig


@dataclass
class LVAEConfig(VAEConfig, RefineConfig):
    kind: str = field(default="lvae", metadata=meta("model family", choices=("lvae",)))


@dataclass
class BVAEConfig(VAEConfig, RefineConfig):
    kind: str = field(default="bvae", metadata=meta("model family", choices=("bvae",)))


class LadderVAE(HierarchicalVAE):
    """Posterior = precision-weighted merge of the bottom-up estimate and the prior."""

    kind: ClassVar[str] = "lvae"

    def _build_posterior(self, net: nn.ModuleDict, w: list[int], t: list[int]) -> None:
        net["bu_head"] = nn.ModuleList(GaussianHead(w[i + 1], n) for i, n in enumerate(self.config.latents))

    def _posterior(self, i, d, h, mu_p, prec_p):
        mu_bu, var_bu = self.net["bu_head"][i](d)  # (B, n_l) each
        prec_bu = 1.0 / var_bu
        mu_q, var_q = precision_merge(mu_bu, prec_bu, mu_p, prec_p)
        return mu_q, var_q, mu_bu, prec_bu

    def lesion(self, layer: int, factor: float, units: Sequence[int] | None = None) -> None:
        """Scale the prior precision that level ``layer``'s merge uses (0: the posterior
        follows the bottom-up estimate alone)."""
        self.check_layer(layer, "lesion")
        if layer == 0:
            raise ModelError("lesion: level 0 is the likelihood; occlude input pixels instead")
        if factor < 0 or not math.isfinite(factor):
            raise ModelError(f"lesion level {layer}: factor {factor} must be a finite number >= 0")
        idx = units_tensor(units, self.sizes[layer], f"lesion level {layer}")
        self._prior_gain[layer - 1][idx] = float(factor)
        self._interventions_changed()


class BidirectionalVAE(HierarchicalVAE):
    """Posterior = a learned function of the bottom-up and the top-down features."""

    kind: ClassVar[str] = "bvae"

    def _build_posterior(self, net: nn.ModuleDict, w: list[int], t: list[int]) -> None:
        cfg = self.config
        blocks, heads = [], []
        for i, n in enumerate(cfg.latents):
            n_in = w[i + 1] + (t[i] if i < self.L - 1 else 0)
            blk, out = block(n_in, cfg.hidden, cfg.hidden_layers, cfg.activation)
            blocks.append(blk)
            heads.append(GaussianHead(out, n))
        net["q_block"] = nn.ModuleList(blocks)
        net["q_head"] = nn.ModuleList(heads)

    def _posterior(self, i, d, h, mu_p, prec_p):
        inp = d if h is None else torch.cat([d, h], 1)  # (B, w_l + t_l)
        mu_q, var_q = self.net["q_head"][i](self.net["q_block"][i](inp))
        with torch.no_grad():  # the implied bottom-up factor, for the views only
            prec_q = 1.0 / var_q
            prec_bu = (prec_q - prec_p).clamp_min(0.0)
            weight = prec_bu / (prec_bu + prec_p)
            mu_bu = torch.where(weight > 1e-3, (prec_q * mu_q - prec_p * mu_p) / prec_bu.clamp_min(1e-12), mu_q)
        return mu_q, var_q, mu_bu, prec_bu
