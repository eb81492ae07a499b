"""Every bad input is refused with an unrolled error (a ValueError) whose message says what
was expected, what was received, and how to fix it."""
from __future__ import annotations

import re

import numpy as np
import pytest

import unrolled
from unrolled.core import activations
from unrolled.errors import ConfigError, InputShapeError, UnrolledError
from unrolled.layers import LSTM, Dense


def _raises(cls: type[Exception], func, *args, **kwargs) -> str:
    """Call ``func``; assert it raises exactly ``cls`` (an UnrolledError and ValueError);
    return the message."""
    with pytest.raises(cls) as info:
        func(*args, **kwargs)
    assert type(info.value) is cls, type(info.value)
    assert isinstance(info.value, UnrolledError) and isinstance(info.value, ValueError)
    return str(info.value)


def _model() -> unrolled.Sequential:
    return unrolled.Sequential([LSTM(2, input_shape=(5, 3)), Dense(1)])


def _built_lstm() -> LSTM:
    layer = LSTM(2)
    layer.build((None, 5, 3))
    return layer


def _entry_points():
    """The same input goes through a layer call, a model call and predict."""
    return {"layer": _built_lstm(), "model": _model(), "predict": _model().predict}


# -- input shape -------------------------------------------------------------------------------
@pytest.mark.parametrize("via", ["layer", "model", "predict"])
def test_rank_2_input_names_rank_shape_and_hint(via: str) -> None:
    msg = _raises(InputShapeError, _entry_points()[via], np.zeros((5, 3), np.float32))
    assert "rank 3" in msg and "rank 2" in msg
    assert "(5, 3)" in msg
    assert "x[None]" in msg  # the hint: add a batch axis


@pytest.mark.parametrize("via", ["layer", "model", "predict"])
def test_rank_4_input_names_rank_shape_and_hint(via: str) -> None:
    msg = _raises(InputShapeError, _entry_points()[via], np.zeros((2, 5, 3, 1), np.float32))
    assert "rank 3" in msg and "rank 4" in msg
    assert "(2, 5, 3, 1)" in msg
    assert "reshape" in msg or "squeeze" in msg  # the hint


def test_rank_1_input_has_a_hint() -> None:
    msg = _raises(InputShapeError, _built_lstm(), np.zeros(5, np.float32))
    assert "rank 1" in msg and "x[None, :, None]" in msg


def test_model_rank_error_without_recurrent_first_layer_still_hints() -> None:
    model = unrolled.Sequential([unrolled.Input((5, 3)), Dense(2)])
    msg = _raises(InputShapeError, model.predict, np.zeros((5, 3), np.float32))
    assert "(None, 5, 3)" in msg and "(5, 3)" in msg and "x[None]" in msg


def test_dense_rank_1_input() -> None:
    msg = _raises(InputShapeError, Dense(2), np.zeros(3))
    assert "rank >= 2" in msg and "(3,)" in msg


@pytest.mark.parametrize("via", ["layer", "model", "predict"])
def test_wrong_feature_count_says_expected_and_received(via: str) -> None:
    msg = _raises(InputShapeError, _entry_points()[via], np.zeros((2, 5, 4), np.float32))
    assert "(2, 5, 4)" in msg
    assert re.search(r"is 4, expected 3", msg), msg
    assert "swapped" not in msg  # 5 timesteps != 3 features: no reason to suspect a swap


@pytest.mark.parametrize("via", ["layer", "model", "predict"])
def test_swapped_timesteps_and_features_hint(via: str) -> None:
    msg = _raises(InputShapeError, _entry_points()[via], np.zeros((2, 3, 5), np.float32))
    assert "(2, 3, 5)" in msg and "expected 3" in msg
    assert "swapped" in msg and "transpose(0, 2, 1)" in msg


def test_dense_wrong_feature_count() -> None:
    layer = Dense(2)
    layer.build((None, 3))
    msg = _raises(InputShapeError, layer, np.zeros((4, 5)))
    assert "3 features" in msg and "(4, 5)" in msg and "last axis 5" in msg


