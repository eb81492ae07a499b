"""The data, modelling and training options that ``train``, ``backtest``, ``tune``,
``evaluate`` and ``train --per-series`` share, and what they turn into: the ``prepare``
keyword arguments, the table read from the CSV, the :class:`FitConfig`. (Kept apart from
the commands so that each command imports these and no command imports another's module
for them.)"""
from __future__ import annotations

import argparse
import re

from ..errors import DataError
from ..forecast.pipeline import TEST_FRACTION, VAL_FRACTION
from ._args import add_reading_options, cell_format, column_list, positive_float, positive_int


def cli_spelling(message: str) -> str:
    """Say the data module's Python hints (``fill='ffill'``) as this command's options."""
    message = re.sub(r"fill='(\w+)'", r"--fill \1", message)
    return re.sub(r", or change val_fraction=\S+ / test_fraction=\S+\.",
                  f" (train keeps {100 * VAL_FRACTION:.0f} % of the rows for validation and "
                  f"{100 * TEST_FRACTION:.0f} % for the test).", message)


def add_model_options(p: argparse.ArgumentParser) -> None:
    """The data and training options ``train`` and ``backtest`` share."""
    p.add_argument("--target", action="append", required=True, metavar="COL",
                   help="column to forecast; repeat for several (e.g. --target temp_max "
                        "--target temp_min)")
    p.add_argument("--features", type=column_list, metavar="COLS",
                   help="comma-separated input columns (e.g. --features temp_max,wind). "
                        "Default: every numeric column, targets included; text labels, "
                        "dates, row counters and constant columns are left out (train "
                        "prints which and why)")
    p.add_argument("--time-column", metavar="COL",
                   help="column holding the time of each row; its values must increase "
                        "with no repeats (e.g. --time-column date); 'none' = rows in file "
                        "order. Default: the first column of YYYY-MM-DD dates, else of "
                        "year-months (2015-03), quarters (2015Q1) or whole years")
    p.add_argument("--window", type=positive_int, required=True, metavar="N",
                   help="rows the model reads per forecast (e.g. --window 14: two weeks of "
                        "daily rows)")
    p.add_argument("--horizon", type=positive_int, default=1, metavar="H",
                   help="rows ahead forecast from each window (default 1: the next row; "
                        "e.g. --horizon 3 for the next three)")
    p.add_argument("--units", type=positive_int, default=32, metavar="U",
                   help="LSTM units per layer (default 32; e.g. --units 16 trains faster)")
    p.add_argument("--layers", type=positive_int, default=1, metavar="K",
                   help="stacked LSTM layers (default 1; e.g. --layers 2)")
    p.add_argument("--epochs", type=positive_int, default=100, metavar="E",
                   help="most passes over the training rows; early stopping usually ends "
                        "sooner (default 100; e.g. --epochs 20)")
    p.add_argument("--batch-size", type=positive_int, default=32, metavar="B",
                   help="windows per gradient step (default 32; e.g. --batch-size 64)")
    p.add_argument("--lr", type=positive_float, default=1e-3, metavar="X",
                   help="Adam learning rate (default 0.001; e.g. --lr 0.003)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="random seed for initial weights and shuffling; the same seed gives "
                        "the same model (default 0; e.g. --seed 42)")
    p.add_argument("--fill", choices=["ffill", "interpolate", "drop"],
                   help="what to do with empty cells (default: stop with an error saying "
                        "where they are): ffill repeats the last value, interpolate draws "
                        "a straight line between neighbours, drop removes those rows "
                        "(e.g. --fill interpolate); predict applies the same")
    add_forecast_options(p)
    add_reading_options(p)


