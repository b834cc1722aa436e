"""Linear probes (ridge regression) from sufficient statistics.

Moments (n, sum x, sum y, x^T x, x^T y, sum y^2) can be accumulated on device batch by batch
(and across devices); the probe is solved on standardised features with an unregularised bias,
and its held-out MSE is computed exactly from the test set's moments.
"""
from __future__ import annotations

import numpy as np


def moments(x, y, weight=None, xp=np) -> dict:
    """Sufficient statistics of (x, y); rows with weight 0 (padding) are ignored. xp: numpy or jax.numpy."""
    if weight is not None:
        x, y = x * weight[:, None], y * weight[:, None]
        n = weight.sum()
    else:
        n = xp.asarray(x.shape[0], xp.float32)
    return {"n": n, "sx": x.sum(0), "sy": y.sum(0), "sxx": x.T @ x, "sxy": x.T @ y, "syy": (y * y).sum(0)}


def solve_ridge(m: dict, l2: float = 1e-3):
    """Ridge on standardised features; returns (W, y_mean, x_mean, x_scale)."""
    m = {k: np.asarray(v, np.float64) for k, v in m.items()}
    n = m["n"]
    mean = m["sx"] / n
    cov = m["sxx"] / n - np.outer(mean, mean)
    scale = np.sqrt(np.clip(np.diag(cov), 0, None)) + 1e-6
    cross = (m["sxy"] / n - np.outer(mean, m["sy"] / n)) / scale[:, None]
    w = np.linalg.solve(cov / np.outer(scale, scale) + l2 * np.eye(len(cov)), cross)
    return w, m["sy"] / n, mean, scale


def predict(probe, x: np.ndarray) -> np.ndarray:
    w, y_mean, mean, scale = probe
    return ((np.asarray(x, np.float64) - mean) / scale) @ w + y_mean


def score(m: dict, probe) -> dict:
    """Held-out MSE per output dimension (from the test moments) and the chance MSE of the train mean."""
    m = {k: np.asarray(v, np.float64) for k, v in m.items()}
    w, y_mean, mean, scale = probe
    a = w / scale[:, None]  # y_hat = x @ a + c
    c = y_mean - mean @ a
    n = m["n"]
    pred_sq = np.einsum("ij,ik,jk->k", m["sxx"], a, a) / n + 2 * c * (m["sx"] @ a) / n + c * c
    cross = np.einsum("ij,ij->j", a, m["sxy"]) / n + c * m["sy"] / n
    per_dim = m["syy"] / n - 2 * cross + pred_sq
    chance = m["syy"] / n - 2 * y_mean * m["sy"] / n + y_mean ** 2
    return {"mse": float(per_dim.mean()), "mse_per_dim": per_dim.tolist(), "chance_mse": float(chance.mean())}


def probe_mse(train_x, train_y, test_x, test_y, l2: float = 1e-3) -> dict:
    """Probe fit on (train_x, train_y) and scored on (test_x, test_y), all in host memory."""
    f64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
    return score(moments(f64(test_x), f64(test_y)), solve_ridge(moments(f64(train_x), f64(train_y)), l2))
