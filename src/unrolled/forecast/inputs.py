"""Reading a new CSV for a trained forecaster: the spec's columns, checked, in its order.

Training picks columns with :func:`unrolled.data.select_columns`; prediction must instead
take exactly the columns the model was trained on, whatever else the file holds. Both go
through the same validator, :func:`unrolled.data.columns.column_values` (missing column →
the available ones; unreadable cells → row, line, value and the option that reads them;
time axis sorted, unique, gaps reported; empty cells → the fill the model was trained
with, or an error suggesting one; nothing beyond float32) with one exception: a column
that happens to be constant in a short prediction file (14 dry days of
``precipitation``) is fine, since the training statistics do the scaling.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..data import set_time_column
from ..data.columns import column_values
from ..data.parsing import DEFAULT, CellFormat
from ..data.table import TimeSeriesTable, as_table
from .pipeline import ForecastSpec

_FILL_HINT = ("Fill them in, or pass --fill ffill (repeat the last value), --fill "
              "interpolate (straight line between neighbours) or --fill drop (remove those "
              "rows); in Python, forecaster.spec.fill.")


def read_table(data: Any, spec: ForecastSpec, delimiter: str = ",",
               fmt: CellFormat = DEFAULT) -> TimeSeriesTable:
    """Read ``data`` (CSV path, DataFrame or table) with the spec's time column."""
    if isinstance(data, TimeSeriesTable):
        return set_time_column(data, spec.time_column)  # same table if already so
    return as_table(data, time_column=spec.time_column, delimiter=delimiter, fmt=fmt)


def spec_columns(table: TimeSeriesTable, spec: ForecastSpec,
                 with_targets: bool) -> tuple[TimeSeriesTable, np.ndarray, np.ndarray | None]:
    """The spec's inputs ``X (time, F)`` and, if asked, targets ``Y (time, T)`` (float64).

    Returns the table as well, with rows dropped if the spec's fill is ``"drop"``.
    """
    names = spec.columns if with_targets else list(spec.features)
    for name in names:
        if name == table.time_column:  # said in the model's terms
            from ..errors import DataError

            raise DataError(f"{name!r} is the time column of {table.source}, but the model "
                            "reads it as a measurement")
    table, values, _, _ = column_values(table, names, spec.fill, role="model input",
                                        fill_hint=_FILL_HINT)
    X = values[:, [names.index(c) for c in spec.features]]
    Y = values[:, [names.index(c) for c in spec.targets]] if with_targets else None
    return table, X, Y
