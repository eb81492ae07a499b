"""Losses against Keras 3 (torch backend): values, autograd gradients, configs, names."""
from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

from tests.peers import require
from unrolled.errors import ConfigError, InputShapeError
from unrolled.training import losses as L

RTOL = 1e-6


def keras_value_and_grad(keras_loss, y_true, y_pred, sample_weight=None):
    """Keras's loss value and d loss / d y_pred by torch autograd through Keras's ops."""
    torch = require("torch")
    yp = torch.tensor(y_pred, requires_grad=True)
    sw = None if sample_weight is None else torch.tensor(sample_weight)
    value = keras_loss(torch.tensor(y_true), yp, sample_weight=sw)
    value.backward()
    return float(value.detach()), yp.grad.numpy()


def assert_matches_keras(ours, theirs, y_true, y_pred, sample_weight=None):
    value, grad = ours.value_and_grad(y_true, y_pred, sample_weight)
    k_value, k_grad = keras_value_and_grad(theirs, y_true, y_pred, sample_weight)
    assert value == pytest.approx(k_value, rel=RTOL, abs=1e-12)
    assert ours(y_true, y_pred, sample_weight) == value
    assert grad.shape == y_pred.shape and grad.dtype == y_pred.dtype
    # Relative to the gradient's scale -- or to dloss/dvalues, the size of the terms that
    # cancel in e.g. softmax(x) - y, where one float32 ulp of those terms is the noise floor.
    upstream = (1.0 if sample_weight is None else np.abs(sample_weight).max()) / max(
        1, y_pred.size // y_pred.shape[-1])
    scale = max(np.abs(k_grad).max(), upstream)
    np.testing.assert_allclose(grad, k_grad, rtol=0, atol=RTOL * scale)


def rng_for(*key):
    """A generator seeded by the test's parameters (crc32: stable across processes)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def probabilities(rng, shape, extremes=True):
    p = rng.uniform(0, 1, size=shape).astype(np.float32)
    if extremes:   # exact 0 and 1 and values inside the clip band exercise Keras's clipping
        flat = p.reshape(-1)
        flat[::5] = 0.0
        flat[1::7] = 1.0
        flat[2::11] = 3e-8
    return p


# (y_true shape, y_pred shape, sample_weight shape or None)
REGRESSION_SHAPES = [
    ((1, 3), (1, 3), None),
    ((8, 1), (8, 1), None),
    ((8,), (8, 1), None),             # labels (batch,) against outputs (batch, 1)
    ((5, 4), (5, 4), (5,)),
    ((5, 4), (5, 4), (5, 1)),
    ((4, 6, 3), (4, 6, 3), None),     # per-timestep outputs
    ((4, 6, 3), (4, 6, 3), (4, 6)),
    ((4, 6, 3), (4, 6, 3), (4, 1)),
    ((3, 7, 1), (3, 7, 1), (3, 7)),
]


@pytest.mark.parametrize("name,kwargs", [
    ("MeanSquaredError", {}), ("MeanAbsoluteError", {}), ("Huber", {}), ("Huber", {"delta": 0.3})])
@pytest.mark.parametrize("shapes", REGRESSION_SHAPES, ids=str)
def test_regression_losses_match_keras(name, kwargs, shapes):
    keras = require("keras")
    t_shape, p_shape, w_shape = shapes
    rng = rng_for(name, str(kwargs), str(shapes))
    y_true = rng.normal(size=t_shape).astype(np.float32)
    y_pred = rng.normal(size=p_shape).astype(np.float32)
    if y_true.size == y_pred.size:   # exact hits: zero error, where |.| has its kink
        y_pred.reshape(-1)[::4] = y_true.reshape(-1)[::4]
    w = None if w_shape is None else rng.uniform(0, 2, size=w_shape).astype(np.float32)
    assert_matches_keras(getattr(L, name)(**kwargs), getattr(keras.losses, name)(**kwargs),
                         y_true, y_pred, w)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("shape,w_shape", [((1, 1), None), ((7, 1), (7,)), ((6, 4), None),
                                           ((3, 5, 2), (3, 5)), ((3, 5, 1), None)], ids=str)
def test_binary_crossentropy_matches_keras(from_logits, label_smoothing, shape, w_shape):
    keras = require("keras")
    rng = rng_for("bce", from_logits, label_smoothing, shape)
    y_true = rng.integers(0, 2, size=shape).astype(np.float32)
    y_pred = (rng.normal(scale=4, size=shape).astype(np.float32) if from_logits
              else probabilities(rng, shape))
    w = None if w_shape is None else rng.uniform(0, 2, size=w_shape).astype(np.float32)
    kw = dict(from_logits=from_logits, label_smoothing=label_smoothing)
    assert_matches_keras(L.BinaryCrossentropy(**kw), keras.losses.BinaryCrossentropy(**kw),
                         y_true, y_pred, w)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("shape,w_shape", [((1, 3), None), ((6, 4), (6,)), ((3, 5, 4), (3, 5))],
                         ids=str)
def test_categorical_crossentropy_matches_keras(from_logits, label_smoothing, shape, w_shape):
    keras = require("keras")
    rng = rng_for("cce", from_logits, label_smoothing, shape)
    y_true = np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], size=shape[:-1])]
    if from_logits:
        y_pred = rng.normal(scale=3, size=shape).astype(np.float32)
    else:  # unnormalised rows with exact zeros and a one-hot row (probability 1: clipped)
        y_pred = probabilities(rng, shape) * 2
        y_pred.reshape(-1, shape[-1])[0] = np.eye(shape[-1])[0]
    w = None if w_shape is None else rng.uniform(0, 2, size=w_shape).astype(np.float32)
    kw = dict(from_logits=from_logits, label_smoothing=label_smoothing)
    assert_matches_keras(L.CategoricalCrossentropy(**kw),
                         keras.losses.CategoricalCrossentropy(**kw), y_true, y_pred, w)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("ignore_class", [None, 2])
@pytest.mark.parametrize("t_shape,p_shape,w_shape", [
    ((1,), (1, 3), None), ((6,), (6, 4), (6,)), ((6, 1), (6, 4), None),
    ((3, 5), (3, 5, 4), (3, 5)), ((3, 5, 1), (3, 5, 4), None)], ids=str)
def test_sparse_categorical_crossentropy_matches_keras(from_logits, ignore_class, t_shape,
                                                       p_shape, w_shape):
    keras = require("keras")
    rng = rng_for("scce", from_logits, ignore_class, t_shape)
    y_true = rng.integers(0, p_shape[-1], size=t_shape).astype(np.float32)
    y_pred = (rng.normal(scale=3, size=p_shape).astype(np.float32) if from_logits
              else probabilities(rng, p_shape) + np.float32(0.01))
    w = None if w_shape is None else rng.uniform(0, 2, size=w_shape).astype(np.float32)
    kw = dict(from_logits=from_logits, ignore_class=ignore_class)
    assert_matches_keras(L.SparseCategoricalCrossentropy(**kw),
                         keras.losses.SparseCategoricalCrossentropy(**kw), y_true, y_pred, w)


@pytest.mark.parametrize("reduction", ["sum", "mean_with_sample_weight", "none"])
def test_other_reductions_match_keras(reduction):
    keras = require("keras")
    rng = rng_for("reduction", reduction)
    y_true, y_pred = rng.normal(size=(2, 6, 5, 3)).astype(np.float32)
    w = rng.uniform(0, 2, size=(6, 5)).astype(np.float32)
    ours = L.MeanSquaredError(reduction=reduction)
    theirs = keras.losses.MeanSquaredError(reduction=reduction)
    expected = np.asarray(theirs(y_true, y_pred, sample_weight=w))
    np.testing.assert_allclose(ours(y_true, y_pred, w), expected, rtol=RTOL)
    if reduction != "none":
        assert_matches_keras(ours, theirs, y_true, y_pred, w)


# -- float64 finite differences -------------------------------------------------------------

def finite_difference(loss, y_true, y_pred, w, h=1e-6):
    grad = np.zeros_like(y_pred)
    for i in np.ndindex(y_pred.shape):
        up, down = y_pred.copy(), y_pred.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (loss(y_true, up, w) - loss(y_true, down, w)) / (2 * h)
    return grad


FD_CASES = [
    (L.MeanSquaredError, {}, "real"), (L.MeanAbsoluteError, {}, "real"),
    (L.Huber, {"delta": 0.5}, "real"),
    (L.BinaryCrossentropy, {}, "prob"), (L.BinaryCrossentropy, {"from_logits": True}, "real"),
    (L.BinaryCrossentropy, {"label_smoothing": 0.1}, "prob"),
    (L.CategoricalCrossentropy, {}, "prob"),
    (L.CategoricalCrossentropy, {"from_logits": True, "label_smoothing": 0.2}, "real"),
    (L.SparseCategoricalCrossentropy, {}, "prob"),
    (L.SparseCategoricalCrossentropy, {"from_logits": True, "ignore_class": 0}, "real"),
]


@pytest.mark.parametrize("cls,kwargs,kind", FD_CASES, ids=lambda x: getattr(x, "__name__", str(x)))
def test_gradient_matches_float64_finite_differences(cls, kwargs, kind):
    rng = rng_for("fd", cls.__name__, str(kwargs))
    shape = (3, 4, 3)
    loss = cls(dtype="float64", **kwargs)
    if cls is L.SparseCategoricalCrossentropy:
        y_true = rng.integers(0, 3, size=shape[:-1]).astype(np.float64)
    elif cls is L.CategoricalCrossentropy:
        y_true = np.eye(3)[rng.integers(0, 3, size=shape[:-1])]
    elif kind == "prob":
        y_true = rng.integers(0, 2, size=shape).astype(np.float64)
    else:
        y_true = rng.normal(size=shape)
    # Keep away from the kinks (|error| = delta, error = 0) and the clip band.
    y_pred = rng.uniform(0.05, 0.95, size=shape) if kind == "prob" else rng.normal(size=shape)
    w = rng.uniform(0.5, 2, size=shape[:-1])
    with np.errstate(all="raise"):
        _, grad = loss.value_and_grad(y_true, y_pred, w)
    assert grad.dtype == np.float64
    expected = finite_difference(loss, y_true, y_pred, w)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-9)


def test_clipped_probabilities_get_zero_gradient():
    y_pred = np.array([[0.0, 1.0, 0.5, 1e-9]], np.float32)
    _, grad = L.BinaryCrossentropy().value_and_grad(np.ones_like(y_pred), y_pred)
    assert grad[0, 0] == 0 and grad[0, 1] == 0 and grad[0, 3] == 0 and grad[0, 2] < 0


# -- configuration, names, errors -----------------------------------------------------------

@pytest.mark.parametrize("name", ["MeanSquaredError", "MeanAbsoluteError", "Huber",
                                  "BinaryCrossentropy", "CategoricalCrossentropy",
                                  "SparseCategoricalCrossentropy"])
def test_config_and_serialization_match_keras(name):
    keras = require("keras")
    ours, theirs = getattr(L, name)(), getattr(keras.losses, name)()
    assert ours.name == theirs.name
    expected = theirs.get_config()
    if name == "Huber":     # Keras forgets delta in its config; we keep it.
        expected["delta"] = 1.0
    assert ours.get_config() == expected
    blob = json.loads(json.dumps(L.serialize(ours)))
    assert {k: v for k, v in blob.items() if k != "config"} == \
        {k: v for k, v in keras.saving.serialize_keras_object(theirs).items() if k != "config"}
    back = keras.saving.deserialize_keras_object(blob)      # Keras reads what we write
    assert type(back).__name__ == name
    again = L.deserialize(blob)
    assert type(again) is type(ours) and again.get_config() == ours.get_config()


def test_huber_delta_survives_a_round_trip_through_keras():
    keras = require("keras")
    blob = L.serialize(L.Huber(delta=2.5))
    y_true, y_pred = np.zeros((2, 2), np.float32), np.full((2, 2), 3.0, np.float32)
    theirs = keras.saving.deserialize_keras_object(blob)
    assert float(theirs(y_true, y_pred)) == pytest.approx(L.get(blob)(y_true, y_pred))


@pytest.mark.parametrize("identifier,cls", [
    ("mse", L.MeanSquaredError), ("MSE", L.MeanSquaredError),
    ("mean_squared_error", L.MeanSquaredError), ("MeanSquaredError", L.MeanSquaredError),
    ("mae", L.MeanAbsoluteError), ("huber", L.Huber), ("huber_loss", L.Huber),
    ("binary_crossentropy", L.BinaryCrossentropy), ("bce", L.BinaryCrossentropy),
    ("categorical_crossentropy", L.CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", L.SparseCategoricalCrossentropy)])
def test_get_by_name(identifier, cls):
    assert type(L.get(identifier)) is cls


def test_get_instance_and_keras_function_form():
    loss = L.Huber(delta=0.2)
    assert L.get(loss) is loss
    blob = {"module": "keras.losses", "class_name": "function", "config": "mean_squared_error",
            "registered_name": "mean_squared_error"}
    assert type(L.get(blob)) is L.MeanSquaredError


def test_unknown_name_lists_known_names():
    with pytest.raises(ConfigError, match="Unknown loss 'msee'") as info:
        L.get("msee")
    for known in ("mse", "mean_squared_error", "binary_crossentropy", "MeanAbsoluteError"):
        assert known in str(info.value)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(InputShapeError, match=r"\(4, 3\).*\(4, 2\)"):
        L.MeanSquaredError()(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(InputShapeError, match=r"\(4, 3\).*\(4, 5, 2\)"):
        L.SparseCategoricalCrossentropy()(np.zeros((4, 3)), np.zeros((4, 5, 2)))
    with pytest.raises(InputShapeError, match=r"\(4,\).*\(4, 6\)"):
        L.MeanSquaredError()(np.zeros((4, 6, 2)), np.zeros((4, 6, 2)), np.ones(4))


def test_bad_arguments():
    with pytest.raises(ConfigError, match="reduction"):
        L.MeanSquaredError(reduction="avg")
    with pytest.raises(ConfigError, match="label_smoothing"):
        L.BinaryCrossentropy(label_smoothing=1.5)
    with pytest.raises(InputShapeError, match=r"\[0, 3\)"):
        L.SparseCategoricalCrossentropy()(np.array([0, 3]), np.ones((2, 3)))


def test_extreme_logits_are_finite_and_silent():
    y_pred = np.array([[-200.0, 200.0, -90.0, 90.0]], np.float32)
    y_true = np.array([[1.0, 0.0, 0.0, 1.0]], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        for loss in (L.BinaryCrossentropy(from_logits=True),
                     L.CategoricalCrossentropy(from_logits=True)):
            value, grad = loss.value_and_grad(y_true, y_pred)
            assert np.isfinite(value) and np.isfinite(grad).all()


def test_public_modules_reexport():
    import unrolled.losses
    import unrolled.metrics
    import unrolled.optimizers
    from unrolled.optimizers.schedules import CosineDecay

    assert unrolled.losses.MeanSquaredError is L.MeanSquaredError
    assert unrolled.optimizers.schedules.CosineDecay is CosineDecay
    assert unrolled.metrics.get("rmse").name == "rmse"
    assert unrolled.optimizers.get("adam").name == "adam"
