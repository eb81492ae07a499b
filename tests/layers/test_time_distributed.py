"""TimeDistributed against Keras 3 (outputs, weight and input gradients), masks passed
through as Keras does, float64 finite differences, and `.keras` files both ways."""
from __future__ import annotations

import json

import numpy as np
import pytest

import unrolled
from unrolled.errors import InputShapeError
from unrolled.layers import GRU, LSTM, Dense, Masking, TimeDistributed

from ..peers import require
from ..reference import assert_same, keras_layer_sides, nonzero_uniform, numeric_gradient


def pair(make_ours, make_theirs, shape, seed=0):
    keras = require("keras")
    ours = TimeDistributed(make_ours())
    ours.build((None,) + shape)
    theirs = keras.layers.TimeDistributed(make_theirs(keras))
    theirs.build((None,) + shape)
    rng = np.random.default_rng(seed)
    weights = [nonzero_uniform(rng, w.shape, dtype="float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


CASES = [
    ("dense", lambda: Dense(3, activation="tanh"), lambda k: k.layers.Dense(3, activation="tanh"), (2, 4, 5)),
    ("dense T=1 B=1", lambda: Dense(2), lambda k: k.layers.Dense(2), (1, 1, 3)),
    ("dense 4-D", lambda: Dense(2), lambda k: k.layers.Dense(2), (2, 3, 2, 4)),
    ("lstm", lambda: LSTM(3), lambda k: k.layers.LSTM(3), (2, 3, 4, 2)),
    ("gru sequences", lambda: GRU(2, return_sequences=True),
     lambda k: k.layers.GRU(2, return_sequences=True), (1, 2, 3, 2)),
]


@pytest.mark.parametrize("label,make_ours,make_theirs,shape", CASES, ids=[c[0] for c in CASES])
def test_matches_keras(label, make_ours, make_theirs, shape):
    ours, theirs = pair(make_ours, make_theirs, shape[1:])
    x = np.random.default_rng(1).standard_normal(shape).astype("float32")
    sides = keras_layer_sides(ours, theirs, x)
    assert_same(sides, atol=2e-6, grad_rtol=2e-5)
    np.testing.assert_allclose(ours(x), sides.ours["output[0]"], atol=1e-6)
    assert ours.compute_output_shape((None,) + shape[1:]) == (None,) + sides.ours["output[0]"].shape[1:]


def test_finite_differences_float64():
    layer = TimeDistributed(LSTM(2, return_sequences=True, dtype="float64"), dtype="float64")
    layer.build((None, 2, 3, 2))
    rng = np.random.default_rng(2)
    layer.set_weights([nonzero_uniform(rng, w.shape) for w in layer.get_weights()])
    x = rng.standard_normal((2, 2, 3, 2))
    out, cache = layer.forward(x, training=True)
    r = rng.standard_normal(out.shape)
    dx, grads = layer.backward(r, cache)

    def loss():
        return float((layer.forward(x)[0] * r).sum())

    np.testing.assert_allclose(dx, numeric_gradient(loss, x), rtol=1e-6, atol=1e-9)
    for w, g in zip(layer.weights, grads):
        np.testing.assert_allclose(g, numeric_gradient(loss, w), rtol=1e-6, atol=1e-9)


def test_mask_passes_through_as_in_keras():
    """Masking -> TimeDistributed(Dense) -> LSTM: the LSTM sees the Masking layer's mask."""
    keras = require("keras")
    x = np.random.default_rng(3).standard_normal((3, 5, 2)).astype("float32")
    x[0, 3:] = 0.0
    x[1, 1:3] = 0.0
    ours = unrolled.Sequential([unrolled.Input((5, 2)), Masking(0.0), TimeDistributed(Dense(3)), LSTM(2)])
    theirs = keras.Sequential([keras.Input((5, 2)), keras.layers.Masking(0.0),
                               keras.layers.TimeDistributed(keras.layers.Dense(3)), keras.layers.LSTM(2)])
    rng = np.random.default_rng(4)
    weights = [nonzero_uniform(rng, w.shape, dtype="float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=2e-6)
    layer = ours.layers[1]
    mask = np.ones((3, 5), bool)
    assert layer.compute_mask(x, mask) is mask


def test_errors_and_config():
    keras = require("keras")
    td = TimeDistributed(Dense(2), name="td")
    with pytest.raises(InputShapeError, match="rank 3 or more"):
        td(np.zeros((4, 3), "float32"))
    td.build((None, 5, 3))
    config = json.loads(json.dumps(td.get_config()))
    again = TimeDistributed.from_config(config)
    assert again.get_config() == config
    theirs = keras.layers.TimeDistributed.from_config(config)
    assert theirs.layer.units == 2


def test_keras_file_both_ways(tmp_path):
    keras = require("keras")
    x = np.random.default_rng(5).standard_normal((2, 4, 3)).astype("float32")
    model = unrolled.Sequential([unrolled.Input((4, 3)), LSTM(3, return_sequences=True),
                                 TimeDistributed(Dense(2))])
    model.save(tmp_path / "u.keras")
    theirs = keras.saving.load_model(tmp_path / "u.keras")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), model.predict(x), atol=2e-6)
    theirs.save(tmp_path / "k.keras")
    back = unrolled.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(back.predict(x), model.predict(x), atol=2e-6)
