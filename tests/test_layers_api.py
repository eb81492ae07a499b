"""The public layer/model API: per-gate views, configs, dtypes, empty batches,
initializers, seeding and numerical robustness."""
from __future__ import annotations

import json
import warnings
from types import ModuleType

import numpy as np
import pytest

import unrolled
from unrolled.core import activations
from unrolled.layers import LSTM, Dense, InputLayer

from .peers import require
from .reference import NUMPY_ACTIVATIONS, nonzero_uniform, numpy_lstm, random_weights

GATES = ("i", "f", "c", "o")
PACKED = ("kernel", "recurrent_kernel", "bias")


def _lstm(units: int = 3, features: int = 2, seed: int = 0, **kwargs) -> LSTM:
    layer = LSTM(units, dtype=kwargs.pop("dtype", "float64"), **kwargs)
    layer.build((None, 4, features))
    layer.set_weights(random_weights(layer, np.random.default_rng(seed)))
    return layer


def _x(shape: tuple[int, ...], seed: int = 1, dtype: str = "float64") -> np.ndarray:
    return nonzero_uniform(np.random.default_rng(seed), shape, 0.05, 1.0, dtype)


def _json(config: dict) -> dict:
    return json.loads(json.dumps(config))


# -- per-gate views ------------------------------------------------------------------------
def test_all_twelve_gate_views_have_keras_shapes_and_share_memory() -> None:
    F, H = 5, 3
    layer = _lstm(H, F)
    expected = {"kernel": (F, H), "recurrent_kernel": (H, H), "bias": (H,)}
    for packed in PACKED:
        whole = getattr(layer, packed)
        for j, gate in enumerate(GATES):
            view = getattr(layer, f"{packed}_{gate}")
            assert view.shape == expected[packed], (packed, gate)
            assert np.shares_memory(view, whole), (packed, gate)
            # Block j of the packed array, in Keras's order i, f, c, o.
            np.testing.assert_array_equal(view, whole[..., j * H:(j + 1) * H])


def _expected_output(layer: LSTM, x: np.ndarray, kernel, recurrent, bias) -> np.ndarray:
    return numpy_lstm(x, kernel, recurrent, bias, activation=layer.activation.name,
                      recurrent_activation=layer.recurrent_activation.name).h


def test_writing_into_a_kernel_view_changes_the_output_as_the_equations_say() -> None:
    layer = _lstm(3, 2)
    x = _x((2, 4, 2))
    before = layer(x)
    W, U, b = (w.copy() for w in layer.get_weights())
    new_wc = _x((2, 3), seed=9)
    layer.kernel_c[...] = new_wc
    # Independent expectation: rebuild the packed kernel block by block (i, f, c, o).
    W_expected = np.concatenate([W[:, 0:3], W[:, 3:6], new_wc, W[:, 9:12]], axis=1)
    np.testing.assert_array_equal(layer.kernel, W_expected)
    after = layer(x)
    assert np.max(np.abs(after - before)) > 1e-3
    np.testing.assert_allclose(after, _expected_output(layer, x, W_expected, U, b), atol=1e-12)


@pytest.mark.parametrize("packed", PACKED)
@pytest.mark.parametrize("gate", GATES)
def test_assigning_a_view_updates_only_that_block(packed: str, gate: str) -> None:
    layer = _lstm(2, 3)
    x = _x((3, 4, 3))
    before = layer(x)
    weights = {name: w.copy() for name, w in zip(PACKED, layer.get_weights())}
    whole = getattr(layer, packed)
    identity = id(whole)
    new = _x(getattr(layer, f"{packed}_{gate}").shape, seed=5) * 3
    setattr(layer, f"{packed}_{gate}", new)
    assert id(getattr(layer, packed)) == identity  # updated in place, not replaced
    blocks = [weights[packed][..., j * 2:(j + 1) * 2] for j in range(4)]
    blocks[GATES.index(gate)] = new
    weights[packed] = np.concatenate(blocks, axis=-1)
    np.testing.assert_array_equal(getattr(layer, packed), weights[packed])
    after = layer(x)
    assert np.max(np.abs(after - before)) > 1e-4
    np.testing.assert_allclose(after, _expected_output(layer, x, *weights.values()), atol=1e-12)


def test_view_assignment_with_wrong_shape_is_refused() -> None:
    layer = _lstm(2, 3)
    with pytest.raises(unrolled.ConfigError, match=r"bias_f.*\(2,\).*\(3,\)"):
        layer.bias_f = np.ones(3)


