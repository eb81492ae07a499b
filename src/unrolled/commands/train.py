"""``unrolled train``: fit an LSTM forecaster to a CSV and save it as one ``.keras`` file."""
from __future__ import annotations

import argparse
import textwrap

from ..errors import DataError
from ..forecast.pipeline import PATIENCE, TEST_FRACTION, VAL_FRACTION
from ._args import positive_int
from ._forecast_args import (add_model_options, cli_spelling, data_options, fit_config,
                             read_data, stats_baselines, stats_on)

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
