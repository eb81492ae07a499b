"""argparse value types shared by the subcommands: ``type=positive_int`` and the like.

Each raises ``argparse.ArgumentTypeError`` with what was expected and what was given,
which argparse prints as ``argument --units: expected a positive integer, got '0'``.
"""
from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def column_list(text: str) -> list[str]:
    """argparse type: comma-separated column names."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {text!r}")
    return names


def add_reading_options(p: argparse.ArgumentParser) -> None:
    """How the CSV writes its cells: the options train, predict and evaluate share."""
    g = p.add_argument_group("reading the CSV")
    g.add_argument("--delimiter", default=",", metavar="C",
                   help="cell separator (default ','; e.g. --delimiter ';' for files from a "
                        "spreadsheet set to a decimal comma; '\\t' for tabs)")
    g.add_argument("--decimal", choices=[".", ","], default=".",
                   help="decimal mark of the numbers (default '.'; e.g. --decimal , with "
                        "--delimiter ';')")
    g.add_argument("--thousands", metavar="C",
                   help="thousands separator inside numbers, digits grouped by three (e.g. "
                        "--thousands , reads 1,234.5; default: none, so 1,234 is an error)")
    g.add_argument("--date-format", metavar="FMT",
                   help="strftime format of the time column's dates (e.g. --date-format "
                        "%%d/%%m/%%Y); default: year first, YYYY-MM-DD or YYYY/MM/DD")
    g.add_argument("--missing", action="append", default=[], metavar="TEXT",
                   help="a cell text that means 'no value', besides empty, NA, NaN, null ... "
                        "(repeatable; e.g. --missing '?'); such cells count as empty")
    g.add_argument("--strict", action="store_true",
                   help="treat warnings about the data (rows missing from a regular time "
                        "axis) as errors")


def cell_format(args: argparse.Namespace) -> tuple[str, object]:
    """``(delimiter, CellFormat)`` from :func:`add_reading_options`' arguments."""
    from ..data.parsing import CellFormat

    delimiter = "\t" if args.delimiter in ("\\t", "tab") else args.delimiter
    if args.decimal == "," and delimiter == ",":
        from ..errors import ConfigError

        raise ConfigError("--decimal , needs another cell separator than ',': pass "
                          "--delimiter ';' (what spreadsheets with decimal commas write)")
    return delimiter, CellFormat(decimal=args.decimal, thousands=args.thousands,
                                 date_format=args.date_format, missing=tuple(args.missing))


def add_fill_override(p: argparse.ArgumentParser) -> None:
    """``--fill`` for predict / evaluate: override the fill the model was trained with."""
    p.add_argument("--fill", choices=["ffill", "interpolate", "drop"],
                   help="what to do with empty cells in this CSV (default: what the model "
                        "was trained with, stored in its file; e.g. --fill interpolate)")


def with_fill(forecaster: object, args: argparse.Namespace) -> object:
    """The forecaster, with ``--fill`` (if given) in place of its own."""
    import dataclasses

    if getattr(args, "fill", None) is None:
        return forecaster
    spec = dataclasses.replace(forecaster.spec, fill=args.fill)  # type: ignore[attr-defined]
    return dataclasses.replace(forecaster, spec=spec)  # type: ignore[type-var]
