"""Reading a new CSV for a trained forecaster: the spec's columns, checked, in its order.

Training picks columns with :func:`unrolled.data.select_columns`; prediction must instead
take exactly the columns the model was trained on, whatever else the file holds. The
checks are the same (missing column → the available ones; text cells → row and column;
time axis sorted and unique; empty cells → the fill the model was trained with, or an
error suggesting one) with one exception: a column that happens to be constant in a
short prediction file (14 dry days of ``precipitation``) is fine, since the training
statistics do the scaling.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..data import check_time, fill_gaps, set_time_column
from ..data.cells import first_non_number
from ..data.table import TimeSeriesTable, as_table, missing_column_error
from ..errors import DataError
from .pipeline import ForecastSpec

_FILL_HINT = ("Fill them in, or retrain with --fill ffill (repeat the last value), "
              "--fill interpolate (straight line between neighbours) or --fill drop (remove "
              "those rows).")


def read_table(data: Any, spec: ForecastSpec) -> TimeSeriesTable:
    """Read ``data`` (CSV path, DataFrame or table) with the spec's time column."""
    if isinstance(data, TimeSeriesTable):
        return set_time_column(data, spec.time_column)  # same table if already so
    return as_table(data, time_column=spec.time_column)


def spec_columns(table: TimeSeriesTable, spec: ForecastSpec,
                 with_targets: bool) -> tuple[TimeSeriesTable, np.ndarray, np.ndarray | None]:
    """The spec's inputs ``X (time, F)`` and, if asked, targets ``Y (time, T)`` (float64).

    Returns the table as well, with rows dropped if the spec's fill is ``"drop"``.
    """
    names = spec.columns if with_targets else list(spec.features)
    for name in names:
        _require_numeric(table, name)
    check_time(table)
    cols = [table.columns.index(c) for c in names]
    values = table.values[:, cols]  # (time, used)
    holes = np.isnan(values)
    if holes.any():
        if spec.fill is None:
            lines = [f"  {name!r}: {holes[:, j].sum()} empty cell(s) at "
                     f"{table.describe_rows(np.flatnonzero(holes[:, j]))}"
                     for j, name in enumerate(names) if holes[:, j].any()]
            raise DataError(f"{table.source} has empty cells in columns the model reads:\n"
                            + "\n".join(lines) + "\n" + _FILL_HINT)
        if spec.fill == "drop":
            keep = ~holes.any(axis=1)
            table, values = table.take(keep), values[keep]
        else:
            x = _positions(table)
            values = np.stack([fill_gaps(values[:, j], spec.fill, x)
                               for j in range(len(names))], axis=1)
    inf = np.argwhere(np.isinf(values))
    if inf.size:
        row, j = inf[0]
        raise DataError(f"column {names[j]!r} in {table.source} holds an infinite value at "
                        f"{table.describe_rows([row])}. Replace it with a number.")
    X = values[:, [names.index(c) for c in spec.features]]
    Y = values[:, [names.index(c) for c in spec.targets]] if with_targets else None
    return table, X, Y


def _require_numeric(table: TimeSeriesTable, name: str) -> None:
    if name in table.columns:
        return
    if name not in table.kinds:
        raise missing_column_error(table, name)
    if name == table.time_column:
        raise DataError(f"{name!r} is the time column of {table.source}, but the model reads "
                        "it as a measurement")
    cells = [str(c) for c in table.text[name]]
    bad = first_non_number(cells)
    if bad is None:  # every cell empty
        raise DataError(f"column {name!r} in {table.source} is empty: no cell has a value")
    raise DataError(
        f"column {name!r} in {table.source} is not numeric ({table.kinds[name]}): "
        f"{table.describe_rows([bad])} holds {cells[bad]!r}. The model reads it as a "
        "number in every row. Hint: write decimals with '.', not ','."
    )


def _positions(table: TimeSeriesTable) -> np.ndarray:
    if table.time is None:
        return np.arange(len(table), dtype=np.float64)
    t = table.time
    if t.dtype.kind == "M":
        return (t - t[0]).astype(np.int64).astype(np.float64)
    return t.astype(np.float64)
