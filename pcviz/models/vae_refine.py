"""Semi-amortised inference for the hierarchical VAEs (Kim et al. 2018, "Semi-amortized
variational autoencoders"; Cremer, Li & Duvenaud 2018, "Inference suboptimality in
variational autoencoders").

With learning off and ``inference = "refine"``, each engine step moves the posterior
of the held batch along the gradient of its ELBO, starting from the encoder's output.
The free parameters are, per sample, level and unit, a shift of the posterior mean and
of its log-variance: q(z_l | z_{l+1}, x) = N(μ_q + Δμ_l, σ_q² e^{Δs_l}), with (μ_q, σ_q²)
what the family's posterior gives (so at the top level, and for a one-level model,
Δμ and Δs move the mean and the log-variance themselves; below, the dependence on the
level above is kept). Δ = 0 is the amortised posterior, so the refined family contains
it.

A step, per sample: a natural-gradient proposal, Δμ + η σ_q² ∇_Δμ ELBO and
Δs + 2η ∇_Δs ELBO (the inverse Fisher information of a Gaussian's mean and
log-variance; a log-variance moves at most 0.5 per step), the gradient estimated with
``refine_samples`` fresh reparameterised draws (analytic KL per level, as in training);
the proposal is kept only if its ELBO, estimated on ``refine_eval_samples`` draws whose
noise is fixed for the hold, beats the current one's by more than ``refine_accept_se``
standard errors of the paired gains. A kept step grows the sample's η by 1.5 (at most
4), a refused one halves it; η starts at ``refine_lr``. Why not plain steps: fixed-size
gradient steps (plain, natural, or Adam's) diverged or lost ELBO on the Ladder VAE,
whose top-level variance drives every level below it; and accepting any estimated gain
fitted the noise of the fixed draws (on fresh draws, some samples ended below the
encoder). With the significance test the refinement is monotone in its own estimate
and, on fresh draws, never measurably below the encoder (tests/test_vae_refine.py).
``refine_fixed_noise`` takes the gradient on the fixed draws too: a deterministic
ascent of that sample-average ELBO, precise with many draws.

Streamed (nats, per sample; NaN while not refining):
- ``refine/elbo``: the ELBO of the refined posterior, on the hold's fixed draws (so it
  never falls along the refinement);
- ``refine/amortised_elbo``: the same estimate at Δ = 0 (the encoder's posterior);
- ``amortisation_gap`` = refine/elbo − refine/amortised_elbo (≥ 0 on these draws by
  the acceptance rule; its value on fresh draws is what the tests check);
- ``approximation_gap`` = an importance-weighted bound (Burda et al. 2016) with
  ``refine_iw_samples`` draws from the refined posterior, minus refine/elbo: how far the
  best diagonal Gaussian found so far is from log p(x) (the IW bound approaches log p(x)
  from below as the draws grow, so this under-states the gap); recomputed every
  ``refine_iw_every`` steps;
- ``refine_steps``: refinement steps taken on this batch.

The views show the refined posterior: activity = its mean, and in ``bu_weight``'s
place the implied weight of the data against the prior, π_bu/(π_bu + π_p) with
π_bu = max(0, 1/σ_q² − π_p) (the Gaussian which, times the prior, gives the posterior).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from pcviz.config import meta

if TYPE_CHECKING:  # the model imports this module
    from pcviz.models.vae_base import HierarchicalVAE, Pass

_LOGVAR_STEP = 0.5  # largest change of a log-variance in one step
_STEP_MAX = 4.0  # largest step size a run of accepted steps grows to

REFINE_SCALARS = ("refine/elbo", "refine/amortised_elbo", "amortisation_gap", "approximation_gap", "refine_steps")


@dataclass
class RefineConfig:
    """Fields of the semi-amortised mode, shared by ``lvae`` and ``bvae``."""

    inference: str = field(
        default="draw",
        metadata=meta("with learning off, a step is one posterior draw (draw), or one gradient step of the"
                      " held batch's posterior on its ELBO from the encoder's output (refine)",
                      choices=("draw", "refine")))
    refine_lr: float = field(default=0.05, metadata=meta("step size of the refinement", gt=0.0, max=10.0))
    refine_samples: int = field(
        default=8, metadata=meta("draws per refinement gradient", min=1, max=100_000))
    refine_eval_samples: int = field(
        default=128, metadata=meta("draws (fixed noise per hold) of the ELBO estimate that accepts a step and"
                                   " is streamed", min=1, max=100_000))
    refine_fixed_noise: bool = field(
        default=False,
        metadata=meta("take the gradient on the hold's fixed draws too: a deterministic ascent of that"
                      " sample-average ELBO (precise with many draws; fits their noise with few)"))
    refine_accept_se: float = field(
        default=2.0,
        metadata=meta("a step is kept when its ELBO gain, on the hold's fixed draws, exceeds this many standard"
                      " errors of the paired gains (0: any gain); so that the refinement does not fit the"
                      " noise of its own estimate", min=0.0))
    refine_iw_samples: int = field(
        default=256, metadata=meta("importance draws of the approximation gap's bound", min=1, max=1_000_000))
    refine_iw_every: int = field(
        default=20, metadata=meta("refinement steps between approximation-gap computations", min=1))


def implied_bottom_up(mu_q: torch.Tensor, var_q: torch.Tensor, mu_p: torch.Tensor,
                      prec_p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ_bu, π_bu), each (B, n): the Gaussian that times the prior N(μ_p, 1/π_p) gives
    the posterior N(μ_q, σ_q²); π_bu = max(0, 1/σ_q² − π_p), μ_bu the posterior mean
    where the data's weight is below 0.001."""
    prec_q = 1.0 / var_q
    prec_bu = (prec_q - prec_p).clamp_min(0.0)
    weight = prec_bu / (prec_bu + prec_p)
    mu_bu = torch.where(weight > 1e-3, (prec_q * mu_q - prec_p * mu_p) / prec_bu.clamp_min(1e-12), mu_q)
    return mu_bu, prec_bu


