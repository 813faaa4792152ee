"""Parts shared by the two hierarchical VAE families of :mod:`pcviz.models.lvae`:
the precision-weighted Gaussian merge, the KL between diagonal Gaussians, the
likelihoods, the per-level KL warm-up, small MLP blocks, and the config fields both
families share.

Conventions: a diagonal Gaussian is (mean, variance), both (B, n); levels are counted
1..L from the bottom (level 0 is the input).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from pcviz.config import meta

LOG_2PI = math.log(2.0 * math.pi)
VAR_MIN = 1e-3  # smallest variance any Gaussian head can output (precision <= 1000)
PREC_MAX = 1e4  # cap of the streamed Bernoulli likelihood precision 1/(p(1-p))
_SOFTPLUS_ONE = math.log(math.e - 1.0)  # softplus(_SOFTPLUS_ONE) == 1

ACTIVATIONS = ("elu", "tanh", "relu", "softplus", "linear")
LIKELIHOODS = ("bernoulli", "gaussian")
WARMUPS = ("none", "shared", "top_first")


# ------------------------------------------------------------------ Gaussians
def precision_merge(mu_a: torch.Tensor, prec_a: torch.Tensor, mu_b: torch.Tensor,
                    prec_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalised product of N(mu_a, 1/prec_a) and N(mu_b, 1/prec_b), per unit:
    mean (mu_a prec_a + mu_b prec_b) / (prec_a + prec_b), variance 1 / (prec_a + prec_b)."""
    prec = prec_a + prec_b
    mu = (mu_a * prec_a + mu_b * prec_b) / prec
    return mu, 1.0 / prec


def kl_diag_gaussians(mu_q: torch.Tensor, var_q: torch.Tensor, mu_p: torch.Tensor,
                      var_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_q, var_q) || N(mu_p, var_p)) per unit (nats), same shape as the inputs."""
    return 0.5 * (torch.log(var_p) - torch.log(var_q) + (var_q + (mu_q - mu_p) ** 2) / var_p - 1.0)


def gaussian_log_prob(x: torch.Tensor, mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """log N(x; mu, var) per unit."""
    return -0.5 * (LOG_2PI + torch.log(var) + (x - mu) ** 2 / var)


def positive_variance(a: torch.Tensor) -> torch.Tensor:
    """softplus(a) + VAR_MIN: the variance a head's pre-activation ``a`` stands for."""
    return nn.functional.softplus(a) + VAR_MIN


# ----------------------------------------------------------------- likelihoods
def log_likelihood(kind: str, x: torch.Tensor, out: torch.Tensor, logvar: torch.Tensor | None) -> torch.Tensor:
    """log p(x | z) per pixel (B, D) from the decoder output ``out`` (B, D).

    bernoulli: ``out`` are logits; for x in [0, 1] this is the cross-entropy
    x log p + (1 - x) log(1 - p) (exact for binary x). gaussian: ``out`` is the mean,
    the variance softplus(logvar) + VAR_MIN is one learned value per pixel (D,)."""
    if kind == "bernoulli":
        return -nn.functional.binary_cross_entropy_with_logits(out, x, reduction="none")
    return gaussian_log_prob(x, out, positive_variance(logvar))


