"""Applying a trained forecaster to a table: forecasts, and scores beside the baselines.

:func:`forecast` feeds the last ``W`` rows (or every window) of a table through the
model and returns the forecasts in the data's units, each dated. :func:`evaluate`
forecasts every window that has ``H`` known rows after it and scores the forecasts
beside persistence and the training mean.

Dating a forecast: the row ``k`` steps after the last input row. Inside the table that
row's time stamp is known; beyond its end the time axis is extended by its most common
step (one day for daily data). Without a time column, rows are numbered like the file's
data rows (1, 2, ...), continuing past the end.
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from ..data import window_index
from ..data.table import TimeSeriesTable
from ..errors import DataError
from .baselines import Comparison, compare
from .inputs import read_table, spec_columns
from .model_file import Forecaster, load_forecaster
from .pipeline import ForecastSpec, Windows, predict, window_targets


@dataclass(frozen=True)
class ForecastResult:
    """Forecasts of ``N`` windows, in the data's units.

    Attributes:
        spec: the forecaster's spec (targets, horizon, time column).
        values: ``(N, H, T)`` float32 forecasts.
        last_input: ``(N,)`` labels (time or data row) of each window's last input row.
        when: ``(N, H)`` labels of the forecast rows.
        x: ``(N, W, F)`` float32 standardised inputs the model saw.
    """

    spec: ForecastSpec
    values: np.ndarray
    last_input: list[str]
    when: list[list[str]]
    x: np.ndarray

    @property
    def header(self) -> list[str]:
        time = self.spec.time_column or "row"
        return ["last_input", "step", time, *self.spec.targets]

    def rows(self) -> list[list[str]]:
        """One row per window and step: last input, steps ahead, forecast time, values."""
        out = []
        for n, origin in enumerate(self.last_input):
            for h in range(self.spec.horizon):
                out.append([origin, str(h + 1), self.when[n][h],
                            *(format_value(v) for v in self.values[n, h])])
        return out

    def to_csv(self, file: TextIO) -> None:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(self.header)
        writer.writerows(self.rows())

    def csv_text(self) -> str:
        buf = io.StringIO()
        self.to_csv(buf)
        return buf.getvalue()


def format_value(v: Any) -> str:
    """The shortest decimal that reads back as the same float32 (``12.3``, not ``12.30000019``)."""
    return np.format_float_positional(np.float32(v), unique=True, trim="-")


def _as_forecaster(model: Forecaster | str | os.PathLike[str]) -> Forecaster:
    return model if isinstance(model, Forecaster) else load_forecaster(model)


def forecast(model: Forecaster | str | os.PathLike[str], data: Any,
             every_window: bool = False) -> ForecastResult:
    """Forecast the ``H`` rows after the table's last row (or after every window).

    Args:
        model: a :class:`Forecaster` or the path of its ``.keras`` file.
        data: a CSV path, DataFrame or table holding the model's input columns (targets
            are not needed unless they are inputs).
        every_window: forecast after every complete window, oldest first, not just the
            last one.
    """
    fc = _as_forecaster(model)
    spec = fc.spec
    table, X, _ = spec_columns(read_table(data, spec), spec, with_targets=False)
    if len(X) < spec.window:
        raise DataError(f"{table.source} has {len(X)} rows but the model reads windows of "
                        f"{spec.window} rows: give it at least the last {spec.window} rows")
    inputs, _ = window_index(len(X), spec.window, with_targets=False)  # (N, W)
    if not every_window:
        inputs = inputs[-1:]
    x = fc.scaler_x.transform(X.astype(np.float32))[inputs]  # (N, W, F) float32
    values = fc.scaler_y.inverse_transform(predict(fc.model, x, spec))  # (N, H, T)
    last = inputs[:, -1]
    future = last[:, None] + 1 + np.arange(spec.horizon)  # (N, H)
    labels = _labeller(table)
    return ForecastResult(spec, values, [labels(int(r)) for r in last],
                          [[labels(int(r)) for r in rows] for rows in future], x)


@dataclass(frozen=True)
class Evaluation:
    """:func:`evaluate`'s result: scores, and the forecasts behind them."""

    spec: ForecastSpec
    comparison: Comparison
    pred: np.ndarray        # (N, H, T) float32 forecasts, data units
    windows: Windows        # truths, last values, rows
    per_target: dict[str, Comparison]
    source: str


def evaluate(model: Forecaster | str | os.PathLike[str], data: Any) -> Evaluation:
    """Forecast every window of ``data`` that has known targets; score vs the baselines."""
    fc = _as_forecaster(model)
    spec = fc.spec
    table, X, Y = spec_columns(read_table(data, spec), spec, with_targets=True)
    assert Y is not None  # with_targets=True
    windows = window_targets(X, Y, spec, fc.scaler_x, fc.scaler_y)
    pred = fc.scaler_y.inverse_transform(predict(fc.model, windows.x, spec))
    return Evaluation(spec, score_windows(pred, windows, fc.train_mean), pred, windows,
                      per_target(pred, windows, fc.train_mean, spec.targets), table.source)


def score_windows(pred: np.ndarray, windows: Windows, train_mean: np.ndarray) -> Comparison:
    """``pred (N, H, T)`` and both baselines scored on ``windows``' truths."""
    return compare(pred, windows.y_true, windows.last, train_mean)


def per_target(pred: np.ndarray, windows: Windows, train_mean: np.ndarray,
               targets: list[str]) -> dict[str, Comparison]:
    """One :class:`Comparison` per target column."""
    return {name: compare(pred[..., [t]], windows.y_true[..., [t]], windows.last[:, [t]],
                          np.asarray(train_mean)[[t]])
            for t, name in enumerate(targets)}


def _labeller(table: TimeSeriesTable) -> Any:
    """Label of row position ``p`` (may be past the end): its time, or its data row."""
    n = len(table)
    if table.time is None:
        rows: np.ndarray = table.row_numbers  # type: ignore[assignment]  # set in __post_init__
        return lambda p: str(int(rows[p]) if p < n else int(rows[-1]) + p - n + 1)
    time: np.ndarray = table.time
    step = _common_step(time)
    def label(p: int) -> str:
        if p < n:
            return str(time[p])
        return "" if step is None else str(time[-1] + step * (p - n + 1))
    return label


def _common_step(time: np.ndarray) -> Any:
    """The most common interval between rows (None for fewer than two rows)."""
    if len(time) < 2:
        return None
    steps, counts = np.unique(np.diff(time), return_counts=True)
    return steps[np.argmax(counts)]
