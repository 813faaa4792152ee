"""The machinery both hierarchical VAE families of :mod:`pcviz.models.lvae` share:
the bottom-up and top-down passes, the ELBO step, diagnostics, what the frame
streams, evaluation (ELBO, importance-sampled log-likelihood), interventions and
checkpoints; generation (latent traversals, prior samples) is in
:mod:`pcviz.models.vae_generation`, the semi-amortised mode in :mod:`pcviz.models.vae_refine`.
A family only says how a level's posterior is formed (:meth:`HierarchicalVAE._posterior`).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Sequence

import torch
from torch import nn

from pcviz.models.base import DataInfo, GenerativeModel, LayerSpec, ModelError, grid_shape, units_tensor
from pcviz.models.vae_parts import (GaussianHead, VAEConfig, binarise, block, evaluation_input, gaussian_log_prob,
                                    kl_diag_gaussians, kl_weights, likelihood_mean_precision, likelihood_note,
                                    log_likelihood)
from pcviz.models.vae_generation import VAEGeneration
from pcviz.models.vae_refine import RefineConfig, Refinement, implied_bottom_up

@dataclass
class Pass:
    """One top-down pass; lists are indexed by level − 1."""

    x: torch.Tensor  # (B, D) what the encoder saw
    out: torch.Tensor  # (B, D) decoder output (logits or mean)
    mu_q: list[torch.Tensor]  # (B, n_l) posterior means (clamped units: the clamp value)
    var_q: list[torch.Tensor]  # (B, n_l)
    mu_p: list[torch.Tensor]  # (B, n_l) prior means
    var_p: list[torch.Tensor]  # (B, n_l)
    prec_td: list[torch.Tensor]  # (B, n_l) prior precision as used by the merge (lesions included)
    mu_bu: list[torch.Tensor]  # (B, n_l)
    prec_bu: list[torch.Tensor]  # (B, n_l)
    z: list[torch.Tensor]  # (B, n_l)
    free: list[torch.Tensor]  # (n_l,) 1 for units not held by a clamp or an override
    log_w: torch.Tensor | None = None  # (B,) log p(z) − log q(z) of the draw, when asked


class HierarchicalVAE(VAEGeneration, GenerativeModel):
    """The machinery both families share; they differ in :meth:`_posterior`."""

    structural: ClassVar[frozenset[str]] = frozenset(
        {"kind", "latents", "hidden", "hidden_layers", "activation", "likelihood"})

    def __init__(self, config: VAEConfig, data: DataInfo, device: torch.device | str = "cpu", seed: int = 0):
        super().__init__(config, data, device, seed)
        self.sizes = [data.dim] + list(config.latents)
        self.L = len(config.latents)
        self.layers = [LayerSpec("input", "input", data.dim, tuple(data.display_shape))] + [
            LayerSpec(f"z{l}", "top" if l == self.L else "hidden", n, grid_shape(n))
            for l, n in enumerate(config.latents, start=1)]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = self._build_net().to(self.device)
        self._gen = torch.Generator(device=self.device).manual_seed(seed)
        # the binarisation of inputs has its own stream, so posterior draws do not depend on it
        self._bin_gen = torch.Generator(device=self.device).manual_seed(seed + 7919)
        self.opt_steps = 0
        self._new_optimiser()
        self.refinement = Refinement(self)  # the semi-amortised mode (vae_refine)
        self._learning = True
        dev = self.device
        self._clamp_mask = [torch.zeros(n, dtype=torch.bool, device=dev) for n in config.latents]
        self._clamp_value = [torch.zeros(n, device=dev) for n in config.latents]
        self._prior_gain = [torch.ones(n, device=dev) for n in config.latents]
        self._occluded = torch.zeros(data.dim, dtype=torch.bool, device=dev)
        self._interventions_changed()
        self._ref: torch.Tensor | None = None
        L = self.L
        self._diag = {"heldout": torch.tensor(float("nan"), device=dev), "active": torch.zeros(L, device=dev),
                      "collapsed": torch.zeros(L, device=dev)}
        self._diag_due = True
        self._loss = torch.tensor(0.0, device=dev)
        self._x = torch.zeros(1, data.dim, device=dev)
        self._fill = torch.zeros(1, data.dim, device=dev)
        self._stale = True
        self._pending: tuple | None = None  # the last pass, until a frame asks for it

    # ----------------------------------------------------------------- nets
    def _build_net(self) -> nn.ModuleDict:
        cfg, D, n, L = self.config, self.data.dim, list(self.config.latents), self.L
        H, K, act = cfg.hidden, cfg.hidden_layers, cfg.activation
        bu, w = [], [D]
        for _ in range(L):
            blk, out = block(w[-1], H, K, act)
            bu.append(blk)
            w.append(out)
        td, prior, t = [], [], []
        for i in range(L - 1):  # the prior of level i+1 from z_{i+2}
            blk, out = block(n[i + 1], H, K, act)
            td.append(blk)
            prior.append(GaussianHead(out, n[i]))
            t.append(out)
        dec, out = block(n[0], H, K, act)
        net = nn.ModuleDict({"bu": nn.ModuleList(bu), "td": nn.ModuleList(td), "prior": nn.ModuleList(prior),
                             "dec": nn.Sequential(dec, nn.Linear(out, D))})
        if cfg.likelihood == "gaussian":
            net["lik"] = nn.ParameterDict({"logvar": nn.Parameter(torch.full((D,), math.log(math.e - 1.0)))})
        self._build_posterior(net, w, t)  # w: bottom-up feature sizes (D, w_1..w_L); t: top-down t_1..t_{L-1}
        return net

    @abstractmethod
    def _build_posterior(self, net: nn.ModuleDict, w: list[int], t: list[int]) -> None:
        """Add the family's posterior modules to ``net``."""

    @abstractmethod
    def _posterior(self, i: int, d: torch.Tensor, h: torch.Tensor | None, mu_p: torch.Tensor,
                   prec_p: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(μ_q, σ_q², μ_bu, π_bu) of level i+1 from bottom-up features ``d`` (B, w),
        top-down features ``h`` (None at the top) and the prior (μ_p, π_p) used."""

    def _new_optimiser(self) -> None:
        fused = self.device.type in ("cpu", "cuda")  # one kernel for every parameter (docs/performance.md)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=self.config.lr, fused=fused)

    # ----------------------------------------------------------------- the pass
    def _run(self, x: torch.Tensor, policy: Sequence[str], gen: torch.Generator | None,
             interventions: bool = True, override: dict[int, tuple[int, torch.Tensor]] | None = None,
             log_w: bool = False, offsets: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> Pass:
        """Bottom-up then top-down. ``policy[l-1]`` picks z_l: "q" (posterior draw),
        "q_mean", "p" (prior draw) or "p_mean". ``override`` {level: (unit, (B,) values)}
        sets one unit after the clamps. ``offsets`` (per level (Δμ, Δs), (B, n_l) each)
        shift the posterior's mean and log-variance (the refined posterior of
        :mod:`pcviz.models.vae_refine`); the bottom-up factor is then the implied one."""
        d, h = [], x
        for blk in self.net["bu"]:
            h = blk(h)
            d.append(h)  # (B, w_l)
        B, L = x.shape[0], self.L
        lists: dict[str, list] = {k: [None] * L for k in ("mu_q", "var_q", "mu_p", "var_p", "prec_td", "mu_bu",
                                                           "prec_bu", "z", "free")}
        lw = torch.zeros(B, device=x.device) if log_w else None
        z_above = None
        for i in range(L - 1, -1, -1):
            n = self.sizes[i + 1]
            if i == L - 1:
                htd = None
                mu_p = torch.zeros(B, n, device=x.device)
                var_p = torch.ones(B, n, device=x.device)
            else:
                htd = self.net["td"][i](z_above)
                mu_p, var_p = self.net["prior"][i](htd)  # (B, n_l) each
            prec_p = 1.0 / var_p
            if interventions and self._any_lesion[i]:
                prec_p = prec_p * self._prior_gain[i]
            mu_q, var_q, mu_bu, prec_bu = self._posterior(i, d[i], htd, mu_p, prec_p)
            if offsets is not None:
                mu_q, var_q = mu_q + offsets[i][0], var_q * torch.exp(offsets[i][1])
                mu_bu, prec_bu = implied_bottom_up(mu_q.detach(), var_q.detach(), mu_p.detach(), prec_p.detach())
            pol = policy[i]
            if pol in ("q", "p"):
                eps = torch.randn(B, n, generator=gen, device=x.device)
                z = (mu_q + var_q.sqrt() * eps) if pol == "q" else (mu_p + var_p.sqrt() * eps)
            else:
                z = mu_q if pol == "q_mean" else mu_p
            held = torch.zeros(n, dtype=torch.bool, device=x.device)
            if interventions and self._any_clamp[i]:
                held = self._clamp_mask[i]
                z = torch.where(held, self._clamp_value[i], z)
                mu_q = torch.where(held, self._clamp_value[i], mu_q)
            if override and (i + 1) in override:
                unit, vals = override[i + 1]
                held = held.clone()
                held[unit] = True
                z = z.clone()
                z[:, unit] = vals
            if lw is not None:
                lw = lw + (gaussian_log_prob(z, mu_p, var_p) - gaussian_log_prob(z, mu_q, var_q)).sum(1)
            for k, v in (("mu_q", mu_q), ("var_q", var_q), ("mu_p", mu_p), ("var_p", var_p), ("prec_td", prec_p),
                         ("mu_bu", mu_bu), ("prec_bu", prec_bu), ("z", z), ("free", (~held).float())):
                lists[k][i] = v
            z_above = z
        out = self.net["dec"](lists["z"][0])  # (B, D)
        return Pass(x=x, out=out, log_w=lw, **lists)

    def _loglik(self, p: Pass, x: torch.Tensor, mask: bool = True) -> torch.Tensor:
        """log p(x | z_1) per sample (B,), occluded pixels left out."""
        lik = self.net["lik"]["logvar"] if "lik" in self.net else None
        ll = log_likelihood(self.config.likelihood, x, p.out, lik)  # (B, D)
        if mask and self._any_occluded:
            ll = ll * (~self._occluded).float()
        return ll.sum(1)

    def _kls(self, p: Pass) -> list[torch.Tensor]:
        """Per level, KL(q || p) per unit (B, n_l); zero for held units."""
        return [kl_diag_gaussians(p.mu_q[i], p.var_q[i], p.mu_p[i], p.var_p[i]) * p.free[i] for i in range(self.L)]

    def _objective(self, recon: torch.Tensor, kl: list[torch.Tensor]) -> torch.Tensor:
        cfg = self.config
        beta = self.kl_weights()
        fb = cfg.free_bits_per_level()
        loss = -recon.mean()
        for i in range(self.L):
            loss = loss + beta[i] * kl[i].sum(1).mean().clamp_min(fb[i])
        return loss

    def kl_weights(self) -> list[float]:
        cfg = self.config
        return kl_weights(cfg.warmup, self.opt_steps, cfg.warmup_steps, cfg.warmup_stagger, self.L)

    # ----------------------------------------------------------------- the loop
    def _input(self) -> torch.Tensor:
        """(B, D) the held batch, occluded pixels filled by the last reconstruction."""
        if self._any_occluded:
            self._materialise()  # the fill is the last step's reconstruction
            return torch.where(self._occluded, self._fill, self._x)
        return self._x

    def set_batch(self, x: torch.Tensor, labels: torch.Tensor | None, learning: bool) -> None:
        x = x.to(self.device, torch.float32)  # (B, D)
        if x.ndim != 2 or x.shape[1] != self.data.dim:
            raise ModelError(f"{self.kind}: batch of shape {tuple(x.shape)}, the model needs (B, {self.data.dim})")
        if self.config.likelihood == "bernoulli":
            x = binarise(x, self._bin_gen)  # a fresh draw at every presentation
        self._x = x
        self._pending = None  # the last batch's pass no longer fills anything
        self._fill = torch.zeros_like(x)
        self.batch_size = x.shape[0]
        self._learning = learning
        self._stale = True
        self.refinement.invalidate()

    def set_reference_data(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        self._ref = self._evaluation_input(x[: self.config.diagnostics_samples])
        self._diag_due = True

    def _refining(self, learning: bool) -> bool:
        return not learning and self.config.inference == "refine"

    def step(self, learning: bool = True) -> None:
        x = self._input()
        self._learning = learning
        if self._refining(learning):  # semi-amortised: one gradient step of the posterior
            self.refinement.step(x)
            self._store_refined(x)
            return
        self.refinement.invalidate()
        policy = ["q"] * self.L
        if learning:
            p = self._run(x, policy, self._gen)
            recon, kl = self._loglik(p, x), self._kls(p)
            loss = self._objective(recon, kl)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.config.grad_clip > 0:
                nn.utils.clip_grad_norm_(self.net.parameters(), self.config.grad_clip, foreach=True)
            self.opt.step()
            self.opt_steps += 1
            if self.opt_steps % self.config.diagnostics_every == 0:
                self._diag_due = True
        else:
            with torch.no_grad():
                p = self._run(x, policy, self._gen)
                recon, kl = self._loglik(p, x), self._kls(p)
                loss = self._objective(recon, kl)
        self._store(p, recon, kl, loss)

    @torch.no_grad()
    def _store_refined(self, x: torch.Tensor) -> None:
        if not self.refinement.active:
            self.refinement.reset(x)
        p = self.refinement.draw(x)
        recon, kl = self._loglik(p, x), self._kls(p)
        self._store(p, recon, kl, -self.refinement.elbo_refined.mean())

    @torch.no_grad()
    def _refresh(self) -> None:
        if self._stale and self._refining(self._learning):
            self._store_refined(self._input())
        elif self._stale:
            x = self._input()
            p = self._run(x, ["q"] * self.L, self._gen)
            recon, kl = self._loglik(p, x), self._kls(p)
            self._store(p, recon, kl, self._objective(recon, kl))
        self._materialise()

    def _store(self, p: Pass, recon: torch.Tensor, kl: list[torch.Tensor], loss: torch.Tensor) -> None:
        """Keep the step's pass; the frame's quantities are built when a frame asks."""
        self._pending = (p, recon, kl, loss)
        self._stale = False

    def _materialise(self) -> None:
        """Build the frame's quantities (detached) from the kept pass, once."""
        if self._pending is None:
            return
        p, recon, kl, loss = self._pending
        self._pending = None
        lik = self.net["lik"]["logvar"].detach() if "lik" in self.net else None
        mean, prec = likelihood_mean_precision(self.config.likelihood, p.out.detach(), lik)  # (B, D) each
        x = p.x.detach()
        visible = (~self._occluded).float()
        layers = [{"activity": x, "prediction": mean, "error": x - mean, "precision": prec * visible}]
        for i in range(self.L):
            mu_q, mu_p, prec_td = p.mu_q[i].detach(), p.mu_p[i].detach(), p.prec_td[i].detach()
            prec_bu = p.prec_bu[i].detach()
            layers.append({"activity": mu_q, "prediction": mu_p, "error": mu_q - mu_p, "precision": prec_td,
                           "bu_mean": p.mu_bu[i].detach(), "bu_precision": prec_bu,
                           "bu_weight": prec_bu / (prec_bu + prec_td).clamp_min(1e-12),
                           "z": p.z[i].detach(), "kl": kl[i].detach()})
        self._layers = layers
        self._recon = recon.detach()  # (B,)
        self._kl = torch.stack([k.detach().sum(1) for k in kl])  # (L, B)
        self._loss = loss.detach()
        self._fill = mean

    # ---------------------------------------------------------------- diagnostics
    @torch.no_grad()
    def diagnose(self) -> dict[str, torch.Tensor]:
        """Active units per level (Burda et al.), held-out ELBO (one draw per sample from
        a fixed seed) and collapsed flags, on the reference data (else the held batch)."""
        x = self._ref if self._ref is not None else self._x
        cfg = self.config
        pm = self._run(x, ["q_mean"] * self.L, None, interventions=False)
        active = torch.stack([(m.var(0, unbiased=False) > cfg.active_threshold).sum() for m in pm.mu_q])
        gen = torch.Generator(device=self.device).manual_seed(12345)
        ps = self._run(x, ["q"] * self.L, gen, interventions=False)
        kl = torch.stack([k.sum(1).mean() for k in self._kls(ps)])  # (L,)
        elbo = (self._loglik(ps, x, mask=False).mean() - kl.sum())
        self._diag = {"heldout": elbo, "active": active.float(), "collapsed": (kl < cfg.collapse_kl).float(),
                      "heldout_kl": kl}
        self._diag_due = False
        return self._diag

    # ---------------------------------------------------------------- streaming
    def frame_tensors(self) -> list[dict[str, torch.Tensor]]:
        self._refresh()
        return self._layers

    def scalar_tensors(self, index: int | None) -> dict[str, torch.Tensor]:
        self._refresh()
        if self._diag_due:
            self.diagnose()
        dev = self._recon.device
        recon = self._recon.mean() if index is None else self._recon[index]
        kl = self._kl.mean(1) if index is None else self._kl[:, index]  # (L,)
        out = {"energy/layer_0": -recon}
        for l in range(1, self.L + 1):
            out[f"energy/layer_{l}"] = kl[l - 1]
        out["energy/total"] = kl.sum() - recon
        out["elbo"] = recon - kl.sum()
        out["recon"] = recon
        beta = self.kl_weights()
        for l in range(1, self.L + 1):
            out[f"kl/level_{l}"] = kl[l - 1]
        for l in range(1, self.L + 1):
            out[f"kl_weight/level_{l}"] = torch.tensor(beta[l - 1], device=dev)
        out["loss"] = self._loss
        out["heldout/elbo"] = self._diag["heldout"]
        for l in range(1, self.L + 1):
            out[f"active_units/level_{l}"] = self._diag["active"][l - 1]
        for l in range(1, self.L + 1):
            out[f"collapsed/level_{l}"] = self._diag["collapsed"][l - 1]
        out.update(self.refinement.scalars(index))
        return out

    def layer_energies(self) -> torch.Tensor:
        self._refresh()
        return torch.cat([-self._recon.mean().reshape(1), self._kl.mean(1)])  # (L+1,)

    def basis(self) -> torch.Tensor | None:
        """The decoder's last layer: one image per unit feeding it (n_in, *display)."""
        w = self.net["dec"][-1].weight.detach()  # (D, n_in)
        return w.T.reshape(w.shape[1], *self.data.display_shape)

    # ------------------------------------------------------------ evaluation
    def _evaluation_input(self, x: torch.Tensor) -> torch.Tensor:
        return evaluation_input(x.to(self.device, torch.float32), self.config.likelihood)

    def scalar_notes(self) -> dict[str, str]:
        return {name: likelihood_note(self.config.likelihood) for name in ("elbo", "heldout/elbo", "recon")}

    @torch.no_grad()
    def elbo(self, x: torch.Tensor, n_samples: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B,) the ELBO (analytic KL) per sample in nats, averaged over ``n_samples`` draws;
        interventions are ignored. Non-binary data under a Bernoulli likelihood is binarised
        with a fixed seed first."""
        x = self._evaluation_input(x)
        total = torch.zeros(x.shape[0], device=self.device)
        for _ in range(n_samples):
            p = self._run(x, ["q"] * self.L, generator, interventions=False)
            total += self._loglik(p, x, mask=False) - sum(k.sum(1) for k in self._kls(p))
        return total / n_samples

    @torch.no_grad()
    def importance_log_likelihood(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None,
                                  chunk: int = 256) -> torch.Tensor:
        """(B,) the importance-sampled estimate log (1/k) Σ_j p(x, z_j)/q(z_j | x) with
        z_j ~ q (Burda et al. 2016); at least the ELBO in expectation, tending to log p(x).
        Non-binary data under a Bernoulli likelihood is binarised with a fixed seed first."""
        x = self._evaluation_input(x)
        B = x.shape[0]
        logs = []
        for j in range(0, k, chunk):
            m = min(chunk, k - j)
            xr = x.repeat(m, 1)  # (m B, D)
            p = self._run(xr, ["q"] * self.L, generator, interventions=False, log_w=True)
            logs.append((self._loglik(p, xr, mask=False) + p.log_w).reshape(m, B))
        return torch.logsumexp(torch.cat(logs), 0) - math.log(k)

    # ----------------------------------------------------------- interventions
    def clamp(self, layer: int, units: Sequence[int] | None, value: float) -> None:
        self.check_layer(layer, "clamp")
        if layer == 0:
            raise ModelError("clamp: level 0 is the input; occlude it, or clamp a latent level (1.."
                             f"{self.L})")
        if not math.isfinite(float(value)):
            raise ModelError(f"clamp level {layer}: value {value} must be a finite number")
        idx = units_tensor(units, self.sizes[layer], f"clamp level {layer}")
        self._clamp_mask[layer - 1][idx] = True
        self._clamp_value[layer - 1][idx] = float(value)
        self._interventions_changed()

    def release(self, layer: int | None = None, units: Sequence[int] | None = None) -> None:
        levels = range(1, self.L + 1) if layer is None else [self.check_layer(layer, "release")]
        for l in levels:
            if l == 0:
                continue
            idx = units_tensor(units, self.sizes[l], f"release level {l}")
            self._clamp_mask[l - 1][idx] = False
        self._interventions_changed()

    def occlude(self, units: Sequence[int]) -> None:
        idx = units_tensor(units, self.data.dim, "occlude")
        self._occluded[idx] = True
        self._interventions_changed()

    def unocclude(self) -> None:
        self._occluded[:] = False
        self._interventions_changed()

    def set_label(self, label: int | None, imagine: bool = False) -> None:
        raise ModelError(f"set_label: a {self.kind} model has no label layer (clamp a latent unit to imagine)")

    def clear_interventions(self) -> None:
        for m, g in zip(self._clamp_mask, self._prior_gain):
            m[:] = False
            g.fill_(1.0)
        self._occluded[:] = False
        self._interventions_changed()

    def _interventions_changed(self) -> None:
        """Host-side flags of which interventions are on (no device syncs per step)."""
        self._any_clamp = [bool(m.any()) for m in self._clamp_mask]
        self._any_lesion = [bool((g != 1).any()) for g in self._prior_gain]
        self._any_occluded = bool(self._occluded.any())
        self._stale = True
        self.refinement.invalidate()

    # -------------------------------------------------------------- parameters
    def state_tensors(self) -> dict[str, torch.Tensor]:
        out = {f"net.{k}": v.detach() for k, v in self.net.named_parameters()}
        out["opt_steps"] = torch.tensor([self.opt_steps], dtype=torch.int64)
        return out

    def weight_tensors(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.net.named_parameters()}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.check_state_tensors(tensors)
        with torch.no_grad():
            for k, v in self.net.named_parameters():
                v.copy_(tensors[f"net.{k}"].to(self.device, torch.float32))
        self.opt_steps = int(tensors["opt_steps"].reshape(-1)[0])
        self._new_optimiser()
        self._diag_due = True
        self._stale = True

    def architecture(self) -> dict[str, Any]:
        cfg = self.config
        return {"kind": self.kind, "sizes": list(self.sizes), "hidden": cfg.hidden,
                "hidden_layers": cfg.hidden_layers, "activation": cfg.activation, "likelihood": cfg.likelihood}

    def param_changed(self, name: str) -> None:
        if name == "lr":
            for g in self.opt.param_groups:
                g["lr"] = self.config.lr
        if name in ("active_threshold", "collapse_kl", "diagnostics_samples"):
            self._diag_due = True
        if name in {f.name for f in fields(RefineConfig)}:
            self.refinement.invalidate()
            self._stale = True
