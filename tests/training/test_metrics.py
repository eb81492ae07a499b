"""Metrics against keras.metrics fed the same batches; names and accuracy flavours."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.peers import require
from unrolled.errors import ConfigError
from unrolled.training import metrics as M


def batches(kind, shape, weights, seed):
    """Three batches (y_true, y_pred, sample_weight) of different sizes."""
    rng = np.random.default_rng(seed)
    out = []
    for batch in (5, 1, 3):
        full = (batch, *shape[1:])
        if kind == "regression":
            y_true = rng.normal(size=full).astype(np.float32)
            y_pred = rng.normal(size=full).astype(np.float32)
        elif kind == "binary":
            y_true = rng.integers(0, 2, size=full).astype(np.float32)
            y_pred = rng.uniform(size=full).astype(np.float32)
            y_pred.reshape(-1)[::3] = 0.5              # exactly at the threshold: not > 0.5
        elif kind == "categorical":
            y_true = np.eye(full[-1], dtype=np.float32)[rng.integers(0, full[-1], size=full[:-1])]
            y_pred = rng.uniform(size=full).astype(np.float32)
        elif kind == "sparse":
            y_true = rng.integers(0, full[-1], size=full[:-1])
            y_pred = rng.uniform(size=full).astype(np.float32)
        else:  # "exact": discrete predictions
            y_true = rng.integers(0, 3, size=full).astype(np.float32)
            y_pred = rng.integers(0, 3, size=full).astype(np.float32)
        w = None
        if weights == "sample":
            w = rng.uniform(0, 2, size=(batch,)).astype(np.float32)
        elif weights == "per_step":
            w = rng.uniform(0, 2, size=full[:2]).astype(np.float32)
        out.append((y_true, y_pred, w))
    return out


CASES = [
    ("MeanSquaredError", "regression"), ("MeanAbsoluteError", "regression"),
    ("RootMeanSquaredError", "regression"), ("BinaryAccuracy", "binary"),
    ("CategoricalAccuracy", "categorical"), ("SparseCategoricalAccuracy", "sparse"),
    ("Accuracy", "exact"),
]


@pytest.mark.parametrize("name,kind", CASES)
@pytest.mark.parametrize("shape,weights", [
    ((0, 4), None), ((0, 4), "sample"), ((0, 1), None), ((0, 1), "sample"),
    ((0, 6, 3), None), ((0, 6, 3), "sample"), ((0, 6, 3), "per_step")], ids=str)
def test_metric_matches_keras_over_batches(name, kind, shape, weights):
    keras = require("keras")
    ours, theirs = getattr(M, name)(), getattr(keras.metrics, name)()
    assert ours.name == theirs.name
    for y_true, y_pred, w in batches(kind, shape, weights, seed=len(shape) * 7 + len(name)):
        ours.update_state(y_true, y_pred, sample_weight=w)
        theirs.update_state(y_true, y_pred, sample_weight=w)
        assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-6, abs=1e-7)
    ours.reset_state()
    theirs.reset_state()
    assert ours.result() == float(theirs.result()) == 0.0


def test_mean_tracks_loss_like_keras_fit():
    keras = require("keras")
    ours, theirs = M.Mean(name="loss"), keras.metrics.Mean(name="loss")
    for loss, batch in [(0.7, 32), (0.5, 32), (0.9, 7)]:   # weighted by batch size
        ours.update_state(np.float32(loss), sample_weight=batch)
        theirs.update_state(np.float32(loss), sample_weight=batch)
    assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-7)
    values = np.arange(6, dtype=np.float32).reshape(3, 2)
    ours.reset_state()
    theirs.reset_state()
    ours.update_state(values)
    theirs.update_state(values)
    assert ours.result() == pytest.approx(float(theirs.result()))
    assert [v.shape for v in ours.variables] == [tuple(v.shape) for v in theirs.variables]


@pytest.mark.parametrize("name", [c for c, _ in CASES] + ["Mean"])
def test_config_matches_keras(name):
    keras = require("keras")
    ours, theirs = getattr(M, name)(), getattr(keras.metrics, name)()
    assert ours.get_config() == theirs.get_config()
    blob = json.loads(json.dumps(M.serialize(ours)))
    assert type(keras.metrics.deserialize(blob)).__name__ == name
    assert M.deserialize(blob).get_config() == ours.get_config()


@pytest.mark.parametrize("identifier,cls", [
    ("mae", M.MeanAbsoluteError), ("MAE", M.MeanAbsoluteError), ("mse", M.MeanSquaredError),
    ("mean_squared_error", M.MeanSquaredError), ("MeanSquaredError", M.MeanSquaredError),
    ("rmse", M.RootMeanSquaredError), ("root_mean_squared_error", M.RootMeanSquaredError),
    ("binary_accuracy", M.BinaryAccuracy)])
def test_get_keeps_the_identifier_as_history_name(identifier, cls):
    metric = M.get(identifier)
    assert type(metric) is cls and metric.name == identifier


@pytest.mark.parametrize("t_shape,p_shape", [
    ((8, 1), (8, 1)), ((8,), (8, 1)), ((8,), (8, 3)), ((8, 1), (8, 3)), ((8, 3), (8, 3)),
    ((4, 5), (4, 5, 3)), ((4, 5, 3), (4, 5, 3)), ((4, 5, 1), (4, 5, 1))], ids=str)
@pytest.mark.parametrize("identifier", ["accuracy", "acc"])
def test_accuracy_flavour_matches_keras_compile(t_shape, p_shape, identifier):
    require("keras")
    from keras.src.trainers.compile_utils import get_metric
    expected = get_metric(identifier, np.zeros(t_shape), np.zeros(p_shape))
    ours = M.get(identifier, y_shape=p_shape, y_true_shape=t_shape)
    assert (type(ours).__name__, ours.name) == (type(expected).__name__, expected.name)
    deferred = M.get(identifier)
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, size=t_shape).astype(np.float32)
    y_pred = rng.uniform(size=p_shape).astype(np.float32)
    for m in (deferred, expected, ours):
        m.update_state(y_true, y_pred)
    assert deferred.name == identifier
    assert deferred.result() == ours.result() == pytest.approx(float(expected.result()))


def test_accuracy_flavour_from_loss():
    assert type(M.get("accuracy", loss="sparse_categorical_crossentropy", y_shape=(None, 4))) \
        is M.SparseCategoricalAccuracy
    assert type(M.get("accuracy", loss="categorical_crossentropy", y_shape=(None, 4))) \
        is M.CategoricalAccuracy
    assert type(M.get("accuracy", loss="binary_crossentropy", y_shape=(None, 1))) \
        is M.BinaryAccuracy


def test_unknown_metric_lists_known_names():
    with pytest.raises(ConfigError, match="Unknown metric 'maee'") as info:
        M.get("maee")
    for known in ("mae", "mse", "rmse", "binary_accuracy", "RootMeanSquaredError"):
        assert known in str(info.value)
