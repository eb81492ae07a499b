"""Inputs the model gets beside the CSV's columns: seasonal lags and calendar positions.

Both are extra columns on the series' time axis, so they are windowed like any other.

* **Seasonal lag** of target ``y`` with season ``m`` and horizon ``H``: the column
  ``y@lag L`` with ``L = m·⌈H/m⌉ - H`` holds ``y[r - L]`` at row ``r``. At the window's
  last ``H`` rows (``r = t - H + h``, ``h = 1..H``) it holds ``y[t + h - m·⌈H/m⌉]``: the
  value one season before each forecast row — the seasonal-naive forecast itself — so a
  window shorter than the season still sees it. Rows before ``L`` have no value; windows
  start after them.
* **Calendar** (``--calendar``): sine/cosine of the position in the day, week and year
  (:func:`unrolled.data.time_axis.calendar_features`), taken ``H`` rows ahead: row ``r``
  holds the calendar of row ``r + H`` (a known future), so the window's last row carries
  the calendar of the last forecast row. Past the data's end the time axis is extended
  by its frequency.
"""
from __future__ import annotations

import numpy as np

from ..data.time_axis import calendar_features, extend, frequency


def season_lag(season: int | None, horizon: int) -> int | None:
    """``L`` (see the module docstring), or None without a season."""
    if not season:
        return None
    return season * -(-horizon // season) - horizon


def lag_columns(targets: list[str], features: list[str], season: int | None,
                horizon: int) -> list[list]:
    """``[[target, L], ...]``: the seasonal-lag inputs to add (none that repeat a feature)."""
    lag = season_lag(season, horizon)
    if lag is None:
        return []
    return [[t, lag] for t in targets if not (lag == 0 and t in features)]


def input_names(features: list[str], lags: list[list], calendar: list[str]) -> list[str]:
    """Every column of the model's feature axis, in order."""
    return list(features) + [f"{t}@lag{L}" for t, L in lags] + list(calendar)


def calendar_names(time: np.ndarray | None) -> list[str]:
    return calendar_features(time, frequency(time))[0] if time is not None else []


def first_input_row(lags: list[list]) -> int:
    """The first row whose derived inputs all exist."""
    return max((int(L) for _, L in lags), default=0)


def derived_inputs(X: np.ndarray, Y: np.ndarray | None, time: np.ndarray | None,
                   targets: list[str], lags: list[list], calendar: list[str],
                   horizon: int) -> np.ndarray:
    """``(time, F')``: ``X`` followed by the lag and calendar columns (NaN where a lag
    reaches before the first row)."""
    cols = [np.asarray(X, np.float64)]
    for t, L in lags:
        assert Y is not None  # callers read the targets when there are lags
        y = Y[:, targets.index(t)]
        col = np.full(len(y), np.nan)
        col[L:] = y[:len(y) - L] if L else y
        cols.append(col[:, None])
    if calendar:
        freq = frequency(time)
        ahead = extend(time, freq, horizon)
        assert time is not None and ahead is not None  # calendar needs a regular time axis
        shifted = np.concatenate([time, ahead.astype(time.dtype)])[horizon:]
        names, values = calendar_features(shifted, freq)
        cols.append(values[:, [names.index(c) for c in calendar]])
    return np.concatenate(cols, axis=1)


def seasonal_naive(Y: np.ndarray, target_rows: np.ndarray, season: int) -> np.ndarray:
    """``(N, H, T)``: each target row's value one season earlier (``⌈h/m⌉`` seasons for step
    ``h``), where ``target_rows (N, H)`` are rows of ``Y (time, T)``."""
    h = np.arange(1, target_rows.shape[1] + 1)
    back = season * -(-h // season)  # (H,)
    src = target_rows - back  # (N, H)
    if src.min() < 0:
        raise ValueError("seasonal naive reaches before the first row")
    return Y[src]
