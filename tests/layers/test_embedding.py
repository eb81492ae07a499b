"""Embedding against Keras 3: lookups, the scatter-add gradient (repeated indices), the
mask from ``mask_zero`` flowing into an LSTM exactly as in Keras, integer-input checks,
float64 finite differences and config round trips."""
from __future__ import annotations

import numpy as np
import pytest

import unrolled
from unrolled.errors import ConfigError, InputShapeError
from unrolled.layers import LSTM, Dense, Embedding, Input

from ..peers import require
from ..reference import assert_same, nonzero_uniform, numeric_gradient
from .compare import config_round_trip


def _pair(config, seed=0):
    keras = require("keras")
    ours = Embedding(**config)
    ours.build(None)
    theirs = keras.layers.Embedding(**config)
    theirs.build()
    assert [w.name for w in theirs.weights] == ours.weight_names == ["embeddings"]
    w = nonzero_uniform(np.random.default_rng(seed), ours.embeddings.shape, dtype="float32")
    ours.set_weights([w])
    theirs.set_weights([w])
    return ours, theirs


@pytest.mark.parametrize("shape", [(3, 5), (1, 1), (2, 3, 2)])
def test_matches_keras_with_repeated_indices(shape):
    torch = require("torch")
    ours, theirs = _pair({"input_dim": 7, "output_dim": 4})
    rng = np.random.default_rng(1)
    x = rng.integers(0, 7, shape)
    x.flat[0] = x.flat[-1]                       # a repeated index: the gradients must add up
    r = rng.standard_normal(shape + (4,)).astype("float32")
    out_t = theirs(torch.tensor(x))
    (out_t * torch.from_numpy(r)).sum().backward()
    out, cache = ours.forward(x)
    dx, (d_table,) = ours.backward(r, cache)
    assert dx is None
    np.testing.assert_array_equal(out, out_t.detach().numpy())
    np.testing.assert_allclose(d_table, theirs.embeddings.value.grad.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(ours(x), out)
    np.testing.assert_array_equal(ours(x.astype("float32")), out)     # whole-number floats
    assert ours.compute_output_shape((None,) + shape[1:]) == (None,) + out.shape[1:]


def test_finite_differences_float64():
    layer = Embedding(5, 3, dtype="float64")
    layer.build(None)
    layer.set_weights([nonzero_uniform(np.random.default_rng(2), (5, 3))])
    x = np.array([[1, 4, 1], [0, 2, 1]])
    r = np.random.default_rng(3).standard_normal((2, 3, 3))
    out, cache = layer.forward(x)
    _, (g,) = layer.backward(r, cache)
    num = numeric_gradient(lambda: float((layer.forward(x)[0] * r).sum()), layer._weights["embeddings"])
    np.testing.assert_allclose(g, num, rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(g[3], 0)       # an index never used gets no gradient


def test_mask_zero_into_lstm_matches_keras_model():
    """Padding at the end and in the middle; outputs and every weight gradient of the
    whole model, Keras computing the same loss through its own mask propagation."""
    keras = require("keras")
    torch = require("torch")
    x = np.array([[3, 1, 4, 0, 0], [2, 0, 5, 6, 1], [0, 0, 0, 7, 2]])
    ours = unrolled.Sequential([Input((5,)), Embedding(8, 3, mask_zero=True), LSTM(4), Dense(2)])
    theirs = keras.Sequential([keras.Input((5,)), keras.layers.Embedding(8, 3, mask_zero=True),
                               keras.layers.LSTM(4), keras.layers.Dense(2)])
    rng = np.random.default_rng(4)
    weights = [nonzero_uniform(rng, w.shape, dtype="float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    r = rng.standard_normal((3, 2)).astype("float32")
    out_t = theirs(torch.tensor(x))
    (out_t * torch.from_numpy(r)).sum().backward()
    out, caches = ours.forward(x, training=True)
    _, grads = ours.backward(r, caches)
    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=2e-6)
    for w, g in zip(theirs.trainable_weights, grads):
        np.testing.assert_allclose(g, w.value.grad.numpy(), rtol=2e-5, atol=2e-6, err_msg=w.path)
    # the mask changed the result: without it the padded steps would count
    plain = unrolled.Sequential([Input((5,)), Embedding(8, 3), LSTM(4), Dense(2)])
    plain.set_weights(weights)
    assert not np.allclose(plain(x), out, atol=1e-3)
    np.testing.assert_allclose(ours(x), out, atol=1e-6)


def test_mask_and_config():
    layer = Embedding(10, 2, mask_zero=True)
    x = np.array([[1, 0, 2]])
    np.testing.assert_array_equal(layer.compute_mask(x, None), [[True, False, True]])
    assert Embedding(10, 2).compute_mask(x, None) is None
    assert layer.creates_mask and not Embedding(10, 2).creates_mask
    layer.build(None)
    cfg = config_round_trip(layer)
    assert cfg["embeddings_initializer"]["class_name"] == "RandomUniform"
    assert Embedding(4, 2, input_length=7).get_config()["input_dim"] == 4   # Keras 2's argument
    w = np.arange(8.0).reshape(4, 2)
    np.testing.assert_array_equal(Embedding(4, 2, weights=[w]).embeddings, w)


def test_integer_checks_are_clear():
    layer = Embedding(5, 2)
    with pytest.raises(InputShapeError, match=r"non-integer value 1\.5 at position \(0, 1\)"):
        layer(np.array([[1.0, 1.5]]))
    with pytest.raises(InputShapeError, match=r"input_dim=5.*\[0, 4\]; got 5 at position \(1, 0\)"):
        layer(np.array([[1, 2], [5, 0]]))
    with pytest.raises(InputShapeError, match="got -1 at position"):
        layer(np.array([[-1]]))
    with pytest.raises(InputShapeError, match="integer indices, got an array of dtype <U"):
        layer(np.array([["a"]]))
    with pytest.raises(ConfigError, match="input_dim must be a positive integer"):
        Embedding(0, 2)
    with pytest.raises(ConfigError, match="lora_rank"):
        Embedding(3, 2, lora_rank=2)
    model = unrolled.Sequential([Input((2,)), Embedding(5, 2), Dense(1)])
    with pytest.raises(InputShapeError, match="got 9 at position"):
        model.predict(np.array([[1, 9]]), verbose=0)
