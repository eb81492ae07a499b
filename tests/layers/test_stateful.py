"""stateful=True: the final states carry into the next call, chunks equal the whole
sequence, reset restores zeros, fixed batch size required; against Keras 3 over
consecutive calls; `.keras` files both ways (Keras 3 does not save the states)."""
from __future__ import annotations

import numpy as np
import pytest

import unrolled
from unrolled.errors import InputShapeError
from unrolled.layers import GRU, LSTM, Bidirectional, Dense, SimpleRNN

from ..peers import require
from ..reference import nonzero_uniform

CLASSES = {"LSTM": LSTM, "GRU": GRU, "SimpleRNN": SimpleRNN}


@pytest.mark.parametrize("cls_name", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("training", [False, True])
def test_chunks_equal_whole_and_reset(cls_name, training):
    layer = CLASSES[cls_name](3, stateful=True, return_sequences=True, return_state=True)
    layer.build((2, 6, 2))
    rng = np.random.default_rng(0)
    layer.set_weights([nonzero_uniform(rng, w.shape, dtype="float32") for w in layer.get_weights()])
    x = rng.standard_normal((2, 6, 2)).astype("float32")
    run = (lambda a: layer.forward(a, training=True)[0]) if training else layer
    whole, *whole_states = run(x)
    layer.reset_states()
    assert all(np.all(s == 0) for s in layer.states)
    parts = [run(x[:, a:b]) for a, b in ((0, 1), (1, 4), (4, 6))]
    np.testing.assert_allclose(np.concatenate([p[0] for p in parts], axis=1), whole, atol=1e-6)
    for mine, final in zip(layer.states, whole_states):
        np.testing.assert_allclose(mine, final, atol=1e-6)
    layer.reset_state()
    np.testing.assert_allclose(run(x)[0], whole, atol=1e-6)


def test_fixed_batch_size_required_and_checked():
    with pytest.raises(InputShapeError, match="fixed batch size"):
        unrolled.Sequential([unrolled.Input((5, 2)), LSTM(3, stateful=True)]).build()
    layer = LSTM(3, stateful=True, batch_input_shape=(4, 5, 2))
    model = unrolled.Sequential([layer])
    model.build()
    assert layer.states[0].shape == (4, 3)
    with pytest.raises(InputShapeError, match="stateful with batch size 4, got a batch of 3"):
        layer(np.zeros((3, 5, 2), "float32"))


@pytest.mark.parametrize("cls_name", ["LSTM", "GRU"])
def test_consecutive_calls_match_keras(cls_name):
    keras = require("keras")
    rng = np.random.default_rng(1)
    ours = unrolled.Sequential([unrolled.Input((3, 2), batch_size=2),
                                CLASSES[cls_name](4, stateful=True), Dense(1)])
    theirs = keras.Sequential([keras.Input((3, 2), batch_size=2),
                               getattr(keras.layers, cls_name)(4, stateful=True), keras.layers.Dense(1)])
    weights = [nonzero_uniform(rng, w.shape, dtype="float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    for _ in range(3):
        x = rng.standard_normal((2, 3, 2)).astype("float32")
        np.testing.assert_allclose(ours.predict(x, batch_size=2, verbose=0),
                                   theirs.predict(x, batch_size=2, verbose=0), atol=2e-6)
    np.testing.assert_allclose(ours.layers[0].states[0], theirs.layers[0].states[0].numpy(), atol=2e-6)
    ours.reset_states()
    theirs.layers[0].reset_state()
    np.testing.assert_allclose(ours.predict(x, batch_size=2, verbose=0),
                               theirs.predict(x, batch_size=2, verbose=0), atol=2e-6)


def test_bidirectional_stateful_matches_keras():
    keras = require("keras")
    rng = np.random.default_rng(2)
    ours = Bidirectional(LSTM(2, stateful=True, return_sequences=True))
    ours.build((2, 3, 2))
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(2, stateful=True, return_sequences=True))
    theirs.build((2, 3, 2))
    weights = [nonzero_uniform(rng, w.shape, dtype="float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    for _ in range(2):
        x = rng.standard_normal((2, 3, 2)).astype("float32")
        np.testing.assert_allclose(ours(x), theirs(x).detach().numpy(), atol=2e-6)
    ours.reset_states()
    assert all(np.all(s == 0) for s in ours.forward_layer.states + ours.backward_layer.states)
    with pytest.raises(AttributeError, match="stateful"):
        Bidirectional(LSTM(2)).reset_state()


def test_stateful_tutorial_model_loads_predicts_and_fine_tunes(tmp_path):
    """Keras's stateful-LSTM example (one series cut into consecutive windows, batch of 1
    series per row, shuffle=False, reset between epochs), saved by Keras 3."""
    keras = require("keras")
    batch, tsteps = 4, 5
    t = np.arange(batch * 41, dtype="float32")
    series = np.cos(0.07 * t).reshape(batch, 41)                       # 4 parallel series
    # row k of batch b continues row k of batch b-1: windows of each series, interleaved
    x = series[:, :40].reshape(batch, 8, tsteps, 1).transpose(1, 0, 2, 3).reshape(-1, tsteps, 1)
    y = series[:, tsteps::tsteps].T.reshape(-1, 1)                     # the value after each window
    theirs = keras.Sequential([keras.Input((tsteps, 1), batch_size=batch),
                               keras.layers.LSTM(8, stateful=True), keras.layers.Dense(1)])
    theirs.save(tmp_path / "stateful.keras")
    ours = unrolled.load_model(tmp_path / "stateful.keras")
    assert ours.layers[0].stateful and ours.layers[0].states[0].shape == (batch, 8)
    np.testing.assert_allclose(ours.predict(x, batch_size=batch, verbose=0),
                               theirs.predict(x, batch_size=batch, verbose=0), atol=2e-6)
    ours.reset_states()
    ours.compile(optimizer="adam", loss="mse")
    with pytest.warns(UserWarning, match="shuffle=False"):
        ours.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0)
    ours.reset_states()
    first = ours.evaluate(x, y, batch_size=batch, verbose=0)
    for _ in range(5):
        ours.reset_states()
        ours.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    ours.reset_states()
    assert ours.evaluate(x, y, batch_size=batch, verbose=0) < first
    ours.save(tmp_path / "ours.keras")
    again = keras.saving.load_model(tmp_path / "ours.keras")
    assert again.layers[0].stateful
    ours.reset_states()
    np.testing.assert_allclose(again.predict(x, batch_size=batch, verbose=0),
                               ours.predict(x, batch_size=batch, verbose=0), atol=2e-6)
