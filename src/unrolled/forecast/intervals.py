"""Prediction intervals by split conformal prediction on the validation windows.

The validation windows were not fitted (only used to stop training), so their absolute
errors ``|ŷ - y|`` show how far off a forecast is on data the weights did not see. For
each step ``h`` and target ``j`` separately, with ``n`` validation errors and coverage
``1 - a``, the half-width is the ``⌈(n + 1)(1 - a)⌉``-th smallest error (the finite-sample
conformal quantile), and the interval is ``ŷ ± half-width``. If future errors behave like
validation errors (exchangeable), the interval holds the truth with probability at least
``1 - a``. Early stopping looked at the validation loss, which makes the errors a little
optimistic; with 1-parameter selection the effect is small.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Intervals(NamedTuple):
    """Symmetric intervals ``ŷ ± half_width[h, j]`` at coverage ``level``."""

    level: float
    half_width: np.ndarray  # (H, T) float64, data units

    def bounds(self, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)``, each like ``pred (N, H, T)``."""
        return pred - self.half_width, pred + self.half_width

    def get_config(self) -> dict:
        return {"level": float(self.level), "half_width": self.half_width.tolist()}

    @classmethod
    def from_config(cls, config: dict) -> Intervals:
        return cls(float(config["level"]), np.asarray(config["half_width"], np.float64))


def conformal(pred: np.ndarray, true: np.ndarray, level: float = 0.9) -> Intervals:
    """Half-widths from validation forecasts ``pred`` and truths ``true`` (``(N, H, T)``)."""
    err = np.sort(np.abs(np.asarray(pred, np.float64) - np.asarray(true, np.float64)), axis=0)
    n = len(err)
    k = int(np.ceil((n + 1) * level))  # 1-based rank
    if k > n:  # too few validation windows for this level: the widest error seen
        k = n
    return Intervals(float(level), err[k - 1])


class Coverage(NamedTuple):
    """How often the truth fell inside, and how wide the intervals were."""

    level: float
    coverage: float
    width: float
    samples: int


def coverage(intervals: Intervals, pred: np.ndarray, true: np.ndarray) -> Coverage:
    lo, hi = intervals.bounds(np.asarray(pred, np.float64))
    inside = (true >= lo) & (true <= hi)
    return Coverage(intervals.level, float(inside.mean()), float(np.mean(hi - lo)),
                    int(true.size))
