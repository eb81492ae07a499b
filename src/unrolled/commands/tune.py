"""``unrolled tune``: a grid of windows × units × learning rates, every run a task."""
from __future__ import annotations

import argparse
import textwrap
import time
from typing import Any

from ._args import add_reading_options, column_list, positive_float, positive_int

DESCRIPTION = textwrap.dedent("""\
    Try every combination of the values given to --window, --units, --lr (and --layers)
    and keep the best. Each configuration is trained on the usual split (70 % train,
    15 % validation, 15 % test) or, with --backtest K, at K rolling origins; each
    (configuration, split) is one task on the local process pool (--jobs) or a Dask
    cluster (--scheduler). Every run uses the same seed.

    The best configuration is the one with the lowest mean validation MAE; the test
    MAE is reported beside it and never used to choose. Prints the table ranked by
    validation MAE, writes it as CSV (--table), and saves the best configuration's
    model, trained on the usual split, to -o.""")

EPILOG = textwrap.dedent("""\
    examples:
      unrolled tune weather.csv --target temp_max --window 7,14,28 --units 16,32,64 \\
          --lr 1e-3,3e-3 -o best.keras
      unrolled tune sales.csv --target units --window 12,24 --units 16,32 --lr 1e-3 \\
          --backtest 3 --scheduler tcp://10.0.0.5:8786 -o best.keras --table grid.csv""")


def int_list(text: str) -> list[int]:
    """argparse type: comma-separated positive integers (``7,14,28``)."""
    try:
        return [positive_int(v.strip()) for v in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers such "
                                         f"as 7,14,28, got {text!r}") from None