class Refinement:
    """The refinement state of one model's held batch (see the module docstring)."""

    EVAL_SEED = 90_001  # the fixed noise of the streamed ELBOs (per hold)
    IW_SEED = 90_002

    def __init__(self, model: HierarchicalVAE):
        self.model = model
        self.offsets: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # per level (Δμ, Δs), (B, n_l)
        self.steps = 0
        self._x: torch.Tensor | None = None
        nan = torch.full((1,), float("nan"), device=model.device)
        self.elbo_amortised = self.elbo_refined = self.iw_bound = nan

    def invalidate(self) -> None:
        """The batch, the interventions or the settings changed: start again from the encoder."""
        self.offsets = None

    @property
    def active(self) -> bool:
        return self.offsets is not None

    def _gen_fixed(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.model.device).manual_seed(seed)

    def _eval_draws(self, x: torch.Tensor, offsets=None) -> torch.Tensor:
        with torch.no_grad():
            return self.elbo_draws(x, self.model.config.refine_eval_samples, self._gen_fixed(self.EVAL_SEED),
                                   offsets)

    def reset(self, x: torch.Tensor) -> None:
        B = x.shape[0]
        dev = self.model.device
        self.offsets = [(torch.zeros(B, n, device=dev), torch.zeros(B, n, device=dev)) for n in self.model.sizes[1:]]
        self.step_size = torch.full((B,), self.model.config.refine_lr, device=dev)
        self._x = x
        self.steps = 0
        self._draws = self._eval_draws(x)  # (k, B) at the current posterior, the hold's fixed noise
        self.elbo_amortised = self._draws.mean(0)  # (B,)
        self.elbo_refined = self.elbo_amortised.clone()
        self.iw_bound = self.importance_bound(x)

    def elbo(self, x: torch.Tensor, k: int, gen: torch.Generator | None,
             offsets: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> torch.Tensor:
        """(B,) the ELBO of the refined posterior per sample, averaged over ``k`` draws."""
        return self.elbo_draws(x, k, gen, offsets).mean(0)

    def elbo_draws(self, x: torch.Tensor, k: int, gen: torch.Generator | None,
                   offsets: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> torch.Tensor:
        """(k, B) one-draw ELBO estimates of the refined posterior (``offsets``: others)."""
        m = self.model
        B = x.shape[0]
        offs = self.offsets if offsets is None else offsets
        xr = x.repeat(k, 1)  # (k B, D)
        rep = [(a.repeat(k, 1), s.repeat(k, 1)) for a, s in offs]
        p = m._run(xr, ["q"] * m.L, gen, offsets=rep)
        per = m._loglik(p, xr) - sum(kl.sum(1) for kl in m._kls(p))  # (k B,)
        return per.reshape(k, B)

    @torch.no_grad()
    def importance_bound(self, x: torch.Tensor, chunk: int = 128) -> torch.Tensor:
        """(B,) log (1/k) Σ_j p(x, z_j)/q(z_j | x), z_j from the refined posterior."""
        m = self.model
        k, B = m.config.refine_iw_samples, x.shape[0]
        gen = torch.Generator(device=m.device).manual_seed(self.IW_SEED)
        logs = []
        for j in range(0, k, chunk):
            n = min(chunk, k - j)
            xr = x.repeat(n, 1)
            rep = [(a.repeat(n, 1), s.repeat(n, 1)) for a, s in self.offsets]
            p = m._run(xr, ["q"] * m.L, gen, log_w=True, offsets=rep)
            logs.append((m._loglik(p, xr) + p.log_w).reshape(n, B))
        return torch.logsumexp(torch.cat(logs), 0) - math.log(k)

    def step(self, x: torch.Tensor) -> None:
        """One refinement step of the posterior of the batch ``x`` (B, D); see the module doc."""
        cfg = self.model.config
        if self.offsets is None or self.offsets[0][0].shape[0] != x.shape[0]:
            self.reset(x)
        leaves = [t.detach().requires_grad_(True) for pair in self.offsets for t in pair]
        pairs = [(leaves[2 * i], leaves[2 * i + 1]) for i in range(len(self.offsets))]
        with torch.enable_grad():
            if cfg.refine_fixed_noise:  # the gradient of the very estimate that accepts the step
                elbo = self.elbo(x, cfg.refine_eval_samples, self._gen_fixed(self.EVAL_SEED), pairs)
            else:
                elbo = self.elbo(x, cfg.refine_samples, self.model._gen, pairs)
            grads = torch.autograd.grad(elbo.sum(), leaves)  # the samples are independent
        var = [v for _, v in self.posterior(x)]  # σ_q² e^{Δs}, (B, n_l) per level
        eta = self.step_size[:, None]  # (B, 1)
        with torch.no_grad():
            trial = [(m + eta * v * gm, (s + eta * 2.0 * gs).clamp(-_LOGVAR_STEP + s, _LOGVAR_STEP + s))
                     for (m, s), v, gm, gs in zip(self.offsets, var, grads[0::2], grads[1::2])]
            draws = self._eval_draws(x, trial)  # (k, B), the same noise as self._draws
            diff = draws - self._draws  # paired differences
            k = diff.shape[0]
            se = diff.std(0) / math.sqrt(k) if k > 1 else torch.zeros_like(diff[0])
            better = diff.mean(0) > cfg.refine_accept_se * se  # (B,) a clear improvement, not the noise's
            keep = better[:, None]
            self.offsets = [(torch.where(keep, tm, m), torch.where(keep, ts, s))
                            for (tm, ts), (m, s) in zip(trial, self.offsets)]
            self._draws = torch.where(better[None, :], draws, self._draws)
            self.elbo_refined = self._draws.mean(0)
            self.step_size = torch.where(better, (self.step_size * 1.5).clamp_max(_STEP_MAX),
                                         self.step_size * 0.5)
        self.steps += 1
        if self.steps % cfg.refine_iw_every == 0:
            self.iw_bound = self.importance_bound(x)

    def draw(self, x: torch.Tensor) -> Pass:
        """One posterior draw of the refined posterior, for the views."""
        m = self.model
        with torch.no_grad():
            return m._run(x, ["q"] * m.L, m._gen, offsets=self.offsets)

    def posterior(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per level, the refined posterior's (mean, variance), (B, n_l) each, with the
        means (not draws) passed down."""
        m = self.model
        with torch.no_grad():
            p = m._run(x, ["q_mean"] * m.L, None, offsets=self.offsets)
        return list(zip(p.mu_q, p.var_q))

    def scalars(self, index: int | None) -> dict[str, torch.Tensor]:
        dev = self.model.device
        if not self.active:
            nan = torch.tensor(float("nan"), device=dev)
            return {k: nan for k in REFINE_SCALARS}
        pick = (lambda t: t.mean()) if index is None else (lambda t: t[index])
        return {"refine/elbo": pick(self.elbo_refined), "refine/amortised_elbo": pick(self.elbo_amortised),
                "amortisation_gap": pick(self.elbo_refined - self.elbo_amortised),
                "approximation_gap": pick(self.iw_bound - self.elbo_refined),
                "refine_steps": torch.tensor(float(self.steps), device=dev)}