@pytest.mark.parametrize("data, kind", [
    (np.array([[["a", "b", "c"]]]), "<U1"),
    ([[["1.0", "2.0", "3.0"]]], "<U3"),
    (np.array([[[1.0, None, 3.0]]], dtype=object), "object"),
    (np.array([[[{"a": 1}, 2, 3]]], dtype=object), "object"),
])
@pytest.mark.parametrize("via", ["layer", "model", "predict"])
def test_non_numeric_input(via: str, data, kind: str) -> None:
    msg = _raises(InputShapeError, _entry_points()[via], data)
    assert "numeric" in msg and kind in msg and "(1, 1, 3)" in msg


def test_complex_input_is_refused() -> None:
    msg = _raises(InputShapeError, _built_lstm(), np.zeros((1, 5, 3), complex))
    assert "complex" in msg


@pytest.mark.parametrize("via", ["layer", "model", "predict"])
def test_zero_timesteps(via: str) -> None:
    msg = _raises(InputShapeError, _entry_points()[via], np.zeros((2, 0, 3), np.float32))
    assert "0 timesteps" in msg and "(2, 0, 3)" in msg


# -- constructor arguments ---------------------------------------------------------------------
@pytest.mark.parametrize("units", [0, -3, 2.5, "4", None, True, np.float64(3.0)])
@pytest.mark.parametrize("cls", [LSTM, Dense])
def test_units_must_be_a_positive_integer(cls, units) -> None:
    msg = _raises(ConfigError, cls, units)
    assert "units must be a positive integer" in msg and repr(units) in msg


def test_numpy_integer_units_are_accepted() -> None:
    assert LSTM(np.int64(3)).units == 3 and Dense(np.int32(2)).units == 2


@pytest.mark.parametrize("make", [
    lambda: LSTM(2, activation="tanhh"),
    lambda: LSTM(2, recurrent_activation="sigmoidd"),
    lambda: Dense(2, activation="rleu"),
])
def test_unknown_activation_lists_valid_names(make) -> None:
    msg = _raises(ConfigError, make)
    assert re.search(r"'(tanhh|sigmoidd|rleu)'", msg)
    for name in activations.names():
        assert name in msg


def test_unknown_initializer_lists_valid_names() -> None:
    msg = _raises(ConfigError, LSTM, 2, kernel_initializer="glorot_uniformm")
    assert "'glorot_uniformm'" in msg and "glorot_uniform" in msg and "orthogonal" in msg


@pytest.mark.parametrize("kwargs, words", [
    (dict(dtype="int32"), ["dtype", "'int32'"]),
    (dict(no_such_argument=1), ["no_such_argument"]),
])
def test_unsupported_arguments_are_refused(kwargs, words) -> None:
    msg = _raises(ConfigError, LSTM, 2, **kwargs)
    for word in words:
        assert word in msg


# -- initial state -----------------------------------------------------------------------------
@pytest.mark.parametrize("state, words", [
    ([np.zeros((4, 3)), np.zeros((4, 2))], ["initial_state[0]", "(4, 2)", "(4, 3)"]),
    ([np.zeros((4, 2)), np.zeros((3, 2))], ["initial_state[1]", "(4, 2)", "(3, 2)"]),
    ([np.zeros((4, 2))], ["list of 2", "got 1"]),
    ([np.zeros((4, 2))] * 3, ["list of 2", "got 3"]),
    (np.zeros((4, 2)), ["list of 2", "got 1"]),
    ([np.zeros((4, 2)), np.array([["a", "b"]] * 4)], ["initial_state[1]", "numeric"]),
])
def test_bad_initial_state(state, words) -> None:
    layer = LSTM(2)
    msg = _raises(InputShapeError, layer, np.zeros((4, 5, 3), np.float32), initial_state=state)
    for word in words:
        assert word in msg, (word, msg)


# -- weights -----------------------------------------------------------------------------------
def test_layer_set_weights_wrong_count() -> None:
    layer = _built_lstm()
    msg = _raises(ConfigError, layer.set_weights, [np.zeros((3, 8)), np.zeros((2, 8))])
    assert "expects 3 weight arrays" in msg and "got 2" in msg
    assert "kernel (3, 8)" in msg and "recurrent_kernel (2, 8)" in msg and "bias (8,)" in msg


