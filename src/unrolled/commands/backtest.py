"""``unrolled backtest``: rolling-origin evaluation over K origins and S seeds."""
from __future__ import annotations

import argparse
import textwrap
from typing import Any

from ._args import positive_int
from ._forecast_args import (add_model_options, cli_spelling, data_options, fit_config,
                             read_data, stats_on)

DESCRIPTION = textwrap.dedent("""\\
    Judge a forecasting setup the way forecasters do: train and test it again at K
    origins (rolling origin, expanding window) with S seeds each. The last rows are cut
    into K consecutive test blocks; fold k trains on everything before its validation
    block and never sees a row after its test block. Every choice (target transform,
    season, ridge penalty, scaling) is made again inside each fold.

    Prints the MAE at each step ahead (1..H) for the model and every baseline
    (persistence, seasonal naive, training mean, ridge on the window), as mean and
    standard deviation over folds x seeds, the interval coverage, and the model's margin
    over each baseline with its 95 % interval over all test windows; writes a plot of
    the error per step and, with -o, one CSV row per fold, seed and method.""")

EPILOG = textwrap.dedent("""\\
    examples:
      unrolled backtest weather.csv --target temp_max --window 14 --folds 5 --seeds 3
      unrolled backtest co2.csv --target co2 --window 52 --horizon 4 --folds 4 -o folds.csv""")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "backtest", help="rolling-origin evaluation over K origins and S seeds",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", metavar="DATA.csv",
                   help="CSV file with a header row, one row per time step, oldest first")
    add_model_options(p)
    p.add_argument("--folds", type=positive_int, default=5, metavar="K",
                   help="origins (test blocks) to evaluate (default 5)")
    p.add_argument("--seeds", type=positive_int, default=1, metavar="S",
                   help="seeds per origin, counted from --seed (default 1)")
    p.add_argument("--test-rows", type=positive_int, metavar="L",
                   help="rows per test block (default: the folds share the last 30 %% of "
                        "the rows, at least 2 x horizon)")
    p.add_argument("--plot", metavar="PNG", default="backtest.png",
                   help="where to draw the error per step (default backtest.png; 'none' "
                        "to skip)")
    p.add_argument("--series-column", metavar="ID",
                   help="long format: the column naming each row's series; each fold trains "
                        "one global model on every series (each cut at its own fold "
                        "blocks) and the report adds one line per series")
    p.add_argument("-o", "--output", metavar="OUT.csv",
                   help="write one row per fold, seed and method (MAE per step) to this CSV")


def run(args: argparse.Namespace) -> int:
    from ..errors import DataError

    plot = None if args.plot == "none" else args.plot
    try:
        run_backtest_report(read_data(args), data_options(args), fit_config(args), args.folds,
                            list(range(args.seed, args.seed + args.seeds)), plot=plot,
                            test_rows=args.test_rows, output=args.output,
                            stats=stats_on(args) and not args.series_column,
                            series_column=args.series_column)
    except DataError as err:
        raise DataError(cli_spelling(str(err))) from None
    return 0


def run_backtest_report(data: Any, options: dict, config: Any, folds: int, seeds: Any,
                        plot: str | None = None, test_rows: int | None = None,
                        output: str | None = None, stats: bool = False,
                        series_column: str | None = None) -> Any:
    """Run the backtest and print its report (shared with ``train --backtest``)."""
    from ..forecast.backtest import backtest
    from ..forecast.plot import have_matplotlib, plot_steps

    count = folds * (len(seeds) if isinstance(seeds, list) else seeds)
    print(f"Backtest: {folds} origin(s) x {count // folds} seed(s) = {count} training runs")

    def progress(r: Any) -> None:
        print(f"  fold {r.fold + 1} (test from {r.origin}, {r.windows} windows), seed "
              f"{r.seed}: model MAE {r.mae['model']:.4g}; "
              + ", ".join(f"{k} {v:.4g}" for k, v in r.mae.items() if k != "model")
              + f"  [{r.transform}" + (f", season {r.season}" if r.season else "") + "]",
              flush=True)

    if series_column:
        from ..forecast.backtest_many import backtest_many, per_series_text

        result = backtest_many(data, series_column, options, config, folds=folds, seeds=seeds,
                               test_rows=test_rows, on_fold=progress)
        print(report_text(result).replace("\nMAE per step", "\nAll series pooled (errors in "
                                          "each series' own units); MAE per step", 1))
        print(f"\nPer series, MAE averaged over the runs:\n{per_series_text(result)}")
    else:
        result = backtest(data, options, config, folds=folds, seeds=seeds,
                          test_rows=test_rows, on_fold=progress, stats=stats)
        print(report_text(result))
    if output:
        from ..io.atomic import atomic_write_bytes

        atomic_write_bytes(output, csv_text(result).encode("utf-8"))
        print(f"Wrote {output}")
    if plot and have_matplotlib():
        print(f"Wrote {plot_steps(plot, result.step_mean(), result.step_spread(), 'Backtest: MAE per step ahead')}")
    return result


def report_text(result: Any) -> str:
    mean, spread, mae = result.step_mean(), result.step_spread(), result.mae()
    h = result.horizon
    lines = ["", f"MAE per step ahead, mean ± sd over {len(result.folds)} fold x seed runs:",
             f"  {'':<16}" + "".join(f"{k + 1:>15}" for k in range(h)) + f"{'all steps':>17}"]
    for name in result.names:
        cells = "".join(f"{m:>8.4g} ± {s:<4.2g}" for m, s in zip(mean[name], spread[name]))
        lines.append(f"  {name:<16}{cells}{mae[name][0]:>10.4g} ± {mae[name][1]:<.2g}")
    cov = [f.coverage for f in result.folds if f.coverage is not None]
    if cov:
        width = [f.width for f in result.folds if f.width is not None]
        lines.append(f"  interval coverage {sum(cov) / len(cov) * 100:.1f} % on average "
                     f"(per run {min(cov) * 100:.0f}..{max(cov) * 100:.0f} %), mean width "
                     f"{sum(width) / len(width):.4g}")
    qs = result.quantile_summary()
    if qs is not None:
        from ..forecast.quantiles import text as quantile_text

        lines.append(quantile_text(qs).replace("Quantiles (", "Quantiles, mean over runs ("))
    margins = result.margins()
    if margins:
        lines.append("Model vs each baseline over every test window (MAE change, 95 % interval):")
        for name, m in margins.items():
            rel, lo, hi = m.relative
            word = {"better": "lower", "worse": "higher", "tie": "a tie within noise"}[m.verdict]
            lines.append(f"  {name:<16}{rel * 100:+7.1f} %  ({lo * 100:+.1f} .. {hi * 100:+.1f} "
                         f"%): {word}")
        best = min((n for n in mae if n != "model"), key=lambda n: mae[n][0])
        verdict = margins[best].verdict if best in margins else "tie"
        lines.append({"better": f"The model beats the best baseline ({best}).",
                      "worse": f"The model does NOT beat the best baseline ({best}).",
                      "tie": f"The model ties with the best baseline ({best}) within noise."}
                     [verdict])
    return "\n".join(lines)


def csv_text(result: Any) -> str:
    h = result.horizon
    rows = ["fold,seed,origin,method,windows,mae," + ",".join(f"mae_step{k + 1}" for k in range(h))]
    for f in result.folds:
        for name, steps in f.steps.items():
            rows.append(f"{f.fold + 1},{f.seed},{f.origin},{name},{f.windows},{f.mae[name]:.6g},"
                        + ",".join(f"{v:.6g}" for v in steps))
    return "\n".join(rows) + "\n"
