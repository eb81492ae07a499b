"""Statistical baselines through statsforecast (the ``[stats]`` extra): AutoETS, AutoARIMA.

Exponential smoothing and ARIMA are what a forecaster compares a network with before
anything else; statsforecast's automatic versions pick the model form (error, trend,
season; ARIMA orders) by information criterion. For every target separately:

* the parameters are estimated **once**, on the rows before the scored windows'
  targets (``train``, ``backtest``: the train and validation blocks, never a test
  row; ``evaluate`` on a new file: the rows up to the first scored target, or the whole
  file when that is too short — then the baseline has seen the targets it is scored
  on, which can only flatter it, never the model);
* each window's forecast applies those parameters to the target's history up to the
  window's last row (statsforecast's ``forward``: the state is filtered again from
  the start of the series, nothing is refitted), so it uses no row after the window.

Seasons longer than :data:`MAX_SEASON` rows (weekly 52, daily 365) are fitted without
a season (a seasonal ETS state of 365 values is neither stable nor quick); the
seasonal-naive baseline covers them. A model that fails on a series (too short,
constant) is left out with a note rather than stopping the report.
"""
from __future__ import annotations

import importlib.util
import warnings
from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError

MODELS = ("AutoETS", "AutoARIMA")
MAX_SEASON = 24
MIN_FIT_ROWS = 20


def available() -> bool:
    """Whether statsforecast is installed (without importing it)."""
    return importlib.util.find_spec("statsforecast") is not None


def _models() -> Any:
    try:
        from statsforecast import models
    except ImportError as err:
        raise ConfigError(
            f"the AutoETS / AutoARIMA baselines need statsforecast, which is not importable "
            f"({err}). Install the extra: pip install 'unrolled[stats]', or turn them off "
            "with --no-stats") from None
    return models


class StatsForecasts(NamedTuple):
    """Each baseline's forecasts ``(N, H, T)`` (data units) and what was left out, why."""

    forecasts: dict[str, np.ndarray]
    notes: list[str]


def forecast_windows(y: np.ndarray, last_rows: np.ndarray, horizon: int, season: int | None,
                     fit_end: int, models: tuple[str, ...] = MODELS) -> StatsForecasts:
    """Forecasts of each model for windows whose last input rows are ``last_rows (N,)``
    of the target series ``y (time, T)``, parameters fitted on ``y[:fit_end]``.

    Raises:
        ConfigError: statsforecast is not installed (names the extra).
    """
    lib = _models()
    y = np.asarray(y, np.float64)
    last_rows = np.asarray(last_rows, np.int64)
    if len(last_rows) and last_rows.max() >= len(y):
        raise ConfigError("stats baselines: a window's last row lies past the series")
    m = int(season) if season and 2 <= season <= MAX_SEASON else 1
    out: dict[str, np.ndarray] = {}
    notes: list[str] = []
    if season and m == 1:
        notes.append(f"AutoETS/AutoARIMA fitted without the season of {season} rows (more "
                     f"than {MAX_SEASON}); seasonal naive covers it")
    if fit_end < MIN_FIT_ROWS:
        return StatsForecasts({}, [f"AutoETS/AutoARIMA left out: {fit_end} rows to fit on "
                                   f"(at least {MIN_FIT_ROWS} needed)"])
    for name in models:
        pred = np.empty((len(last_rows), horizon, y.shape[1]))
        try:
            for t in range(y.shape[1]):
                model = getattr(lib, name)(season_length=m)
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    model.fit(y[:fit_end, t])
                    for i, r in enumerate(last_rows):
                        pred[i, :, t] = model.forward(y=y[:r + 1, t], h=horizon)["mean"]
        except Exception as err:  # statsforecast's own failures: too short, constant...
            notes.append(f"{name} left out: {type(err).__name__}: {err}"[:200])
            continue
        if not np.isfinite(pred).all():
            notes.append(f"{name} left out: its forecasts are not finite")
            continue
        out[name] = pred
    return StatsForecasts(out, notes)


def for_test(data: Any, enabled: bool = True) -> StatsForecasts:
    """The stats baselines on a prepared dataset's test windows, fitted on the rows
    before the test block (:class:`~.pipeline.ForecastData`); nothing when disabled."""
    if not enabled or data.y is None:
        return StatsForecasts({}, [])
    w = data.test
    return forecast_windows(data.y, w.target_rows[:, 0] - 1, data.spec.horizon,
                            data.spec.season, data.blocks[2].start)


def default_enabled(no_stats: bool = False) -> bool:
    """The CLI's default: on when statsforecast is installed, unless ``--no-stats`` or
    the environment says ``UNROLLED_STATS=0``."""
    import os

    return not no_stats and os.environ.get("UNROLLED_STATS", "1") != "0" and available()
