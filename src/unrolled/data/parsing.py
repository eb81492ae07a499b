"""What one column of CSV text cells holds: numbers, dates, labels, or nothing.

A CSV gives us strings. Each column is judged once, here, *by its cells*, so that every
later error can say which cells broke the rule. The functions are pure: a list of cells
in, arrays and the positions of the offending cells out.

Kinds, in the order they are tried (``bad`` = positions of cells that do not fit):

============  ===========================================================================
``"empty"``   every cell is missing (see :data:`MISSING` and ``CellFormat.missing``)
``"numeric"`` more than half of the non-missing cells are numbers (as ``fmt`` writes
              them, or with a decimal comma or thousands separator: then the option
              that reads them is named); the others are ``bad`` (NaN in the values)
              and stop any step that uses the column
``"date"``    more than half are dates (year first, ``YYYY-MM-DD`` or ``YYYY/MM/DD``,
              optionally ``HH:MM[:SS]`` after ``T`` or a space; or ``CellFormat.date_format``)
``"text"``    anything else (labels such as ``"rain"``, IDs, month-first dates...)
============  ===========================================================================

Numbers are read strictly: ``1_000`` (Python's digit separator) is not a number, a
decimal comma needs ``CellFormat(decimal=",")`` and a thousands separator
``CellFormat(thousands=",")``, which must group digits by three.
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

# Spellings that spreadsheets, pandas and databases write for "no value". Compared
# case-insensitively after stripping blanks. They only matter for numeric and date
# columns: in a text column "NA" may be a real label, so text cells are kept verbatim.
MISSING = frozenset({"", "na", "n/a", "#n/a", "nan", "null", "none", "<na>", "nat"})

_DATE = re.compile(
    r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})"  # year first: unambiguous, unlike 03/04/2015
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
)
_DAY_FIRST_OR_MONTH_FIRST = re.compile(r"^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")


@dataclass(frozen=True)
class CellFormat:
    """How numbers, dates and "no value" are written in a file.

    Attributes:
        decimal: the decimal mark, ``"."`` or ``","``.
        thousands: a thousands separator (``","``, ``"."``, ``" "``, ``"'"``) or None;
            digits must then be grouped by three (``1,234,567.5``).
        date_format: a ``strftime`` format (``"%d/%m/%Y"``) for the dates, or None for
            year-first dates.
        missing: more spellings of "no value" (``("?", "-")``), besides :data:`MISSING`.
    """

    decimal: str = "."
    thousands: str | None = None
    date_format: str | None = None
    missing: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.decimal not in (".", ","):
            raise ConfigError(f"decimal must be '.' or ',', got {self.decimal!r}")
        if self.thousands is not None and (len(self.thousands) != 1 or self.thousands.isdigit()
                                           or self.thousands == self.decimal):
            raise ConfigError(f"thousands must be one character other than a digit and the "
                              f"decimal mark {self.decimal!r}, got {self.thousands!r}")
        object.__setattr__(self, "missing", tuple(m.strip().lower() for m in self.missing))


DEFAULT = CellFormat()


def is_missing(cell: str, fmt: CellFormat = DEFAULT) -> bool:
    """Whether a cell stands for "no value"."""
    text = cell.strip().lower()
    return text in MISSING or text in fmt.missing


def parse_number(cell: str, fmt: CellFormat = DEFAULT) -> float | None:
    """The number a (non-missing) cell holds, or None if it is not one."""
    text = cell.strip()
    if "_" in text:  # float() would read 1_000 as 1000
        return None
    if fmt.thousands is not None and fmt.thousands in text:
        t, d = re.escape(fmt.thousands), re.escape(fmt.decimal)
        if not re.fullmatch(rf"[+-]?\d{{1,3}}(?:{t}\d{{3}})+(?:{d}\d*)?(?:[eE][+-]?\d+)?", text):
            return None
        text = text.replace(fmt.thousands, "")
    if fmt.decimal != ".":
        if "." in text:
            return None
        text = text.replace(fmt.decimal, ".")
    try:
        return float(text)
    except ValueError:
        return None


def parse_numbers(cells: Sequence[str], fmt: CellFormat = DEFAULT) -> tuple[np.ndarray, list[int]]:
    """Parse cells as floats: ``(values, bad)``, ``values`` ``(rows,)`` float64 with NaN for
    missing and bad cells, ``bad`` the positions of cells that are neither."""
    values = np.full(len(cells), np.nan)
    bad = []
    for i, cell in enumerate(cells):
        if is_missing(cell, fmt):
            continue
        number = parse_number(cell, fmt)
        if number is None:
            bad.append(i)
        else:
            values[i] = number
    return values, bad


def _iso(cell: str, fmt: CellFormat) -> tuple[str, bool] | None:
    """A cell as an ISO date/time text and whether it has a time of day, or None."""
    text = cell.strip()
    if fmt.date_format is not None:
        try:
            moment = datetime.datetime.strptime(text, fmt.date_format)
        except ValueError:
            return None
        clock = (moment.hour, moment.minute, moment.second) != (0, 0, 0)
        return (moment.isoformat(timespec="seconds") if clock else moment.date().isoformat()), clock
    m = _DATE.match(text)
    if m is None:
        return None
    y, mo, d, hh, mm, ss = m.groups()
    iso = f"{y}-{int(mo):02d}-{int(d):02d}"
    try:
        datetime.date(int(y), int(mo), int(d))  # 2015-02-30 is not a date
    except ValueError:
        return None
    if hh is None:
        return iso, False
    if int(hh) > 23 or int(mm) > 59 or int(ss or 0) > 59:
        return None
    return f"{iso}T{int(hh):02d}:{mm}:{ss or '00'}", True


def parse_dates(cells: Sequence[str], fmt: CellFormat = DEFAULT) -> tuple[np.ndarray, list[int]]:
    """Parse dates/times: ``(times, bad)`` like :func:`parse_numbers`; ``times`` is
    ``datetime64[D]`` when no cell has a time of day, else ``datetime64[s]``; NaT for
    missing and bad cells."""
    iso: list[str] = []
    bad: list[int] = []
    has_clock = False
    for i, cell in enumerate(cells):
        parsed = None if is_missing(cell, fmt) else _iso(cell, fmt)
        if parsed is None:
            if not is_missing(cell, fmt):
                bad.append(i)
            iso.append("NaT")
            continue
        iso.append(parsed[0])
        has_clock |= parsed[1]
    unit = "datetime64[s]" if has_clock else "datetime64[D]"
    if has_clock:  # date-only cells among timed ones are midnight
        iso = [t if t == "NaT" or "T" in t else f"{t}T00:00:00" for t in iso]
    times = np.array(iso, dtype=unit)
    known = times[~np.isnat(times)]
    if has_clock and np.all(known == known.astype("datetime64[D]")):
        times = times.astype("datetime64[D]")  # every time is midnight: daily data
    return times, bad


def classify(cells: Sequence[str], fmt: CellFormat = DEFAULT) -> tuple[str, np.ndarray, list[int]]:
    """Decide a column's kind (see module docstring): ``(kind, values, bad)``.

    ``"numeric"`` → float64 array, ``"date"`` → datetime64 array, ``"text"`` and
    ``"empty"`` → the stripped cells as a str array (``bad`` empty).
    """
    present = sum(not is_missing(c, fmt) for c in cells)
    if present == 0:
        return "empty", np.array([c.strip() for c in cells], dtype=str), []
    values, bad = parse_numbers(cells, fmt)
    if 2 * len(bad) < present:
        return "numeric", values, bad
    for other in _other_spellings(fmt):  # numbers in another spelling: name the option
        if 2 * len(parse_numbers(cells, other)[1]) < present:
            return "numeric", values, bad
    times, bad_dates = parse_dates(cells, fmt)
    if 2 * len(bad_dates) < present:
        return "date", times, bad_dates
    return "text", np.array([c.strip() for c in cells], dtype=str), []


def _other_spellings(fmt: CellFormat) -> list[CellFormat]:
    """Number formats a column might be in when ``fmt`` reads few of its cells."""
    out = []
    if fmt.decimal == ".":
        out.append(CellFormat(decimal=","))
    if fmt.thousands is None:
        out.append(CellFormat(decimal=fmt.decimal, thousands="," if fmt.decimal == "." else "."))
    return out


def first_non_number(cells: Sequence[str], fmt: CellFormat = DEFAULT) -> int | None:
    """Position of the first cell that is neither missing nor a number, or None."""
    bad = parse_numbers(cells, fmt)[1]
    return bad[0] if bad else None


def looks_like_dates(cell: str) -> bool:
    """A day-first or month-first date such as ``03/04/2012`` (needs a date format)."""
    return _DAY_FIRST_OR_MONTH_FIRST.match(cell.strip()) is not None


def number_hint(cells: Sequence[str], fmt: CellFormat = DEFAULT) -> str:
    """How to read cells that are not numbers as written: the option that would fix them."""
    hints = []
    if fmt.decimal == "." and all(parse_number(c, CellFormat(decimal=",")) is not None
                                  for c in cells):
        hints.append("for decimal commas pass --decimal , (decimal=','); the cells must then "
                     "be quoted or the file separated by ';' (--delimiter ';')")
    sep = "," if fmt.decimal == "." else "."
    if fmt.thousands is None and all(parse_number(c, CellFormat(decimal=fmt.decimal,
                                                                thousands=sep)) is not None
                                     for c in cells):
        hints.append(f"for thousands separators pass --thousands {sep} (thousands='{sep}')")
    if any("_" in c and parse_number(c.replace("_", ""), fmt) is not None for c in cells):
        hints.append("underscores are not read as digit separators: write 1000, not 1_000")
    if not hints:
        hints.append("if those cells mean 'no value', empty them or list them with --missing "
                     "(missing=[...]), then choose --fill; otherwise correct them")
    return "; ".join(hints)


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
