"""The time axis of a series: finding it, its frequency, its seasons and its gaps.

A CSV's time column may be full dates (``2015-03-01``, with or without a time of day),
year-months (``2015-03``), quarters (``2015Q1``, ``2015-Q1``) or integer years (``1749``).
:func:`detect_time_axis` finds such a column when the table has no time axis yet (full
dates are found by the table reader itself), and :func:`frequency` says how far apart the
rows are, which seasonal periods that implies, and where rows are missing::

    freq = frequency(table.time)      # Frequency(name="daily", seasons=(7, 365), gaps=...)

Seasonal periods by frequency (the usual ones of forecasting libraries):

==========  =============  ==========================================================
name        row step       seasons (rows per cycle)
==========  =============  ==========================================================
hourly      1 hour         24 (a day), 168 (a week)
daily       1 day          7 (a week), 365 (a year)
weekly      7 days         52 (a year)
monthly     1 month        12
quarterly   3 months       4
yearly      1 year         none
==========  =============  ==========================================================

Year-months and quarters become ``datetime64[M]`` (the first month of the quarter);
integer years stay integers.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, NamedTuple

import numpy as np

SEASONS = {"hourly": (24, 168), "daily": (7, 365), "weekly": (52,), "monthly": (12,),
           "quarterly": (4,), "yearly": (), "minutely": (60,), "irregular": (), "rows": ()}

_YEAR_MONTH = re.compile(r"^(\d{4})[-/](\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})[-/ ]?[Qq]([1-4])$")
_YEAR_NAMES = ("year", "yr", "years", "jahr", "annee", "año")


class Frequency(NamedTuple):
    """How the rows of a series are spaced.

    Attributes:
        name: ``"hourly"``, ``"daily"``, ``"weekly"``, ``"monthly"``, ``"quarterly"``,
            ``"yearly"``, ``"minutely"``, ``"irregular"`` or ``"rows"`` (no time axis).
        step: the most common step between rows (a ``timedelta64``, a number of months
            as ``np.timedelta64(k, "M")``, or an int for integer time), None for rows.
        seasons: candidate seasonal periods in rows, shortest first.
        gaps: ``(position, missing)`` pairs: after row ``position`` (0-based) about
            ``missing`` rows are absent.
    """

    name: str
    step: Any
    seasons: tuple[int, ...]
    gaps: tuple[tuple[int, int], ...] = ()

    def describe(self) -> str:
        """One line for a report: ``daily rows (seasons 7, 365); no gaps``."""
        if self.name == "rows":
            return "rows in file order (no time axis: no calendar seasons)"
        seasons = (f"seasons {', '.join(map(str, self.seasons))}" if self.seasons
                   else "no calendar season")
        missing = sum(m for _, m in self.gaps)
        gaps = (f"{len(self.gaps)} gap(s), about {missing} missing row(s)" if self.gaps
                else "no gaps")
        return f"{self.name} rows ({seasons}); {gaps}"


def frequency(time: np.ndarray | None) -> Frequency:
    """The frequency of a time axis (see the module docstring); None means file order."""
    if time is None or len(time) < 2:
        return Frequency("rows", None, ())
    if time.dtype.kind == "M":
        unit = np.datetime_data(time.dtype)[0]
        if unit in ("M", "Y"):
            months = time.astype("datetime64[M]").astype(np.int64)
            return _from_steps(np.diff(months), {1: "monthly", 3: "quarterly", 12: "yearly"},
                               lambda k: np.timedelta64(int(k), "M"))
        seconds = np.diff(time.astype("datetime64[s]").astype(np.int64))
        step = _mode(seconds)
        if step in (3600,):
            return _with_gaps("hourly", np.timedelta64(step, "s"), seconds, step)
        if step == 60:
            return _with_gaps("minutely", np.timedelta64(step, "s"), seconds, step)
        if step == 86400:
            return _with_gaps("daily", np.timedelta64(1, "D"), seconds, step)
        if step == 7 * 86400:
            return _with_gaps("weekly", np.timedelta64(7, "D"), seconds, step)
        if 28 * 86400 <= step <= 31 * 86400 or 89 * 86400 <= step <= 92 * 86400 or \
                365 * 86400 <= step <= 366 * 86400:
            # Month starts or ends given as days: count calendar months instead.
            months = time.astype("datetime64[M]").astype(np.int64)
            return _from_steps(np.diff(months), {1: "monthly", 3: "quarterly", 12: "yearly"},
                               lambda k: np.timedelta64(int(k), "M"))
        return Frequency("irregular", np.timedelta64(step, "s"), ())
    values = np.asarray(time, dtype=np.float64)
    steps = np.diff(values)
    step = _mode(steps)
    if step == 1 and _looks_like_years(values):
        return _with_gaps("yearly", 1, steps, 1)
    return _with_gaps("rows" if step == 1 else "irregular", step, steps, step)


def _mode(steps: np.ndarray) -> Any:
    values, counts = np.unique(steps, return_counts=True)
    return values[np.argmax(counts)].item()


def _with_gaps(name: str, step: Any, steps: np.ndarray, unit: Any) -> Frequency:
    gaps = tuple((int(i), int(round(steps[i] / unit)) - 1)
                 for i in np.flatnonzero(steps > unit))
    seasons = SEASONS[name] if name != "rows" else ()
    return Frequency(name, step, seasons, gaps)


def _from_steps(months: np.ndarray, names: dict[int, str], as_step: Any) -> Frequency:
    k = int(_mode(months))
    name = names.get(k, "irregular")
    return _with_gaps(name, as_step(k), months, k) if name != "irregular" else \
        Frequency(name, as_step(k), ())


def _looks_like_years(values: np.ndarray) -> bool:
    return bool(np.all(values == np.round(values)) and values.min() >= 1000
                and values.max() <= 2999)


def parse_periods(cells: list[str] | np.ndarray) -> np.ndarray | None:
    """Year-months (``2015-03``) or quarters (``2015Q1``) as ``datetime64[M]``, else None.

    Every cell must match one of the two spellings (the same one throughout).
    """
    out = []
    for pattern, months_per in ((_YEAR_MONTH, 1), (_QUARTER, 3)):
        out.clear()
        for cell in cells:
            m = pattern.match(str(cell).strip())
            if m is None:
                break
            year, k = int(m.group(1)), int(m.group(2))
            if months_per == 1 and not 1 <= k <= 12:
                break
            out.append(f"{year:04d}-{(k - 1) * months_per + 1:02d}")
        else:
            if out:
                return np.array(out, dtype="datetime64[M]")
    return None


def detect_time_axis(table: Any) -> Any:
    """The table with a time axis found among its columns, or the table unchanged.

    Tried when the reader found no full-date column: a text column of year-months or
    quarters, then a numeric column named like ``year`` (or whose whole numbers rise by
    one from a plausible year) that increases. The column stops being an input feature.
    """
    if table.time_column is not None:
        return table
    for name in table.text:
        periods = parse_periods(table.text[name])
        if periods is not None:
            return with_time(table, name, periods)
    for name in table.columns:
        col = table.column(name)
        if not (np.all(np.isfinite(col)) and len(col) > 1 and _looks_like_years(col)):
            continue
        steps = np.diff(col)
        named = name.strip().lower() in _YEAR_NAMES
        if np.all(steps > 0) and (named or np.all(steps == 1)):
            return with_time(table, name, col.astype(np.int64))
    return table


def use_time_column(table: Any, name: str) -> Any:
    """The table with ``name`` as its time axis: dates and numbers as the table reader
    takes them, and also year-months and quarters."""
    from .table import set_time_column

    if name != table.time_column and name in table.text:
        periods = parse_periods(table.text[name])
        if periods is not None:
            return with_time(set_time_column(table, None), name, periods)
    return set_time_column(table, name)


def with_time(table: Any, name: str, time: np.ndarray) -> Any:
    """``table`` (without a time axis) with column ``name`` taken out as the time ``time``."""
    assert table.time_column is None
    columns, values = list(table.columns), table.values
    if name in columns:
        j = columns.index(name)
        columns, values = columns[:j] + columns[j + 1:], np.delete(values, j, axis=1)
    text = {k: v for k, v in table.text.items() if k != name}
    kinds = {**table.kinds, name: "date" if time.dtype.kind == "M" else "numeric"}
    return dataclasses.replace(table, columns=columns, values=values, text=text, kinds=kinds,
                               time=time, time_column=name)


def extend(time: np.ndarray | None, freq: Frequency, steps: int) -> np.ndarray | None:
    """The ``steps`` time stamps after ``time[-1]``, one frequency step apart (None if
    the axis has no regular step)."""
    if time is None or freq.step is None:
        return None
    k = np.arange(1, steps + 1)
    if isinstance(freq.step, np.timedelta64) and np.datetime_data(freq.step.dtype)[0] == "M":
        months = time[-1].astype("datetime64[M]") + k * freq.step
        return months.astype(time.dtype) if np.datetime_data(time.dtype)[0] in ("M", "Y") \
            else months.astype("datetime64[D]")
    return time[-1] + k * freq.step


def calendar_features(time: np.ndarray, freq: Frequency) -> tuple[list[str], np.ndarray]:
    """Sine/cosine encodings of the position in each calendar cycle the frequency has.

    Returns names and ``(time, C)`` float64 values: hour of day (hourly), day of week
    (hourly, daily), position in the year (hourly, daily, weekly: by day; monthly,
    quarterly: by month). Smooth and periodic: December sits next to January.
    """
    if time is None or time.dtype.kind != "M":
        return [], np.empty((0 if time is None else len(time), 0))
    cycles: list[tuple[str, np.ndarray]] = []
    seconds = time.astype("datetime64[s]").astype(np.int64).astype(np.float64)
    days = np.floor(seconds / 86400.0)
    year_start = time.astype("datetime64[Y]").astype("datetime64[s]").astype(np.int64)
    year_frac = (seconds - year_start) / (365.2425 * 86400.0)
    if freq.name in ("hourly", "minutely"):
        cycles.append(("hour", (seconds % 86400.0) / 86400.0))
    if freq.name in ("hourly", "minutely", "daily"):
        cycles.append(("weekday", ((days + 3) % 7) / 7.0))  # Monday 0; 1970-01-01 a Thursday
    if freq.name in ("hourly", "minutely", "daily", "weekly"):
        cycles.append(("year", year_frac))
    if freq.name in ("monthly", "quarterly"):  # whole months: exact, month lengths aside
        month = time.astype("datetime64[M]").astype(np.int64) % 12
        cycles.append(("month", month / 12.0))
    names, cols = [], []
    for name, phase in cycles:
        names += [f"{name}_sin", f"{name}_cos"]
        cols += [np.sin(2 * np.pi * phase), np.cos(2 * np.pi * phase)]
    return names, (np.stack(cols, axis=1) if cols else np.empty((len(time), 0)))
