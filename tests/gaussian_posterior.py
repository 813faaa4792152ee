"""The exact posterior of a linear Gaussian hierarchy, by conditioning the joint
Gaussian (covariance form), written without any of pcviz's code: the closed form the
Langevin tests compare the model's samples with.

The generative model: x_L ~ N(b_L, Σ_L), x_l ~ N(W_l x_{l+1} + b_l, Σ_l) for l < L,
Σ_l = diag(variances). x_0 is observed at the pixels whose noise variance is finite.
"""

from __future__ import annotations

import numpy as np


def joint_moments(W: list[np.ndarray], b: list[np.ndarray], var: list[np.ndarray]):
    """Mean and covariance of each layer and the cross-covariances, top down:
    ``mean[l]``, ``cov[(l, k)]`` = Cov(x_l, x_k)."""
    L = len(b) - 1
    mean = {L: b[L]}
    cov = {(L, L): np.diag(var[L])}
    for l in range(L - 1, -1, -1):
        mean[l] = W[l] @ mean[l + 1] + b[l]
        for k in range(L, l, -1):  # Cov(x_l, x_k) = W_l Cov(x_{l+1}, x_k)
            cov[(l, k)] = W[l] @ cov[(l + 1, k)]
            cov[(k, l)] = cov[(l, k)].T
        cov[(l, l)] = W[l] @ cov[(l + 1, l + 1)] @ W[l].T + np.diag(var[l])
    return mean, cov


def posterior(W, b, var, x0: np.ndarray, observed: np.ndarray | None = None):
    """(mean, covariance) of (x_1, ..., x_L) stacked, given the pixels ``observed``
    (a boolean mask; all by default) of x_0."""
    L = len(b) - 1
    mean, cov = joint_moments(W, b, var)
    obs = np.ones(len(x0), bool) if observed is None else observed
    hidden = range(1, L + 1)
    m_h = np.concatenate([mean[l] for l in hidden])
    S_hh = np.block([[cov[(l, k)] for k in hidden] for l in hidden])
    S_h0 = np.concatenate([cov[(l, 0)][:, obs] for l in hidden])
    S_00 = cov[(0, 0)][np.ix_(obs, obs)]
    gain = np.linalg.solve(S_00, S_h0.T).T  # S_h0 S_00⁻¹
    return m_h + gain @ (x0[obs] - mean[0][obs]), S_hh - gain @ S_h0.T


def class_probabilities(mean: np.ndarray, cov: np.ndarray, n: int = 200_000, seed: int = 0) -> np.ndarray:
    """P(argmax of the label vector = k) under N(mean, cov), by exact Gaussian draws."""
    draws = np.random.default_rng(seed).multivariate_normal(mean, cov, n)
    return np.bincount(draws.argmax(1), minlength=len(mean)) / n
