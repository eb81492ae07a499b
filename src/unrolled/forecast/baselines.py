"""Baselines and error measures, all in the data's own units.

A forecaster is only worth its parameters if it beats forecasts that need none:

* **persistence** — every future row equals the last observed one ("tomorrow = today"):
  ``ŷ[n, h, t] = y[last row of window n, t]`` for every ``h``.
* **training mean** — every future row equals the target's mean over the train block
  (the scaler's ``mean``): what a model that ignores its inputs converges to.

Errors are averaged over samples, horizon steps and targets::

    MAE  = mean |ŷ - y|            RMSE = sqrt(mean (ŷ - y)²)

Shapes: ``(N, H, T)`` forecasts and truths, ``(N, T)`` last observed values.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import InputShapeError


class Scores(NamedTuple):
    """Mean absolute and root-mean-square error, in the data's units."""

    mae: float
    rmse: float


def persistence(last: np.ndarray, horizon: int) -> np.ndarray:
    """``(N, T)`` last observed values repeated over ``horizon`` steps → ``(N, H, T)``."""
    last = np.asarray(last, dtype=np.float64)
    if last.ndim != 2:
        raise InputShapeError(f"persistence expects last values (samples, targets), got "
                              f"shape {last.shape}")
    return np.repeat(last[:, None, :], horizon, axis=1)  # (N, H, T)


def training_mean(mean: np.ndarray, samples: int, horizon: int) -> np.ndarray:
    """The train-block mean ``(T,)`` of each target, for every sample and step → ``(N, H, T)``."""
    mean = np.asarray(mean, dtype=np.float64)
    return np.broadcast_to(mean, (samples, horizon, len(mean))).copy()


def scores(pred: np.ndarray, true: np.ndarray, axis: int | tuple[int, ...] | None = None) -> Scores:
    """MAE and RMSE of ``pred`` against ``true`` (same shape), computed in float64.

    ``axis=None`` averages everything; ``axis=(0, 1)`` of ``(N, H, T)`` gives one score
    per target (then the fields are arrays).
    """
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if pred.shape != true.shape:
        raise InputShapeError(f"scores: forecasts have shape {pred.shape} but the truth has "
                              f"{true.shape}")
    err = pred - true
    mae = np.mean(np.abs(err), axis=axis)
    rmse = np.sqrt(np.mean(err * err, axis=axis))
    if axis is None:
        return Scores(float(mae), float(rmse))
    return Scores(mae, rmse)


class Comparison(NamedTuple):
    """The model's scores beside both baselines on the same samples."""

    model: Scores
    persistence: Scores
    training_mean: Scores
    samples: int

    def improvement(self, baseline: str = "persistence") -> Scores:
        """Relative error reduction vs a baseline: ``1 - model / baseline`` (0.1 = 10 % lower)."""
        base: Scores = getattr(self, baseline)
        return Scores(_relative(self.model.mae, base.mae), _relative(self.model.rmse, base.rmse))


def _relative(model: float, base: float) -> float:
    return float("nan") if base == 0 else 1.0 - model / base


def compare(pred: np.ndarray, true: np.ndarray, last: np.ndarray,
            train_mean: np.ndarray) -> Comparison:
    """Score ``pred (N, H, T)`` and both baselines against ``true (N, H, T)``."""
    n, h, _ = true.shape
    return Comparison(model=scores(pred, true),
                      persistence=scores(persistence(last, h), true),
                      training_mean=scores(training_mean(train_mean, n, h), true),
                      samples=n)