def test_use_bias_false_gives_no_bias_views() -> None:
    layer = _lstm(2, 3, use_bias=False)
    assert layer.bias is None
    assert layer.weight_names == ["kernel", "recurrent_kernel"]
    for gate in GATES:
        assert getattr(layer, f"bias_{gate}") is None
        assert getattr(layer, f"kernel_{gate}").shape == (3, 2)
    assert layer.count_params() == 4 * (3 * 2 + 2 * 2)


def test_views_before_build_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="before build"):
        _ = LSTM(2).kernel_i


# -- configs ---------------------------------------------------------------------------------
LAYER_CONFIGS = [
    (LSTM, dict(units=3, activation="relu", recurrent_activation="hard_sigmoid",
                return_sequences=True, go_backwards=True, use_bias=False, name="rnn")),
    (LSTM, dict(units=2, return_state=True, unit_forget_bias=False, dtype="float64",
                kernel_initializer="he_normal", bias_initializer="ones", seed=3)),
    (Dense, dict(units=4, activation="softmax", name="probs")),
    (Dense, dict(units=2, use_bias=False, kernel_initializer="random_normal", trainable=False)),
]


@pytest.mark.parametrize("cls, kwargs", LAYER_CONFIGS, ids=lambda v: getattr(v, "__name__", ""))
def test_layer_config_round_trips_through_json(cls, kwargs) -> None:
    layer = cls(**kwargs)
    layer.build((None, 4, 3))
    layer.set_weights(random_weights(layer, np.random.default_rng(0)))
    config = layer.get_config()
    clone = cls.from_config(json.loads(json.dumps(config)))
    assert _json(clone.get_config()) == _json(config)
    assert clone.name == layer.name and clone.dtype == layer.dtype
    clone.build((None, 4, 3))
    clone.set_weights(layer.get_weights())
    x = _x((2, 4, 3))
    for a, b in zip(*(o if isinstance(o, list) else [o] for o in (layer(x), clone(x)))):
        np.testing.assert_array_equal(a, b)


def test_input_config_round_trips_through_json() -> None:
    inp = unrolled.Input((5, 3), name="series").layer   # Input() is a tensor, as in Keras 3
    clone = InputLayer.from_config(json.loads(json.dumps(inp.get_config())))
    assert clone.get_config() == inp.get_config()
    assert clone.batch_shape == (None, 5, 3) and clone.name == "series"


def _model(dtype: str = "float32") -> unrolled.Sequential:
    return unrolled.Sequential([
        unrolled.Input((4, 3), dtype=dtype),
        LSTM(3, return_sequences=True, dtype=dtype),
        LSTM(2, go_backwards=True, dtype=dtype),
        Dense(2, activation="softmax", dtype=dtype),
    ], name="model")


def test_sequential_config_round_trips_through_json() -> None:
    model = _model()
    model.set_weights(random_weights(model, np.random.default_rng(2)))
    config = model.get_config()
    clone = unrolled.Sequential.from_config(json.loads(json.dumps(config)))
    assert _json(clone.get_config()) == _json(config)
    assert [type(layer) for layer in clone.layers] == [LSTM, LSTM, Dense]
    assert clone.count_params() == model.count_params()
    clone.set_weights(model.get_weights())
    x = _x((5, 4, 3), dtype="float32")
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    return require("keras")


@pytest.mark.parametrize("cls_name, kwargs", [
    ("LSTM", dict(units=3)),
    ("LSTM", dict(units=2, activation="relu", recurrent_activation="hard_sigmoid",
                  return_sequences=True, return_state=True, go_backwards=True, use_bias=False,
                  unit_forget_bias=False, kernel_initializer="he_uniform",
                  recurrent_initializer="glorot_normal", bias_initializer="ones", seed=7)),
    ("Dense", dict(units=2)),
    ("Dense", dict(units=3, activation="softmax", use_bias=False,
                   kernel_initializer="random_normal")),
])
def test_keras_layer_config_loads_into_unrolled_and_back(keras, cls_name: str, kwargs) -> None:
    theirs = getattr(keras.layers, cls_name)(**kwargs)
    keras_config = theirs.get_config()
    ours = getattr(unrolled.layers, cls_name).from_config(keras_config)
    our_config = ours.get_config()
    assert set(our_config) >= set(keras_config), set(keras_config) - set(our_config)
    for key in keras_config:
        assert _json(our_config)[key] == _json(keras_config)[key], key
    # ... and Keras accepts ours (through JSON) and describes the same layer.
    again = getattr(keras.layers, cls_name).from_config(json.loads(json.dumps(our_config)))
    assert _json(again.get_config()) == _json(keras_config)


