"""What one column of text cells holds: numbers, dates, labels, or nothing.

A CSV gives us strings. Each column is classified once, here, so that every later error
can say *which* cell broke the rule. The functions are pure: a list of cells in, arrays
and the position of the first offending cell out.

Kinds, in the order they are tried:

============  ===========================================================================
``"empty"``   every cell is missing (see :data:`MISSING`)
``"numeric"`` every non-missing cell parses as a float (missing cells become NaN)
``"date"``    every non-missing cell is ``YYYY-MM-DD`` or ``YYYY/MM/DD``, optionally
              followed by ``HH:MM`` or ``HH:MM:SS`` (after ``T`` or a space)
``"text"``    anything else (labels such as ``"rain"``, IDs, month-first dates...)
============  ===========================================================================
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

# Spellings that spreadsheets, pandas and databases write for "no value". Compared
# case-insensitively after stripping blanks. They only matter for numeric and date
# columns: in a text column "NA" may be a real label, so text cells are kept verbatim.
MISSING = frozenset({"", "na", "n/a", "#n/a", "nan", "null", "none", "<na>", "nat"})

_DATE = re.compile(
    r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})"  # year first: unambiguous, unlike 03/04/2015
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
)


def is_missing(cell: str) -> bool:
    """Whether a cell stands for "no value"."""
    return cell.strip().lower() in MISSING


def parse_numbers(cells: Sequence[str]) -> tuple[np.ndarray, int | None]:
    """Parse cells as floats.

    Returns ``(values, bad)``: ``values`` is ``(rows,)`` float64 with NaN for missing
    cells; ``bad`` is the 0-based position of the first cell that is neither missing nor
    a number (``values`` is then only valid before it), or None.
    """
    values = np.full(len(cells), np.nan)
    for i, cell in enumerate(cells):
        if is_missing(cell):
            continue
        try:
            values[i] = float(cell)
        except ValueError:
            return values, i
    return values, None


def parse_dates(cells: Sequence[str]) -> tuple[np.ndarray, int | None]:
    """Parse year-first dates/times.

    Returns ``(times, bad)`` like :func:`parse_numbers`: ``times`` is ``(rows,)``
    ``datetime64[D]`` when no cell has a time of day and ``datetime64[s]`` otherwise,
    NaT for missing cells. Impossible dates (2015-02-30) count as bad cells.
    """
    iso: list[str] = []
    has_clock = False
    for i, cell in enumerate(cells):
        if is_missing(cell):
            iso.append("NaT")
            continue
        m = _DATE.match(cell.strip())
        if m is None:
            return np.array([], dtype="datetime64[D]"), i
        y, mo, d, hh, mm, ss = m.groups()
        text = f"{y}-{int(mo):02d}-{int(d):02d}"
        if hh is not None:
            has_clock = True
            text += f"T{int(hh):02d}:{mm}:{ss or '00'}"
        iso.append(text)
    unit = "datetime64[s]" if has_clock else "datetime64[D]"
    try:
        times = np.array(iso, dtype=unit)
    except ValueError:
        # numpy rejects the whole array; find the first impossible date for the message.
        for i, text in enumerate(iso):
            try:
                np.datetime64(text)
            except ValueError:
                return np.array([], dtype=unit), i
        raise
    if has_clock and _all_midnight(times):
        times = times.astype("datetime64[D]")
    return times, None


def _all_midnight(times: np.ndarray) -> bool:
    known = times[~np.isnat(times)]
    return bool(np.all(known == known.astype("datetime64[D]")))


def classify(cells: Sequence[str]) -> tuple[str, np.ndarray]:
    """Decide a column's kind (see module docstring) and return its parsed values.

    ``"numeric"`` → float64 array, ``"date"`` → datetime64 array, ``"text"`` and
    ``"empty"`` → the stripped cells as a str array.
    """
    if all(is_missing(c) for c in cells):
        return "empty", np.array([c.strip() for c in cells], dtype=str)
    values, bad = parse_numbers(cells)
    if bad is None:
        return "numeric", values
    times, bad = parse_dates(cells)
    if bad is None:
        return "date", times
    return "text", np.array([c.strip() for c in cells], dtype=str)


def first_non_number(cells: Sequence[str]) -> int | None:
    """Position of the first cell that is neither missing nor a number, or None."""
    return parse_numbers(cells)[1]


def is_row_counter(values: np.ndarray) -> bool:
    """Whether a numeric column is just 0..n-1 or 1..n (an index written out by a tool).

    Such a column (pandas' ``to_csv`` index, a spreadsheet's row number) says where a row
    is, not what was measured; as a feature it is a trend the model cannot extrapolate.
    """
    n = len(values)
    if n < 2 or not np.all(np.isfinite(values)):
        return False
    steps = np.arange(n, dtype=np.float64)
    return bool(np.array_equal(values, steps) or np.array_equal(values, steps + 1))
