"""A time-series table read from a CSV file or a DataFrame, with its columns classified.

:class:`TimeSeriesTable` keeps the numeric columns as one ``(time, numeric_features)``
float64 array, the time axis (if any) separately, and every other column as strings, so
that later steps can explain what they used and what they ignored. It also remembers
where each row came from, so that errors can point at a row a person can find.

Row numbering convention used in every message: **data row N** counts data rows from 1,
not counting the header; for files we add the file line (the header is line 1, so data
row 1 is usually line 2: what a spreadsheet shows as the row number).
"""
from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from unrolled.data.parsing import DEFAULT, CellFormat, classify, is_row_counter, looks_like_dates
from unrolled.errors import ConfigError, DataError

AUTO = "auto"


@dataclass(frozen=True, eq=False)
class TimeSeriesTable:
    """Columns of a time series, split by kind.

    Attributes:
        columns: names of the numeric columns, in source order: axis 1 of ``values``.
        values: ``(time, numeric_features)`` float64; NaN where a cell was empty.
        time: ``(time,)`` ``datetime64[D]`` (``[s]`` if times of day occur), or float64 for
            a numeric time column, or None when rows are simply in file order.
        time_column: name of the column ``time`` came from, or None.
        text: every other column (labels, non-time dates, empty columns) as a ``(time,)``
            str array of the stripped cells.
        kinds: every source column, in source order → ``"numeric"``, ``"row counter"``
            (numeric, but just 0..n-1 or 1..n), ``"date"``, ``"text"`` or ``"empty"``.
        units: optional column → unit (``"mm"``, ``"°C"``) for reports and plots.
        source: where the data came from (a path, ``"<DataFrame>"``).
        row_numbers: ``(time,)`` 1-based data row of each row in the source; it survives
            row removal, so messages keep pointing at the original rows.
        bad_cells: numeric or date column → ``(time,)`` str array holding, at each row
            whose cell is not a number (not a date), that cell as written, and ``""``
            elsewhere (those rows are NaN / NaT in the values). A column listed here stops
            every step that uses it, naming these cells.
        cell_format: how the source wrote numbers and dates (used again when the table
            is rebuilt around another time column).
        line_numbers: ``(time,)`` file line of each row (header = line 1), None if the
            source was not a file.
    """

    columns: list[str]
    values: np.ndarray
    time: np.ndarray | None = None
    time_column: str | None = None
    text: dict[str, np.ndarray] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    source: str = "<table>"
    row_numbers: np.ndarray | None = None
    line_numbers: np.ndarray | None = None
    bad_cells: dict[str, np.ndarray] = field(default_factory=dict)
    cell_format: CellFormat = DEFAULT

    def __post_init__(self) -> None:
        n = len(self.values)
        if self.values.ndim != 2 or self.values.shape[1] != len(self.columns):
            raise ConfigError(
                f"TimeSeriesTable: values must be (time, {len(self.columns)}) for columns "
                f"{self.columns}, got shape {self.values.shape}"
            )
        for name, arr in [("time", self.time), ("row_numbers", self.row_numbers),
                          ("line_numbers", self.line_numbers), *self.text.items(),
                          *self.bad_cells.items()]:
            if arr is not None and len(arr) != n:
                raise ConfigError(f"TimeSeriesTable: {name!r} has {len(arr)} rows, values has {n}")
        if (self.time is None) != (self.time_column is None):
            raise ConfigError("TimeSeriesTable: pass time and time_column together")
        # object.__setattr__: the frozen dataclass's own way to fill in derived defaults.
        if self.row_numbers is None:
            object.__setattr__(self, "row_numbers", np.arange(1, n + 1))
        if not self.kinds:
            kinds = {} if self.time is None else {
                self.time_column: "date" if self.time.dtype.kind == "M" else "numeric"}
            kinds.update({c: "numeric" for c in self.columns})
            kinds.update({c: "text" for c in self.text})
            object.__setattr__(self, "kinds", kinds)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def source_columns(self) -> list[str]:
        """Every column of the source, in source order (time column included)."""
        return list(self.kinds)

    def column(self, name: str) -> np.ndarray:
        """One column: float64 if numeric, the time array, or str cells otherwise."""
        if name in self.columns:
            return self.values[:, self.columns.index(name)]
        if name == self.time_column:
            return self.time  # type: ignore[return-value]
        if name in self.text:
            return self.text[name]
        raise missing_column_error(self, name)

    def take(self, rows: np.ndarray) -> TimeSeriesTable:
        """The table restricted to ``rows`` (indices or a boolean mask), row numbers kept."""
        pick = (lambda a: None if a is None else a[rows])
        # A column stays in bad_cells only if one of the kept rows holds a bad cell.
        bad = {k: v[rows] for k, v in self.bad_cells.items()}
        return dataclasses.replace(
            self, values=self.values[rows], time=pick(self.time),
            text={k: v[rows] for k, v in self.text.items()},
            row_numbers=pick(self.row_numbers), line_numbers=pick(self.line_numbers),
            bad_cells={k: v for k, v in bad.items() if (v != "").any()},
        )

    def describe_rows(self, positions: Sequence[int] | np.ndarray, limit: int = 5) -> str:
        """Human row reference for 0-based positions: ``data rows 3, 7 (file lines 4, 8)``."""
        positions = list(positions)
        shown = positions[:limit]
        data = ", ".join(str(int(self.row_numbers[p])) for p in shown)  # type: ignore[index]
        noun = "data row" if len(positions) == 1 else "data rows"
        if self.line_numbers is not None:
            lines = ", ".join(str(int(self.line_numbers[p])) for p in shown)
            where = f" (file line{'s' if len(shown) > 1 else ''} {lines}; header is line 1)"
        else:
            where = f" (0-based position{'s' if len(shown) > 1 else ''} " + ", ".join(
                str(int(self.row_numbers[p]) - 1) for p in shown) + ")"  # type: ignore[index]
        more = f" and {len(positions) - limit} more" if len(positions) > limit else ""
        return f"{noun} {data}{more}{where}"


