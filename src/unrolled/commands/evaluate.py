"""``unrolled evaluate``: a trained model's errors on a CSV, beside two baselines."""
from __future__ import annotations

import argparse
import textwrap

from ._args import (add_fill_override, add_reading_options, cell_format, column_list,
                    with_fill)

DESCRIPTION = textwrap.dedent("""\
    Score a model from `unrolled train` on a CSV: forecast after every window that has
    H known rows after it, and print MAE and RMSE in the data's units beside baselines
    scored on the same targets:
      persistence     every forecast row equals the last observed value (tomorrow = today)
      seasonal naive  every forecast row equals the row one season earlier (if seasonal)
      training mean   every forecast row equals the target's mean over the training rows
      ridge           the ridge regression on the same window stored in the model
    with the model's margin over each (MAE change and its 95 % interval), the MAE at
    each step ahead, and the coverage and width of the prediction intervals.

    The CSV needs the model's input and target columns (same names). For an honest
    score use rows the model was not trained on; `unrolled train` already reports its
    own held-out test part.""")

EPILOG = textwrap.dedent("""\
    example:
      unrolled evaluate weather.keras weather-2016.csv""")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate", help="score a trained model on a CSV beside two baselines",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL",
                   help="model file written by `unrolled train -o` (e.g. weather.keras), or "
                        "the folder of `train --per-series`")
    p.add_argument("data", metavar="DATA.csv",
                   help="CSV with the model's columns, oldest row first "
                        "(e.g. weather-2016.csv)")
    p.add_argument("--plot", metavar="PNG",
                   help="draw forecast vs truth (with intervals) and the error per step "
                        "to this PNG (e.g. --plot eval.png)")
    p.add_argument("--series", type=column_list, metavar="A,B",
                   help="for a model trained with --series-column: only these series "
                        "(default: every series in the file)")
    p.add_argument("--no-stats", action="store_true",
                   help="skip the AutoETS / AutoARIMA baselines (statsforecast, computed by "
                        "default when installed)")
    add_fill_override(p)
    add_reading_options(p)
    from .per_series_folder import add_options as add_folder_options

    add_folder_options(p)


def run(args: argparse.Namespace) -> int:
    from ..forecast import evaluate
    from ..forecast.report import (beats, comparison_table, coverage_text, model_name,
                                   steps_table, steps_text, unit_of)

    from ..forecast.apply import read_for
    from ..forecast.model_file import load_forecaster

    from .per_series_folder import is_folder, run_evaluate

    if is_folder(args.model):   # train --per-series: one model per series
        return run_evaluate(args)
    delimiter, fmt = cell_format(args)
    fc = with_fill(load_forecaster(args.model), args)
    from ._forecast_args import stats_on

    result = evaluate(fc, read_for(fc.spec, args.data, delimiter=delimiter, fmt=fmt),
                      series=args.series, stats=stats_on(args) and not fc.series)
    spec = result.spec
    cmp = result.comparison
    name = model_name(spec)
    print(f"{result.source}: {cmp.samples} windows of {spec.window} rows, forecasting "
          f"{', '.join(spec.targets)} {steps_text(spec.horizon)}")
    if result.per_series:
        from ..forecast.many import per_series_table

        print(per_series_table(result.per_series))
        print("All series pooled (errors in each series' own units):")
    print(comparison_table(cmp, unit=unit_of(spec), model_name=name))
    if spec.horizon > 1:
        print(steps_table(cmp))
    if len(result.per_target) > 1:
        for target, c in result.per_target.items():
            print(f"\n  {target}:")
            print(comparison_table(c, unit=unit_of(spec, [target]), model_name=name,
                                   indent="    "))
    if result.coverage is not None:
        print(coverage_text(result.coverage, unit_of(spec)).replace(", mean width nan", ""))
    if result.quantiles is not None:
        from ..forecast.quantiles import text as quantile_text

        print(quantile_text(result.quantiles, unit_of(spec)))
    for note in result.notes:
        print(f"Note: {note}")
    print(beats(cmp, name))
    if args.plot and not result.per_series:
        from ..forecast.fit import Assessment
        from ..forecast.plot import plot_assessment

        lo = hi = None
        if result.intervals is not None:
            lo, hi = result.intervals.bounds(result.pred)
        a = Assessment(result.pred, cmp, result.per_target, result.coverage, lo, hi,
                       result.quantile_pred, result.quantiles)
        print(f"Wrote {plot_assessment(args.plot, a, result.windows, result.time, spec, title=result.source)}")
    return 0
