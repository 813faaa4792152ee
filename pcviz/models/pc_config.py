"""The predictive-coding families' settings: :class:`PCDynamicsConfig` (what every
family shares: activations, inference, precisions, learning rates, priors) and
:class:`PCConfig`, the dense family's layout on top of it (:mod:`pcviz.models.pc`
builds the model from it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pcviz.config import meta
from pcviz.models.pc_twin import twin_refusal

ACTIVATIONS, PRIORS = ("linear", "tanh", "sigmoid", "relu", "softplus"), ("gaussian", "l1", "cauchy")


@dataclass
class PCDynamicsConfig:
    """The settings every predictive-coding family shares: activations, inference,
    precisions, learning rates, priors. Families subclass it with their own layout
    (and may narrow or widen a field's choices by redeclaring it)."""

    kind: str = field(default="", metadata=meta("model family"))
    activation: str = field(default="tanh", metadata=meta("f of the hidden layers' predictions", choices=ACTIVATIONS))
    input_activation: str = field(
        default="linear", metadata=meta("f of the bottom layer's prediction", choices=ACTIVATIONS)
    )
    dt: float = field(default=0.1, metadata=meta("Euler step of inference", gt=0.0, max=10.0))
    preconditioner: str = field(
        default="none",
        metadata=meta("inference flow: plain gradient (none: the energy falls for dt < 2/λ_max of the"
                      " curvature), divided per unit by the Gauss-Newton diagonal of the curvature (diagonal: no"
                      " guarantee when causes overlap), or by a bound of the curvature's rows (bound: the energy"
                      " falls for any dt < 2 with linear layers)",
                      choices=("none", "diagonal", "bound")),
    )
    state_init: str = field(
        default="topdown",
        metadata=meta("state at the start of a hold: top-down from the prior, zeros, or keep",
                      choices=("topdown", "zeros", "keep")),
    )
    precision: str = field(
        default="scalar",
        metadata=meta("precision per layer: fixed, learned scalar, learned diagonal",
                      choices=("fixed", "scalar", "diagonal")),
    )
    precision_init: float = field(default=1.0, metadata=meta("initial precision of every layer", gt=0.0))
    precision_min: float = field(default=1e-2, metadata=meta("lower bound of learned precisions", gt=0.0))
    precision_max: float = field(default=1e3, metadata=meta("upper bound of learned precisions", gt=0.0))
    learn_precision: bool = field(default=True, metadata=meta("update precisions after each hold"))
    lr_weights: float = field(default=0.01, metadata=meta("Hebbian learning rate η", min=0.0, max=100.0))
    lr_precision: float = field(default=0.01, metadata=meta("precision learning rate ρ", min=0.0, max=1.0))
    weight_decay: float = field(default=0.0, metadata=meta("Gaussian prior on weights κ", min=0.0))
    prior: str = field(default="gaussian", metadata=meta("prior on hidden activity", choices=PRIORS))
    prior_strength: float = field(default=0.0, metadata=meta("λ of the activity prior", min=0.0))
    prior_strengths: list[float] = field(default_factory=list, metadata=meta(
        "λ per layer above the input, level 1 first (empty: prior_strength at every level), e.g. a sparse"
        " level 2 over a level 1 trained with another prior (Rao & Ballard give each level its own)", min=0.0))
    langevin_temperature: float = field(
        default=0.0, metadata=meta("τ: Langevin noise of inference (Monte Carlo PC); 0 = none", min=0.0)
    )
    sample_window: int = field(default=0, metadata=meta(
        "steps of samples kept to stream their mean, std and class fractions (pcviz.models.pc_sampling); 0 = none",
        min=0, max=100_000))
    init_scale: float = field(default=1.0, metadata=meta("scale of the random initial weights", min=0.0))
    implementation: str = field(default="fast", metadata=meta(
        "inference step: fast (pcviz.models.pc_fast, tested equal) or reference", choices=("fast", "reference")))
    cuda_graph: bool = field(default=True, metadata=meta("on CUDA, replay the fast step as a captured CUDA graph"))
    cpu_kernels: str = field(default="auto", metadata=meta(
        "on CPU, the fast step's calls: numpy on small layers, torch products with compiled elementwise passes"
        " on larger float32 ones (auto), or always torch, numpy or fused", choices=("auto", "torch", "numpy", "fused")))

    def prior_at(self, l: int) -> float:
        """λ of layer ``l``'s activity prior (0 at the input)."""
        if l == 0:
            return 0.0
        return self.prior_strengths[l - 1] if self.prior_strengths else self.prior_strength

    @property
    def any_prior(self) -> bool:
        """Whether some layer has an activity prior (λ > 0)."""
        return any(s > 0 for s in self.prior_strengths) if self.prior_strengths else self.prior_strength > 0

    def check_prior_strengths(self, n_layers: int) -> None:
        """One λ per layer above the input, when given (``n_layers`` counts the input)."""
        if self.prior_strengths and len(self.prior_strengths) != n_layers - 1:
            raise ValueError(f"prior_strengths = {self.prior_strengths}: one per layer above the input"
                             f" ({n_layers - 1})")
        if any(s < 0 for s in self.prior_strengths):
            raise ValueError(f"prior_strengths = {self.prior_strengths}: each λ must be >= 0")

    def inert_settings(self) -> dict[str, str]:
        """The run-time settings that do nothing under this configuration, each with
        why (the window shows them disabled, saying so, rather than a value that
        promises an effect)."""
        if self.precision != "fixed":
            return {}
        why = ('model.precision = "fixed": the precisions stay as configured and nothing learns them'
               ' (precision is structural: restart with --set model.precision=scalar to learn them)')
        return {"learn_precision": why, "lr_precision": why}

    def validate(self) -> None:
        if self.precision_min >= self.precision_max:
            raise ValueError(
                f"precision_min = {self.precision_min} must be below precision_max = {self.precision_max}"
            )


@dataclass
class PCConfig(PCDynamicsConfig):
    kind: str = field(default="pc", metadata=meta("model family", choices=("pc",)))
    sizes: list[int] = field(
        default_factory=lambda: [64, 64, 16],
        metadata=meta("units per layer, bottom (input) to top", min=1, max=1_000_000),
    )
    mode: str = field(
        default="unsupervised",
        metadata=meta(
            "unsupervised (generative), supervised (label at the top), discriminative (label at the bottom)",
            choices=("unsupervised", "supervised", "discriminative"),
        ),
    )
    precision_layers: list[int] = field(
        default_factory=list,
        metadata=meta("layers whose precision is learned (empty: all). Hidden precisions can run away "
                      "(x_l follows its prediction, ε_l → 0, Π_l grows), so presets often learn only the input's",
                      min=0),
    )
    precision_update: str = field(
        default="laplace",
        metadata=meta("learned variances: Σ_l ← ⟨ε_l²⟩ + diag(J_l C J_lᵀ), the expected squared error under the"
                      " Laplace posterior (laplace: unbiased, the EM fixed point), or ⟨ε_l²⟩ at the inferred"
                      " point (point: biased low when hidden layers are inferred)",
                      choices=("laplace", "point")),
    )
    bp_cosine_every: int = field(default=10, metadata=meta(
        "discriminative mode: measure bp_cosine (an autograd pass, about a hold's cost) every k learning holds", min=1))
    label_precision: float = field(default=0.0, metadata=meta(
        "initial precision of the label layer (discriminative mode: the output precision γ); 0: precision_init", min=0.0))
    backprop_twin: bool = field(default=False, metadata=meta(
        "discriminative mode: train the same network by backprop on PC's batches beside it (pcviz.models.pc_twin)"))
    heldout_every: int = field(default=10, metadata=meta(
        "with backprop_twin: measure both nets' held-out accuracy every k learning holds", min=1))
    posterior_covariance: str = field(
        default="auto",
        metadata=meta("C of the laplace update: the full inverse Gauss-Newton curvature over the free units"
                      " (full), its diagonal approximation (diagonal), or full up to 512 free units (auto)",
                      choices=("auto", "full", "diagonal")),
    )
    label_at_test: str = field(default="free", metadata=meta("label layer when learning is off",
                                                             choices=("free", "clamped")))
    layer_precisions: list[float] = field(
        default_factory=list,
        metadata=meta("initial precision per layer, bottom to top (empty: precision_init everywhere); with"
                      " precision = fixed they stay, e.g. Rao & Ballard's top-down 1/σ_td² below the input's"
                      " 1/σ²", gt=0.0),
    )
    frozen_weights: list[int] = field(
        default_factory=list,
        metadata=meta("layers l whose generative weights W_l and bias b_l (layer l's prediction from layer l+1)"
                      " are not learned: train a hierarchy in stages, e.g. [0] keeps level 1's basis and"
                      " learns only what lies above it (pcviz train --init CHECKPOINT starts from a trained one)",
                      min=0),
    )
    learn_biases: bool = field(default=True, metadata=meta(
        "learn the biases b_l (the top's prior mean included); false: they keep their value (0 from scratch),"
        " as in Rao & Ballard's model, which has none: without feedback a level's error is then its activity"))
    normalize_basis: bool = field(
        default=False,
        metadata=meta("keep every column of W_0 (each cause's basis image) at unit norm, as Olshausen & Field"
                      " did: with a sparse prior, otherwise weights grow and causes shrink without limit"),
    )

    def validate(self) -> None:
        if len(self.sizes) < 2:
            raise ValueError(f"sizes = {self.sizes}: need at least two layers")
        if any(p <= 0 for p in self.layer_precisions):
            raise ValueError(f"layer_precisions = {self.layer_precisions}: precisions must be > 0")
        if self.layer_precisions and len(self.layer_precisions) != len(self.sizes):
            raise ValueError(f"layer_precisions = {self.layer_precisions}: one per layer ({len(self.sizes)})")
        self.check_prior_strengths(len(self.sizes))
        if any(l >= len(self.sizes) - 1 for l in self.frozen_weights):
            raise ValueError(f"frozen_weights = {self.frozen_weights}: layers 0..{len(self.sizes) - 2} have"
                             " weights (W_l predicts layer l from layer l+1)")
        if any(l >= len(self.sizes) for l in self.precision_layers):
            raise ValueError(f"precision_layers = {self.precision_layers}: the model has {len(self.sizes)} layers")
        if self.backprop_twin and (why := twin_refusal(self)):
            raise ValueError(why)
        super().validate()
