"""Sequential models made of the issue #11 layers, in `.keras` files both ways with real
Keras 3 (Keras saves -> unrolled loads and predicts the same; unrolled saves -> Keras
loads and predicts the same), summary totals equal to Keras's, and two tutorial models
(text classification Embedding(mask_zero) -> LSTM -> Dense(sigmoid); CNN-LSTM Conv1D ->
MaxPooling1D -> LSTM -> Dense) loaded from Keras's files and fine-tuned, one step checked
against Keras's own step."""
from __future__ import annotations

import numpy as np
import pytest

import unrolled

from ..peers import require
from .compare import random_weights_for


def text_classifier(L, Input):
    return [Input((6,)), L.Embedding(12, 4, mask_zero=True), L.LSTM(5), L.Dense(1, activation="sigmoid")]


def cnn_lstm(L, Input):
    return [Input((10, 3)), L.Conv1D(4, 3, activation="relu", padding="causal"), L.MaxPooling1D(2),
            L.LSTM(5), L.Dense(2)]


def reshaper(L, Input):
    return [Input((6, 3)), L.LSTM(4), L.RepeatVector(3), L.LSTM(2, return_sequences=True),
            L.Flatten(), L.Reshape((3, 2)), L.Permute((2, 1)), L.Activation("tanh"),
            L.ReLU(negative_slope=0.1), L.LeakyReLU(), L.ELU(), L.Softmax()]


def normalized(L, Input):
    return [Input((8, 3)), L.Conv1D(4, 2, padding="same", strides=1, dilation_rate=2),
            L.BatchNormalization(), L.LayerNormalization(), L.AveragePooling1D(2),
            L.GRU(3, return_sequences=True), L.GlobalAveragePooling1D(), L.Dense(2)]


def global_max(L, Input):
    return [Input((7, 2)), L.Conv1D(3, 2, use_bias=False, kernel_regularizer="l2"),
            L.GlobalMaxPooling1D(), L.Dense(1)]


MODELS = [text_classifier, cnn_lstm, reshaper, normalized, global_max]


def _input(model_fn, rng):
    if model_fn is text_classifier:
        x = rng.integers(1, 12, (3, 6))
        x[0, 4:] = 0
        x[1, 1] = 0
        return x
    shape = {cnn_lstm: (3, 10, 3), reshaper: (3, 6, 3), normalized: (3, 8, 3), global_max: (3, 7, 2)}[model_fn]
    return rng.standard_normal(shape).astype("float32")


def _pair(model_fn, seed=0):
    keras = require("keras")
    ours = unrolled.Sequential(model_fn(unrolled.layers, unrolled.layers.Input))
    theirs = keras.Sequential(model_fn(keras.layers, keras.Input))
    rng = np.random.default_rng(seed)
    weights = [w for layer in ours.layers for w in random_weights_for(layer, rng)]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


@pytest.mark.parametrize("model_fn", MODELS, ids=[m.__name__ for m in MODELS])
def test_keras_saves_unrolled_loads(model_fn, tmp_path):
    keras = require("keras")
    _, theirs = _pair(model_fn)
    x = _input(model_fn, np.random.default_rng(1))
    path = tmp_path / "k.keras"
    theirs.save(path)
    ours = unrolled.load_model(path)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=2e-6)
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in theirs.layers]
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert keras  # noqa: B018


@pytest.mark.parametrize("model_fn", MODELS, ids=[m.__name__ for m in MODELS])
def test_unrolled_saves_keras_loads(model_fn, tmp_path):
    keras = require("keras")
    ours, _ = _pair(model_fn)
    x = _input(model_fn, np.random.default_rng(2))
    path = tmp_path / "u.keras"
    ours.save(path)
    theirs = keras.saving.load_model(path)
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0), atol=2e-6)
    for layer_o, layer_t in zip(ours.layers, theirs.layers):
        assert layer_o.name == layer_t.name
        assert [w.shape for w in layer_o.weights] == [tuple(w.shape) for w in layer_t.weights]


@pytest.mark.parametrize("model_fn", MODELS, ids=[m.__name__ for m in MODELS])
def test_summary_totals_equal_keras(model_fn):
    ours, theirs = _pair(model_fn)
    text = ours.summary(return_string=True)
    trainable = sum(int(np.prod(w.shape)) for w in theirs.trainable_weights)
    frozen = sum(int(np.prod(w.shape)) for w in theirs.non_trainable_weights)
    assert ours.count_params() == theirs.count_params() == trainable + frozen
    assert f"Trainable params: {trainable:,}" in text
    assert f"Non-trainable params: {frozen:,}" in text
    for layer_o, layer_t in zip(ours.layers, theirs.layers):
        assert layer_o.count_params() == layer_t.count_params(), layer_o.name
        assert str(layer_o.count_params()) in layer_o.param_formula() or layer_o.count_params() == 0


@pytest.mark.parametrize("model_fn,loss", [(text_classifier, "binary_crossentropy"), (cnn_lstm, "mse")],
                         ids=["text_classification", "cnn_lstm"])
def test_tutorial_model_loads_predicts_and_fine_tunes(model_fn, loss, tmp_path):
    keras = require("keras")
    _, theirs = _pair(model_fn, seed=3)
    theirs.compile(optimizer="adam", loss=loss)
    rng = np.random.default_rng(4)
    x = _input(model_fn, rng)
    y = (rng.random((3, 1)) < 0.5).astype("float32") if loss == "binary_crossentropy" \
        else rng.standard_normal((3, 2)).astype("float32")
    path = tmp_path / "tutorial.keras"
    theirs.save(path)
    ours = unrolled.load_model(path)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=2e-6)
    # one fine-tuning step: the same weights as Keras's own step
    loss_ours = ours.train_on_batch(x, y)
    loss_theirs = theirs.train_on_batch(x, y)
    assert abs(float(loss_ours) - float(loss_theirs)) < 1e-5
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    history = ours.fit(x, y, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    ours.save(tmp_path / "tuned.keras")
    again = keras.saving.load_model(tmp_path / "tuned.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), ours.predict(x, verbose=0), atol=2e-6)
