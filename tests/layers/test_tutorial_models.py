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
