"""Models copied from public Keras tutorials, saved by Keras 3, loaded, predicted and
fine-tuned by unrolled (and saved back for Keras): an LSTM autoencoder (LSTM ->
RepeatVector -> LSTM(return_sequences) -> TimeDistributed(Dense)) and a text classifier
(Embedding(mask_zero) -> Bidirectional(LSTM) -> Dense)."""
from __future__ import annotations

import numpy as np

import unrolled

from ..peers import require


def _round_trip(tmp_path, theirs, x, y, loss):
    keras = require("keras")
    theirs.save(tmp_path / "k.keras")
    ours = unrolled.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=3e-6)
    ours.compile(optimizer="adam", loss=loss)
    before = ours.evaluate(x, y, verbose=0)
    ours.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert ours.evaluate(x, y, verbose=0) < before
    ours.save(tmp_path / "u.keras")
    again = keras.saving.load_model(tmp_path / "u.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), ours.predict(x, verbose=0), atol=3e-6)


def test_lstm_autoencoder(tmp_path):
    keras = require("keras")
    L = keras.layers
    timesteps, features = 6, 2
    rng = np.random.default_rng(0)
    t = np.linspace(0, 2 * np.pi, timesteps)
    x = np.stack([np.sin(t + p) for p in rng.uniform(0, 6, 16 * features)]).reshape(16, features, timesteps)
    x = x.transpose(0, 2, 1).astype("float32")
    theirs = keras.Sequential([keras.Input((timesteps, features)), L.LSTM(8, activation="relu"),
                               L.RepeatVector(timesteps), L.LSTM(8, activation="relu", return_sequences=True),
                               L.TimeDistributed(L.Dense(features))])
    _round_trip(tmp_path, theirs, x, x, "mse")


def test_embedding_bidirectional_text_classifier(tmp_path):
    keras = require("keras")
    L = keras.layers
    rng = np.random.default_rng(1)
    x = rng.integers(1, 50, (16, 7))
    x[:5, 4:] = 0                                           # padded reviews
    y = (x[:, 0] > 25).astype("float32")[:, None]
    theirs = keras.Sequential([keras.Input((7,), dtype="int32"), L.Embedding(50, 8, mask_zero=True),
                               L.Bidirectional(L.LSTM(4, dropout=0.2, recurrent_dropout=0.2)),
                               L.Dense(1, activation="sigmoid")])
    _round_trip(tmp_path, theirs, x, y, "binary_crossentropy")


def test_cnn_lstm(tmp_path):
    """TimeDistributed(Conv1D) -> TimeDistributed(MaxPooling1D) -> TimeDistributed(Flatten)
    -> LSTM -> Dense: subsequences of a series, each read by a small CNN."""
    keras = require("keras")
    L = keras.layers
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 3, 4, 1)).astype("float32")
    y = x.sum(axis=(1, 2, 3))[:, None]
    theirs = keras.Sequential([keras.Input((3, 4, 1)),
                               L.TimeDistributed(L.Conv1D(4, 2, activation="relu")),
                               L.TimeDistributed(L.MaxPooling1D(2)),
                               L.TimeDistributed(L.Flatten()), L.LSTM(6), L.Dense(1)])
    _round_trip(tmp_path, theirs, x, y, "mse")


def test_functional_bidirectional_rnn_cell_time_distributed(tmp_path):
    """Built with unrolled's functional API, trained, saved, loaded by Keras 3, saved by
    Keras and loaded back."""
    keras = require("keras")
    from unrolled.layers import RNN, Bidirectional, Dense, GRU, LSTMCell, SimpleRNNCell, StackedRNNCells, TimeDistributed
    x = np.random.default_rng(3).standard_normal((8, 5, 3)).astype("float32")
    inputs = unrolled.Input((5, 3))
    h = Bidirectional(GRU(4, return_sequences=True), merge_mode="sum")(inputs)
    h = RNN(StackedRNNCells([LSTMCell(3), SimpleRNNCell(2)]), return_sequences=True)(h)
    ours = unrolled.Model(inputs, TimeDistributed(Dense(1))(h))
    ours.compile(optimizer="adam", loss="mse")
    y = np.full((8, 5, 1), 0.5, "float32")
    before = ours.evaluate(x, y, verbose=0)
    ours.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert ours.evaluate(x, y, verbose=0) < before
    ours.save(tmp_path / "u.keras")
    theirs = keras.saving.load_model(tmp_path / "u.keras")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0), atol=3e-6)
    theirs.save(tmp_path / "k.keras")
    back = unrolled.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), ours.predict(x, verbose=0), atol=3e-6)


def test_time_distributed_nested_model(tmp_path):
    keras = require("keras")
    L = keras.layers
    x = np.random.default_rng(4).standard_normal((8, 4, 3)).astype("float32")
    inner = keras.Sequential([keras.Input((3,)), L.Dense(5, activation="tanh"), L.Dense(2)])
    theirs = keras.Sequential([keras.Input((4, 3)), L.TimeDistributed(inner), L.LSTM(3)])
    _round_trip(tmp_path, theirs, x, np.ones((8, 3), "float32") * 0.3, "mse")
