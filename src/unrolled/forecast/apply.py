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
import dataclasses
import io
import os
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from ..data import window_index
from ..data.table import TimeSeriesTable
from ..errors import DataError
from .baselines import Comparison, compare
from .features import derived_inputs, first_input_row
from .inputs import spec_columns
from .intervals import Coverage, Intervals
from .model_file import Forecaster, load_forecaster
from .pipeline import ForecastSpec, Windows, load_table, make_windows_at, network_z
from .quantiles import QuantileScores
from .transform import decode


@dataclass(frozen=True)
class ForecastResult:
    """Forecasts of ``N`` windows, in the data's units.

    Attributes:
        spec: the forecaster's spec (targets, horizon, time column).
        values: ``(N, H, T)`` float32 forecasts.
        last_input: ``(N,)`` labels (time or data row) of each window's last input row.
        when: ``(N, H)`` labels of the forecast rows.
        x: ``(N, W, F)`` float32 standardised inputs the model saw.
        intervals: ``(level, lower, upper)`` with ``(N, H, T)`` bounds, or None.
        series: ``(series column, name of each window)`` for a model of many series.
        quantiles: ``(N, H, T, Q)`` quantile forecasts (levels ``spec.quantiles``), or None.
    """

    spec: ForecastSpec
    values: np.ndarray
    last_input: list[str]
    when: list[list[str]]
    x: np.ndarray
    intervals: tuple[float, np.ndarray, np.ndarray] | None = None
    series: tuple[str, list[str]] | None = None  # (series column, name of each window)
    quantiles: np.ndarray | None = None

    @property
    def header(self) -> list[str]:
        time = self.spec.time_column or "row"
        extra = []
        if self.intervals is not None:
            pct = f"{self.intervals[0] * 100:g}"
            extra = [f"{t}_{side}{pct}" for t in self.spec.targets for side in ("lower", "upper")]
        if self.quantiles is not None:
            from .quantiles import column

            extra += [column(t, q) for t in self.spec.targets for q in self.spec.quantiles]
        first = [self.series[0]] if self.series is not None else []
        return [*first, "last_input", "step", time, *self.spec.targets, *extra]

    def rows(self) -> list[list[str]]:
        """One row per window and step: last input, steps ahead, forecast time, values,
        then each target's interval bounds (if the model has intervals)."""
        out = []
        for n, origin in enumerate(self.last_input):
            for h in range(self.spec.horizon):
                row = ([self.series[1][n]] if self.series is not None else []) + [
                    origin, str(h + 1), self.when[n][h],
                    *(format_value(v) for v in self.values[n, h])]
                if self.intervals is not None:
                    _, lo, hi = self.intervals
                    for t in range(len(self.spec.targets)):
                        row += [format_value(lo[n, h, t]), format_value(hi[n, h, t])]
                if self.quantiles is not None:
                    row += [format_value(v) for v in self.quantiles[n, h].reshape(-1)]
                out.append(row)
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


def read_for(spec: ForecastSpec, data: Any, delimiter: str = ",", fmt: Any = None) -> Any:
    """Read ``data`` for a forecaster with ``spec``: its time column as dates or numbers
    (:func:`~.inputs.read_table`), or as year-months / quarters."""
    from ..data.table import as_table
    from .inputs import read_table

    kw = {} if fmt is None else {"fmt": fmt}
    try:
        return read_table(data, spec, delimiter=delimiter, **kw)
    except DataError:
        if spec.time_column is None or hasattr(data, "kinds"):
            raise
        return load_table(as_table(data, time_column=None, delimiter=delimiter, **kw),
                          spec.time_column)


def _inputs(fc: Forecaster, data: Any, with_targets: bool
            ) -> tuple[Any, np.ndarray, np.ndarray | None, np.ndarray]:
    """The table (without trailing forecast rows), the scaled model inputs ``(time, F)``,
    the targets (or None), and the known-future columns on the forecast rows ``(k, C)``."""
    from .future import split_future_rows, with_leads

    spec = fc.spec
    want_y = with_targets or spec.needs_targets
    table = load_table(data, spec.time_column or "none")
    ahead = np.empty((0, len(spec.future)))
    if spec.future:
        table, ahead = split_future_rows(table, spec)
    table, X, Y = spec_columns(table, spec, with_targets=want_y)
    if Y is None and spec.transform == "diff":  # every target is an input
        Y = X[:, [spec.features.index(t) for t in spec.targets]]
    Xa = derived_inputs(X, Y, table.time, spec.targets, spec.lags, spec.calendar, spec.horizon)
    Xa = with_leads(Xa, X, spec.features, spec.future, spec.horizon, ahead)
    return table, fc.scaler_x.transform(Xa.astype(np.float32)), Y, ahead


