"""Fused elementwise stages of the fast step on CPU, compiled with numba.

A torch or numpy call makes one pass over its operands; a step of a layer with a
nonlinear prediction makes six (bias, f, f′, error, precision weighting, drive), each
reading and writing (B, n) arrays. Beside the step's matrix products, which evict
them from the cache, those passes cost about three times what they cost alone
(docs/performance.md, "Fused passes on large CPU layers"). :func:`predict_tanh` makes the
six in one pass, each value loaded once and each result stored once.

``tanh`` is where a plain loop would fall back to a scalar call per value (the PyPI
build of llvmlite links no vector maths library): in float32 the kernel computes it
as a rational function, v·P(v²)/Q(v²) on |v| ≤ 9 (degrees 12 and 6, fitted here by
iterated weighted least squares on the relative error, see
``benchmarks/fit_tanh.py``), clamped to ±1; arithmetic only, so the compiler
vectorises the loop. Its error against tanh in float64 is at most 3.8e-7 (6.3 units in
the last place, over 4·10⁶ points in [−10, 10]; ``tests/test_pc_fused.py``). In
float64 it calls ``math.tanh``.

Compiled when a model that will likely use them is built (:func:`warm_up`, called by
:func:`pcviz.models.pc_kernels.prepare_kernels`): about a second for the float32
passes on two CPU cores, cached on disk by numba; a later process loads them (0.4 s,
numba's import included).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba.extending import overload

# tanh(v) ≈ v P(v²) / Q(v²) for |v| ≤ _CLAMP (benchmarks/fit_tanh.py prints these)
_P = [np.float32(c) for c in (0.9999999982401591, 0.13094104946222862, 0.003115201595053762,
                              1.1271080733099553e-05, -2.0693875131005775e-08, 5.500880806244553e-11,
                              -9.054386694441547e-14)]
_Q = [np.float32(c) for c in (1.0, 0.4642743501568683, 0.024540045312900858, 0.00025624708155842134)]
P0, P1, P2, P3, P4, P5, P6 = _P
Q0, Q1, Q2, Q3 = _Q
# fast-math, except the flags that assume no NaN or infinity: a diverging state must
# stay NaN, so that the engine's divergence check sees it
_FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}
_CLAMP = np.float32(9.0)  # tanh(9) rounds to 1 in float32
_ONE32 = np.float32(1.0)


def _ratio(v):
    """v P(v²) / Q(v²), for |v| ≤ _CLAMP (compiled into the passes, and in numpy below)."""
    s = v * v
    num = v * (P0 + s * (P1 + s * (P2 + s * (P3 + s * (P4 + s * (P5 + s * P6))))))
    den = Q0 + s * (Q1 + s * (Q2 + s * Q3))
    return num / den


def tanh_rational(v: np.ndarray) -> np.ndarray:
    """The float32 rational tanh of a float32 array, in numpy: what the compiled passes
    compute (for the tests)."""
    return np.clip(_ratio(np.clip(v, -_CLAMP, _CLAMP)), -_ONE32, _ONE32)


_ratio_compiled = numba.njit(fastmath=_FAST, inline="always")(_ratio)
_PASS = dict(fastmath=_FAST, boundscheck=False, error_model="numpy", nogil=True)


def _compiled_pass(fn):
    """``fn`` compiled as a pass, cached on disk where numba finds a writable place
    (beside this module, or the user's cache folder); where it finds none (a read-only
    install without a home folder), compiled in each process instead of failing."""
    try:
        return numba.njit(cache=True, **_PASS)(fn)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return numba.njit(**_PASS)(fn)


def _tanh(v):  # replaced per dtype inside compiled code (below)
    return math.tanh(v)


@overload(_tanh, jit_options={"fastmath": _FAST})
def _tanh_typed(v):
    if isinstance(v, numba.types.Float) and v.bitwidth == 32:
        # Python's min and max keep a NaN first argument (a diverging state stays NaN)
        return lambda v: min(max(_ratio_compiled(min(max(v, -_CLAMP), _CLAMP)), -_ONE32), _ONE32)
    return lambda v: math.tanh(v)


@_compiled_pass
def predict_tanh(a, bias, x, peff, pred, fprime, err, perr, g):
    """For a layer of B x n (2-D arrays; ``bias`` and ``peff`` rows of n):
    pred = tanh(a + bias), fprime = 1 − pred², err = x − pred, perr = peff ⊙ err,
    g = perr ⊙ fprime, in one pass."""
    one = a.dtype.type(1.0)
    B, n = a.shape
    for i in range(B):
        for j in range(n):
            y = _tanh(a[i, j] + bias[j])
            d = one - y * y
            e = x[i, j] - y
            pe = e * peff[j]
            pred[i, j] = y
            fprime[i, j] = d
            err[i, j] = e
            perr[i, j] = pe
            g[i, j] = pe * d


@_compiled_pass
def drive_tanh(a, bias, x, peff, g):
    """Only g = peff ⊙ (x − tanh(a + bias)) ⊙ (1 − tanh²(a + bias)), what a step needs of a
    held layer's prediction (its prediction and errors are left for whoever reads them)."""
    one = a.dtype.type(1.0)
    B, n = a.shape
    for i in range(B):
        for j in range(n):
            y = _tanh(a[i, j] + bias[j])
            g[i, j] = (x[i, j] - y) * peff[j] * (one - y * y)


