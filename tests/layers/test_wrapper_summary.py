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


def test_kernel_report_names_the_wrapped_layers_and_the_dropout_reason():
    from unrolled.layers import LSTM, RNN, Bidirectional, Dense, GRUCell, LSTMCell
    model = unrolled.Sequential([unrolled.Input((5, 3)),
                                 Bidirectional(LSTM(4, return_sequences=True, recurrent_dropout=0.2)),
                                 RNN([LSTMCell(3), GRUCell(2)]), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((2, 5, 3), "float32"), np.zeros((2, 1)), verbose=0)
    lines = model.kernel_report()
    names = [line.split(" ", 1)[0] for line in lines]
    assert names[:2] == [model.layers[0].forward_layer.name, model.layers[0].backward_layer.name]
    assert "recurrent_dropout in training: the dropout kernel" in lines[0]
    assert "bidirectional: one direction after the other" in lines[0]
    assert len(lines) == 4 and "(LSTM)" in lines[2] and "(GRU)" in lines[3]
