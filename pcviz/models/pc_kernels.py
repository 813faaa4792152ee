"""The calls a fast step's plan binds (:mod:`pcviz.models.pc_fast`): each method
returns a callable that does one stage of the step into its output buffer.

Three sets, the same arithmetic:

* :class:`TorchKernels`: torch calls (every device; the only set on CUDA, where a
  captured graph replays them).
* :class:`NumpyKernels`: on CPU, numpy calls on views of the same memory
  (``Tensor.numpy()`` shares the buffer, so the model's tensors change in place).
  On small layers a step is nearly all per-call cost, and a numpy ufunc or BLAS call
  costs less than half a torch call (CPU time, side by side, one thread: a (32, 52)
  multiply 0.44 µs against 1.09 µs, a (32, 36) x (36, 36) product 1.24 µs against
  2.00 µs; ``pcviz bench --only pc`` times the default preset's step with each set). Fused torch calls with no numpy equivalent (``addcmul``)
  become two ufuncs, still cheaper. Stages numpy has no ufunc for (sigmoid and the
  other activations) stay torch calls.

* :class:`FusedKernels`: on CPU, torch calls for the products and the other stages,
  and passes compiled with numba (:mod:`pcviz.models.pc_numba`) for the stages that
  are several elementwise calls in the other sets: a tanh layer's prediction stage
  (bias, tanh, f′, error, precision weighting and the drive the next step needs) and a
  free layer's Euler step. On large layers those calls run at two to three times their
  cost alone beside the products, which evict their operands from the cache; one
  pass reads and writes each value once.

:func:`choose_kernels` picks the set: ``model.cpu_kernels`` = ``"torch"``,
``"numpy"``, ``"fused"``, or ``"auto"`` (numpy on CPU when every layer of the batch is
at most :data:`NUMPY_MAX_ELEMENTS` values, where per-call cost dominates; fused above
in float32, where MKL's products are faster than numpy's and the elementwise passes
are what is left to save; torch above in float64). Off the CPU every setting gives
torch calls.
"""

from __future__ import annotations

import warnings
from functools import lru_cache, partial
from types import ModuleType
from typing import Callable

import numpy as np
import torch

from pcviz.models.base import ModelError

Op = Callable[[], object]

NUMPY_MAX_ELEMENTS = 8192  # per layer (batch x units): below it a step is per-call cost
TYPICAL_BATCH = 32  # the batch prepare_kernels assumes before the first one is set


