"""``unrolled explain``: show how a recurrent layer's parameters and shapes arise."""
from __future__ import annotations

import argparse

from ..errors import ConfigError


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "explain",
        help="explain a layer's parameters, weight shapes and equations",
        description="Print the summary, parameter breakdown, per-gate weight shapes and "
                    "equations of Sequential([LSTM(U, input_shape=(T, F))]), and what having "
                    "F features per timestep means.",
        epilog="example: unrolled explain --units 1 --timesteps 1 --features 2   (16 parameters)",
    )
    p.add_argument("--units", type=_positive, default=1, help="units U of the layer (default 1)")
    p.add_argument("--timesteps", type=_positive, default=1, help="timesteps T per sample (default 1)")
    p.add_argument("--features", type=_positive, default=1, help="features F per timestep (default 1)")
    p.add_argument("--layer", default="lstm", choices=["lstm"], help="layer kind (default lstm)")


def run(args: argparse.Namespace) -> int:
    from ..inspect.explain import explain_lstm

    if args.layer != "lstm":  # pragma: no cover - argparse restricts choices
        raise ConfigError(f"unknown layer {args.layer!r}")
    print(explain_lstm(args.units, args.timesteps, args.features))
    return 0
