"""Initializers, regularizers and constraints as they appear in real Keras configs:
names and configs read as Keras writes them; L1/L2/L1L2 penalties (weight and activity)
added to the training loss and gradients exactly as Keras 3 does (one train_on_batch
compared); constraints applied after the update; nothing here blocks loading."""
from __future__ import annotations

import json

import numpy as np
import pytest

import unrolled
from unrolled.core import constraints, initializers, regularizers
from unrolled.errors import ConfigError
from unrolled.layers import GRU, LSTM, Conv1D, Dense, Embedding, Input, SimpleRNN

from ..peers import require
from ..reference import nonzero_uniform


# -- initializers ------------------------------------------------------------------------
KERAS_INITS = ["Identity", "Orthogonal", "TruncatedNormal", "VarianceScaling", "LecunNormal",
               "LecunUniform", "GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform",
               "RandomNormal", "RandomUniform", "Zeros", "Ones", "Constant"]


@pytest.mark.parametrize("name", KERAS_INITS)
def test_initializer_configs_as_keras_writes_them(name):
    keras = require("keras")
    theirs = getattr(keras.initializers, name)()
    cfg = json.loads(json.dumps(keras.initializers.serialize(theirs)))
    ours = initializers.get(cfg)
    assert json.loads(json.dumps(initializers.serialize(ours)))["config"] == cfg["config"]
    assert type(ours).__name__ == name
    again = keras.initializers.deserialize(initializers.serialize(ours))
    assert type(again).__name__ == name


@pytest.mark.parametrize("alias,cls", [("identity", "Identity"), ("IdentityInitializer", "Identity"),
                                       ("lecun_normal", "LecunNormal"), ("truncated_normal", "TruncatedNormal"),
                                       ("variance_scaling", "VarianceScaling"), ("uniform", "RandomUniform"),
                                       ("normal", "RandomNormal"), ("OrthogonalInitializer", "Orthogonal")])
def test_initializer_names(alias, cls):
    assert type(initializers.get(alias)).__name__ == cls


@pytest.mark.parametrize("spec,std", [
    ({"class_name": "VarianceScaling", "config": {"scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal"}},
     np.sqrt(2.0 / 300)),
    ({"class_name": "VarianceScaling", "config": {"scale": 3.0, "mode": "fan_avg", "distribution": "uniform"}},
     np.sqrt(3.0 / 250)),   # uniform on ±sqrt(3·var): std = sqrt(var)
    ("lecun_normal", np.sqrt(1.0 / 200)),
    ("lecun_uniform", np.sqrt(1.0 / 200)),
    ({"class_name": "TruncatedNormal", "config": {"mean": 0.0, "stddev": 0.2}}, 0.2 * 0.8796),
])
def test_initializer_distributions(spec, std):
    """Sample statistics against Keras's definitions for a (200, 300) kernel."""
    w = initializers.get(spec)((200, 300), "float64", np.random.default_rng(0))
    assert abs(w.std() - std) < 0.03 * std
    assert abs(w.mean()) < 0.03 * std


def test_identity_and_orthogonal_values():
    np.testing.assert_array_equal(initializers.get({"class_name": "Identity", "config": {"gain": 2.0}})((3, 5)),
                                  2 * np.eye(3, 5))
    q = initializers.get("orthogonal")((4, 12), "float64", np.random.default_rng(0))
    np.testing.assert_allclose(q @ q.T, np.eye(4), atol=1e-12)
    with pytest.raises(ConfigError, match="2-D matrices only"):
        initializers.get("identity")((2, 3, 4))


def test_identity_recurrent_initializer_in_a_layer():
    layer = SimpleRNN(3, recurrent_initializer="identity")
    layer.build((None, 2, 4))
    np.testing.assert_array_equal(layer.recurrent_kernel, np.eye(3))


# -- regularizers and constraints ----------------------------------------------------------
def test_l1l2_by_name_is_zero_as_in_keras():
    keras = require("keras")
    assert keras.regularizers.get("l1l2").get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.get("l1l2") == regularizers.get("l1_l2") == regularizers.L1L2(0.0, 0.0)


