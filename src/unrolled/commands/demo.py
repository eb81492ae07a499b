"""``unrolled demo``: the main job on built-in data, start to finish (see
:mod:`unrolled.forecast.demo`)."""
from __future__ import annotations

import argparse
import os
import textwrap
from typing import Any

from ._args import positive_int

REPORT_FILE = "seattle_temp_max_report.html"

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
    installed (pip install 'unrolled[plot]'), a PNG of forecast vs truth and the
    `unrolled inspect` report of the trained model on the test part (one HTML file:
    the unit diagram, gates over time, what drove each forecast, memory per unit).""")

EPILOG = textwrap.dedent("""\
    examples:
      unrolled demo                                  # the full run (well under 2 minutes)
      unrolled demo --epochs 20 --output-dir /tmp/demo --quiet
      unrolled demo --report /tmp/demo.html            # the report elsewhere
      unrolled demo --no-report""")


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
    p.add_argument("--report", metavar="PATH", default=None,
                   help=f"write the `unrolled inspect` HTML report of the trained model here "
                        f"(default OUTPUT_DIR/{REPORT_FILE}; needs matplotlib)")
    p.add_argument("--no-report", action="store_true", help="do not write the report")


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..forecast.demo import run_demo

    if args.report is not None and args.no_report:
        raise ConfigError("--report and --no-report: give one of them.")
    if args.report is not None and not args.report.lower().endswith((".html", ".htm")):
        raise ConfigError(f"the report is an HTML file: give --report a name ending in .html, "
                          f"got {args.report!r}")
    result = run_demo(epochs=args.epochs, output_dir=args.output_dir, quiet=args.quiet)
    if not args.no_report and result is not None:
        path = args.report or os.path.join(args.output_dir, REPORT_FILE)
        written = write_demo_report(result, path)
        if written:
            print(f"Wrote the inspect report (unit diagram, gates, what drove the forecasts, "
                  f"memory per unit): {written}\n  open it in any browser; the same for any "
                  f"model: unrolled inspect MODEL.keras DATA.csv -o report.html")
    return 0


def write_demo_report(result: Any, path: str) -> str | None:
    """The report of the demo's model on the test part's windows (the last explained),
    with the forecast beside the truth and the baselines; None without matplotlib."""
    from ..forecast import Evaluation, assess, load_forecaster
    from ..forecast.plot import PLOT_HINT, have_matplotlib
    from ..inspect.report import write_report
    from .report import forecast_context

    if not have_matplotlib():
        print(f"No inspect report: matplotlib is not installed ({PLOT_HINT}).")
        return None
    fc = load_forecaster(result.model_path)        # exactly what the file holds
    data = result.data
    test = data.test
    a = assess(fc, test)
    ev = Evaluation(fc.spec, a.comparison, a.pred, test, a.per_target,
                    "the held-out test part of the bundled Seattle weather data",
                    a.coverage, data.time)
    first, last = (data.label(int(r) - 1) for r in (test.target_rows[0, 0], test.target_rows[-1, 0]))
    note = (f"the {len(test.x)} windows of the held-out test part (ending {first} .. {last}), "
            "scaled with the training statistics stored in the model")
    return write_report(path, fc.model, test.x, feature_names=list(fc.spec.inputs),
                        data_note=note, forecast=forecast_context(fc, ev),
                        title="Inside the demo's forecaster: Seattle temp_max")