class TorchKernels:
    """One stage of a step as bound torch calls (see the module docstring); every
    method returns the stage's calls, in order."""

    name = "torch"
    fuses_tanh = False  # offers predict_tanh: a tanh layer's prediction stage as one call
    fuses_update = False  # offers update_state(_and_error): a free layer's Euler step as one call

    def mul(self, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> list[Op]:
        """out = a ⊙ b"""
        return [partial(torch.mul, a, b, out=out)]

    def sub(self, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> list[Op]:
        """out = a − b"""
        return [partial(torch.sub, a, b, out=out)]

    def neg(self, a: torch.Tensor, out: torch.Tensor) -> list[Op]:
        """out = −a"""
        return [partial(torch.neg, a, out=out)]

    def mm(self, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> list[Op]:
        """out = a b (a matrix product)"""
        return [partial(torch.mm, a, b, out=out)]

    def add_(self, t: torch.Tensor, other: torch.Tensor | float, alpha: float = 1.0) -> list[Op]:
        """t += alpha · other"""
        return [partial(t.add_, other, alpha=alpha) if alpha != 1.0 else partial(t.add_, other)]

    def sub_(self, t: torch.Tensor, other: torch.Tensor) -> list[Op]:
        """t −= other"""
        return [partial(t.sub_, other)]

    def addcmul_(self, t: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> list[Op]:
        """t += a ⊙ b"""
        return [partial(t.addcmul_, a, b)]

    def div(self, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> list[Op]:
        """out = a / b"""
        return [partial(torch.div, a, b, out=out)]

    def tanh(self, a: torch.Tensor, y: torch.Tensor, slope: torch.Tensor) -> list[Op]:
        """y = tanh(a), slope = 1 − y²"""
        one = torch.ones((), dtype=y.dtype, device=y.device)
        return [partial(torch.tanh, a, out=y), partial(torch.addcmul, one, y, y, value=-1.0, out=slope)]

    def sigmoid(self, a: torch.Tensor, y: torch.Tensor, slope: torch.Tensor) -> list[Op]:
        """y = σ(a), slope = y − y²"""
        return [partial(torch.sigmoid, a, out=y), partial(torch.addcmul, y, y, y, value=-1.0, out=slope)]


class NumpyKernels(TorchKernels):
    """The same stages as numpy calls on views of the tensors' memory (CPU only)."""

    name = "numpy"

    def mul(self, a, b, out):
        return [partial(np.multiply, a.numpy(), b.numpy(), out=out.numpy())]

    def sub(self, a, b, out):
        return [partial(np.subtract, a.numpy(), b.numpy(), out=out.numpy())]

    def neg(self, a, out):
        return [partial(np.negative, a.numpy(), out=out.numpy())]

    def mm(self, a, b, out):
        return [partial(np.dot, a.numpy(), b.numpy(), out=out.numpy())]

    def add_(self, t, other, alpha=1.0):
        tn = t.numpy()
        o = other.numpy() if isinstance(other, torch.Tensor) else other
        if alpha == 1.0:
            return [partial(np.add, tn, o, out=tn)]
        tmp = np.empty_like(tn)
        return [partial(np.multiply, o, alpha, out=tmp), partial(np.add, tn, tmp, out=tn)]

    def sub_(self, t, other):
        tn = t.numpy()
        return [partial(np.subtract, tn, other.numpy(), out=tn)]

    def addcmul_(self, t, a, b):
        tn = t.numpy()
        tmp = np.empty_like(tn)
        return [partial(np.multiply, a.numpy(), b.numpy(), out=tmp), partial(np.add, tn, tmp, out=tn)]

    def div(self, a, b, out):
        return [partial(np.divide, a.numpy(), b.numpy(), out=out.numpy())]

    def tanh(self, a, y, slope):
        yn, sn = y.numpy(), slope.numpy()
        return [partial(np.tanh, a.numpy(), out=yn), partial(np.multiply, yn, yn, out=sn),
                partial(np.subtract, 1.0, sn, out=sn)]


class FusedKernels(TorchKernels):
    """Torch calls, and compiled passes (:mod:`pcviz.models.pc_numba`; CPU only) for a
    tanh layer's whole prediction stage and a free layer's whole Euler step."""

    name = "fused"
    fuses_tanh = True
    fuses_update = True

    def __init__(self, passes):
        self._numba = passes  # pcviz.models.pc_numba (see compiled_passes)

    def warm_up(self, dtype: torch.dtype) -> None:
        """Compile the passes for tensors of ``dtype`` (see :func:`prepare_kernels`)."""
        self._numba.warm_up(torch.empty((), dtype=dtype).numpy().dtype)

    def predict_tanh(self, a, bias, x, peff, pred, fprime, err, perr, g) -> list[Op]:
        """pred = tanh(a + bias), fprime = 1 − pred², err = x − pred, perr = peff ⊙ err,
        g = perr ⊙ fprime: (B, n) tensors, ``bias`` and ``peff`` rows of n"""
        arrays = [t.numpy() for t in (a, bias, x, peff, pred, fprime, err, perr, g)]
        return [partial(self._numba.predict_tanh, *arrays)]

    def drive_tanh(self, a, bias, x, peff, g) -> list[Op]:
        """g = peff ⊙ (x − tanh(a + bias)) ⊙ (1 − tanh²(a + bias)) alone"""
        return [partial(self._numba.drive_tanh, *[t.numpy() for t in (a, bias, x, peff, g)])]

    def update_state(self, x, dx, perr, scale, lam_gauss: float, lam_cauchy: float) -> list[Op]:
        """x += scale ⊙ (dx − perr − prior′(x)) ((B, n) tensors, ``scale`` a row of n;
        λ of a Gaussian or a Cauchy activity prior, 0 for none)"""
        arrays = [t.numpy() for t in (x, dx, perr, scale)]
        return [partial(self._numba.update_state, *arrays, lam_gauss, lam_cauchy)]

    def update_state_and_error(self, x, dx, perr, scale, lam_gauss: float, lam_cauchy: float,
                               pred, peff, err) -> list[Op]:
        """:meth:`update_state`, then err = x − pred and perr = peff ⊙ err"""
        arrays = [t.numpy() for t in (x, dx, perr, scale)]
        rest = [t.numpy() for t in (pred, peff, err)]
        return [partial(self._numba.update_state_and_error, *arrays, lam_gauss, lam_cauchy, *rest)]


@lru_cache(maxsize=None)
def compiled_passes() -> tuple[ModuleType | None, str]:
    """(:mod:`pcviz.models.pc_numba`, "") or (None, why it cannot load: numba missing,
    or built for another numpy than the one installed). Imported once, on first need."""
    try:
        from pcviz.models import pc_numba
    except ImportError as exc:
        return None, str(exc)
    return pc_numba, ""


def _fused(setting: str) -> TorchKernels:
    """The fused set; for ``auto``, torch's calls with a warning where the passes cannot
    load; for ``fused``, an error that says why."""
    passes, why = compiled_passes()
    if passes is not None:
        return FusedKernels(passes)
    if setting == "fused":
        raise ModelError(f"model.cpu_kernels = fused: the compiled passes cannot load ({why});"
                         " choose auto, torch or numpy")
    warnings.warn(f"the fast step's compiled passes cannot load ({why}): torch's calls instead", stacklevel=3)
    return TorchKernels()


def prepare_kernels(setting: str, device: torch.device, sizes: list[int], dtype: torch.dtype) -> None:
    """When a model is built: if its steps will likely bind the fused set (the batch
    is not known yet; :data:`TYPICAL_BATCH` is assumed), import numba and compile the
    passes now (or load them from numba's cache), rather than in the first step:
    about a second the first time, 0.4 s from the cache, numba's import included."""
    if device.type != "cpu" or setting not in ("auto", "fused"):
        return
    if setting == "auto" and (dtype != torch.float32 or max(sizes) * TYPICAL_BATCH <= NUMPY_MAX_ELEMENTS):
        return
    k = _fused(setting)
    if isinstance(k, FusedKernels):
        k.warm_up(dtype)


def choose_kernels(setting: str, device: torch.device, sizes: list[int], batch: int,
                   dtype: torch.dtype = torch.float32) -> TorchKernels:
    """The kernel set for ``model.cpu_kernels`` = ``setting`` (see the module docstring).
    ``auto`` leaves float64 models on large layers to torch: the fused passes' float64
    tanh is a scalar call per value, slower than torch's vectorised one."""
    if device.type != "cpu" or setting == "torch":  # numpy and numba read CPU memory only
        return TorchKernels()
    if setting == "numpy" or (setting == "auto" and max(sizes) * batch <= NUMPY_MAX_ELEMENTS):
        return NumpyKernels()
    if setting == "auto" and dtype != torch.float32:
        return TorchKernels()
    return _fused(setting)
