"""Baselines and error measures, all in the data's own units.

A forecaster is only worth its parameters if it beats forecasts that need none, scored
on the same test targets:

* **persistence** — every future row equals the last observed one ("tomorrow = today"):
  ``ŷ[n, h, t] = y[last row of window n, t]`` for every ``h``.
* **seasonal naive** — each future row equals the row one season before it (when the
  series has a season, :mod:`.features`).
* **training mean** — every future row equals the target's mean over the train block.
* **ridge** — a ridge regression on the same window of the same inputs, in the same
  target transform (:mod:`.linear`), its penalty chosen on the validation block.

Errors are averaged over samples, horizon steps and targets::

    MAE  = mean |ŷ - y|            RMSE = sqrt(mean (ŷ - y)²)

and :class:`Comparison` keeps the per-step errors and, for each baseline, the margin
with its 95 % interval (:mod:`.significance`).

Shapes: ``(N, H, T)`` forecasts and truths, ``(N, T)`` last observed values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..errors import InputShapeError
from .significance import Margin, margin


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


def step_mae(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """``(H,)`` MAE at each step ahead (over samples and targets)."""
    return np.mean(np.abs(np.asarray(pred, np.float64) - true), axis=(0, 2))


@dataclass(frozen=True)
class Comparison:
    """The model's scores beside every baseline on the same samples.

    Attributes:
        model: the model's MAE/RMSE.
        baselines: name → scores (``"persistence"``, ``"seasonal naive"``,
            ``"training mean"``, ``"ridge"``), in report order.
        margins: name → :class:`Margin` of the model over that baseline.
        steps: name (``"model"`` and each baseline) → ``(H,)`` MAE per step.
        samples: test windows scored.
    """

    model: Scores
    baselines: dict[str, Scores]
    margins: dict[str, Margin] = field(default_factory=dict)
    steps: dict[str, np.ndarray] = field(default_factory=dict)
    samples: int = 0

    @property
    def persistence(self) -> Scores:
        return self.baselines["persistence"]

    @property
    def training_mean(self) -> Scores:
        return self.baselines["training mean"]

    @property
    def best_baseline(self) -> str:
        """The baseline with the lowest MAE."""
        return min(self.baselines, key=lambda k: self.baselines[k].mae)

    def improvement(self, baseline: str = "persistence") -> Scores:
        """Relative error reduction vs a baseline: ``1 - model / baseline`` (0.1 = 10 % lower)."""
        base = self.baselines[baseline.replace("_", " ")]
        return Scores(_relative(self.model.mae, base.mae), _relative(self.model.rmse, base.rmse))


def _relative(model: float, base: float) -> float:
    return float("nan") if base == 0 else 1.0 - model / base


def compare(pred: np.ndarray, true: np.ndarray, last: np.ndarray, train_mean: np.ndarray,
            seasonal: np.ndarray | None = None, ridge: np.ndarray | None = None,
            extra: dict[str, np.ndarray] | None = None) -> Comparison:
    """Score ``pred (N, H, T)`` and the baselines against ``true (N, H, T)``.

    ``extra``: more baselines' forecasts by name (AutoETS, AutoARIMA: :mod:`.stats`).

    ``seasonal`` and ``ridge`` are those baselines' forecasts (``(N, H, T)``), when known.
    """
    n, h, _ = true.shape
    forecasts = {"persistence": persistence(last, h)}
    if seasonal is not None:
        forecasts["seasonal naive"] = np.asarray(seasonal, np.float64)
    forecasts["training mean"] = training_mean(train_mean, n, h)
    if ridge is not None:
        forecasts["ridge"] = np.asarray(ridge, np.float64)
    for name, values in (extra or {}).items():
        forecasts[name] = np.asarray(values, np.float64)
    return Comparison(
        model=scores(pred, true),
        baselines={k: scores(v, true) for k, v in forecasts.items()},
        margins={k: margin(pred, v, true) for k, v in forecasts.items()} if n > 1 else {},
        steps={"model": step_mae(pred, true), **{k: step_mae(v, true)
                                                  for k, v in forecasts.items()}},
        samples=n)