@pytest.mark.parametrize("spec", ["l1", "l2", {"class_name": "L2", "config": {"l2": 0.05}},
                                  "orthogonal_regularizer",
                                  {"class_name": "OrthogonalRegularizer", "config": {"factor": 0.3, "mode": "columns"}},
                                  {"class_name": "L1L2", "config": {"l1": 0.01, "l2": 0.02}}])
def test_regularizer_value_and_gradient_match_keras(spec):
    keras = require("keras")
    torch = require("torch")
    ours = regularizers.get(spec)
    theirs = keras.regularizers.get(spec)
    assert ours.get_config() == theirs.get_config()
    w = nonzero_uniform(np.random.default_rng(0), (3, 4))
    wt = torch.tensor(w, requires_grad=True)
    value = theirs(wt)
    value.backward()
    # Keras's orthogonal penalty mixes its float32 factor into the float64 computation
    rtol = 1e-6 if isinstance(ours, regularizers.OrthogonalRegularizer) else 1e-12
    assert abs(ours(w) - value.detach().item()) <= rtol * abs(value.detach().item())
    ref = wt.grad.numpy()
    np.testing.assert_allclose(ours.gradient(w), ref, rtol=rtol, atol=rtol * np.abs(ref).max())
    assert regularizers.serialize(ours) == json.loads(json.dumps(keras.regularizers.serialize(theirs)))


@pytest.mark.parametrize("spec", ["non_neg", {"class_name": "MaxNorm", "config": {"max_value": 0.5, "axis": 0}},
                                  {"class_name": "UnitNorm", "config": {"axis": 1}},
                                  {"class_name": "MinMaxNorm", "config": {"min_value": 0.2, "max_value": 0.6, "rate": 0.7, "axis": 0}}])
def test_constraints_match_keras(spec):
    keras = require("keras")
    ours, theirs = constraints.get(spec), keras.constraints.get(spec)
    w = nonzero_uniform(np.random.default_rng(1), (3, 4), 0.1, 0.9)
    np.testing.assert_allclose(ours(w), np.asarray(theirs(w)), rtol=1e-6)
    assert constraints.serialize(ours) == json.loads(json.dumps(keras.constraints.serialize(theirs)))


def test_unknown_ones_are_refused_clearly():
    with pytest.raises(ConfigError, match="2-D weight"):
        regularizers.get("orthogonal_regularizer")(np.ones(3))
    with pytest.raises(ConfigError, match="Unknown regularizer 'l3'"):
        Dense(2, kernel_regularizer="l3")
    with pytest.raises(ConfigError, match="Unknown constraint"):
        LSTM(2, kernel_constraint="positive")


@pytest.mark.parametrize("make", [
    lambda: Dense(3, kernel_regularizer="l2", bias_regularizer="l1", kernel_constraint="non_neg"),
    lambda: LSTM(3, kernel_regularizer="l1_l2", recurrent_regularizer="l2", activity_regularizer="l1",
                 recurrent_constraint={"class_name": "MaxNorm", "config": {"max_value": 1.0, "axis": 0}}),
    lambda: GRU(2, bias_regularizer={"class_name": "L2", "config": {"l2": 0.3}}),
    lambda: Dense(2, activity_regularizer="l2"),
    # (not SimpleRNN's activity_regularizer: Keras 3.15's SimpleRNN drops it in __init__)
    lambda: GRU(2, activity_regularizer="l1", bias_constraint="max_norm"),
    lambda: SimpleRNN(2, recurrent_regularizer="l2", recurrent_constraint="unit_norm"),
    lambda: Conv1D(2, 2, kernel_regularizer="l2", bias_constraint="non_neg"),
    lambda: Embedding(5, 2, embeddings_regularizer="l1", embeddings_constraint="unit_norm"),
])
def test_layer_configs_round_trip_through_keras(make):
    keras = require("keras")
    layer = make()
    cfg = json.loads(json.dumps(layer.get_config()))
    theirs = getattr(keras.layers, type(layer).__name__).from_config(dict(cfg))
    assert json.loads(json.dumps(theirs.get_config())) == cfg
    assert type(layer).from_config(dict(cfg)).get_config() == layer.get_config()


