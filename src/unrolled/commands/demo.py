"""``unrolled demo``: the seed's two models, explained, and a forward pass through each.

(The forecasting issue turns this into a full training run on built-in data.)
"""
from __future__ import annotations

import argparse

import numpy as np


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    subparsers.add_parser("demo", help="run the main job on built-in data",
                          description="Build the seed's LSTM models, explain them and run them.")


def run(args: argparse.Namespace) -> int:
    from ..inspect.explain import explain_lstm
    from ..layers import LSTM
    from ..models import Sequential
    from ..random import set_random_seed

    set_random_seed(0)
    for features in (1, 2):
        print(explain_lstm(1, 1, features))
        model = Sequential([LSTM(1, input_shape=(1, features))])
        x = np.arange(features, dtype=np.float32).reshape(1, 1, features) + 1.0
        print(f"\nForward pass: x = {x.tolist()} -> h = {model.predict(x).tolist()}\n")
    return 0