def test_keras_sequential_config_loads_into_unrolled(keras) -> None:
    theirs = keras.Sequential([keras.Input((4, 3)), keras.layers.LSTM(3, return_sequences=True),
                               keras.layers.Dense(2, activation="softmax")], name="tagger")
    theirs.set_weights([nonzero_uniform(np.random.default_rng(k), tuple(w.shape), 0.1, 0.5, "float32")
                        for k, w in enumerate(theirs.get_weights())])
    ours = unrolled.Sequential.from_config(json.loads(json.dumps(theirs.get_config())))
    ours.set_weights(theirs.get_weights())
    x = _x((2, 4, 3), dtype="float32")
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=1e-5)


# -- dtypes and shapes -------------------------------------------------------------------------
def test_float64_on_request_stays_float64_end_to_end() -> None:
    model = _model("float64")
    assert all(w.dtype == np.float64 for w in model.weights)
    x = _x((2, 4, 3), dtype="float32")  # float32 data into a float64 model
    out, caches = model.forward(x)
    assert out.dtype == np.float64
    dx, grads = model.backward(np.ones_like(out), caches)
    assert dx.dtype == np.float64 and all(g.dtype == np.float64 for g in grads)
    assert model.predict(x).dtype == np.float64
    layer = _lstm(2, 3, return_sequences=True, return_state=True)
    assert all(o.dtype == np.float64 for o in layer(x))


@pytest.mark.parametrize("layer_name", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_empty_batch_trains_with_every_kernel(layer_name: str, return_sequences: bool) -> None:
    """Forward and backward at batch 0 on each recurrent layer's training kernel: empty
    outputs and input gradient, zero weight gradients of the weights' shapes."""
    layer = getattr(unrolled.layers, layer_name)(3, return_sequences=return_sequences)
    layer.build((None, 4, 2))
    y, cache = layer.forward(np.zeros((0, 4, 2), np.float32), training=True)
    assert y.shape == ((0, 4, 3) if return_sequences else (0, 3))
    dx, grads = layer.backward(np.zeros_like(y), cache)
    assert dx.shape == (0, 4, 2)
    assert [g.shape for g in grads] == [w.shape for w in layer.trainable_weights]
    assert all(not g.any() for g in grads)


def test_forward_before_build_says_how_to_build() -> None:
    layer = LSTM(3)
    assert not hasattr(layer, "kernel")
    with pytest.raises(AttributeError, match=r"LSTM 'lstm\w*' has no 'kernel' yet.*build"):
        layer.forward(np.zeros((2, 4, 2), np.float32))


@pytest.mark.parametrize("data_dtype", ["float64", "int64", "bool", "float16"])
def test_output_is_float32_by_default(data_dtype: str) -> None:
    model = _model()
    x = (_x((2, 4, 3)) * 3).astype(data_dtype)
    assert model.predict(x).dtype == np.float32
    assert all(w.dtype == np.float32 for w in model.weights)
    dense = Dense(2)
    assert dense(x).dtype == np.float32
    state = LSTM(2, return_state=True)(x)
    assert [s.dtype for s in state] == [np.float32] * 3


def test_empty_batch_gives_empty_results_of_the_right_shape() -> None:
    x = np.zeros((0, 4, 3), dtype=np.float32)
    assert LSTM(2)(x).shape == (0, 2)
    assert LSTM(2, return_sequences=True)(x).shape == (0, 4, 2)
    assert [s.shape for s in LSTM(2, return_state=True)(x)] == [(0, 2)] * 3
    assert Dense(5)(x).shape == (0, 4, 5)
    assert Dense(5)(np.zeros((0, 3))).shape == (0, 5)
    model = _model()
    assert model.predict(x).shape == (0, 2)
    out, caches = model.forward(x)
    dx, grads = model.backward(np.zeros_like(out), caches)
    assert dx.shape == (0, 4, 3)
    assert [g.shape for g in grads] == [w.shape for w in model.trainable_weights]
    assert all(not g.any() for g in grads)


# -- initializers and seeding ----------------------------------------------------------------
def test_unit_forget_bias_starts_forget_bias_at_one() -> None:
    layer = LSTM(4)
    layer.build((None, 2, 3))
    np.testing.assert_array_equal(layer.bias_f, np.ones(4))
    for gate in ("i", "c", "o"):
        np.testing.assert_array_equal(getattr(layer, f"bias_{gate}"), np.zeros(4))
    plain = LSTM(4, unit_forget_bias=False)
    plain.build((None, 2, 3))
    np.testing.assert_array_equal(plain.bias, np.zeros(16))
    custom = LSTM(2, bias_initializer={"class_name": "Constant", "config": {"value": 0.5}})
    custom.build((None, 2, 3))
    np.testing.assert_array_equal(custom.bias, [0.5, 0.5, 1, 1, 0.5, 0.5, 0.5, 0.5])


def test_glorot_uniform_kernel_distribution() -> None:
    F, H = 40, 50
    layer = LSTM(H, seed=1)
    layer.build((None, 2, F))
    limit = np.sqrt(6.0 / (F + 4 * H))   # fan_in = F, fan_out = 4H
    k = layer.kernel
    assert k.dtype == np.float32
    assert np.max(np.abs(k)) <= limit
    assert np.max(np.abs(k)) > 0.99 * limit
    assert abs(np.std(k) - limit / np.sqrt(3)) < 0.02 * limit / np.sqrt(3)
    assert abs(np.mean(k)) < 0.02 * limit
    dense = Dense(30, seed=2)
    dense.build((None, 70))
    d_limit = np.sqrt(6.0 / (70 + 30))
    assert d_limit * 0.99 < np.max(np.abs(dense.kernel)) <= d_limit


@pytest.mark.parametrize("units", [1, 3, 16])
def test_orthogonal_recurrent_kernel_has_orthonormal_rows(units: int) -> None:
    layer = LSTM(units, dtype="float64")
    layer.build((None, 2, 3))
    U = layer.recurrent_kernel                       # (H, 4H)
    assert U.shape == (units, 4 * units)
    np.testing.assert_allclose(U @ U.T, np.eye(units), atol=1e-12)
    assert not np.allclose(U @ U.T, 0)  # and is not degenerate


def test_set_random_seed_makes_models_identical() -> None:
    unrolled.set_random_seed(123)
    first = _model().get_weights()
    unrolled.set_random_seed(123)
    second = _model().get_weights()
    unrolled.set_random_seed(124)
    third = _model().get_weights()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(first, third) if a.any())
    # A layer seed fixes that layer regardless of the global stream.
    a, b = LSTM(3, seed=5), LSTM(3, seed=5)
    a.build((None, 2, 2))
    b.build((None, 2, 2))
    np.testing.assert_array_equal(a.kernel, b.kernel)