def missing_column_error(table: TimeSeriesTable, name: str) -> DataError:
    """DataError for a column name that is not in the table, listing what is."""
    import difflib

    available = table.source_columns
    close = difflib.get_close_matches(name, available, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return DataError(
        f"column {name!r} not found in {table.source}. Available columns: "
        f"{', '.join(available)}.{hint}"
    )


def read_csv(path_or_file: str | os.PathLike[str] | IO[str], time_column: str | None = AUTO,
             delimiter: str = ",", fmt: CellFormat = DEFAULT) -> TimeSeriesTable:
    """Read a CSV file with a header row into a :class:`TimeSeriesTable`.

    Args:
        path_or_file: a path, or an open text file.
        time_column: ``"auto"`` uses the first column whose every cell is a year-first
            date; a name forces that column (dates or numbers); None means no time axis.
        delimiter: the cell separator (one character).
        fmt: how numbers, dates and "no value" are written (decimal comma, thousands
            separator, date format, extra missing markers): a :class:`CellFormat`.

    The first non-blank line is the header; empty header cells are named ``unnamed_<j>``
    (1-based column position). Lines that are blank or hold only empty cells are skipped
    (spreadsheets export them at the end); line numbers in messages still count them.

    Raises:
        DataError: unreadable file, no header or data, ragged rows, duplicate column
            names, or a ``time_column`` that is missing or not dates/numbers.
    """
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\r\n\"":
        raise ConfigError(f"delimiter must be one character (e.g. ',' or ';'), got {delimiter!r}")
    if hasattr(path_or_file, "read"):
        source = getattr(path_or_file, "name", "<file>")
        return _parse(path_or_file, str(source), time_column, delimiter, fmt)  # type: ignore[arg-type]
    source = os.fspath(path_or_file)
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark.
        with open(source, encoding="utf-8-sig", newline="") as f:
            return _parse(f, source, time_column, delimiter, fmt)
    except FileNotFoundError:
        raise DataError(f"CSV file not found: {source}") from None
    except IsADirectoryError:
        raise DataError(f"{source} is a directory, not a CSV file") from None
    except UnicodeDecodeError as e:
        raise DataError(
            f"{source} is not UTF-8 text (byte {e.start}): save it as 'CSV UTF-8'"
        ) from None


def _parse(f: Iterable[str], source: str, time_column: str | None,
           delimiter: str, fmt: CellFormat) -> TimeSeriesTable:
    reader = csv.reader(f, delimiter=delimiter)
    rows: list[list[str]] = []
    lines: list[int] = []
    header: list[str] | None = None
    try:
        for record in reader:
            if not record or all(not c.strip() for c in record):
                continue  # blank lines (often trailing) carry nothing
            if header is None:
                header = record
                if len(header) == 1 and delimiter != ";" and ";" in header[0]:
                    raise DataError(
                        f"{source}: the header is a single column {header[0]!r}; the file "
                        "seems to use ';' as separator: pass --delimiter ';' (delimiter=';' "
                        "in Python)"
                    )
                continue
            if len(record) != len(header):
                raise DataError(
                    f"{source}: data row {len(rows) + 1} (file line {reader.line_num}; header is "
                    f"line 1) has "
                    f"{len(record)} cells but the header has {len(header)} columns. "
                    "Hint: a cell containing the separator must be quoted"
                    + (f"; is the separator another one? (--delimiter, now {delimiter!r})"
                       if len(record) == 1 or len(header) == 1 else ".")
                )
            rows.append(record)
            lines.append(reader.line_num)  # the record's last line: exact unless a cell spans lines
    except csv.Error as e:
        raise DataError(f"{source}: malformed CSV near file line {reader.line_num}: {e}") from None
    if header is None:
        raise DataError(f"{source} is empty: expected a header row and data rows")
    names = [h.strip() or f"unnamed_{j + 1}" for j, h in enumerate(header)]
    if not rows:
        raise DataError(f"{source} has a header but no data rows")
    cells = {name: [r[j] for r in rows] for j, name in enumerate(_unique(names, source))}
    return build_table(cells, source, time_column, line_numbers=np.array(lines), fmt=fmt)


def _unique(names: list[str], source: str) -> list[str]:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"{source}: column names must be unique; repeated: {', '.join(repeated)}")
    return names