def test_layer_set_weights_wrong_shape_leaves_weights_untouched_names_both_shapes() -> None:
    layer = _built_lstm()
    before = layer.get_weights()
    msg = _raises(ConfigError, layer.set_weights,
                  [np.ones((3, 8)), np.ones((8, 2)), np.ones(8)])
    assert "'recurrent_kernel'" in msg and "(2, 8)" in msg and "(8, 2)" in msg
    # A transposed recurrent kernel is the classic import mistake; it must not half-apply.
    for a, b in zip(layer.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_model_set_weights_wrong_count_and_shape() -> None:
    model = _model()
    msg = _raises(ConfigError, model.set_weights, model.get_weights()[:-1])
    assert "5 weight arrays" in msg and "got 4" in msg
    before = model.get_weights()
    weights = [w + 1 for w in before]
    weights[3] = np.zeros((3, 1))     # the Dense kernel, after the LSTM's three arrays
    msg = _raises(ConfigError, model.set_weights, weights)
    assert "(2, 1)" in msg and "(3, 1)" in msg
    for a, b in zip(model.get_weights(), before):  # nothing was half-applied
        np.testing.assert_array_equal(a, b)


def test_gate_view_of_unbuilt_layer() -> None:
    with pytest.raises(AttributeError, match="before build"):
        _ = LSTM(2).kernel_c


# -- models and configs ------------------------------------------------------------------------
def test_sequential_build_without_input_shape() -> None:
    model = unrolled.Sequential([LSTM(2), Dense(1)])
    msg = _raises(ConfigError, model.build)
    assert "input shape" in msg and "Input(shape=(timesteps, features))" in msg
    assert "input_shape=" in msg


@pytest.mark.parametrize("how", ["input_shape", "called"])
def test_return_state_layer_must_be_last(how: str) -> None:
    """A layer returning [output, *states] cannot feed the next layer: a clear error at
    build time (or at the first call), not a crash inside the next layer."""
    first = LSTM(4, return_state=True, **({"input_shape": (5, 3)} if how == "input_shape" else {}))
    if how == "input_shape":
        msg = _raises(ConfigError, unrolled.Sequential, [first, Dense(1, name="head")])
    else:
        model = unrolled.Sequential([first, Dense(1, name="head")])
        msg = _raises(ConfigError, model, np.ones((2, 5, 3), np.float32))
    assert "return_state=True" in msg and "last layer" in msg and "'head'" in msg
    last = unrolled.Sequential([Dense(3, input_shape=(5, 3)), LSTM(4, return_state=True)])
    assert [a.shape for a in last(np.ones((2, 5, 3), np.float32))] == [(2, 4)] * 3


def test_input_with_bad_shape() -> None:
    msg = _raises(ConfigError, unrolled.Input, (0, 3))
    assert "positive integers" in msg and "(0, 3)" in msg


@pytest.mark.parametrize("class_name", ["Lambda", "MyCustomLayer", "os.system"])
def test_unknown_layer_class_in_from_config_is_refused_and_named(class_name: str) -> None:
    config = {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 5, 3]}},
        {"class_name": class_name, "config": {"function": "lambda x: x"}},
    ]}
    msg = _raises(ConfigError, unrolled.Sequential.from_config, config)
    assert repr(class_name) in msg
    assert "LSTM" in msg and "Dense" in msg  # what is supported
    assert "never executes code" in msg


def test_malformed_sequential_config() -> None:
    msg = _raises(ConfigError, unrolled.Sequential.from_config, {"name": "m"})
    assert "'layers'" in msg
    msg = _raises(ConfigError, unrolled.Sequential.from_config,
                  {"layers": [{"config": {"units": 2}}]})
    assert "class_name" in msg


def test_layer_from_config_with_unknown_key() -> None:
    config = LSTM(2).get_config()
    config["mystery"] = 1
    msg = _raises(ConfigError, LSTM.from_config, config)
    assert "mystery" in msg