def float_list(text: str) -> list[float]:
    """argparse type: comma-separated positive numbers (``1e-3,3e-3``)."""
    try:
        return [positive_float(v.strip()) for v in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive numbers such "
                                         f"as 1e-3,3e-3, got {text!r}") from None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ..parallel import add_parallel_options
    from ._forecast_args import add_forecast_options

    p = subparsers.add_parser(
        "tune", help="grid search over windows, units and learning rates, in parallel",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", metavar="DATA.csv",
                   help="CSV file with a header row, one row per time step, oldest first")
    p.add_argument("--target", action="append", required=True, metavar="COL",
                   help="column to forecast; repeat for several")
    p.add_argument("--window", type=int_list, required=True, metavar="N,N",
                   help="windows to try, comma-separated (e.g. --window 7,14,28)")
    p.add_argument("--units", type=int_list, default=[32], metavar="U,U",
                   help="LSTM units to try (default 32; e.g. --units 16,32,64)")
    p.add_argument("--lr", type=float_list, default=[1e-3], metavar="X,X",
                   help="Adam learning rates to try (default 0.001; e.g. --lr 1e-3,3e-3)")
    p.add_argument("--layers", type=int_list, default=[1], metavar="K,K",
                   help="stacked LSTM layers to try (default 1)")
    p.add_argument("--backtest", type=positive_int, metavar="K",
                   help="score every configuration at K rolling origins (as `unrolled "
                        "backtest --folds K`) instead of the one split; the table shows mean "
                        "± sd over the folds")
    p.add_argument("--features", type=column_list, metavar="COLS",
                   help="comma-separated input columns (default: every numeric column)")
    p.add_argument("--time-column", metavar="COL",
                   help="column holding the time of each row ('none' = file order; "
                        "default: found automatically)")
    p.add_argument("--horizon", type=positive_int, default=1, metavar="H",
                   help="rows ahead forecast from each window (default 1)")
    p.add_argument("--epochs", type=positive_int, default=100, metavar="E",
                   help="most passes over the training rows per run (default 100; early "
                        "stopping usually ends sooner)")
    p.add_argument("--batch-size", type=positive_int, default=32, metavar="B",
                   help="windows per gradient step (default 32)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="the seed every run uses (default 0)")
    p.add_argument("--fill", choices=["ffill", "interpolate", "drop"],
                   help="what to do with empty cells (default: stop with an error)")
    add_forecast_options(p)
    p.add_argument("-o", "--output", required=True, metavar="MODEL",
                   help="where to save the best configuration's model (.keras)")
    p.add_argument("--table", metavar="OUT.csv",
                   help="write the table here (default: MODEL's name with _tune.csv)")
    add_reading_options(p)
    add_parallel_options(p)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError, DataError
    from ..forecast.fit import FitConfig
    from ..forecast.model_file import check_output_path
    from ..forecast.pipeline import load_series
    from ..forecast.tune import grid, run_config, splits
    from ..io.atomic import atomic_write_bytes, check_writable_path
    from ..parallel import Progress, Task, executor_from_args
    from ._forecast_args import cli_spelling, read_data

    out = check_output_path(args.output)
    table_path = check_writable_path(args.table or out[:-len(".keras")] + "_tune.csv")
    configs = grid(args.window, args.units, args.lr, args.layers)
    future = getattr(args, "future", None)
    options = dict(horizon=args.horizon, transform=args.target_transform,
                   season=args.season, calendar=args.calendar, linear=not args.no_linear,
                   fill=args.fill,
                   **({"quantiles": args.quantiles} if getattr(args, "quantiles", None) else {}),
                   **({"future": future} if future else {}))
    features = args.features
    if future and features is not None:  # as prepare: known-future columns are inputs too
        features = list(dict.fromkeys(list(features) + list(future)))
    base = FitConfig(epochs=args.epochs, batch_size=args.batch_size,
                     interval=args.interval or None)
    try:
        series = load_series(read_data(args), args.target, features,
                             time_column=args.time_column, fill=args.fill)
        parts = splits(len(series.X), args.horizon, args.backtest)
    except DataError as err:
        raise DataError(cli_spelling(str(err))) from None
    keep = not args.backtest  # on the usual split, each run's model may be the one saved
    tasks = [Task(key=f"{c.label} {s.name}", fn=run_config,
                  args=(series, s, options, base, c, args.seed), kwargs={"keep_model": keep})
             for c in configs for s in parts]
    print(f"Tuning on {series.selection.source}: {len(configs)} configuration(s) x "
          f"{len(parts)} split(s) = {len(tasks)} training run(s)")
    start = time.perf_counter()
    with executor_from_args(args, root_seed=args.seed) as ex:
        print(f"  on {ex.describe()}", flush=True)
        outcomes = ex.map(tasks, on_outcome=Progress(len(tasks), "runs"))
        runs = [o.value for o in outcomes if o.ok]
        failed = [o for o in outcomes if not o.ok]
        for o in failed:
            print(f"  {o.key}: FAILED: {o.error.type}: {o.error.message}")
        if not runs:
            raise ConfigError(f"every run failed; the first: {failed[0].error}")
        report = report_runs(runs, configs, bool(args.backtest))
        print(report.text)
        atomic_write_bytes(table_path, report.csv.encode("utf-8"))
        print(f"Wrote the table to {table_path}")
        chosen = report.best
        if args.backtest:  # train the chosen configuration on the usual split to save it
            usual = splits(len(series.X), args.horizon)[0]
            final = ex.map([Task(key=f"{chosen.config.label} final", fn=run_config,
                                 args=(series, usual, options, base, chosen.config,
                                       args.seed), kwargs={"keep_model": True})])[0]
            if not final.ok:
                raise ConfigError(f"training the chosen configuration failed: {final.error}")
            saved: Any = final.value
            print(f"The chosen configuration on the usual split: validation MAE "
                  f"{saved.val_mae:.4g}, test MAE {saved.test_mae:.4g}")
        else:
            saved = next(r for r in runs if r.config == chosen.config)
        shipped = str(ex.shipping)
    atomic_write_bytes(out, saved.model)
    print(f"Wrote {out} ({chosen.config.label}) in {time.perf_counter() - start:.1f} s. "
          f"Shipped to workers: {shipped}")
    return 1 if failed else 0


class Report:
    def __init__(self, text: str, csv: str, best: Any) -> None:
        self.text, self.csv, self.best = text, csv, best


def report_runs(runs: list, configs: list, folds: bool) -> Report:
    """The printed table (ranked by validation MAE), its CSV and the chosen row."""
    from ..forecast.tune import best, summarize, table_csv

    rows = summarize(runs, configs)
    chosen = best(rows)
    pm = (lambda m, s: f"{m:.4g} ± {s:.2g}") if folds else (lambda m, s: f"{m:.4g}")
    lines = ["", f"{'configuration':<36}{'validation MAE':>18}{'test MAE':>18}"
                 f"{'epochs':>8}  transform"]
    for r in sorted(rows, key=lambda r: r.val_mae):
        mark = " *" if r is chosen else ""
        lines.append(f"{r.config.label + mark:<36}{pm(r.val_mae, r.val_sd):>18}"
                     f"{pm(r.test_mae, r.test_sd):>18}{r.epochs:>8.3g}  {r.transforms}")
    how = "mean ± sd over the folds" if folds else "one split"
    lines.append(f"* best by validation MAE ({how}): {chosen.config.label}: validation MAE "
                 f"{chosen.val_mae:.4g}, test MAE {chosen.test_mae:.4g}"
                 + (f" ± {chosen.test_sd:.2g}" if folds else ""))
    missing = [c for c in configs if c not in {r.config for r in rows}]
    if missing:
        lines.append("no result (every run failed): " + ", ".join(c.label for c in missing))
    return Report("\n".join(lines), table_csv(rows), chosen)