def from_frame(frame: Any, time_column: str | None = AUTO) -> TimeSeriesTable:
    """A :class:`TimeSeriesTable` from a pandas-like DataFrame (anything with ``columns``).

    pandas is not imported: numeric and datetime columns are taken as arrays, everything
    else goes through the same cell rules as a CSV.
    """
    names = [str(c) for c in frame.columns]
    cells: dict[str, Any] = {}
    for name, key in zip(_unique(names, "<DataFrame>"), frame.columns):
        arr = np.asarray(frame[key])
        if arr.dtype.kind in "biuf":
            cells[name] = arr.astype(np.float64)
        elif arr.dtype.kind == "M":
            cells[name] = arr.astype("datetime64[s]")
        else:
            cells[name] = ["" if v is None else str(v) for v in arr.tolist()]
    return build_table(cells, "<DataFrame>", time_column, line_numbers=None)


def build_table(cells: dict[str, Any], source: str, time_column: str | None,
                line_numbers: np.ndarray | None, fmt: CellFormat = DEFAULT,
                bad_cells: dict[str, np.ndarray] | None = None) -> TimeSeriesTable:
    """Classify columns (lists of str cells, or already-typed arrays) into a table.

    ``bad_cells`` carries the unreadable cells of typed columns (a table being rebuilt).
    """
    kinds: dict[str, str] = {}
    parsed: dict[str, np.ndarray] = {}
    bad_cells = dict(bad_cells or {})
    for name, col in cells.items():
        if isinstance(col, np.ndarray) and col.dtype.kind in "fM":
            kind, arr = ("numeric" if col.dtype.kind == "f" else "date"), col
        else:
            kind, arr, bad = classify(col, fmt)
            if bad:
                marks = np.full(len(col), "", dtype=object)
                marks[bad] = [str(col[i]).strip() for i in bad]
                bad_cells[name] = marks.astype(str)
        if kind == "numeric" and name not in bad_cells and is_row_counter(arr):
            kind = "row counter"
        kinds[name], parsed[name] = kind, arr
    n = len(next(iter(parsed.values())))
    if time_column == AUTO:
        time_column = next((c for c, k in kinds.items() if k == "date"), None)
    elif time_column is not None and time_column not in kinds:
        raise missing_column_error(TimeSeriesTable([], np.empty((n, 0)), kinds=kinds,
                                                   source=source), time_column)
    numeric = [c for c, k in kinds.items() if k in ("numeric", "row counter") and c != time_column]
    table = TimeSeriesTable(
        columns=numeric,
        values=np.stack([parsed[c] for c in numeric], axis=1) if numeric else np.empty((n, 0)),
        text={c: _as_text(parsed[c]) for c in kinds if c not in numeric and c != time_column},
        kinds=kinds, source=source, line_numbers=line_numbers, bad_cells=bad_cells,
        cell_format=fmt,
    )
    if time_column is None:
        return table
    return dataclasses.replace(table, time=_time_values(table, kinds[time_column],
                                                        parsed[time_column], time_column, fmt),
                               time_column=time_column)