def forecast(model: Forecaster | str | os.PathLike[str], data: Any,
             every_window: bool = False, series: list[str] | None = None) -> ForecastResult:
    """Forecast the ``H`` rows after the table's last row (or after every window).

    Args:
        model: a :class:`Forecaster` or the path of its ``.keras`` file.
        data: a CSV path, DataFrame or table holding the model's input columns (and its
            targets, when the model needs their history: seasonal lags, or the change
            of a target it does not read). A model with known-future inputs
            (``--future``) also needs the ``H`` forecast rows at the end: their future
            columns filled, every other column empty (:mod:`.future`).
        every_window: forecast after every complete window, oldest first, not just the
            last one.
        series: for a model of many series (``--series-column``), the series to
            forecast (default: every series in the file the model knows).
    """
    fc = _as_forecaster(model)
    if fc.series:
        return _forecast_many(fc, data, every_window, series)
    spec = fc.spec
    table, xs, Y, ahead = _inputs(fc, data, with_targets=False)
    first = first_input_row(spec.lags)
    if len(xs) < spec.history:
        raise DataError(f"{table.source} has {len(xs)} rows but the model reads windows of "
                        f"{spec.window} rows" + (f" and seasonal lags {first} rows further "
                                                  "back" if first else "")
                        + f": give it at least the last {spec.history} rows")
    inputs, _ = window_index(len(xs), spec.window, with_targets=False,
                             start_index=first)  # (N, W)
    labels = _labeller(table)
    if spec.future:  # the last windows need the future columns' values at their forecasts
        from .future import require_ahead

        known = np.isfinite(xs[inputs[:, -1]]).all(axis=1)
        if not every_window or not known.any():
            require_ahead(table, spec, ahead, labels, int(inputs[-1, -1]))
        inputs = inputs[known]
    if not every_window:
        inputs = inputs[-1:]
    x = xs[inputs]  # (N, W, F) float32
    last_y = (Y[inputs[:, -1]] if Y is not None
              else np.zeros((len(inputs), len(spec.targets))))
    z = network_z(fc.model, x, spec, fc.ridge)
    values = decode(z, last_y, spec.transform, fc.scalers.z, spec.horizon).astype(np.float32)
    last = inputs[:, -1]
    future = last[:, None] + 1 + np.arange(spec.horizon)  # (N, H)
    bounds = None
    if fc.intervals is not None:
        lo, hi = fc.intervals.bounds(values.astype(np.float64))
        bounds = (fc.intervals.level, lo.astype(np.float32), hi.astype(np.float32))
    qvalues = None
    if spec.quantiles:
        from .quantiles import forecast as quantile_forecast

        qvalues = quantile_forecast(fc.model, x, last_y, spec, fc.scalers.z).astype(np.float32)
    return ForecastResult(spec, values, [labels(int(r)) for r in last],
                          [[labels(int(r)) for r in rows] for rows in future], x, bounds,
                          quantiles=qvalues)


def _series_tables(fc: Forecaster, data: Any, series: list[str] | None) -> dict[str, Any]:
    from ..data.table import as_table
    from .many import split_series

    assert fc.series is not None and fc.series_column is not None
    groups = split_series(as_table(data) if not hasattr(data, "kinds") else data,
                          fc.series_column)
    if series is None:
        unknown = [n for n in groups if n not in fc.series]
        if unknown:
            raise DataError(f"series {', '.join(map(repr, unknown[:5]))} in the file were not "
                            f"in training (the model knows {', '.join(list(fc.series)[:10])});"
                            " pick series with --series A,B")
        return groups
    missing = [n for n in series if n not in groups]
    if missing:
        raise DataError(f"series {', '.join(map(repr, missing))} not in the file; it has "
                        f"{', '.join(list(groups)[:10])}")
    return {n: groups[n] for n in series}


def _forecast_many(fc: Forecaster, data: Any, every_window: bool,
                   series: list[str] | None) -> ForecastResult:
    parts = [(n, forecast(fc.for_series(n), t, every_window))
             for n, t in _series_tables(fc, data, series).items()]
    ivs = [r.intervals for _, r in parts]
    intervals = None
    if all(iv is not None for iv in ivs):
        intervals = (ivs[0][0], np.concatenate([iv[1] for iv in ivs]),  # type: ignore[index]
                     np.concatenate([iv[2] for iv in ivs]))  # type: ignore[index]
    assert fc.series_column is not None
    return ForecastResult(fc.spec, np.concatenate([r.values for _, r in parts]),
                          [o for _, r in parts for o in r.last_input],
                          [w for _, r in parts for w in r.when],
                          np.concatenate([r.x for _, r in parts]), intervals,
                          (fc.series_column, [n for n, r in parts for _ in r.last_input]),
                          None if not fc.spec.quantiles else
                          np.concatenate([r.quantiles for _, r in parts]))


