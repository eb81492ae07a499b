"""``unrolled train DATA --series-column ID --per-series -o FOLDER``: one model per series,
trained in parallel (``--jobs``, ``--scheduler``), resumable."""
from __future__ import annotations

import argparse
import os
import sys

from ..errors import ConfigError, DataError


def add_options(p: argparse.ArgumentParser) -> None:
    from ..parallel import add_parallel_options

    p.add_argument("--per-series", action="store_true",
                   help="with --series-column: train one model per series instead of one "
                        "global model, each exactly as `unrolled train` on that series "
                        "alone; -o names a folder that gets FOLDER/<series>.keras. Series "
                        "are trained in parallel (--jobs, --scheduler); a failing series is "
                        "reported and the others go on; a re-run skips finished series")
    add_parallel_options(p)


def check_folder(path: str) -> str:
    if path.endswith(".keras"):
        raise ConfigError(f"with --per-series, -o names a folder for the per-series models "
                          f"(e.g. -o models/), got the file name {path!r}")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"cannot write the per-series models into {path!r}: it is a file")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ConfigError(f"cannot create {path!r}: its folder {parent!r} does not exist")
    return path.rstrip("/\\") or path


def run_per_series(args: argparse.Namespace) -> int:
    from ..forecast.per_series import per_series_report, train_per_series
    from ..parallel import Progress, executor_from_args
    from ._forecast_args import cli_spelling, data_options, fit_config, read_data

    if not args.series_column:
        raise ConfigError("--per-series needs --series-column ID (the column naming each "
                          "row's series)")
    if args.backtest:
        raise ConfigError("--backtest with --per-series is not supported yet")
    out_dir = check_folder(args.output)
    try:
        table = read_data(args)
    except DataError as err:
        raise DataError(cli_spelling(str(err))) from None
    progress: list[Progress] = []

    def plan(todo: int, done: int) -> None:
        print(f"{todo + done} series in column {args.series_column!r}: "
              f"{done} finished by an earlier run, {todo} to train on {ex.name}",
              flush=True)
        progress.append(Progress(todo, "series"))

    written = [0]

    def step(outcome: object) -> None:
        written[0] += bool(getattr(outcome, "ok", False))
        progress[0](outcome)  # type: ignore[arg-type]

    try:
        with executor_from_args(args, root_seed=args.seed) as ex:
            run = train_per_series(table, args.series_column, data_options(args),
                                   fit_config(args), out_dir, ex, seed=args.seed,
                                   cap_mb=args.task_memory, on_plan=plan, on_outcome=step)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {written[0]} series written to {out_dir}/ in this run; run "
              "the same command again to train the rest", file=sys.stderr)
        raise
    run.failures = {n: e._replace(message=cli_spelling(e.message))
                    for n, e in run.failures.items()}
    print(f"Shipped to the workers: {run.shipping}.")
    print("\nTest part of each series, beside its best baseline:")
    print(per_series_report(run))
    ok = len(run.files) - len(run.failures)
    print(f"\nWrote {ok} model(s) to {out_dir}/ ({len(run.skipped)} from an earlier run). "
          f"Next: unrolled predict {out_dir} {args.data} --series-column "
          f"{args.series_column}")
    if run.failures:   # as `make -k`: the others are written, the status says not all were
        print(f"{len(run.failures)} series failed; see above.", file=sys.stderr)
        return 1
    return 0
