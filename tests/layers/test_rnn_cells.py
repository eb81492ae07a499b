"""RNN(cell) with LSTMCell / GRUCell / SimpleRNNCell / StackedRNNCells against Keras 3
(outputs, every weight gradient, input and initial-state gradients, masks), against the
matching layers, float64 finite differences, configs and `.keras` files both ways."""
from __future__ import annotations

import json

import numpy as np
import pytest

import unrolled
from unrolled.layers import GRU, LSTM, RNN, GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells

from ..peers import require
from ..reference import assert_same, keras_layer_sides, nonzero_uniform, numeric_gradient


class FlatStates:
    """Keras's stacked RNN returns one list of states per cell; unrolled returns them flat."""

    def __init__(self, layer):
        self.layer, self.trainable_weights = layer, layer.trainable_weights

    def __call__(self, x, **kwargs):
        out = self.layer(x, **kwargs)
        if not isinstance(out, (list, tuple)):
            return out
        flat = []
        for o in out:
            flat += list(o) if isinstance(o, (list, tuple)) else [o]
        return flat


def pair(make, shape, seed=0):
    keras = require("keras")
    ours, theirs = make(unrolled.layers), make(keras.layers)
    ours.build((None,) + shape)
    theirs.build((None,) + shape)
    rng = np.random.default_rng(seed)
    weights = [nonzero_uniform(rng, w.shape, dtype="float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    assert [tuple(w.shape) for w in theirs.weights] == [w.shape for w in ours.weights]
    return ours, theirs


CASES = {
    "lstm cell": lambda L: L.RNN(L.LSTMCell(3), return_sequences=True),
    "lstm cell state back": lambda L: L.RNN(L.LSTMCell(2), return_state=True, go_backwards=True),
    "gru cell": lambda L: L.RNN(L.GRUCell(3), return_sequences=True, return_state=True),
    "gru cell reset before": lambda L: L.RNN(L.GRUCell(2, reset_after=False)),
    "simple cell": lambda L: L.RNN(L.SimpleRNNCell(3, activation="relu"), return_sequences=True),
    "stacked": lambda L: L.RNN(L.StackedRNNCells([L.LSTMCell(3), L.GRUCell(2)]), return_sequences=True),
    "stacked back": lambda L: L.RNN(L.StackedRNNCells([L.SimpleRNNCell(2), L.LSTMCell(3)]),
                                    go_backwards=True, return_sequences=True),
    "stacked list state": lambda L: L.RNN([L.GRUCell(2), L.LSTMCell(3), L.SimpleRNNCell(2)],
                                          return_state=True),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("shape", [(2, 4, 3), (1, 1, 2)])
def test_matches_keras(name, shape):
    ours, theirs = pair(CASES[name], shape[1:])
    x = np.random.default_rng(1).standard_normal(shape).astype("float32")
    sides = keras_layer_sides(ours, FlatStates(theirs), x)
    assert_same(sides, atol=2e-6, grad_rtol=2e-5, may_be_zero=True if shape[1] == 1 else ())
    called = ours(x)
    called = called if isinstance(called, list) else [called]
    for k, value in enumerate(called):
        np.testing.assert_allclose(value, sides.ours[f"output[{k}]"], atol=1e-6)


@pytest.mark.parametrize("name", ["lstm cell state back", "stacked back", "stacked list state"])
@pytest.mark.parametrize("where", ["end", "middle"])
def test_masks_match_keras(name, where):
    ours, theirs = pair(CASES[name], (5, 3), seed=2)
    x = np.random.default_rng(3).standard_normal((3, 5, 3)).astype("float32")
    mask = np.ones((3, 5), bool)
    if where == "end":
        mask[0, 3:] = mask[2, 1:] = False
    else:
        mask[0, 2] = False
        mask[1, 1:4] = False
    assert_same(keras_layer_sides(ours, FlatStates(theirs), x, mask=mask), atol=2e-6, grad_rtol=2e-5)


def test_initial_state_of_stacked_cells_matches_keras():
    keras, torch = require("keras"), require("torch")
    ours, theirs = pair(CASES["stacked list state"], (4, 3), seed=4)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 3)).astype("float32")
    sizes = [2, 3, 3, 2]   # GRU h, LSTM h and c, SimpleRNN h
    states = [rng.standard_normal((2, n)).astype("float32") for n in sizes]

    class Nested(FlatStates):
        def __call__(self, x, initial_state=None, **kwargs):
            s = initial_state
            return super().__call__(x, initial_state=[[s[0]], [s[1], s[2]], [s[3]]], **kwargs)

    sides = keras_layer_sides(ours, Nested(theirs), x, initial_state=states)
    assert_same(sides, atol=2e-6, grad_rtol=2e-5)


@pytest.mark.parametrize("cell,layer", [(lambda: LSTMCell(3), lambda: LSTM(3)),
                                        (lambda: GRUCell(3), lambda: GRU(3))])
def test_same_numbers_and_kernel_as_the_layer(cell, layer):
    rnn, lstm = RNN(cell(), return_sequences=True), layer()
    lstm.return_sequences = True
    rnn.build((None, 5, 2))
    lstm.build((None, 5, 2))
    rng = np.random.default_rng(6)
    w = [nonzero_uniform(rng, a.shape, dtype="float32") for a in rnn.get_weights()]
    rnn.set_weights(w)
    lstm.set_weights(w)
    x = rng.standard_normal((4, 5, 2)).astype("float32")
    np.testing.assert_array_equal(rnn(x), lstm(x))
    assert rnn.engines[0].kernel_choice.name == lstm.kernel_choice.name
    assert np.shares_memory(rnn.cell.kernel, rnn.weights[0])
    assert np.shares_memory(rnn.engines[0].recurrent_kernel, rnn.cell.recurrent_kernel)


def test_finite_differences_float64():
    cells = [LSTMCell(2, dtype="float64"), GRUCell(2, reset_after=False, dtype="float64")]
    layer = RNN(StackedRNNCells(cells, dtype="float64"), return_sequences=True, return_state=True,
                go_backwards=True, dtype="float64")
    layer.build((None, 3, 2))
    rng = np.random.default_rng(7)
    layer.set_weights([nonzero_uniform(rng, w.shape) for w in layer.get_weights()])
    x = rng.standard_normal((2, 3, 2))
    mask = np.array([[True, False, True], [True, True, False]])
    states = [rng.standard_normal((2, 2)) for _ in range(3)]
    out, cache = layer.forward(x, initial_state=states, mask=mask)
    cot = [rng.standard_normal(o.shape) for o in out]

    def loss():
        o = layer.forward(x, initial_state=states, mask=mask)[0]
        return float(sum((a * r).sum() for a, r in zip(o, cot)))

    dx, grads, d_init = layer.backward_with_states(cot, cache)
    np.testing.assert_allclose(dx, numeric_gradient(loss, x), rtol=1e-6, atol=1e-9)
    for w, g in zip(layer.weights, grads):
        np.testing.assert_allclose(g, numeric_gradient(loss, w), rtol=1e-6, atol=1e-9)
    for s, g in zip(states, d_init):
        np.testing.assert_allclose(g, numeric_gradient(loss, s), rtol=1e-6, atol=1e-9)


def test_dropout_cells_and_stateful():
    rng = np.random.default_rng(8)
    a = RNN(LSTMCell(3, dropout=0.5, recurrent_dropout=0.5), return_sequences=True)
    b = RNN(LSTMCell(3), return_sequences=True)
    a.build((None, 4, 2))
    b.build((None, 4, 2))
    w = [nonzero_uniform(rng, v.shape, dtype="float32") for v in a.get_weights()]
    a.set_weights(w)
    b.set_weights(w)
    x = rng.standard_normal((3, 4, 2)).astype("float32")
    np.testing.assert_array_equal(a(x), b(x))
    assert not np.allclose(a(x, training=True), b(x))
    s = RNN([LSTMCell(3), GRUCell(2)], stateful=True, return_sequences=True)
    s.build((3, 4, 2))
    whole = s(x)
    s.reset_states()
    parts = np.concatenate([s(x[:, :1]), s(x[:, 1:])], axis=1)
    np.testing.assert_allclose(parts, whole, atol=1e-6)
    assert len(s.states) == 3


def test_configs_match_keras_schema():
    keras = require("keras")
    for make in CASES.values():
        ours, theirs = pair(make, (4, 3))
        config = json.loads(json.dumps(ours.get_config()))
        again = RNN.from_config(config)
        assert again.get_config() == config
        keras_config = theirs.get_config()
        assert sorted(config) == sorted(keras_config)
        mine_cell, their_cell = config["cell"], keras_config["cell"]
        assert mine_cell["class_name"] == their_cell["class_name"]
        assert sorted(mine_cell["config"]) == sorted(their_cell["config"])
        keras.layers.RNN.from_config(config)


@pytest.mark.parametrize("name", ["lstm cell", "stacked"])
def test_keras_file_both_ways(tmp_path, name):
    keras = require("keras")
    import h5py
    import zipfile
    x = np.random.default_rng(9).standard_normal((2, 4, 3)).astype("float32")
    model = unrolled.Sequential([unrolled.Input((4, 3)), CASES[name](unrolled.layers),
                                 unrolled.layers.Dense(1)])
    model.save(tmp_path / "u.keras")
    with zipfile.ZipFile(tmp_path / "u.keras") as zf, h5py.File(zf.open("model.weights.h5")) as h5:
        key = "layers/rnn/cell/vars/0" if name == "lstm cell" else "layers/rnn/cell/cells/gru_cell/vars/2"
        assert key in h5
    theirs = keras.saving.load_model(tmp_path / "u.keras")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), model.predict(x), atol=2e-6)
    theirs.save(tmp_path / "k.keras")
    back = unrolled.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(back.predict(x), model.predict(x), atol=2e-6)
    back.compile(optimizer="adam", loss="mse")
    back.fit(x, np.ones((2, 4, 1)), epochs=2, verbose=0)


def test_bidirectional_rnn_cell_matches_keras():
    make = lambda L: L.Bidirectional(L.RNN(L.LSTMCell(2), return_sequences=True))  # noqa: E731
    ours, theirs = pair(make, (4, 3), seed=10)
    x = np.random.default_rng(11).standard_normal((2, 4, 3)).astype("float32")
    mask = np.array([[True, True, False, False], [True, False, True, True]])
    assert_same(keras_layer_sides(ours, theirs, x, mask=mask), atol=2e-6, grad_rtol=2e-5)
