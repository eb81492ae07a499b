"""Choosing the input and target columns of a forecast, and refusing unusable data.

:func:`select_columns` turns a table into two aligned arrays, ``X (time, features)`` and
``Y (time, targets)``, plus a :class:`Selection` report saying which columns were used,
which were ignored and why, and what was filled or dropped. Every problem it finds is a
:class:`~unrolled.errors.DataError` naming the column, the rows, and a way out.

Checks, in order: column names exist and are numeric → the time axis has no gaps, no
repeats and runs forward → empty cells (error, or ``fill``) → no infinities → no
constant columns.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from unrolled.data.cells import first_non_number
from unrolled.data.table import TimeSeriesTable, as_table, missing_column_error, set_time_column
from unrolled.errors import ConfigError, DataError

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
        _require_numeric(table, name, "target")
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
            _require_numeric(table, name, "feature")
    for role, names in (("features", feature_names), ("targets", target_names)):
        if len(set(names)) != len(names):
            raise ConfigError(f"select_columns: {role} lists a column twice: {names}")

    check_time(table)
    used = list(dict.fromkeys(feature_names + target_names))
    table, filled, dropped = _fill(table, used, fill)
    for name in used:
        _check_finite_and_varying(table, name)

    X = np.stack([table.column(c) for c in feature_names], axis=1).astype(dtype)
    Y = np.stack([table.column(c) for c in target_names], axis=1).astype(dtype)
    info = Selection(
        features=feature_names, targets=target_names, time_column=table.time_column,
        time=table.time, ignored=ignored, filled=filled, dropped_rows=dropped,
        target_in_features=[feature_names.index(t) if t in feature_names else None
                            for t in target_names],
        source=table.source,
    )
    return X, Y, info


def _require_numeric(table: TimeSeriesTable, name: str, role: str) -> None:
    if name in table.columns:
        return
    if name == table.time_column:
        raise DataError(f"{name!r} is the time column of {table.source}; it cannot be a {role}. "
                        "Pass time_column=None to read it as a plain column.")
    if name not in table.text:
        raise missing_column_error(table, name)
    if table.kinds[name] == "empty":
        raise DataError(f"column {name!r} in {table.source} is empty: no cell has a value")
    cells = table.text[name]
    bad = first_non_number(list(cells))
    bad = 0 if bad is None else bad
    value = str(cells[bad])
    hint = ("write decimals with '.', not ','" if _is_decimal_comma(value)
            else "encode labels as numbers first, or leave the column out")
    raise DataError(
        f"column {name!r} in {table.source} is not numeric ({table.kinds[name]}): "
        f"{table.describe_rows([bad])} holds {value!r}. A {role} must be a number in every "
        f"row. Hint: {hint}."
    )


def _is_decimal_comma(cell: str) -> bool:
    try:
        float(cell.replace(",", "."))
    except ValueError:
        return False
    return "," in cell


def _automatic_features(table: TimeSeriesTable) -> tuple[list[str], dict[str, str]]:
    used, ignored = [], {}
    reasons = {"date": "a date column that is not the time axis",
               "empty": "every cell is empty",
               "row counter": "a row counter (0..n-1 or 1..n), not a measurement"}
    for name, kind in table.kinds.items():
        if name == table.time_column:
            continue
        if kind == "text":
            example = next((str(v) for v in table.text[name] if v), "")
            ignored[name] = f"text, e.g. {example!r}: not a number"
        elif kind in reasons:
            ignored[name] = reasons[kind]
        elif (value := _constant_value(table.column(name))) is not None:
            ignored[name] = f"constant (every value is {value})"
        else:
            used.append(name)
    return used, ignored


def check_time(table: TimeSeriesTable) -> None:
    """Raise DataError unless the time axis is complete, unique and increasing."""
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


def _fill(table: TimeSeriesTable, used: list[str],
          how: str | None) -> tuple[TimeSeriesTable, dict[str, int], list[int]]:
    cols = [table.columns.index(c) for c in used]
    holes = np.isnan(table.values[:, cols])  # (time, used)
    if not holes.any():
        return table, {}, []
    if how is None:
        lines = [f"  {name!r}: {holes[:, j].sum()} empty cell(s) at "
                 f"{table.describe_rows(np.flatnonzero(holes[:, j]))}"
                 for j, name in enumerate(used) if holes[:, j].any()]
        raise DataError(f"{table.source} has empty cells in columns it needs:\n"
                        + "\n".join(lines) + "\n" + _FILL_HINT)
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


def _check_finite_and_varying(table: TimeSeriesTable, name: str) -> None:
    col = table.column(name)
    inf = np.flatnonzero(np.isinf(col))
    if inf.size:
        raise DataError(f"column {name!r} in {table.source} holds an infinite value at "
                        f"{table.describe_rows(inf)}. Replace it with a number or leave the "
                        "cell empty and use fill=.")
    value = _constant_value(col)
    if value is not None:
        raise DataError(
            f"column {name!r} in {table.source} is constant (every value is {value}): it "
            "carries no signal and cannot be standardised. Leave it out of features/targets."
        )
