"""``unrolled train``: fit an LSTM forecaster to a CSV and save it as one ``.keras`` file."""
from __future__ import annotations

import argparse
import re
import textwrap

from ..errors import DataError
from ..forecast.pipeline import PATIENCE, TEST_FRACTION, VAL_FRACTION
from ._args import add_reading_options, cell_format, column_list, positive_float, positive_int

DESCRIPTION = textwrap.dedent(f"""\
    Train a forecaster for one or more columns of a CSV from the last N rows of several
    columns: an LSTM beside a linear path (a ridge regression on the same window, which
    the LSTM adds to), predicting each target's level or its change from the last value.

    The rows are split in time order: the first {100 - 100 * (VAL_FRACTION + TEST_FRACTION):.0f} % train the model, the next
    {100 * VAL_FRACTION:.0f} % (validation) choose the target transform, the ridge penalty and when to
    stop (early stopping, patience {PATIENCE} epochs), and calibrate the prediction intervals;
    the last {100 * TEST_FRACTION:.0f} % (test) are only used for the final report: MAE and RMSE in the
    data's units beside persistence, seasonal naive (when the series has a season), the
    training mean and the ridge model, with the margin over each and its 95 % interval.
    Each column is standardised with the training rows' statistics only.

    The time axis (dates, year-months, quarters, integer years) is found automatically;
    its frequency gives the candidate seasons (hourly 24/168, daily 7/365, weekly 52,
    monthly 12, quarterly 4), kept if the training rows show them.

    The model file holds the network, the scalers, the linear path, the intervals and
    the column names, so `unrolled predict MODEL.keras NEW.csv` needs nothing else; real
    Keras 3 loads the network (keras.saving.load_model).""")

EPILOG = textwrap.dedent("""\
    examples:
      unrolled train weather.csv --target temp_max --window 14 -o weather.keras
      unrolled train weather.csv --target temp_max --target temp_min --horizon 3 \\
          --features temp_max,temp_min,wind --time-column date --window 30 \\
          --units 32 --layers 2 --epochs 50 --fill interpolate -o weather.keras
      unrolled train sales.csv --target units --window 24 --season 12 --calendar \\
          --backtest 5 -o sales.keras
      unrolled train stores.csv --target sales --window 14 --series-column store \\
          --per-series -o models/ --jobs 4        # one model per store, resumable
      unrolled train stores.csv ... --per-series -o models/ --scheduler tcp://10.0.0.5:8786""")


def cli_spelling(message: str) -> str:
    """Say the data module's Python hints (``fill='ffill'``) as this command's options."""
    message = re.sub(r"fill='(\w+)'", r"--fill \1", message)
    return re.sub(r", or change val_fraction=\S+ / test_fraction=\S+\.",
                  f" (train keeps {100 * VAL_FRACTION:.0f} % of the rows for validation and "
                  f"{100 * TEST_FRACTION:.0f} % for the test).", message)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train", help="train an LSTM forecaster on your CSV and save it (.keras)",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", metavar="DATA.csv",
                   help="CSV file with a header row, one row per time step, oldest first "
                        "(e.g. weather.csv)")
    add_model_options(p)
    p.add_argument("--backtest", type=positive_int, metavar="K",
                   help="after training, also run a rolling-origin backtest over K origins "
                        "(as `unrolled backtest --folds K`)")
    p.add_argument("--no-plot", action="store_true",
                   help="do not write the PNG of forecast vs truth on the test part")
    p.add_argument("--series-column", metavar="ID",
                   help="long format: the column naming each row's series (e.g. --series-"
                        "column store). One global model is trained on every series, each "
                        "scaled with its own training rows; the report has one line per "
                        "series and the pooled errors")
    p.add_argument("-o", "--output", required=True, metavar="MODEL",
                   help="model file to write, ending in .keras (e.g. -o weather.keras); "
                        "written only when training succeeded (with --per-series: a folder)")
    from .train_per_series import add_options as add_per_series_options

    add_per_series_options(p)


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