# -- training: one step against Keras ----------------------------------------------------
def _models(keras):
    reg = {"class_name": "L1L2", "config": {"l1": 0.01, "l2": 0.02}}

    def build(L, inp):
        return [inp((6, 3)),
                L.Conv1D(4, 2, padding="causal", kernel_regularizer="l2", activity_regularizer="l1"),
                L.LSTM(5, return_sequences=True, kernel_regularizer=reg, recurrent_regularizer="l2",
                       bias_regularizer="l1", activity_regularizer={"class_name": "L2", "config": {"l2": 0.05}}),
                L.GRU(3, recurrent_constraint={"class_name": "MaxNorm", "config": {"max_value": 0.8, "axis": 0}}),
                L.Dense(2, kernel_regularizer="l1", activity_regularizer="l2", kernel_constraint="non_neg")]
    ours = unrolled.Sequential(build(unrolled.layers, Input))
    theirs = keras.Sequential(build(keras.layers, keras.Input))
    return ours, theirs


def test_train_step_with_penalties_and_constraints_matches_keras():
    keras = require("keras")
    ours, theirs = _models(keras)
    rng = np.random.default_rng(0)
    weights = [nonzero_uniform(rng, w.shape, dtype="float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = rng.standard_normal((4, 6, 3)).astype("float32")
    y = rng.standard_normal((4, 2)).astype("float32")
    ours.compile(optimizer=unrolled.optimizers.SGD(0.1), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    loss_ours = ours.train_on_batch(x, y)
    loss_theirs = theirs.train_on_batch(x, y)
    assert abs(float(loss_ours) - float(loss_theirs)) < 1e-5 * max(1.0, abs(float(loss_theirs)))
    for a, b, w in zip(ours.get_weights(), theirs.get_weights(), theirs.weights):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=w.path)
    assert np.all(ours.layers[-1].kernel >= 0)          # NonNeg applied after the update
    # evaluate: the same penalties are part of Keras's reported loss
    assert abs(ours.evaluate(x, y, verbose=0) - theirs.evaluate(x, y, verbose=0)) < 1e-5 * 10


def test_shared_layer_penalty_counted_once_and_activity_divided_by_batch():
    """One step of SGD(lr=1) on a model calling one Dense twice: the weight penalty
    counts once, the activity penalty per call, each divided by its batch size."""
    layer = Dense(2, use_bias=False, kernel_regularizer={"class_name": "L2", "config": {"l2": 1.0}},
                  activity_regularizer={"class_name": "L1", "config": {"l1": 1.0}})
    layer.build((None, 2))
    layer.set_weights([np.ones((2, 2), "float32")])
    x = np.ones((4, 2), "float32")
    y, cache = layer.forward(x, training=True)
    assert layer.activity_penalty(cache) == pytest.approx(np.abs(y).sum() / 4)
    assert layer.regularization_penalty() == 4.0
    dx, _ = layer.backward(np.zeros_like(y), cache)            # only the activity gradient
    np.testing.assert_allclose(dx, np.full((4, 2), 2 / 4))
    inp = Input((2,))
    model = unrolled.Model(inp, layer(layer(inp)))
    model.compile(optimizer=unrolled.optimizers.SGD(0.0), loss="mse")
    loss = model.train_on_batch(x, np.zeros((4, 2), "float32"))
    mse = 16.0                                                   # y = 4 everywhere
    assert loss == pytest.approx(mse + 4.0 + 2 * 2 + 4 * 2)      # Σw² once; Σ|y|/B per call


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_orthogonal_regularizer_gradient_finite_differences(mode):
    from ..reference import numeric_gradient

    reg = regularizers.OrthogonalRegularizer(0.5, mode)
    w = nonzero_uniform(np.random.default_rng(3), (4, 3))
    num = numeric_gradient(lambda: reg(w), w)
    np.testing.assert_allclose(reg.gradient(w), num, rtol=1e-6, atol=1e-9)
    assert np.any(num != 0)
