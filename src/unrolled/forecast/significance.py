"""Is a difference in test error real, or noise? A Diebold-Mariano comparison.

Two forecasts of the same ``N`` test windows have per-window losses ``a_n`` and ``b_n``
(the mean absolute error over the window's ``H`` steps and ``T`` targets). Their
difference ``d_n = a_n - b_n`` is autocorrelated (neighbouring windows share rows, and
errors come in runs), so its mean's variance uses the Newey-West (Bartlett) estimate::

    γ_k   = mean((d_n - d̄)(d_{n+k} - d̄))                  k = 0..q
    var(d̄) = (γ_0 + 2 Σ_{k=1..q} (1 - k/(q+1)) γ_k) / N,    q = max(H - 1, ⌊N^(1/3)⌋)

and the 95 % interval is ``d̄ ± 1.96·sqrt(var(d̄))``. A model "beats" a baseline only if
the whole interval lies below 0: a tie within noise is called a tie.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

Z95 = 1.959964


class Margin(NamedTuple):
    """Model minus baseline, mean absolute error per window, with its 95 % interval.

    ``relative`` fields divide by the baseline's MAE (``-0.1`` = 10 % lower).
    """

    diff: float
    low: float
    high: float
    base_mae: float
    samples: int

    @property
    def relative(self) -> tuple[float, float, float]:
        b = self.base_mae
        if b == 0:
            return (float("nan"),) * 3
        return self.diff / b, self.low / b, self.high / b

    @property
    def verdict(self) -> str:
        """``"better"``, ``"worse"`` or ``"tie"`` (the interval holds 0, or the two
        forecasts differ only by float rounding: by less than 1e-6 of the baseline's MAE,
        as when the model was reset to the ridge baseline it is compared with)."""
        tol = 1e-6 * abs(self.base_mae)
        if self.high < -tol:
            return "better"
        if self.low > tol:
            return "worse"
        return "tie"


def window_losses(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """``(N,)`` mean absolute error of each window over its steps and targets."""
    err = np.abs(np.asarray(pred, np.float64) - np.asarray(true, np.float64))
    return err.reshape(len(err), -1).mean(axis=1)


def margin(pred: np.ndarray, base: np.ndarray, true: np.ndarray) -> Margin:
    """Diebold-Mariano margin of ``pred`` over ``base`` (both ``(N, H, T)``) on ``true``."""
    horizon = true.shape[1] if true.ndim == 3 else 1
    return margin_of_losses(window_losses(pred, true), window_losses(base, true), horizon)


def margin_of_losses(a: np.ndarray, b: np.ndarray, horizon: int = 1) -> Margin:
    """The margin from per-window losses ``a`` (model) and ``b`` (baseline), ``(N,)`` each,
    in time order."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    n = len(d)
    q = min(max(horizon - 1, int(n ** (1 / 3))), n - 1)
    dc = d - d.mean()
    var = float(dc @ dc) / n
    for k in range(1, q + 1):
        var += 2 * (1 - k / (q + 1)) * float(dc[k:] @ dc[:-k]) / n
    se = np.sqrt(max(var, 0.0) / n)
    mean = float(d.mean())
    return Margin(mean, mean - Z95 * se, mean + Z95 * se, float(b.mean()), n)
