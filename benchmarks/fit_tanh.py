"""Fit the float32 rational tanh of pcviz.models.pc_numba and report its error.

tanh(v) ≈ v P(v²) / Q(v²) on 0 < v ≤ 9, P of degree 6 and Q of degree 3 in v² (Q(0) = 1),
by iterated weighted least squares on the relative error (each round divides the
linearised residual v P − tanh(v) Q by the last round's Q, so it converges to the
rational least-squares fit). Prints the coefficients in v² and the error of the
float32 evaluation, clamped to ±9 and to ±1, against float64 tanh over [−10, 10].

    python benchmarks/fit_tanh.py
"""

import numpy as np

CLAMP, N_P, N_Q = 9.0, 6, 3


def fit() -> tuple[np.ndarray, np.ndarray]:
    k = np.arange(40_000)
    v = CLAMP * (1 - np.cos(np.pi * (k + 0.5) / 40_000))  # nodes dense near 0 and near the clamp
    v = v[(v > 0) & (v <= CLAMP)]
    t = np.tanh(v)
    u = (v / CLAMP) ** 2  # scaled for conditioning
    q_prev = np.ones_like(v)
    for _ in range(40):
        a = np.concatenate([np.stack([v * u**j for j in range(N_P + 1)], 1),
                            -np.stack([t * u**j for j in range(1, N_Q + 1)], 1)], 1)
        w = 1 / (t * q_prev)
        coef, *_ = np.linalg.lstsq(a * w[:, None], t * w, rcond=None)
        p, q = coef[: N_P + 1], np.concatenate([[1.0], coef[N_P + 1 :]])
        q_prev = np.polyval(q[::-1], u)
    # back to powers of v²
    return p / CLAMP ** (2 * np.arange(N_P + 1)), q / CLAMP ** (2 * np.arange(N_Q + 1))


def evaluate32(p: np.ndarray, q: np.ndarray, v: np.ndarray) -> np.ndarray:
    v = np.clip(v.astype(np.float32), np.float32(-CLAMP), np.float32(CLAMP))
    s = v * v
    num = np.float32(p[-1])
    for c in p[-2::-1]:
        num = num * s + np.float32(c)
    den = np.float32(q[-1])
    for c in q[-2::-1]:
        den = den * s + np.float32(c)
    return np.clip(v * num / den, np.float32(-1), np.float32(1))


if __name__ == "__main__":
    p, q = fit()
    print("P =", [float(c) for c in p])
    print("Q =", [float(c) for c in q])
    v = np.linspace(-10, 10, 4_000_001).astype(np.float32)
    exact = np.tanh(v.astype(np.float64))
    err = np.abs(evaluate32(p, q, v) - exact)
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    print(f"float32 evaluation: max |error| {err.max():.2e}, max {np.max(err / np.maximum(ulp, 1e-45)):.1f} ulp")
