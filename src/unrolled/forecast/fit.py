"""One training run as a plain function of (data, configuration, seed).

:func:`fit_forecaster` builds the network, trains it, keeps the linear path's promise
(on the validation windows the result is never worse than the ridge model alone),
calibrates conformal intervals on the validation windows, and returns a
:class:`~.model_file.Forecaster`. :func:`assess` scores any forecaster on windows beside
every baseline. Both take everything they need as arguments and touch no global state
besides the seed they are given, so a parallel layer can map them over series, folds,
seeds and configurations.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np

from .baselines import Comparison, compare
from .intervals import Coverage, conformal, coverage
from .model_file import Forecaster
from .pipeline import (PATIENCE, ForecastData, Windows, build_model, forecast_windows,
                       keep_linear_promise, train)
from .quantiles import QuantileScores, score
from .quantiles import forecast as quantile_forecast
from .transform import decode


@dataclass(frozen=True)
class FitConfig:
    """How to train (the data side lives in :func:`~.pipeline.prepare`)."""

    units: int = 32
    layers: int = 1
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-3
    patience: int = PATIENCE
    interval: float | None = 0.9  # conformal coverage, or None for no intervals

    def get_config(self) -> dict[str, Any]:
        return asdict(self)


class FitResult(NamedTuple):
    forecaster: Forecaster
    epochs: int
    history: dict[str, list[float]]
    notes: list[str]


def fit_forecaster(data: ForecastData, config: FitConfig = FitConfig(), seed: int = 0,
                   verbose: Any = 0) -> FitResult:
    """Train one forecaster on ``data`` (see the module docstring)."""
    from ..random import set_random_seed

    set_random_seed(seed)
    spec = data.spec
    gaps = start = None
    if spec.quantiles:
        from .quantiles import initial_gaps, keep_promise

        gaps = initial_gaps(data.train.z - data.ridge(data.train.x) if spec.linear
                            else data.train.z - data.train.z.mean(axis=0), spec.quantiles)
    model = build_model(spec, units=config.units, layers=config.layers, linear=data.ridge,
                        quantile_gaps=gaps)
    if spec.quantiles:
        start = model.get_weights()
    history = train(model, data, epochs=config.epochs, batch_size=config.batch_size,
                    lr=config.lr, patience=config.patience, verbose=verbose)
    notes = []
    note = (keep_promise(model, data.val.x, data.val.z, spec.quantiles, start)
            if start is not None else keep_linear_promise(model, data.val, spec, data.ridge))
    if note:
        notes.append(note)
    fc = Forecaster.from_data(model, data, seed=seed, units=config.units,
                              layers=config.layers,
                              epochs=len(history.history.get("loss", [])))
    if config.interval:
        val_pred = forecast_windows(model, data.val, spec, data.scalers, data.ridge)
        fc.intervals = conformal(val_pred, data.val.y_true, config.interval)
    return FitResult(fc, len(history.history.get("loss", [])),
                     {k: list(map(float, v)) for k, v in history.history.items()}, notes)


class Assessment(NamedTuple):
    """A forecaster's forecasts on some windows, scored beside every baseline."""

    pred: np.ndarray                  # (N, H, T) data units
    comparison: Comparison
    per_target: dict[str, Comparison]
    coverage: Coverage | None
    lower: np.ndarray | None          # (N, H, T) interval bounds, or None
    upper: np.ndarray | None
    quantiles: np.ndarray | None = None  # (N, H, T, Q) quantile forecasts, or None
    quantile_scores: QuantileScores | None = None


def assess(fc: Forecaster, w: Windows, extra: dict[str, np.ndarray] | None = None
           ) -> Assessment:
    """Forecast the windows ``w`` and score them beside every baseline (and the
    ``extra`` baselines' forecasts ``(N, H, T)`` by name, e.g. :mod:`.stats`)."""
    spec = fc.spec
    pred = forecast_windows(fc.model, w, spec, fc.scalers, fc.ridge)
    ridge = (decode(fc.ridge(w.x), w.last, spec.transform, fc.scalers.z, spec.horizon)
             if fc.ridge is not None else None)
    mean = fc.scaler_y.mean
    assert mean is not None
    extra = extra or {}
    cmp = compare(pred, w.y_true, w.last, mean, w.seasonal, ridge, extra)
    per = {}
    if len(spec.targets) > 1:
        for t, name in enumerate(spec.targets):
            per[name] = compare(pred[..., [t]], w.y_true[..., [t]], w.last[:, [t]], mean[[t]],
                                None if w.seasonal is None else w.seasonal[..., [t]],
                                None if ridge is None else ridge[..., [t]],
                                {k: v[..., [t]] for k, v in extra.items()})
    cov = lo = hi = None
    if fc.intervals is not None:
        cov = coverage(fc.intervals, pred, w.y_true)
        lo, hi = fc.intervals.bounds(pred)
    qpred = qs = None
    if spec.quantiles:
        qpred = quantile_forecast(fc.model, w.x, w.last, spec, fc.scalers.z)
        qs = score(qpred, w.y_true, list(spec.quantiles))
    return Assessment(pred, cmp, per, cov, lo, hi, qpred, qs)
