"""Conv1D and the 1-D pooling layers against Keras 3 (outputs, every weight gradient,
input gradient; batch=1 and one step included), float64 finite differences, masks as
Keras handles them, config round trips and clear errors."""
from __future__ import annotations

import numpy as np
import pytest

import unrolled
from unrolled.errors import ConfigError, InputShapeError
from unrolled.layers import (AveragePooling1D, Conv1D, GlobalAveragePooling1D, GlobalMaxPooling1D,
                             MaxPooling1D)

from ..reference import assert_same
from .compare import against_keras, config_round_trip, finite_difference_check

CONV = [
    ({"filters": 3, "kernel_size": 2}, (2, 5, 4)),
    ({"filters": 3, "kernel_size": 3, "padding": "same", "activation": "tanh"}, (2, 6, 2)),
    ({"filters": 2, "kernel_size": 4, "padding": "same", "strides": 2}, (2, 7, 3)),
    ({"filters": 2, "kernel_size": 3, "padding": "causal", "dilation_rate": 2, "activation": "relu"}, (2, 7, 3)),
    ({"filters": 2, "kernel_size": 2, "strides": 3}, (1, 8, 2)),
    ({"filters": 4, "kernel_size": 1, "use_bias": False}, (1, 1, 3)),
    ({"filters": 3, "kernel_size": 3, "padding": "same"}, (1, 1, 2)),
    ({"filters": 4, "kernel_size": 2, "groups": 2, "activation": "sigmoid"}, (2, 5, 4)),
    ({"filters": 3, "kernel_size": 2, "data_format": "channels_first"}, (2, 4, 5)),
]

POOL = [
    ("MaxPooling1D", {}, (2, 6, 3)),
    ("MaxPooling1D", {"pool_size": 3, "strides": 1}, (2, 5, 2)),
    ("MaxPooling1D", {"pool_size": 2, "padding": "same"}, (2, 5, 2)),
    ("MaxPooling1D", {"pool_size": 4, "strides": 1, "padding": "same"}, (1, 5, 2)),
    ("MaxPooling1D", {"pool_size": 1}, (1, 1, 3)),
    ("MaxPooling1D", {"data_format": "channels_first"}, (2, 3, 6)),
    ("AveragePooling1D", {"pool_size": 2}, (2, 6, 3)),
    ("AveragePooling1D", {"pool_size": 3, "strides": 2}, (2, 7, 2)),
    ("AveragePooling1D", {"pool_size": 2, "padding": "same"}, (2, 5, 2)),
    ("AveragePooling1D", {"pool_size": 3, "strides": 1, "padding": "same"}, (1, 4, 2)),
    ("AveragePooling1D", {"pool_size": 1}, (1, 1, 2)),
    ("GlobalAveragePooling1D", {}, (2, 5, 3)),
    ("GlobalAveragePooling1D", {"keepdims": True}, (1, 1, 3)),
    ("GlobalAveragePooling1D", {"data_format": "channels_first"}, (2, 3, 5)),
    ("GlobalMaxPooling1D", {}, (2, 5, 3)),
    ("GlobalMaxPooling1D", {"keepdims": True}, (1, 1, 3)),
]


def _x(shape, seed=5):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


@pytest.mark.parametrize("config,shape", CONV, ids=[str(i) for i in range(len(CONV))])
def test_conv1d_matches_keras(config, shape):
    x = _x(shape)
    sides, ours, _ = against_keras("Conv1D", config, x)
    assert_same(sides, atol=3e-6, grad_rtol=3e-6)
    assert ours.compute_output_shape((None,) + shape[1:]) == (None,) + sides.ours["output[0]"].shape[1:]
    np.testing.assert_allclose(ours(x), sides.ours["output[0]"], atol=1e-6)


@pytest.mark.parametrize("config,shape", CONV, ids=[str(i) for i in range(len(CONV))])
def test_conv1d_finite_differences_and_config(config, shape):
    layer = Conv1D(**config, dtype="float64")
    layer.build((None,) + shape[1:])
    rng = np.random.default_rng(0)
    layer.set_weights([rng.uniform(0.1, 0.5, w.shape) * rng.choice([-1, 1], w.shape) for w in layer.weights])
    finite_difference_check(layer, _x(shape).astype("float64"))
    config_round_trip(layer)