def add_forecast_options(p: argparse.ArgumentParser) -> None:
    """The modelling options ``train`` and ``backtest`` share."""
    p.add_argument("--target-transform", choices=["auto", "level", "diff"], default="auto",
                   help="what the model predicts: the level, or the change from the last "
                        "value (suits trends). auto (default) picks the one whose ridge "
                        "model has the lower validation MAE, and says which")
    p.add_argument("--season", type=season_value, default="auto", metavar="N",
                   help="rows per season (e.g. --season 12 for monthly data); the model "
                        "gets the value one season before each forecast row as an input, "
                        "and seasonal naive becomes a baseline. Default auto: from the "
                        "time axis's frequency, kept if the train rows show it; 0 = none")
    p.add_argument("--calendar", action="store_true",
                   help="add calendar inputs (hour, weekday, day of year as sine/cosine) "
                        "taken at the forecast time; needs a date time axis")
    p.add_argument("--no-linear", action="store_true",
                   help="drop the linear path (ridge on the window) the LSTM adds to")
    p.add_argument("--interval", type=interval_level, default=0.9, metavar="P",
                   help="coverage of the prediction intervals calibrated on the validation "
                        "part (conformal; default 0.9; 0 = none); predict writes them")
    p.add_argument("--no-stats", action="store_true",
                   help="skip the AutoETS / AutoARIMA baselines (statsforecast, the [stats] "
                        "extra; computed by default when installed, and they take time). "
                        "UNROLLED_STATS=0 in the environment does the same")
    p.add_argument("--future", type=column_list, metavar="COLS",
                   help="comma-separated input columns whose values are known ahead "
                        "(planned prices, holidays; e.g. --future price,promo): the model "
                        "also reads them at each forecast row. predict then needs the H "
                        "forecast rows at the end of the CSV, with these columns filled "
                        "and the others empty. --calendar inputs are known ahead already")
    p.add_argument("--quantiles", type=quantile_list, metavar="Q,Q,...",
                   help="also forecast these quantiles (e.g. --quantiles 0.1,0.5,0.9; the "
                        "median 0.5 is always added: it is the point forecast), trained "
                        "with the pinball loss and never crossing; predict writes a "
                        "TARGET_q10 ... column per quantile, evaluate and backtest report "
                        "each one's coverage and pinball loss")


def season_value(text: str) -> int | str:
    """argparse type: ``auto`` or a whole number of rows (0 = none)."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a whole number of rows, got "
                                         f"{text!r}") from None
    if value < 0 or value == 1:
        raise argparse.ArgumentTypeError(f"expected 0 (none) or at least 2 rows, got {value}")
    return value


def quantile_list(text: str) -> list[float]:
    """argparse type: ``0.1,0.5,0.9`` (see :func:`unrolled.forecast.quantiles.parse`)."""
    from ..forecast.quantiles import parse

    return parse(text)


def interval_level(text: str) -> float:
    """argparse type: a coverage in (0, 1), or 0 for none."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a coverage such as 0.9, got {text!r}") from None
    if not (value == 0 or 0 < value < 1):
        raise argparse.ArgumentTypeError(f"expected a coverage in (0, 1) such as 0.9, or 0 for "
                                         f"none, got {value}")
    return value


def data_options(args: argparse.Namespace) -> dict:
    """``prepare`` keyword arguments from the shared options."""
    return dict(targets=args.target, features=args.features, window=args.window,
                horizon=args.horizon, time_column=args.time_column, fill=args.fill,
                transform=args.target_transform, season=args.season,
                calendar=args.calendar, linear=not args.no_linear,
                **({"quantiles": args.quantiles} if getattr(args, "quantiles", None) else {}),
                **({"future": args.future} if getattr(args, "future", None) else {}))


def read_data(args: argparse.Namespace) -> object:
    """The CSV as a table, read with the cell-format options (the time axis is set by
    ``prepare``: found, named, or 'none')."""
    from ..data.table import AUTO, read_csv

    delimiter, fmt = cell_format(args)
    named = args.time_column if args.time_column not in (None, "none") else None
    try:
        return read_csv(args.data, time_column=named or AUTO, delimiter=delimiter, fmt=fmt)
    except DataError:
        if named is None:
            raise
        # e.g. year-months or quarters, which prepare turns into a time axis itself
        return read_csv(args.data, time_column=None, delimiter=delimiter, fmt=fmt)


def stats_on(args: argparse.Namespace) -> bool:
    """Whether to compute the AutoETS / AutoARIMA baselines (:mod:`unrolled.forecast.stats`);
    says how to get them when statsforecast is missing."""
    from ..forecast.stats import available, default_enabled

    on = default_enabled(getattr(args, "no_stats", False))
    if not on and not getattr(args, "no_stats", False) and not available():
        print("(AutoETS / AutoARIMA baselines: pip install 'unrolled[stats]' to add them)")
    return on


def stats_baselines(args: argparse.Namespace, data: object) -> object:
    """The stats baselines on the test windows, with a progress line (they take time)."""
    from ..forecast.stats import StatsForecasts, for_test

    if not stats_on(args):
        return StatsForecasts({}, [])
    print("Fitting the AutoETS and AutoARIMA baselines (statsforecast; --no-stats skips "
          "them) ...", flush=True)
    return for_test(data)


def fit_config(args: argparse.Namespace) -> object:
    from ..forecast.fit import FitConfig

    return FitConfig(units=args.units, layers=args.layers, epochs=args.epochs,
                     batch_size=args.batch_size, lr=args.lr, interval=args.interval or None)