# -- numerical robustness --------------------------------------------------------------------
# Bounded gates (unbounded ones such as softplus gates really do overflow on 1e4 inputs).
@pytest.mark.parametrize("rec", ["sigmoid", "hard_sigmoid", "tanh"])
@pytest.mark.parametrize("act", ["tanh", "sigmoid", "hard_sigmoid", "softsign", "elu", "relu"])
def test_large_inputs_do_not_overflow(act: str, rec: str) -> None:
    x = np.array([[[1e4, -1e4], [-1e4, 1e4], [3e4, 0.5]]], dtype=np.float32)
    layer = LSTM(3, activation=act, recurrent_activation=rec, return_sequences=True,
                 return_state=True, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            out = layer(x)
            _, cache = layer.forward(x)
            dx, grads, d_init = layer.backward_with_states([np.ones_like(o) for o in out], cache)
    for arr in [*out, dx, *grads, *d_init]:
        assert np.all(np.isfinite(arr))
    # The saturated result equals the NumPy-from-equations LSTM (float64) with these weights.
    if act in NUMPY_ACTIVATIONS and rec in NUMPY_ACTIVATIONS:
        ref = numpy_lstm(x.astype(np.float64), *(w.astype(np.float64) for w in layer.weights),
                         activation=act, recurrent_activation=rec)
        np.testing.assert_allclose(out[0], ref.sequence, atol=1e-5)


@pytest.mark.parametrize("act", [a for a in activations.names() if a != "exponential"])
def test_large_inputs_through_dense_activations(act: str) -> None:
    x = np.array([[1e4, -1e4, 3e4], [-3e4, 0.0, 1.0]], dtype=np.float32)
    layer = Dense(4, activation=act, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            y = layer(x)
            _, cache = layer.forward(x)
            dx, grads = layer.backward(np.ones_like(y), cache)
    assert y.dtype == np.float32
    for arr in [y, dx, *grads]:
        assert np.all(np.isfinite(arr)), act
