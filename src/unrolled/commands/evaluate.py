"""``unrolled evaluate``: a trained model's errors on a CSV, beside two baselines."""
from __future__ import annotations

import argparse
import textwrap

from ._args import add_reading_options, cell_format

DESCRIPTION = textwrap.dedent("""\
    Score a model from `unrolled train` on a CSV: forecast after every window that has
    H known rows after it, and print MAE and RMSE in the data's units beside two
    baselines that need no model:
      persistence    every forecast row equals the last observed value (tomorrow = today)
      training mean  every forecast row equals the target's mean over the training rows
    and how much lower (or higher) the model's errors are.

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
                   help="model file written by `unrolled train -o` (e.g. weather.keras)")
    p.add_argument("data", metavar="DATA.csv",
                   help="CSV with the model's columns, oldest row first "
                        "(e.g. weather-2016.csv)")
    add_reading_options(p)


def run(args: argparse.Namespace) -> int:
    from ..forecast import evaluate
    from ..forecast.report import beats, comparison_table, steps_text, unit_of

    from ..forecast.inputs import read_table
    from ..forecast.model_file import load_forecaster

    delimiter, fmt = cell_format(args)
    fc = load_forecaster(args.model)
    result = evaluate(fc, read_table(args.data, fc.spec, delimiter=delimiter, fmt=fmt))
    spec = result.spec
    cmp = result.comparison
    print(f"{result.source}: {cmp.samples} windows of {spec.window} rows, forecasting "
          f"{', '.join(spec.targets)} {steps_text(spec.horizon)}")
    print(comparison_table(cmp, unit=unit_of(spec)))
    if len(result.per_target) > 1:
        for name, c in result.per_target.items():
            print(f"\n  {name}:")
            print(comparison_table(c, unit=unit_of(spec, [name]), indent="    "))
    print(beats(cmp))
    return 0
