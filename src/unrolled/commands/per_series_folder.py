"""``unrolled predict|evaluate FOLDER DATA.csv``: a folder of per-series models
(``train --per-series``), each series of the file with its own model."""
from __future__ import annotations

import argparse
import os
import sys

from ..errors import ConfigError


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--series-column", metavar="ID",
                   help="with a folder of per-series models (train --per-series): the "
                        "column naming each row's series (default: the one they were "
                        "trained with)")


def is_folder(path: str) -> bool:
    """A folder written by ``train --per-series`` (it holds ``series.json``)."""
    from ..forecast.per_series import MANIFEST

    return os.path.isfile(os.path.join(path, MANIFEST))


def _problems(problems: dict[str, str]) -> None:
    if problems:
        print(f"{len(problems)} series not done (the others are):", file=sys.stderr)
        for name, why in problems.items():
            print(f"  {name}: {why}", file=sys.stderr)


def run_predict(args: argparse.Namespace) -> int:
    from ..forecast.per_series_apply import forecast_folder
    from ..io.atomic import atomic_write_bytes
    from ._args import cell_format

    data = args.data[0] if isinstance(args.data, list) else args.data
    if isinstance(args.data, list) and len(args.data) > 1 or "*" in data or \
            getattr(args, "output_dir", None):
        raise ConfigError("a folder of per-series models forecasts one file (with every "
                          f"series in it) at a time; got {' '.join(args.data)}")
    if args.output:
        from ..io.atomic import check_writable_path

        check_writable_path(args.output)
    delimiter, fmt = cell_format(args)
    res = forecast_folder(args.model, data, every_window=args.all, series=args.series,
                          series_column=args.series_column, fill=args.fill,
                          delimiter=delimiter, fmt=fmt)
    _problems(res.problems)
    if res.forecasts is None:
        return 1
    text = res.forecasts.csv_text()
    if not args.output:
        sys.stdout.write(text)
    else:
        atomic_write_bytes(args.output, text.encode("utf-8"))
        print(f"Wrote {len(res.forecasts.values) * res.forecasts.spec.horizon} forecast "
              f"row(s) for {len(res.forecasts.values)} window(s) of "
              f"{len(set(res.forecasts.series[1]))} series to {args.output}")  # type: ignore[index]
    return 1 if res.problems else 0


def run_evaluate(args: argparse.Namespace) -> int:
    from ..forecast.many import per_series_table
    from ..forecast.per_series_apply import evaluate_folder
    from ._args import cell_format

    delimiter, fmt = cell_format(args)
    res = evaluate_folder(args.model, args.data, series=args.series,
                          series_column=args.series_column, fill=args.fill,
                          delimiter=delimiter, fmt=fmt)
    if res.comparisons:
        print(f"{args.data}: each series scored by its own model from {args.model}/ "
              f"(column {res.series_column!r})")
        print(per_series_table(res.comparisons))
        verdicts: dict[str, int] = {}
        for c in res.comparisons.values():
            best = c.best_baseline
            v = c.margins[best].verdict if best in c.margins else "?"
            verdicts[v] = verdicts.get(v, 0) + 1
        print("  vs the best baseline: " + ", ".join(f"{v} on {n} series"
                                                      for v, n in sorted(verdicts.items())))
    _problems(res.problems)
    return 1 if res.problems or not res.comparisons else 0
