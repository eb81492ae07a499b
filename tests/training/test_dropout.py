"""Dropout: Keras 3's inverted dropout, its backward pass, seeding and config."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

import unrolled
from tests.peers import require
from unrolled.errors import ConfigError, InputShapeError
from unrolled.layers import LSTM, Dense, Dropout
from unrolled.layers.serialization import deserialize, serialize


def test_identity_at_inference_and_inverted_scaling_in_training():
    x = np.random.default_rng(0).uniform(0.5, 1.5, size=(64, 10, 8)).astype("float32")
    layer = Dropout(0.25, seed=1)
    assert layer(x) is x or np.array_equal(layer(x), x)
    y, cache = layer.forward(x, training=True)
    assert y.dtype == np.float32 and y.shape == x.shape
    kept = y != 0
    assert np.array_equal(kept, cache.mask)
    np.testing.assert_array_equal(y[kept], x[kept] / np.float32(0.75))
    assert abs(kept.mean() - 0.75) < 0.02                 # 5120 draws: ~0.006 std
    assert abs(y.mean() / x.mean() - 1) < 0.03            # the expectation is kept


def test_rate_zero_and_one_and_float64():
    x = np.ones((2, 3, 4))
    np.testing.assert_array_equal(Dropout(0.0).forward(x, training=True)[0], x)
    y, cache = Dropout(1.0).forward(x, training=True)
    np.testing.assert_array_equal(y, 0)
    np.testing.assert_array_equal(Dropout(1.0).backward(np.ones_like(x), cache)[0], 0)
    y64, _ = Dropout(0.5, dtype="float64").forward(x, training=True)
    assert y64.dtype == np.float64


def test_backward_routes_the_gradient_through_the_kept_units():
    """dL/dx by central differences (float64, the same mask: the same seed)."""
    rng = np.random.default_rng(3)
    x, r = rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 4, 5))

    def loss(inp):
        return float(np.sum(Dropout(0.4, seed=7, dtype="float64").forward(inp, training=True)[0] * r))

    layer = Dropout(0.4, seed=7, dtype="float64")
    _, cache = layer.forward(x, training=True)
    dx, grads = layer.backward(r, cache)
    assert grads == []
    numeric = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[idx] = 1e-6
        numeric[idx] = (loss(x + step) - loss(x - step)) / 2e-6
    np.testing.assert_allclose(dx, numeric, atol=1e-8)
    np.testing.assert_array_equal(dx == 0, ~cache.mask)


def test_noise_shape_shares_the_mask_along_axes_of_size_one():
    x = np.ones((6, 7, 5), "float32")
    y, cache = Dropout(0.5, noise_shape=(None, 1, None), seed=0).forward(x, training=True)
    assert cache.mask.shape == (6, 1, 5)
    assert all(np.array_equal(y[:, 0], y[:, t]) for t in range(7))   # same features dropped at every step
    dx, _ = Dropout(0.5, noise_shape=(None, 1, None), seed=0).backward(np.ones_like(x), cache)
    np.testing.assert_array_equal(dx, y)
    with pytest.raises(InputShapeError, match="noise_shape"):
        Dropout(0.5, noise_shape=(None, 3, None)).forward(x, training=True)
    with pytest.raises(InputShapeError, match="axes"):
        Dropout(0.5, noise_shape=(None, 1)).forward(x, training=True)


@pytest.mark.parametrize("kwargs", [dict(rate=1.5), dict(rate=-0.1), dict(rate="half"),
                                    dict(rate=0.5, noise_shape="abc"), dict(rate=0.5, noise_shape=(0, 1))])
def test_bad_arguments(kwargs):
    with pytest.raises(ConfigError):
        Dropout(**kwargs)


def test_seeds_make_masks_reproducible():
    x = np.ones((4, 5, 6), "float32")
    a = Dropout(0.5, seed=11).forward(x, training=True)[0]
    b = Dropout(0.5, seed=11).forward(x, training=True)[0]
    np.testing.assert_array_equal(a, b)
    layer = Dropout(0.5, seed=11)
    layer.forward(x, training=True)
    assert not np.array_equal(layer.forward(x, training=True)[0], a)   # the stream moves on
    unrolled.set_random_seed(4)
    c = Dropout(0.5).forward(x, training=True)[0]
    unrolled.set_random_seed(4)
    np.testing.assert_array_equal(Dropout(0.5).forward(x, training=True)[0], c)


def test_config_round_trip_and_keras_reads_it():
    layer = Dropout(0.3, noise_shape=(None, 1, None), seed=5, name="drop")
    data = json.loads(json.dumps(serialize(layer)))
    again = deserialize(data)
    assert isinstance(again, Dropout) and again.get_config() == layer.get_config()
    keras = require("keras")
    theirs = keras.layers.Dropout.from_config(data["config"])
    assert (theirs.rate, theirs.seed, tuple(theirs.noise_shape)) == (0.3, 5, (None, 1, None))
    assert set(layer.get_config()) == set(keras.layers.Dropout(0.3).get_config())


def test_in_a_model_dropout_trains_and_predicts_like_keras():
    keras = require("keras")
    model = unrolled.Sequential([LSTM(3, input_shape=(4, 2)), Dropout(0.5, seed=0), Dense(1)])
    twin = keras.Sequential([keras.Input((4, 2)), keras.layers.LSTM(3), keras.layers.Dropout(0.5),
                             keras.layers.Dense(1)])
    twin.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(9, 4, 2)).astype("float32")
    np.testing.assert_allclose(model(x), twin.predict(x, verbose=0), atol=1e-6)   # inference: identity
    assert not np.allclose(model.forward(x, training=True)[0], model(x))
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, np.zeros((9, 1)), epochs=2, verbose=0)
    assert re.search(r"dropout(_\d+)? \(Dropout\) .* 0 ", model.summary(return_string=True))
