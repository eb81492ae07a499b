"""BatchNormalization and LayerNormalization against Keras 3: inference (moving
statistics) and training (batch statistics, moving averages updated in place as Keras
does, masked statistics), every gradient, float64 finite differences, weight order and
trainability, config round trips."""
from __future__ import annotations

import numpy as np
import pytest

from unrolled.errors import ConfigError, InputShapeError
from unrolled.layers import BatchNormalization, LayerNormalization

from ..reference import assert_same, keras_layer_sides
from .compare import against_keras, config_round_trip, finite_difference_check, pair

BN = [
    ({}, (4, 3, 5)),
    ({}, (3, 4)),
    ({"axis": 1}, (3, 4, 2)),
    ({"center": False, "momentum": 0.9, "epsilon": 0.01}, (2, 3, 4)),
    ({"scale": False}, (1, 4, 3)),
    ({"center": False, "scale": False}, (2, 2, 3)),
]
LN = [
    ({}, (2, 3, 5)),
    ({}, (1, 1, 4)),
    ({"axis": [1, 2]}, (2, 3, 4)),
    ({"axis": -1, "epsilon": 0.1}, (2, 3, 4)),
    ({"center": False}, (2, 4)),
    ({"scale": False}, (2, 3, 2)),
]


def _x(shape, seed=7):
    return (np.random.default_rng(seed).standard_normal(shape) * 2 + 0.5).astype("float32")


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("config,shape", BN, ids=[str(i) for i in range(len(BN))])
def test_batch_norm_matches_keras(config, shape, training):
    x = _x(shape)
    ours, theirs = pair("BatchNormalization", config, shape[1:])
    before = ours.moving_mean.copy()
    sides = keras_layer_sides(ours, theirs, x, training=training)
    assert np.array_equal(ours.moving_mean, before) != training   # updated only in training
    assert_same(sides, atol=5e-6, grad_rtol=5e-5)
    # the moving statistics after the call (training: updated in place, as Keras does)
    for name in ("moving_mean", "moving_variance"):
        ref = [w for w in theirs.weights if w.name == name][0].numpy()
        np.testing.assert_allclose(ours._weights[name], ref, rtol=1e-6, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("config,shape", BN, ids=[str(i) for i in range(len(BN))])
def test_batch_norm_finite_differences(config, shape, training):
    layer = BatchNormalization(**config, dtype="float64")
    layer.build((None,) + shape[1:])
    rng = np.random.default_rng(1)
    layer.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in layer.weights])
    finite_difference_check(layer, _x(shape).astype("float64"), training=training)
    config_round_trip(layer)


def test_batch_norm_masked_statistics_match_keras():
    x = _x((3, 4, 2))
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1]], bool)
    ours, theirs = pair("BatchNormalization", {}, (4, 2))
    sides = keras_layer_sides(ours, theirs, x, mask=mask, training=True)
    assert_same(sides, atol=5e-6, grad_rtol=5e-5)
    ref = [w for w in theirs.weights if w.name == "moving_mean"][0].numpy()
    np.testing.assert_allclose(ours.moving_mean, ref, rtol=1e-6, atol=1e-7)
    layer = BatchNormalization(dtype="float64")
    layer.build((None, 4, 2))
    layer.set_weights([np.array([1.3, 0.7]), np.array([0.2, -0.4]), np.zeros(2), np.ones(2)])
    finite_difference_check(layer, x.astype("float64"), mask=mask, training=True)


def test_batch_norm_weights_and_trainability():
    layer = BatchNormalization()
    layer.build((None, 5, 3))
    assert layer.weight_names == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.shape for w in layer.trainable_weights] == [(3,), (3,)]
    assert layer.non_trainable_weights[0] is layer.moving_mean
    layer.trainable = False    # frozen: inference statistics even with training=True (Keras)
    x = _x((4, 5, 3))
    y, _ = layer.forward(x, training=True)
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-3), rtol=1e-6)
    np.testing.assert_array_equal(layer.moving_mean, 0)
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 4


@pytest.mark.parametrize("config,shape", LN, ids=[str(i) for i in range(len(LN))])
def test_layer_norm_matches_keras(config, shape):
    sides, ours, _ = against_keras("LayerNormalization", config, _x(shape))
    assert_same(sides, atol=5e-6, grad_rtol=5e-5)
    assert ours.compute_output_shape((None,) + shape[1:]) == (None,) + shape[1:]


# axis=1 of a 3-D input: Keras's PyTorch backend fails on it (F.layer_norm normalises
# trailing axes only), so it is checked with finite differences alone.
@pytest.mark.parametrize("config,shape", LN + [({"axis": 1}, (2, 3, 4))],
                         ids=[str(i) for i in range(len(LN) + 1)])
def test_layer_norm_finite_differences_and_config(config, shape):
    layer = LayerNormalization(**config, dtype="float64")
    layer.build((None,) + shape[1:])
    rng = np.random.default_rng(2)
    layer.set_weights([rng.uniform(0.5, 1.5, w.shape) * rng.choice([-1, 1], w.shape) for w in layer.weights])
    finite_difference_check(layer, _x(shape).astype("float64"))
    config_round_trip(layer)


def test_errors_are_clear():
    with pytest.raises(ConfigError, match="renorm=True"):
        BatchNormalization(renorm=True)
    with pytest.raises(ConfigError, match="rms_scaling"):
        LayerNormalization(rms_scaling=True)
    with pytest.raises(InputShapeError, match="axis 0 is the batch"):
        BatchNormalization(axis=0).build((None, 3))
    layer = BatchNormalization()
    layer.build((None, 4, 3))
    with pytest.raises(InputShapeError, match="expects 3 features on axis -1"):
        layer.validate_input((2, 4, 5))
    with pytest.raises(ConfigError, match="axis must be an integer"):
        LayerNormalization(axis="last")


def test_keras2_axis_list_is_read():
    layer = BatchNormalization.from_config({"axis": [2], "momentum": 0.9})
    assert layer.axis == 2 and layer.get_config()["axis"] == 2
    with pytest.raises(ConfigError, match="axis must be an integer"):
        BatchNormalization(axis=[1, 2])