@pytest.mark.parametrize("cls,config,shape", POOL, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(POOL)])
def test_pooling_matches_keras(cls, config, shape):
    x = _x(shape)
    sides, ours, _ = against_keras(cls, config, x)
    assert_same(sides, atol=2e-6, grad_rtol=2e-6)
    assert ours.compute_output_shape((None,) + shape[1:]) == (None,) + sides.ours["output[0]"].shape[1:]


@pytest.mark.parametrize("cls,config,shape", POOL, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(POOL)])
def test_pooling_finite_differences_and_config(cls, config, shape):
    layer = getattr(unrolled.layers, cls)(**config, dtype="float64")
    layer.build((None,) + shape[1:])
    finite_difference_check(layer, _x(shape).astype("float64"))
    config_round_trip(layer)


def test_average_pooling_same_excludes_padding():
    """TensorFlow/JAX's rule: a window's padded steps do not count. (Keras's PyTorch
    backend repeats the edge step instead when the padding is uneven.)"""
    x = np.arange(1.0, 5.0).reshape(1, 4, 1)
    y = AveragePooling1D(4, strides=1, padding="same", dtype="float64")(x)[0, :, 0]
    # pad 1 left, 2 right: windows [_,1,2,3] [1,2,3,4] [2,3,4,_] [3,4,_,_]
    np.testing.assert_allclose(y, [2.0, 2.5, 3.0, 3.5])


def test_global_average_pooling_mask_matches_keras():
    x = _x((3, 5, 2))
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 0], [1, 1, 1, 1, 1]], bool)
    sides, _, _ = against_keras("GlobalAveragePooling1D", {}, x, mask=mask)
    assert_same(sides, atol=2e-6, grad_rtol=2e-6)
    layer = GlobalAveragePooling1D(dtype="float64")
    finite_difference_check(layer, x.astype("float64"), mask=mask)
    assert layer.compute_mask(x, mask) is None


def test_masks_stop_where_keras_stops_them():
    m = np.ones((2, 5), bool)
    for layer in (Conv1D(2, 2), MaxPooling1D(), AveragePooling1D(2), GlobalMaxPooling1D()):
        assert layer.compute_mask(np.zeros((2, 5, 3)), m) is None


def test_errors_are_clear():
    with pytest.raises(InputShapeError, match=r"rank 3 \(batch, steps, channels\).*x\[\.\.\., None\]"):
        Conv1D(2, 3).validate_input((4, 10))
    layer = Conv1D(2, 3)
    layer.build((None, 10, 3))
    with pytest.raises(InputShapeError, match="expects 3 channels"):
        layer.validate_input((4, 10, 2))
    with pytest.raises(InputShapeError, match="fewer than the kernel's reach 5.*padding='same'"):
        Conv1D(2, 3, dilation_rate=2).validate_input((4, 4, 3))
    with pytest.raises(ConfigError, match="padding must be one of"):
        Conv1D(2, 3, padding="full")
    with pytest.raises(ConfigError, match="padding must be one of"):
        MaxPooling1D(padding="causal")
    with pytest.raises(ConfigError, match="divisible by groups"):
        Conv1D(3, 2, groups=2)
    with pytest.raises(ConfigError, match="strides > 1 together with dilation_rate > 1"):
        Conv1D(3, 2, strides=2, dilation_rate=2)
    with pytest.raises(InputShapeError, match="fewer than pool_size 4"):
        MaxPooling1D(4).validate_input((2, 3, 1))
    with pytest.raises(ConfigError, match="lora_rank"):
        Conv1D(2, 2, lora_rank=4)


def test_param_formula():
    layer = Conv1D(4, 3, groups=2)
    layer.build((None, 8, 6))
    assert layer.count_params() == 3 * 3 * 4 + 4
    assert "3·3·4 + 4 = 40" in layer.param_formula()