@dataclass(frozen=True)
class Evaluation:
    """:func:`evaluate`'s result: scores, and the forecasts behind them."""

    spec: ForecastSpec
    comparison: Comparison
    pred: np.ndarray        # (N, H, T) forecasts, data units
    windows: Windows        # truths, last values, rows
    per_target: dict[str, Comparison]
    source: str
    coverage: Coverage | None = None
    time: np.ndarray | None = None  # (time,) of the table, or None
    intervals: Intervals | None = None
    per_series: dict[str, Comparison] | None = None
    quantiles: QuantileScores | None = None
    quantile_pred: np.ndarray | None = None  # (N, H, T, Q), data units
    notes: list[str] = dataclasses.field(default_factory=list)


def _evaluate_many(fc: Forecaster, data: Any, series: list[str] | None) -> Evaluation:
    from .many import assess_many

    parts, qparts = {}, []
    for name, t in _series_tables(fc, data, series).items():
        one = evaluate(fc.for_series(name), t)
        parts[name] = one.windows
        if one.quantile_pred is not None:
            qparts.append((one.quantile_pred, one.windows.y_true))
    pooled, per, cov = assess_many(fc, parts, block="")
    qs = None
    if qparts:
        from .quantiles import score

        qs = score(np.concatenate([q for q, _ in qparts]),
                   np.concatenate([y for _, y in qparts]), list(fc.spec.quantiles))
    w0 = next(iter(parts.values()))
    from .intervals import Coverage

    n = sum(len(w.y_true) for w in parts.values())
    coverage = (None if cov is None or fc.intervals is None else
                Coverage(fc.intervals.level, cov, float("nan"), n))
    return Evaluation(fc.spec, pooled, np.empty((0,) + w0.y_true.shape[1:]), w0, {},
                      str(getattr(data, "source", data)), coverage, None, None, per, qs)


def evaluate(model: Forecaster | str | os.PathLike[str], data: Any,
             series: list[str] | None = None, stats: bool = False) -> Evaluation:
    """Forecast every window of ``data`` that has known targets; score vs the baselines
    (with ``stats``, also AutoETS / AutoARIMA: :mod:`.stats`)."""
    from .fit import assess

    fc = _as_forecaster(model)
    if fc.series:
        return _evaluate_many(fc, data, series)
    spec = fc.spec
    table, xs, Y, _ = _inputs(fc, data, with_targets=True)
    assert Y is not None  # with_targets=True
    first = max(first_input_row(spec.lags), (spec.season or 0) - spec.window, 0)
    if len(xs) - first < spec.window + spec.horizon:
        raise DataError(f"{table.source} has {len(xs)} rows, but one scored window needs "
                        f"{first + spec.window + spec.horizon} (history {first + spec.window}"
                        f" + horizon {spec.horizon})")
    inputs, targets = window_index(len(xs), spec.window, spec.horizon, start_index=first)
    assert targets is not None
    windows = make_windows_at(xs, Y, inputs, targets, spec.season, spec.transform,
                              fc.scalers.z)
    extra, notes = {}, []
    if stats:
        from .stats import MIN_FIT_ROWS, forecast_windows

        start = int(targets[0, 0])  # rows before the first scored target
        enough = start >= MIN_FIT_ROWS + 3 * (spec.season or 1)
        st = forecast_windows(Y, inputs[:, -1], spec.horizon, spec.season,
                              start if enough else len(Y))
        extra, notes = st.forecasts, st.notes
        if not enough and extra:
            notes.append(f"AutoETS/AutoARIMA parameters were estimated on the whole file "
                         f"(only {start} rows precede the first scored target): they have "
                         "seen the targets they are scored on, which can only flatter them")
    a = assess(fc, windows, extra)
    return Evaluation(spec, a.comparison, a.pred, windows, a.per_target, table.source,
                      a.coverage, table.time, fc.intervals, quantiles=a.quantile_scores,
                      quantile_pred=a.quantiles, notes=notes)


def score_windows(pred: np.ndarray, windows: Windows, train_mean: np.ndarray) -> Comparison:
    """``pred (N, H, T)`` and the baselines without a model (persistence, seasonal naive,
    training mean) scored on ``windows``' truths."""
    return compare(pred, windows.y_true, windows.last, train_mean, windows.seasonal)


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
