"""GRU and SimpleRNN: forward parity with Keras 3, float64 finite-difference gradients,
configs that load into Keras and back. They share the LSTM's BPTT (core/scan.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import unrolled
from unrolled.layers import GRU, SimpleRNN
from tests.peers import require
from tests.reference import numeric_gradient

CONFIGS = [
    (GRU, {}),
    (GRU, {"reset_after": False}),
    (GRU, {"return_sequences": True, "go_backwards": True}),
    (GRU, {"use_bias": False, "activation": "relu", "recurrent_activation": "hard_sigmoid"}),
    (GRU, {"reset_after": False, "use_bias": False, "return_sequences": True}),
    (SimpleRNN, {}),
    (SimpleRNN, {"activation": "relu", "return_sequences": True}),
    (SimpleRNN, {"use_bias": False, "go_backwards": True}),
]


def _ids(c):
    return f"{c[0].__name__}-{'-'.join(f'{k}={v}' for k, v in c[1].items()) or 'default'}"


@pytest.mark.parametrize("cls, kwargs", CONFIGS, ids=[_ids(c) for c in CONFIGS])
def test_forward_matches_keras(cls, kwargs):
    keras = require("keras")
    rng = np.random.default_rng(7)
    batch, steps, features, units = 3, 6, 4, 5
    klayer = getattr(keras.layers, cls.__name__)(units, **kwargs)
    kmodel = keras.Sequential([keras.Input((steps, features)), klayer])
    umodel = unrolled.Sequential([unrolled.Input((steps, features)), cls(units, **kwargs)])
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in kmodel.get_weights()]
    assert [w.shape for w in umodel.get_weights()] == [w.shape for w in weights]
    kmodel.set_weights(weights)
    umodel.set_weights(weights)
    x = rng.normal(size=(batch, steps, features)).astype("float32")
    expected = np.asarray(kmodel.predict(x, verbose=0))
    got = umodel.predict(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)
    assert umodel.count_params() == kmodel.count_params()
    # Configs are interchangeable both ways.
    assert set(umodel.layers[0].get_config()) == set(klayer.get_config())
    cls.from_config(klayer.get_config())
    getattr(keras.layers, cls.__name__).from_config(json.loads(json.dumps(umodel.layers[0].get_config())))


GRAD_CONFIGS = CONFIGS + [
    (GRU, {"return_state": True, "activation": "softplus"}),
    (SimpleRNN, {"return_state": True, "activation": "silu", "return_sequences": True}),
]


@pytest.mark.parametrize("cls, kwargs", GRAD_CONFIGS, ids=[_ids(c) for c in GRAD_CONFIGS])
@pytest.mark.parametrize("batch, steps", [(2, 4), (1, 1)])
def test_gradients_match_finite_differences(cls, kwargs, batch, steps):
    rng = np.random.default_rng(3)
    layer = cls(3, dtype="float64", **kwargs)
    layer.build((None, steps, 2))
    for w in layer.weights:
        w[...] = rng.normal(0, 0.5, w.shape)
    x = rng.normal(size=(batch, steps, 2))
    h0 = rng.normal(size=(batch, 3))
    out, cache = layer.forward(x, initial_state=[h0])
    outs = out if isinstance(out, list) else [out]
    probes = [rng.normal(size=o.shape) for o in outs]

    def loss():
        o, _ = layer.forward(x, initial_state=[h0])
        return sum(float((a * p).sum()) for a, p in zip(o if isinstance(o, list) else [o], probes))

    dx, grads, d_initial = layer.backward_with_states(probes if layer.return_state else probes[0], cache)
    pairs = [(x, dx), (h0, d_initial[0])] + list(zip(layer.weights, grads))
    for arr, analytic in pairs:
        numeric = numeric_gradient(loss, arr)
        scale = max(1.0, np.abs(numeric).max())
        assert np.abs(numeric - analytic).max() / scale < 1e-6


def test_gate_views_and_parameter_formula():
    gru = GRU(2, input_shape=(3, 4))
    model = unrolled.Sequential([gru])
    assert gru.kernel_h.shape == (4, 2) and gru.recurrent_kernel_z.shape == (2, 2)
    assert gru.bias_r.shape == (2, 2)  # reset_after: rows are the input and recurrent biases
    assert np.shares_memory(gru.kernel_h, gru.kernel)
    assert model.count_params() == 3 * (4 * 2 + 2 * 2 + 2 * 2)
    assert f"= {model.count_params()}" in gru.param_formula()
    rnn = SimpleRNN(3)
    unrolled.Sequential([unrolled.Input((5, 2)), rnn])
    assert rnn.count_params() == 2 * 3 + 3 * 3 + 3
    assert "2·3 + 3·3 + 3 = 18" in rnn.param_formula()
