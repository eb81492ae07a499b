"""Summary totals of models with wrappers equal Keras's, for random configurations."""
from __future__ import annotations

import numpy as np
import pytest

import unrolled

from ..peers import require


def _model(L, rng_seed, Sequential, Input):
    rng = np.random.default_rng(rng_seed)
    units = [int(u) for u in rng.integers(1, 6, 4)]
    kind = ["LSTM", "GRU", "SimpleRNN"][rng_seed % 3]
    merge = ["concat", "sum", "mul", "ave"][rng_seed % 4]
    cells = [getattr(L, f"{kind}Cell")(units[2]), L.LSTMCell(units[3])]
    return Sequential([
        Input((int(rng.integers(1, 5)), int(rng.integers(1, 5)))),
        L.Bidirectional(getattr(L, kind)(units[0], return_sequences=True), merge_mode=merge),
        L.TimeDistributed(L.Dense(units[1])),
        L.RNN(L.StackedRNNCells(cells)),
    ])


@pytest.mark.parametrize("seed", range(4))
def test_counts_equal_keras(seed):
    keras = require("keras")
    ours = _model(unrolled.layers, seed, unrolled.Sequential, unrolled.Input)
    theirs = _model(keras.layers, seed, keras.Sequential, keras.Input)
    assert ours.count_params() == theirs.count_params()
    assert [la.count_params() for la in ours.layers] == [la.count_params() for la in theirs.layers]
    for la in ours.layers:   # the formula line arrives at the same count
        assert f"= {la.count_params()}" in la.param_formula()