@numba.njit(fastmath=_FAST, inline="always")
def _moved(x, dx, perr, scale, lam_gauss, lam_cauchy, one):
    """x + scale (dx − Π ε − prior′(x)): one free unit's Euler step (dx holds the drive
    from the layer below; λ of a Gaussian or a Cauchy activity prior, 0 for none)."""
    # no branch on λ: a branch keeps the loop from being vectorised, and the division costs less
    return x + scale * (dx - perr - lam_gauss * x - (lam_cauchy + lam_cauchy) * x / (one + x * x))


@_compiled_pass
def update_state(x, dx, perr, scale, lam_gauss, lam_cauchy):
    """x += scale ⊙ (dx − perr − prior′(x)) for a layer of B x n (``scale`` a row of n:
    dt / D on free units, 0 on held ones)."""
    B, n = x.shape
    # in the arrays' dtype: float64 operands would make float32 arithmetic float64
    lam_gauss, lam_cauchy, one = x.dtype.type(lam_gauss), x.dtype.type(lam_cauchy), x.dtype.type(1)
    for i in range(B):
        for j in range(n):
            x[i, j] = _moved(x[i, j], dx[i, j], perr[i, j], scale[j], lam_gauss, lam_cauchy, one)


@_compiled_pass
def update_state_and_error(x, dx, perr, scale, lam_gauss, lam_cauchy, pred, peff, err):
    """:func:`update_state`, then err = x − pred and perr = peff ⊙ err, for a layer whose
    prediction does not change during the hold (it comes from a held layer)."""
    B, n = x.shape
    lam_gauss, lam_cauchy, one = x.dtype.type(lam_gauss), x.dtype.type(lam_cauchy), x.dtype.type(1)
    for i in range(B):
        for j in range(n):
            v = _moved(x[i, j], dx[i, j], perr[i, j], scale[j], lam_gauss, lam_cauchy, one)
            e = v - pred[i, j]
            x[i, j] = v
            err[i, j] = e
            perr[i, j] = e * peff[j]


def warm_up(dtype: np.dtype) -> None:
    """Compile every pass for arrays of ``dtype`` now (or load it from numba's cache),
    with the argument types a plan binds: C-contiguous (B, n) arrays and (n,) rows, and
    Python floats for λ."""
    m, r = np.zeros((1, 2), dtype), np.zeros(2, dtype)
    predict_tanh(m, r, m, r, m, m, m, m, m)
    drive_tanh(m, r, m, r, m)
    update_state(m, m, m, r, 0.0, 0.0)
    update_state_and_error(m, m, m, r, 0.0, 0.0, m, r, m)