def run(args: argparse.Namespace) -> int:
    from ..forecast import assess, fit_forecaster, prepare, save_forecaster
    from ..forecast.model_file import check_output_path
    from ..forecast.plot import have_matplotlib, plot_assessment
    from ..forecast.report import (beats, comparison_table, coverage_text, model_name, plural,
                                   steps_table, steps_text, unit_of)

    if args.per_series:
        from .train_per_series import run_per_series

        return run_per_series(args)
    check_output_path(args.output)  # before minutes of training, not after
    if args.series_column:
        return run_many(args)
    try:
        table = read_data(args)
        data = prepare(table, **data_options(args))
    except DataError as err:
        raise DataError(cli_spelling(str(err))) from None
    spec = data.spec
    print(f"Read {data.selection.source}: {sum(b.stop - b.start for b in data.blocks)} rows.")
    print(data.selection.summary())
    print(f"time steps: {data.choices['frequency']}")
    print(f"season: {data.choices['season']}")
    print(f"target transform: {data.choices['transform']}")
    if spec.lags or spec.calendar or spec.future:
        print(f"derived inputs: {', '.join(spec.inputs[len(spec.features):])}")
    for name, block, w in zip(("train", "validation", "test"), data.blocks,
                              (data.train, data.val, data.test)):
        print(f"  {name:<10} rows {data.label(block.start)} .. {data.label(block.stop - 1)}"
              f" ({block.stop - block.start} rows, {len(w.x)} windows)")
    print(f"Each sample: x ({plural(spec.window, 'row')}, "
          f"{plural(len(spec.inputs), 'input')}) -> y ({plural(spec.horizon, 'row')}, "
          f"{plural(len(spec.targets), 'target')})\n")

    config = fit_config(args)
    from ..forecast.pipeline import build_model
    print(build_model(spec, units=args.units, layers=args.layers,
                      linear=data.ridge).summary(return_string=True))
    if spec.linear:
        print(f"The linear path (flatten -> linear) starts at the ridge regression on the "
              f"train windows (alpha {data.ridge.alpha:.3g}), the LSTM's output at 0.")
    fit = fit_forecaster(data, config, seed=args.seed, verbose="auto")
    for note in fit.notes:
        print(f"Note: {note}")
    fc = fit.forecaster
    st = stats_baselines(args, data)
    a = assess(fc, data.test, st.forecasts)
    name = model_name(spec)
    print(f"\nTest part ({len(a.pred)} windows, {steps_text(spec.horizon)}, never used in "
          "training):")
    print(comparison_table(a.comparison, unit=unit_of(spec), model_name=name))
    if spec.horizon > 1:
        print(steps_table(a.comparison))
    for target, c in a.per_target.items():
        print(f"\n  {target}:")
        print(comparison_table(c, unit=unit_of(spec, [target]), model_name=name, indent="    "))
    if a.coverage is not None:
        print(coverage_text(a.coverage, unit_of(spec)))
    if a.quantile_scores is not None:
        from ..forecast.quantiles import text as quantile_text

        print(quantile_text(a.quantile_scores, unit_of(spec)))
    for note in st.notes:
        print(f"Note: {note}")
    print(beats(a.comparison, name))
    path = save_forecaster(fc, args.output)
    print(f"\nWrote {path} ({fit.epochs} epochs). Next: unrolled predict {path} "
          f"{args.data}")
    if not args.no_plot and have_matplotlib():
        png = plot_assessment(path[:-len(".keras")] + "_test.png", a, data.test, data.time,
                              spec, title=f"{', '.join(spec.targets)}: test part")
        print(f"Wrote {png}")
    if args.backtest:
        from .backtest import run_backtest_report

        print()
        run_backtest_report(table, data_options(args), config, folds=args.backtest,
                            seeds=1, plot=None if args.no_plot else
                            path[:-len(".keras")] + "_backtest.png",
                            stats=stats_on(args))
    return 0


def run_many(args: argparse.Namespace) -> int:
    """``train --series-column``: one global model over every series of a long table."""
    from ..forecast import save_forecaster
    from ..forecast.many import assess_many, fit_many, per_series_table, prepare_many
    from ..forecast.report import beats, comparison_table, model_name, steps_table, steps_text

    table = read_data(args)
    try:
        md = prepare_many(table, args.series_column, **data_options(args))
    except DataError as err:
        raise DataError(cli_spelling(str(err))) from None
    spec = md.spec
    print(f"{md.choices['series']} in column {args.series_column!r}; inputs: "
          f"{', '.join(spec.inputs)}")
    print(f"target transform: {md.choices['transform']}")
    print(f"season: {md.choices['season']}")
    print(f"windows: train {len(md.pooled.train)}, validation {len(md.pooled.val)}, test "
          f"{len(md.pooled.test)} (each series split 70/15/15 by its own rows)\n")
    fit = fit_many(md, fit_config(args), seed=args.seed, verbose="auto")
    for note in fit.notes:
        print(f"Note: {note}")
    pooled, per, cov = assess_many(fit.forecaster, md.parts)
    name = model_name(spec)
    print(f"\nTest part, per series ({steps_text(spec.horizon)}):")
    print(per_series_table(per))
    print(f"\nAll series pooled ({pooled.samples} windows; errors in each series' own units):")
    print(comparison_table(pooled, model_name=name))
    if spec.horizon > 1:
        print(steps_table(pooled))
    if cov is not None:
        print(f"{args.interval * 100:.0f} % intervals: the truth fell inside {cov * 100:.1f} % "
              "of the time")
    print(beats(pooled, name))
    path = save_forecaster(fit.forecaster, args.output)
    print(f"\nWrote {path} ({fit.epochs} epochs; {len(per)} series). Next: unrolled predict "
          f"{path} {args.data}")
    if args.backtest:
        from .backtest import run_backtest_report

        print()
        run_backtest_report(table, data_options(args), fit_config(args), folds=args.backtest,
                            seeds=1, plot=None if args.no_plot else
                            path[:-len(".keras")] + "_backtest.png",
                            series_column=args.series_column)
    return 0
