"""Ridge regression on the flattened window: the linear path and the ridge baseline.

For windows ``x (N, W, F)`` and targets ``z (N, K)`` (``K = H·T``, standardised), with
``X = x.reshape(N, W·F)``, centred columns ``Xc = X - mean(X)``, ``Zc = z - mean(z)``::

    kernel = (Xcᵀ Xc + α I)⁻¹ Xcᵀ Zc          (W·F, K)
    bias   = mean(z) - mean(X) · kernel          (K,)
    ẑ      = X · kernel + bias

The intercept is not penalised. α is chosen from a grid by the validation MSE
(:func:`choose_ridge`); the fit itself uses the train windows only. The same map, put in
front of the network as a residual path (LSTNet's "highway"), makes the forecaster start
from — and, by the validation check in :mod:`.fit`, never end worse than — this model.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

ALPHAS = tuple(float(a) for a in np.logspace(-4, 3, 15))  # × number of train windows


class Linear(NamedTuple):
    """``ẑ = x.reshape(N, -1) @ kernel + bias``."""

    kernel: np.ndarray  # (W·F, K) float64
    bias: np.ndarray    # (K,) float64
    alpha: float = 0.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``(N, W, F)`` windows → ``(N, K)`` float64."""
        return np.asarray(x, np.float64).reshape(len(x), -1) @ self.kernel + self.bias

    def get_config(self) -> dict:
        return {"kernel": self.kernel.tolist(), "bias": self.bias.tolist(),
                "alpha": float(self.alpha)}

    @classmethod
    def from_config(cls, config: dict) -> Linear:
        return cls(np.asarray(config["kernel"], np.float64),
                   np.asarray(config["bias"], np.float64), float(config.get("alpha", 0.0)))


def fit_ridge(x: np.ndarray, z: np.ndarray, alpha: float) -> Linear:
    """Closed-form ridge of ``z (N, K)`` on ``x (N, W, F)`` (see the module docstring)."""
    X = np.asarray(x, np.float64).reshape(len(x), -1)   # (N, D)
    Z = np.asarray(z, np.float64).reshape(len(z), -1)   # (N, K)
    xm, zm = X.mean(axis=0), Z.mean(axis=0)
    Xc, Zc = X - xm, Z - zm
    gram = Xc.T @ Xc + alpha * np.eye(X.shape[1])      # (D, D)
    kernel = np.linalg.solve(gram, Xc.T @ Zc)          # (D, K)
    return Linear(kernel, zm - xm @ kernel, float(alpha))


def choose_ridge(x_train: np.ndarray, z_train: np.ndarray, x_val: np.ndarray,
                 z_val: np.ndarray, alphas: tuple[float, ...] = ALPHAS) -> Linear:
    """The ridge with the lowest validation MSE over ``alphas × len(x_train)``."""
    best: tuple[float, Linear] | None = None
    zv = np.asarray(z_val, np.float64).reshape(len(z_val), -1)
    for a in alphas:
        lin = fit_ridge(x_train, z_train, a * len(x_train))
        mse = float(np.mean((lin(x_val) - zv) ** 2))
        if best is None or mse < best[0]:
            best = (mse, lin)
    assert best is not None
    return best[1]
