"""RepeatVector, Flatten, Reshape, Permute and the activation layers against Keras 3:
outputs and input gradients, batch=1 and one timestep included, float64 finite
differences, config round trips, masks, and clear errors."""
from __future__ import annotations

import numpy as np
import pytest

import unrolled
from unrolled.errors import ConfigError, InputShapeError
from unrolled.layers import (ELU, Activation, Flatten, LeakyReLU, Permute, ReLU, RepeatVector,
                             Reshape, Softmax)

from ..reference import assert_same
from .compare import against_keras, config_round_trip, finite_difference_check

CASES = [
    ("RepeatVector", {"n": 3}, (2, 4)),
    ("RepeatVector", {"n": 1}, (1, 2)),
    ("Flatten", {}, (2, 3, 4)),
    ("Flatten", {}, (1, 1, 3)),
    ("Flatten", {"data_format": "channels_first"}, (2, 3, 4)),
    ("Flatten", {}, (2, 2, 3, 2)),
    ("Reshape", {"target_shape": (4, 3)}, (2, 3, 4)),
    ("Reshape", {"target_shape": (-1, 2)}, (2, 3, 4)),
    ("Reshape", {"target_shape": (1, -1)}, (1, 1, 5)),
    ("Permute", {"dims": (2, 1)}, (2, 3, 4)),
    ("Permute", {"dims": (3, 1, 2)}, (2, 2, 3, 4)),
    ("Activation", {"activation": "tanh"}, (2, 3, 4)),
    ("Activation", {"activation": "softmax"}, (2, 3, 4)),
    ("Activation", {"activation": "relu"}, (1, 1, 4)),
    ("Activation", {"activation": "gelu"}, (2, 5)),
    ("ReLU", {}, (2, 3, 4)),
    ("ReLU", {"max_value": 0.6, "negative_slope": 0.1, "threshold": 0.2}, (2, 3, 4)),
    ("ReLU", {"max_value": 6.0}, (2, 5)),
    ("ReLU", {"negative_slope": 0.25}, (2, 5)),
    ("ReLU", {"threshold": 0.3}, (1, 1, 5)),
    ("LeakyReLU", {}, (2, 3, 4)),
    ("LeakyReLU", {"negative_slope": 0.05}, (1, 1, 3)),
    ("ELU", {}, (2, 3, 4)),
    ("ELU", {"alpha": 0.5}, (2, 5)),
    ("Softmax", {}, (2, 3, 4)),
    ("Softmax", {"axis": 1}, (2, 3, 4)),
    ("Softmax", {"axis": [1, 2]}, (2, 3, 4)),
]


def _x(shape, seed=3):
    x = np.random.default_rng(seed).standard_normal(shape).astype("float32")
    # keep every value away from the kinks (0, thresholds, max_value)
    return np.where(np.abs(x) < 0.05, 0.4, x).astype("float32") * 1.3


@pytest.mark.parametrize("cls,config,shape", CASES, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_matches_keras(cls, config, shape):
    x = _x(shape)
    for bad in (0.2, 0.6):  # no value on ReLU(threshold 0.2 / max 0.6)'s kinks
        x = np.where(np.abs(x - bad) < 0.02, bad + 0.1, x).astype("float32")
    sides, ours, _ = against_keras(cls, config, x)
    assert_same(sides, atol=2e-6, grad_rtol=2e-6)
    out = sides.ours["output[0]"]
    assert out.dtype == np.float32
    assert ours.compute_output_shape((None,) + shape[1:]) == (None,) + out.shape[1:]
    np.testing.assert_array_equal(ours(x), out)


@pytest.mark.parametrize("cls,config,shape", CASES, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_finite_differences_and_config(cls, config, shape):
    layer = getattr(unrolled.layers, cls)(**config, dtype="float64")
    layer.build((None,) + shape[1:])
    x = _x(shape).astype("float64")
    finite_difference_check(layer, x)
    config_round_trip(layer)


def test_masked_softmax_matches_keras():
    x = _x((2, 3, 4))
    mask = np.array([[True, False, True, True]])       # (1, 4): broadcasts on (batch, 3, 4)
    sides, _, _ = against_keras("Softmax", {}, x, mask=mask)
    assert_same(sides, atol=2e-6, grad_rtol=2e-6)
    assert np.all(sides.ours["output[0]"][..., 1] == 0)


def test_masked_softmax_all_masked_is_zero_with_no_gradient():
    layer = Softmax(dtype="float64")
    x = _x((2, 3)).astype("float64")
    mask = np.array([[True, True, False], [False, False, False]])
    y, cache = layer.forward(x, mask=mask)
    np.testing.assert_array_equal(y[1], 0)
    dx, _ = layer.backward(np.ones_like(y), cache)
    np.testing.assert_array_equal(dx[1], 0)
    finite_difference_check(layer, x, mask=mask)


def test_masks_stop_at_layers_keras_stops_them_and_pass_activations():
    m = np.ones((2, 3), bool)
    x = np.zeros((2, 3, 4), "float32")
    for layer in (Flatten(), Reshape((12,)), Permute((2, 1)), RepeatVector(2)):
        assert layer.compute_mask(x, m) is None
    for layer in (Activation("tanh"), ReLU(), LeakyReLU(), ELU(), Softmax()):
        assert layer.compute_mask(x, m) is m


def test_leaky_relu_accepts_keras2_alpha():
    layer = LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1
    assert layer.get_config()["negative_slope"] == 0.1 and "alpha" not in layer.get_config()
    assert LeakyReLU().negative_slope == 0.3   # Keras 3's default


def test_errors_are_clear():
    with pytest.raises(InputShapeError, match="rank 2 .batch, features.*return_sequences=False"):
        RepeatVector(2).validate_input((2, 3, 4))
    with pytest.raises(InputShapeError, match="cannot reshape.*12 values"):
        Reshape((5, -1)).validate_input((2, 3, 4))
    with pytest.raises(InputShapeError, match="cannot reshape"):
        Reshape((5, 2)).validate_input((2, 3, 4))
    with pytest.raises(ConfigError, match="at most one -1"):
        Reshape((-1, -1))
    with pytest.raises(ConfigError, match="permutation of 1..2"):
        Permute((0, 1))
    with pytest.raises(InputShapeError, match="rank 3"):
        Permute((2, 1)).validate_input((2, 3))
    with pytest.raises(ConfigError, match="negative_slope must be a non-negative"):
        ReLU(negative_slope=-1)
    with pytest.raises(ConfigError, match="Unknown activation 'tanhh'. Did you mean 'tanh'"):
        Activation("tanhh")
    with pytest.raises(ConfigError, match="positive integer"):
        RepeatVector(0)
