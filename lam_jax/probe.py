"""Closed-form linear probes (ridge regression): how linearly decodable actions are from latents."""
from __future__ import annotations

import numpy as np


def fit_ridge(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (W, mean, scale) with y ~ ((x - mean) / scale) @ W; features standardised first."""
    x = np.asarray(x, np.float64)
    mean, scale = x.mean(0), x.std(0) + 1e-6
    xs = np.concatenate([(x - mean) / scale, np.ones((len(x), 1))], 1)
    gram = xs.T @ xs + l2 * len(x) * np.eye(xs.shape[1])
    return np.linalg.solve(gram, xs.T @ np.asarray(y, np.float64)), mean, scale


def predict(probe, x: np.ndarray) -> np.ndarray:
    w, mean, scale = probe
    xs = (np.asarray(x, np.float64) - mean) / scale
    return xs @ w[:-1] + w[-1]


def probe_mse(train_x, train_y, test_x, test_y, l2: float = 1e-3) -> dict:
    """Probe fit on train, scored on test: MSE overall and per output dimension, and chance MSE."""
    probe = fit_ridge(train_x, train_y, l2)
    err = np.square(predict(probe, test_x) - test_y)
    chance = np.square(test_y - np.asarray(train_y).mean(0)).mean()
    return {"mse": float(err.mean()), "mse_per_dim": err.mean(0).tolist(), "chance_mse": float(chance)}