def _as_text(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "M":
        return np.array([("" if np.isnat(t) else str(t)) for t in arr], dtype=str)
    return arr.astype(str)


def bad_cells_text(table: TimeSeriesTable, name: str, limit: int = 5) -> str:
    """``'?' at data row 12 (file line 13), '4,7' at data row 40 (file line 41)`` — the
    unreadable cells of a column, for a message."""
    marks = table.bad_cells[name]
    rows = np.flatnonzero(marks != "")
    shown = [f"{str(marks[r])!r} at {table.describe_rows([r])}" for r in rows[:limit]]
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return ", ".join(shown) + more


def _time_values(table: TimeSeriesTable, kind: str, arr: np.ndarray, name: str,
                 fmt: CellFormat) -> np.ndarray:
    if name in table.bad_cells:
        n_bad = int(np.count_nonzero(table.bad_cells[name] != ""))
        what = "dates" if kind == "date" else "numbers"
        raise DataError(
            f"time column {name!r} in {table.source} has {n_bad} cell(s) that are not "
            f"{what}: {bad_cells_text(table, name)}. "
            + ("Dates must be year first (YYYY-MM-DD or YYYY/MM/DD, optionally with "
               "HH:MM[:SS]), or pass --date-format (date_format=, e.g. '%d/%m/%Y'); "
               if fmt.date_format is None and kind == "date" else
               f"They do not match the date format {fmt.date_format!r}; " if kind == "date"
               else "")
            + "correct those cells or delete their rows."
        )
    if kind == "date":
        return arr
    if kind in ("numeric", "row counter"):
        # Whole numbers (years, epoch seconds) stay integers so they print as written.
        if not np.isnan(arr).any() and np.array_equal(arr, np.round(arr)):
            return arr.astype(np.int64)
        return arr
    if kind == "empty":
        raise DataError(f"time column {name!r} in {table.source} is empty")
    cells = [str(c) for c in arr]
    bad = next((i for i, c in enumerate(cells) if c), 0)
    hint = (" They look day- or month-first: pass --date-format (date_format=), e.g. "
            "'%d/%m/%Y' or '%m/%d/%Y'." if looks_like_dates(cells[bad]) else "")
    raise DataError(
        f"time column {name!r} in {table.source} is neither dates nor numbers: "
        f"{table.describe_rows([bad])} holds {cells[bad]!r}. Dates must be year first: "
        "YYYY-MM-DD or YYYY/MM/DD (optionally with HH:MM[:SS]); pass time_column=None "
        f"to use the rows in file order.{hint}"
    )


def _iso_times(text: np.ndarray) -> np.ndarray:
    times = np.array([t or "NaT" for t in text], dtype="datetime64[s]")
    known = times[~np.isnat(times)]
    day = bool(np.all(known == known.astype("datetime64[D]")))
    return times.astype("datetime64[D]") if day else times


def set_time_column(table: TimeSeriesTable, name: str | None) -> TimeSeriesTable:
    """The same table with ``name`` as its time axis (None: no time axis).

    The previous time column, if any, goes back among the ordinary columns.
    """
    if name == table.time_column:
        return table
    cells: dict[str, Any] = {}
    for col in table.kinds:
        if col == table.time_column:
            t = table.time
            cells[col] = t if t.dtype.kind == "M" else t.astype(np.float64)  # type: ignore[union-attr]
        elif table.kinds.get(col) == "date":  # held as ISO text: back to times, not re-parsed
            cells[col] = _iso_times(table.text[col])
        elif col in table.text:
            cells[col] = list(table.text[col])
        else:
            cells[col] = table.column(col)
    rebuilt = build_table(cells, table.source, name, table.line_numbers,
                          fmt=table.cell_format, bad_cells=table.bad_cells)
    return dataclasses.replace(rebuilt, row_numbers=table.row_numbers, units=table.units)


def as_table(data: Any, time_column: str | None = AUTO, delimiter: str = ",",
             fmt: CellFormat = DEFAULT) -> TimeSeriesTable:
    """Accept a :class:`TimeSeriesTable`, a CSV path, or a pandas-like DataFrame."""
    if isinstance(data, TimeSeriesTable):
        return data
    if isinstance(data, (str, os.PathLike)) or hasattr(data, "read"):  # path, open text file
        return read_csv(data, time_column=time_column, delimiter=delimiter, fmt=fmt)
    if hasattr(data, "columns"):
        return from_frame(data, time_column=time_column)
    raise ConfigError(
        f"expected a CSV path, a DataFrame or a TimeSeriesTable, got {type(data).__name__}; "
        "for plain arrays use make_windows directly"
    )
