"""``unrolled inspect``: one self-contained HTML report on a trained model and its data."""
from __future__ import annotations

import argparse
import importlib.util
import textwrap
from typing import Any

import numpy as np

from ..errors import ConfigError

DESCRIPTION = textwrap.dedent("""\
    Write one HTML file that shows what a trained model does on its own data: the
    parameter formula of every layer, the unit diagram (every input feature feeding
    every gate, drawn from the weights), the gates and states over the window, what each
    feature and timestep contributed to the output (integrated gradients, with the
    completeness check), each unit's memory length and saturation, and for a forecaster
    the forecast beside the truth and the baselines.

    MODEL: a forecaster from `unrolled train`, or any model file unrolled opens.
    DATA: for a forecaster the CSV it reads (columns by name, scaled and windowed with
    the statistics stored in the model); otherwise a .npy array (batch, timesteps,
    features). Without DATA the input is random, and the report says so.
    The file opens offline: images and styles are embedded, there is no script.""")

EPILOG = textwrap.dedent("""\
    examples:
      unrolled inspect weather.keras weather.csv -o report.html
      unrolled inspect weather.keras weather.csv --window 100 --units 0,3
      unrolled inspect model.keras x.npy --layer lstm_1 -o lstm_1.html""")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _units(text: str) -> list[int]:
    try:
        return [int(u) for u in text.split(",") if u.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected unit numbers like 0,3, got {text!r}") from None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("inspect", help="write an HTML report that sees through a trained model",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="the model file")
    p.add_argument("data", metavar="DATA", nargs="?", help="CSV (forecaster) or .npy input")
    p.add_argument("-o", "--output", default="report.html", help="HTML file to write (default report.html)")
    p.add_argument("--window", type=_int, default=-1,
                   help="which window (sample) to explain, counted from 0; default the last (-1)")
    p.add_argument("--layer", metavar="NAME", help="the recurrent layer to show (default the first)")
    p.add_argument("--units", type=_units, help="units to draw, e.g. 0,3 (default the first two)")
    p.add_argument("--output-index", "--class", dest="output_index", type=_int, default=None,
                   help="which output value to explain: a class of a classifier (default the "
                        "predicted class; every class also gets its own table), or a "
                        "forecast step (default 0)")
    p.add_argument("--seed", type=_int, default=0, help="seed of the random input when no DATA is given")


def forecast_context(fc: Any, evaluation: Any = None) -> Any:
    """What a forecaster adds to the report: the scores on the data (``evaluation``, a
    forecast.Evaluation or None), its training curves, and the scaling that puts the
    attributions in the data's units."""
    from ..inspect.report import ForecastContext

    history = fc.training.get("history") if isinstance(fc.training, dict) else None
    spec = fc.spec
    # Output element h·T + t is step h+1 of target t (horizon-major); the network's
    # output z is standardised with scaler_z: z·σ_z + μ_z is the forecast (transform
    # level) or its change from the window's last value (transform diff).
    change = "the change of " if getattr(spec, "transform", "level") == "diff" else ""
    names = [f"{change}{t} step {h + 1}" for h in range(spec.horizon) for t in spec.targets]
    scale = np.asarray(fc.scalers.z.scale, float)
    mean = np.asarray(fc.scalers.z.mean, float)
    quantiles = list(getattr(spec, "quantiles", None) or [])
    if quantiles:   # output k·Q + j is quantile j of output k (quantile innermost)
        names = [f"{n} quantile {q:g}" for n in names for q in quantiles]
        scale, mean = np.repeat(scale, len(quantiles)), np.repeat(mean, len(quantiles))
    return ForecastContext(evaluation, history if isinstance(history, dict) else None,
                           list(spec.targets), scale, mean, names)


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("matplotlib") is None:
        raise ConfigError("unrolled inspect draws its figures with matplotlib: pip install 'unrolled[plot]'")
    if not args.output.lower().endswith((".html", ".htm")):
        raise ConfigError(f"the report is an HTML file: give -o a name ending in .html, got {args.output!r}")
    from ..inspect.report import write_report
    from ._subject import load_subject

    subject = load_subject(args.model, args.data, seed=args.seed)
    context = None
    if subject.forecaster is not None:
        context = forecast_context(subject.forecaster, subject.evaluation)
    output = args.output_index
    quantiles = list(getattr(subject.forecaster.spec, "quantiles", None) or []) if context else []
    if output is None and 0.5 in quantiles:
        output = quantiles.index(0.5)            # a quantile forecaster: the median, step 1
    write_report(args.output, subject.model, subject.x, feature_names=subject.feature_names,
                 sample=args.window, layer=args.layer, units=args.units, data_note=subject.note,
                 output=output, forecast=context)
    print(f"Inspected {args.model} on {subject.note}.")
    if subject.evaluation_note:
        print(subject.evaluation_note)
    print(f"Wrote the report to {args.output} (one file; open it in any browser, offline).")
    return 0
