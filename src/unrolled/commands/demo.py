"""``unrolled demo``: the main job on built-in data, start to finish (see
:mod:`unrolled.forecast.demo`)."""
from __future__ import annotations

import argparse
import textwrap

from ._args import positive_int

DESCRIPTION = textwrap.dedent("""\
    Forecast tomorrow's maximum temperature in Seattle from the last 14 days of four
    measurements (precipitation, temp_max, temp_min, wind), using the daily weather data
    bundled with unrolled (2012-2015, NOAA public domain, via the vega_datasets package).

    Steps shown: the columns used and ignored, the chronological train / validation /
    test split, the standardisation (training rows only), the model's summary with where
    every parameter comes from, training with a progress bar and early stopping, then
    the held-out test part's MAE and RMSE in °C beside two baselines (persistence:
    tomorrow = today; training mean) and the relative improvement. Writes the trained
    model (.keras, loadable by Keras 3 and `unrolled predict`) and, with matplotlib
    installed (pip install 'unrolled[plot]'), a PNG of forecast vs truth.""")

EPILOG = textwrap.dedent("""\
    examples:
      unrolled demo                                  # the full run (well under 2 minutes)
      unrolled demo --epochs 20 --output-dir /tmp/demo --quiet""")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ..forecast.demo import EPOCHS, OUTPUT_DIR

    p = subparsers.add_parser("demo", help="run the main job on built-in weather data",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=positive_int, default=EPOCHS, metavar="N",
                   help=f"most training epochs; early stopping usually ends sooner "
                        f"(default {EPOCHS}; e.g. --epochs 20 for a quick run)")
    p.add_argument("--output-dir", default=OUTPUT_DIR, metavar="DIR",
                   help=f"directory for the model file and the plot, created if needed "
                        f"(default ./{OUTPUT_DIR}/; e.g. --output-dir /tmp/demo)")
    p.add_argument("--quiet", action="store_true",
                   help="print only the results and where they were written, no data "
                        "description, summary or progress bar (e.g. for scripts)")


def run(args: argparse.Namespace) -> int:
    from ..forecast.demo import run_demo

    run_demo(epochs=args.epochs, output_dir=args.output_dir, quiet=args.quiet)
    return 0