def binarise(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """x ~ Bernoulli(pixel) per value of ``x`` in [0, 1] (B, D): the dynamic binarisation
    under which a Bernoulli likelihood is a normalised density of the data (grey levels
    strictly between 0 and 1 are not values a Bernoulli variable takes)."""
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (u < x).to(x.dtype)


def is_binary(x: torch.Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


def evaluation_input(x: torch.Tensor, kind: str) -> torch.Tensor:
    """The data an evaluation (ELBO, log-likelihood) scores: for a Bernoulli likelihood,
    non-binary ``x`` binarised once with a fixed seed (the same images at every
    evaluation), so that the numbers are values of a normalised density over binary
    images; otherwise ``x`` itself."""
    if kind == "bernoulli" and not is_binary(x):
        return binarise(x, torch.Generator(device=x.device).manual_seed(20161))
    return x


def likelihood_note(kind: str) -> str:
    """What the ELBO of a model with this likelihood is a bound of, for labels and recordings."""
    if kind == "bernoulli":
        return "nats, Bernoulli (binarised)"
    return "nats, Gaussian"


def likelihood_mean_precision(kind: str, out: torch.Tensor,
                              logvar: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, precision) of p(x | z), both (B, D): the reconstruction and 1/Var[x | z]."""
    if kind == "bernoulli":
        p = torch.sigmoid(out)
        return p, (1.0 / (p * (1.0 - p)).clamp_min(1.0 / PREC_MAX))
    return out, (1.0 / positive_variance(logvar)).expand_as(out)


# -------------------------------------------------------------------- warm-up
def kl_weights(mode: str, step: int, warmup_steps: int, stagger: int, n_levels: int) -> list[float]:
    """β_l for levels 1..L at optimiser step ``step``.

    none: 1. shared: one linear ramp from 0 to 1 over ``warmup_steps``. top_first: each
    level ramps over ``warmup_steps``; the top level starts at step 0 and every level
    below starts ``stagger`` steps after the one above it."""
    if mode == "none" or warmup_steps <= 0:
        return [1.0] * n_levels
    out = []
    for l in range(1, n_levels + 1):
        start = (n_levels - l) * stagger if mode == "top_first" else 0
        out.append(min(1.0, max(0.0, (step - start) / warmup_steps)))
    return out


# ----------------------------------------------------------------------- nets
def activation_module(name: str) -> nn.Module:
    return {"elu": nn.ELU, "tanh": nn.Tanh, "relu": nn.ReLU, "softplus": nn.Softplus,
            "linear": nn.Identity}[name]()


def block(n_in: int, width: int, n_layers: int, act: str) -> tuple[nn.Module, int]:
    """``n_layers`` (Linear, activation) pairs of ``width`` units; (module, output size).
    With ``n_layers == 0`` the block is the identity."""
    layers: list[nn.Module] = []
    n = n_in
    for _ in range(n_layers):
        layers += [nn.Linear(n, width), activation_module(act)]
        n = width
    return (nn.Sequential(*layers) if layers else nn.Identity()), n


class GaussianHead(nn.Module):
    """Linear maps to a mean and a variance (softplus + VAR_MIN, starting near 1)."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.mu = nn.Linear(n_in, n_out)
        self.var = nn.Linear(n_in, n_out)
        with torch.no_grad():
            self.var.weight.mul_(0.1)
            self.var.bias.fill_(_SOFTPLUS_ONE)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mu(h), positive_variance(self.var(h))  # (B, n_out) each


# --------------------------------------------------------------------- config
@dataclass
class VAEConfig:
    """Fields shared by ``lvae`` and ``bvae`` (each family sets its own ``kind``)."""

    kind: str = field(default="lvae", metadata=meta("model family", choices=("lvae", "bvae")))
    latents: list[int] = field(
        default_factory=lambda: [16, 8, 4],
        metadata=meta("latent units per level, level 1 (bottom) to level L (top)", min=1, max=4096))
    hidden: int = field(default=64, metadata=meta("width of the deterministic blocks", min=1, max=8192))
    hidden_layers: int = field(
        default=1, metadata=meta("layers per deterministic block (0: linear maps between levels)", min=0, max=8))
    activation: str = field(default="elu", metadata=meta("nonlinearity of the blocks", choices=ACTIVATIONS))
    likelihood: str = field(
        default="bernoulli",
        metadata=meta("p(x|z): bernoulli (of binary pixels: every presentation of a sample draws"
                      " x ~ Bernoulli(grey level), dynamic binarisation) or gaussian (learned variance per"
                      " pixel)", choices=LIKELIHOODS))
    lr: float = field(default=2e-3, metadata=meta("Adam learning rate", gt=0.0, max=1.0))
    grad_clip: float = field(default=50.0, metadata=meta("clip the gradient norm to this (0: off)", min=0.0))
    warmup: str = field(
        default="shared",
        metadata=meta("KL warm-up: none, one shared linear ramp, or per level from the top down"
                      " (top_first)", choices=WARMUPS))
    warmup_steps: int = field(default=2000, metadata=meta("optimiser steps of each KL ramp", min=0))
    warmup_stagger: int = field(
        default=500, metadata=meta("top_first: steps between the ramps of two adjacent levels", min=0))
    free_bits: float | list[float] = field(
        default=0.0,
        metadata=meta("free bits: nats per level (one value, or one per level) below which a level's"
                      " batch-mean KL is not penalised", min=0.0))
    active_threshold: float = field(
        default=0.01, metadata=meta("a unit is active when Var_x of its posterior mean exceeds this", gt=0.0))
    collapse_kl: float = field(
        default=0.02, metadata=meta("a level counts as collapsed when its held-out KL (nats) is below this",
                                    min=0.0))
    diagnostics_every: int = field(
        default=100, metadata=meta("optimiser steps between active-unit computations", min=1))
    diagnostics_samples: int = field(
        default=256, metadata=meta("held-out samples used for active units and held-out ELBO", min=2))

    def validate(self) -> None:
        if not self.latents:
            raise ValueError("latents = []: need at least one latent level")
        if isinstance(self.free_bits, list) and len(self.free_bits) not in (1, len(self.latents)):
            raise ValueError(f"free_bits = {self.free_bits}: give one value or one per level"
                             f" ({len(self.latents)})")

    def free_bits_per_level(self) -> list[float]:
        fb = self.free_bits
        if isinstance(fb, (int, float)):
            return [float(fb)] * len(self.latents)
        return [float(v) for v in fb] * (len(self.latents) if len(fb) == 1 else 1)
