"""``unrolled predict``: forecast from a CSV with a model written by ``unrolled train``."""
from __future__ import annotations

import argparse
import sys
import textwrap

from ._args import (add_fill_override, add_reading_options, cell_format, column_list,
                    with_fill)

DESCRIPTION = textwrap.dedent("""\
    Forecast the rows that follow a CSV with a model from `unrolled train` (or
    `unrolled demo`). The CSV needs the model's input columns with the same names (other
    columns are ignored, the order does not matter); the model file supplies the
    window length, the scaler statistics and the time column. By default only the last
    window is used: the forecast for the H rows after the file's last row.

    The output is CSV with one row per forecast row:
      last_input  time (or data row) of the last row the model read
      step        rows ahead, 1..H
      TIME        time (or data row) of the forecast row; past the file's end the time
                  axis is extended by its most common step (e.g. one day)
      TARGET...   one column per forecast column, in the data's units""")

EPILOG = textwrap.dedent("""\
    examples:
      unrolled predict weather.keras recent.csv                 # print tomorrow's forecast
      unrolled predict weather.keras weather.csv --all -o forecasts.csv
      unrolled predict stores.keras 'data/*.csv' --output-dir forecasts --jobs 2""")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict", help="forecast the next rows of a CSV with a trained model",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL",
                   help="model file written by `unrolled train -o` (e.g. weather.keras), or "
                        "the folder of `train --per-series`")
    p.add_argument("data", metavar="DATA.csv", nargs="+",
                   help="CSV with at least the model's window of rows, oldest first "
                        "(e.g. recent.csv); several files or a quoted pattern ('data/*.csv', "
                        "also .parquet) score each file as a task (see --output-dir)")
    p.add_argument("-o", "--output", metavar="OUT.csv",
                   help="write the forecasts to this CSV file (written whole or not at all; "
                        "e.g. -o forecasts.csv). Default: print them")
    p.add_argument("--all", action="store_true",
                   help="forecast after every complete window of the file, oldest first, "
                        "not only after the last one (e.g. to compare with what happened)")
    p.add_argument("--series", type=column_list, metavar="A,B",
                   help="for a model trained with --series-column: only these series "
                        "(default: every series in the file)")
    add_fill_override(p)
    add_reading_options(p)
    from .predict_many import add_many_options

    add_many_options(p)
    from .per_series_folder import add_options as add_folder_options

    add_folder_options(p)


def check_csv_output(path: str) -> str:
    """Refuse an output path that cannot be written, before any work is done."""
    from ..io.atomic import check_writable_path

    return check_writable_path(path)


def run(args: argparse.Namespace) -> int:
    from ..forecast import forecast
    from ..forecast.apply import read_for
    from ..forecast.model_file import load_forecaster
    from ..io.atomic import atomic_write_bytes

    from .per_series_folder import is_folder, run_predict
    from .predict_many import is_many, run_many

    if is_folder(args.model):   # train --per-series: one model per series
        return run_predict(args)
    if is_many(args):
        return run_many(args)
    if args.output:
        check_csv_output(args.output)
    delimiter, fmt = cell_format(args)
    fc = with_fill(load_forecaster(args.model), args)
    table = read_for(fc.spec, args.data[0], delimiter=delimiter, fmt=fmt)
    result = forecast(fc, table, every_window=args.all, series=args.series)
    text = result.csv_text()
    if not args.output:
        sys.stdout.write(text)
        return 0
    atomic_write_bytes(args.output, text.encode("utf-8"))
    rows = len(result.values) * result.spec.horizon
    print(f"Wrote {rows} forecast row(s) of {', '.join(result.spec.targets)} for "
          f"{len(result.values)} window(s) to {args.output}")
    return 0
