"""Choosing the input and target columns of a forecast, and refusing unusable data.

:func:`column_values` is the one column validator: training (:func:`select_columns`),
prediction and evaluation (``forecast.inputs``) all read their columns through it, so a
cell that stops one stops the others. Every problem it finds is a
:class:`~unrolled.errors.DataError` naming the column, the rows (data row and file line),
the cells as written, and a way out.

Checks, in order: column names exist and are numbers in every cell (unreadable cells are
listed with the option that reads them) → the time axis has no empty cells, no repeats,
runs forward, and (a :class:`~unrolled.errors.DataWarning`) no gaps in a regular step →
empty cells (error, or ``fill``) → no infinities and nothing beyond float32's range.

:func:`select_columns` turns a table into two aligned arrays, ``X (time, features)`` and
``Y (time, targets)``, plus a :class:`Selection` report saying which columns were used,
which were ignored and why, and what was filled or dropped; it also refuses constant
columns.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import warnings

import numpy as np

from unrolled.data.parsing import is_missing, looks_like_dates, number_hint, parse_number
from unrolled.data.table import (TimeSeriesTable, as_table, bad_cells_text, missing_column_error,
                                 set_time_column)
from unrolled.errors import ConfigError, DataError, DataWarning

FLOAT32_MAX = float(np.finfo(np.float32).max)

FILLS = ("ffill", "interpolate", "drop")
_FILL_HINT = (
    "Pass fill='ffill' (repeat the last value), fill='interpolate' (straight line between "
    "the neighbouring values) or fill='drop' (remove those rows), or fix the file."
)


@dataclass(frozen=True, eq=False)
class Selection:
    """What :func:`select_columns` did, for the user to read.

    Attributes:
        features: input columns, axis 1 of ``X``.
        targets: target columns, axis 1 of ``Y``.
        time_column: name of the time axis, or None (rows in source order).
        time: ``(time,)`` time stamps of the returned rows, or None.
        ignored: column → why it is not an input (only when features were chosen for you).
        filled: column → number of empty cells filled.
        dropped_rows: 1-based data rows removed by ``fill="drop"``.
        target_in_features: for each target, its position in ``features``, or None.
        source: where the data came from.
    """

    features: list[str]
    targets: list[str]
    time_column: str | None
    time: np.ndarray | None
    ignored: dict[str, str] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=dict)
    dropped_rows: list[int] = field(default_factory=list)
    target_in_features: list[int | None] = field(default_factory=list)
    source: str = ""

    def summary(self) -> str:
        """A few lines for a terminal: used, ignored (with reasons), filled, dropped."""
        lines = [f"inputs  ({len(self.features)}): {', '.join(self.features)}",
                 f"targets ({len(self.targets)}): {', '.join(self.targets)}",
                 f"time axis: {self.time_column or 'row order (no time column)'}"]
        lines += [f"ignored {name!r}: {why}" for name, why in self.ignored.items()]
        lines += [f"filled {n} empty cell(s) in {name!r}" for name, n in self.filled.items()]
        if self.dropped_rows:
            lines.append(f"dropped {len(self.dropped_rows)} row(s) with empty cells; "
                         "windows may now span the gaps")
        return "\n".join(lines)


def select_columns(
    data: Any, targets: str | Sequence[str], features: Sequence[str] | None = None,
    time_column: str | None = None, fill: str | None = None, dtype: Any = np.float64,
) -> tuple[np.ndarray, np.ndarray, Selection]:
    """Pick inputs and targets from a table, CSV path or DataFrame.

    Args:
        data: a :class:`TimeSeriesTable`, a CSV path, or a pandas-like DataFrame.
        targets: the column(s) to forecast.
        features: the input columns. None: every numeric column (targets included,
            time column, row counters and constant columns left out, see
            ``Selection.ignored``). Given explicitly, exactly these are used.
        time_column: override the table's time column (None keeps the table's choice).
        fill: what to do with empty cells: None (error), ``"ffill"``, ``"interpolate"``
            (linear in time, or in row order without a time column; edges are held
            constant) or ``"drop"``.
        dtype: float dtype of the returned arrays.

    Returns:
        ``X (time, features)``, ``Y (time, targets)``, and a :class:`Selection`.
    """
    table = as_table(data)
    if time_column is not None:
        table = set_time_column(table, time_column)
    target_names = [targets] if isinstance(targets, str) else list(targets)
    if not target_names:
        raise ConfigError("select_columns: targets is empty; name at least one column to forecast")
    if fill not in (None, *FILLS):
        raise ConfigError(f"select_columns: fill must be None or one of {FILLS}, got {fill!r}")
    for name in target_names:
        require_numeric(table, name, "target")
    ignored: dict[str, str] = {}
    if features is None:
        feature_names, ignored = _automatic_features(table)
        # The target's own past is the first thing a forecaster looks at, so targets are
        # always inputs here, even a row counter; the checks below still apply to them.
        feature_names = [c for c in table.columns if c in feature_names or c in target_names]
        ignored = {c: why for c, why in ignored.items() if c not in target_names}
    else:
        feature_names = [features] if isinstance(features, str) else list(features)
        if not feature_names:
            raise ConfigError("select_columns: features is empty; pass None to use every "
                              "numeric column")
        for name in feature_names:
            require_numeric(table, name, "feature")
    for role, names in (("features", feature_names), ("targets", target_names)):
        if len(set(names)) != len(names):
            raise ConfigError(f"select_columns: {role} lists a column twice: {names}")

    used = list(dict.fromkeys(feature_names + target_names))
    table, values, filled, dropped = column_values(table, used, fill, role="feature")
    for j, name in enumerate(used):
        _check_varying(table, name, values[:, j])

    X = values[:, [used.index(c) for c in feature_names]].astype(dtype)
    Y = values[:, [used.index(c) for c in target_names]].astype(dtype)
    info = Selection(
        features=feature_names, targets=target_names, time_column=table.time_column,
        time=table.time, ignored=ignored, filled=filled, dropped_rows=dropped,
        target_in_features=[feature_names.index(t) if t in feature_names else None
                            for t in target_names],
        source=table.source,
    )
    return X, Y, info


def column_values(table: TimeSeriesTable, names: Sequence[str], fill: str | None,
                  role: str = "feature", fill_hint: str | None = None,
                  ) -> tuple[TimeSeriesTable, np.ndarray, dict[str, int], list[int]]:
    """The one column validator: columns ``names`` of ``table`` as ``(time, len(names))``
    float64 values, after every check in the module docstring.

    Args:
        fill: None (empty cells are an error), ``"ffill"``, ``"interpolate"``, ``"drop"``.
        role: what the columns are for, in messages (``"feature"``, ``"model input"``).
        fill_hint: the sentence offered for empty cells (default: the ``fill=`` choices).

    Returns:
        the table (rows dropped by ``fill="drop"``), the values, column → cells filled,
        and the 1-based data rows dropped.
    """
    for name in names:
        require_numeric(table, name, role)
    check_time(table)
    table, filled, dropped = _fill(table, list(names), fill, fill_hint)
    cols = [table.columns.index(c) for c in names]
    values = table.values[:, cols]  # (time, used)
    for j, name in enumerate(names):
        _check_range(table, name, values[:, j])
    return table, values, filled, dropped


def require_numeric(table: TimeSeriesTable, name: str, role: str) -> None:
    """A column that a step reads as numbers must be one, in every cell."""
    if name in table.bad_cells and name in table.columns:
        marks = table.bad_cells[name]
        cells = [str(c) for c in marks[marks != ""]]
        raise DataError(
            f"column {name!r} in {table.source} is numeric but {len(cells)} cell(s) are not "
            f"numbers: {bad_cells_text(table, name)}. A {role} must be a number in every row. "
            f"Hint: {number_hint(cells, table.cell_format)}.")
    if name in table.columns:
        return
    if name == table.time_column:
        raise DataError(f"{name!r} is the time column of {table.source}; it cannot be a {role}. "
                        "Pass time_column=None to read it as a plain column.")
    if name not in table.text:
        raise missing_column_error(table, name)
    kind = table.kinds[name]
    if kind == "empty":
        raise DataError(f"column {name!r} in {table.source} is empty: no cell has a value")
    row, value = _non_number(table, name)
    hint = ("it holds dates; a date is not a measurement" if kind == "date"
            else number_hint([value], table.cell_format) if _readable_somehow(value)
            else "encode labels as numbers first, or leave the column out")
    raise DataError(
        f"column {name!r} in {table.source} is not numeric ({kind}): "
        f"{table.describe_rows([row])} holds {value!r}. A {role} must be a number in every "
        f"row. Hint: {hint}."
    )


def _readable_somehow(cell: str) -> bool:
    from unrolled.data.parsing import CellFormat

    return any(parse_number(cell, f) is not None
               for f in (CellFormat(decimal=","), CellFormat(thousands=",")))\
        or ("_" in cell and parse_number(cell.replace("_", "")) is not None)


def _non_number(table: TimeSeriesTable, name: str) -> tuple[int, str]:
    """The first cell of a text column that is neither missing nor a number."""
    cells = [str(c) for c in table.text[name]]
    for i, cell in enumerate(cells):
        if not is_missing(cell, table.cell_format) and parse_number(cell, table.cell_format) is None:
            return i, cell
    return 0, cells[0] if cells else ""


def _automatic_features(table: TimeSeriesTable) -> tuple[list[str], dict[str, str]]:
    used, ignored = [], {}
    reasons = {"date": "a date column that is not the time axis",
               "empty": "every cell is empty",
               "row counter": "a row counter (0..n-1 or 1..n), not a measurement"}
    for name, kind in table.kinds.items():
        if name == table.time_column:
            continue
        if kind == "text":
            example = _non_number(table, name)[1]
            ignored[name] = (f"dates that are not year-first, e.g. {example!r} (pass "
                             "--date-format to read them)" if looks_like_dates(example)
                             else f"text, e.g. {example!r}: not a number")
        elif kind in reasons:
            ignored[name] = reasons[kind]
        elif name in table.bad_cells:
            used.append(name)  # numeric but for a few cells: it stops, naming them
        elif (value := _constant_value(table.column(name))) is not None:
            ignored[name] = f"constant (every value is {value})"
        else:
            used.append(name)
    return used, ignored


def check_time(table: TimeSeriesTable) -> None:
    """Raise DataError unless the time axis is complete, unique and increasing; warn
    (:class:`~unrolled.errors.DataWarning`) about gaps in an otherwise regular axis."""
    t, name = table.time, table.time_column
    if t is None:
        return
    gaps = np.flatnonzero(np.isnat(t) if t.dtype.kind == "M" else np.isnan(t))
    if gaps.size:
        raise DataError(f"time column {name!r} in {table.source} is empty at "
                        f"{table.describe_rows(gaps)}. Fill in those times or delete the rows.")
    step = np.diff(t)
    zero = np.zeros((), dtype=step.dtype)
    repeats = np.flatnonzero(step == zero) + 1
    if repeats.size:
        r = int(repeats[0])
        raise DataError(
            f"time column {name!r} in {table.source} repeats {t[r]} at "
            f"{table.describe_rows([r - 1, r])}" + (f" ({repeats.size} repeats in all)"
                                                    if repeats.size > 1 else "")
            + ". Keep one row per time step (aggregate or delete duplicates)."
        )
    back = np.flatnonzero(step < zero) + 1
    if back.size:
        r = int(back[0])
        order = ("the rows look newest-first: reverse the file" if back.size == len(step)
                 else f"sort the rows by {name!r}")
        raise DataError(
            f"time column {name!r} in {table.source} goes backwards: {t[r]} at "
            f"{table.describe_rows([r])} comes after {t[r - 1]}. Hint: {order}."
        )
    _warn_gaps(table, step)


def _warn_gaps(table: TimeSeriesTable, step: np.ndarray) -> None:
    """A regular axis (at least 90 % of the steps equal) with longer steps: rows missing."""
    if len(step) < 2:
        return
    values, counts = np.unique(step, return_counts=True)
    common = values[np.argmax(counts)]
    if counts.max() < 0.9 * len(step):
        return  # irregular by nature (business days, events): no "gaps" to speak of
    gaps = np.flatnonzero(step > common)
    if not gaps.size:
        return
    t, name = table.time, table.time_column
    assert t is not None
    shown = [f"{t[g]} to {t[g + 1]} ({table.describe_rows([g, g + 1])})" for g in gaps[:3]]
    more = f" and {gaps.size - 3} more" if gaps.size > 3 else ""
    missing = int(sum(int(step[g] // common) - 1 for g in gaps))
    warnings.warn(DataWarning(
        f"time column {name!r} in {table.source} steps by {common} but skips from "
        f"{'; from '.join(shown)}{more}: about {missing} row(s) missing. Windows across a "
        "gap join rows that are not neighbours. Insert the missing rows (with empty cells "
        "and --fill), or pass --strict to make this an error."), stacklevel=3)


def _fill(table: TimeSeriesTable, used: list[str], how: str | None,
          hint: str | None = None) -> tuple[TimeSeriesTable, dict[str, int], list[int]]:
    cols = [table.columns.index(c) for c in used]
    holes = np.isnan(table.values[:, cols])  # (time, used)
    if not holes.any():
        return table, {}, []
    if how is None:
        lines = [f"  {name!r}: {holes[:, j].sum()} empty cell(s) at "
                 f"{table.describe_rows(np.flatnonzero(holes[:, j]))}"
                 for j, name in enumerate(used) if holes[:, j].any()]
        raise DataError(f"{table.source} has empty cells in columns it needs:\n"
                        + "\n".join(lines) + "\n" + (hint or _FILL_HINT))
    if how == "drop":
        keep = ~holes.any(axis=1)
        if not keep.any():
            raise DataError(f"{table.source}: fill='drop' would remove every row; each row "
                            f"has an empty cell in one of {used}")
        dropped = [int(r) for r in table.row_numbers[~keep]]  # type: ignore[index]
        return table.take(keep), {}, dropped
    values = table.values.copy()
    x = _positions(table)
    for c in cols:
        values[:, c] = fill_gaps(values[:, c], how, x)
    filled = {name: int(holes[:, j].sum()) for j, name in enumerate(used) if holes[:, j].any()}
    return replace(table, values=values), filled, []


def _positions(table: TimeSeriesTable) -> np.ndarray:
    """Where each row sits on the time axis, as floats (row index without a time column)."""
    if table.time is None:
        return np.arange(len(table), dtype=np.float64)
    t = table.time
    return (t - t[0]).astype(np.int64).astype(np.float64) if t.dtype.kind == "M" else t.astype(
        np.float64)


def fill_gaps(column: np.ndarray, how: str, x: np.ndarray | None = None) -> np.ndarray:
    """Fill NaNs of a ``(time,)`` column. Pure: returns a new array.

    ``"ffill"`` repeats the last value; leading NaNs (no last value yet) take the first
    value. ``"interpolate"`` draws a straight line over ``x`` (default: row index) and holds
    the first/last value beyond the ends, as ``np.interp`` does.
    """
    known = ~np.isnan(column)
    if not known.any():
        raise DataError("fill: the column has no values at all, nothing to fill from")
    if how == "ffill":
        last = np.maximum.accumulate(np.where(known, np.arange(len(column)), 0))
        out = column[last]
        out[: np.argmax(known)] = column[np.argmax(known)]
        return out
    if how == "interpolate":
        x = np.arange(len(column), dtype=np.float64) if x is None else x
        out = column.copy()
        out[~known] = np.interp(x[~known], x[known], column[known])
        return out
    raise ConfigError(f"fill_gaps: how must be 'ffill' or 'interpolate', got {how!r}")


def _constant_value(column: np.ndarray) -> float | None:
    known = column[~np.isnan(column)]
    if known.size and np.all(known == known[0]):
        return float(known[0])
    return None


def _check_range(table: TimeSeriesTable, name: str, col: np.ndarray) -> None:
    inf = np.flatnonzero(np.isinf(col))
    if inf.size:
        raise DataError(f"column {name!r} in {table.source} holds an infinite value at "
                        f"{table.describe_rows(inf)}. Replace it with a number or leave the "
                        "cell empty and use fill=.")
    huge = np.flatnonzero(np.abs(col) > FLOAT32_MAX)
    if huge.size:
        raise DataError(
            f"column {name!r} in {table.source} holds {col[huge[0]]:g} at "
            f"{table.describe_rows(huge)}: beyond float32's range (±{FLOAT32_MAX:.3g}), in "
            "which the model computes. Rescale the column (e.g. other units) or correct "
            "the cell.")


def _check_varying(table: TimeSeriesTable, name: str, col: np.ndarray) -> None:
    value = _constant_value(col)
    if value is not None:
        raise DataError(
            f"column {name!r} in {table.source} is constant (every value is {value}): it "
            "carries no signal and cannot be standardised. Leave it out of features/targets."
        )
