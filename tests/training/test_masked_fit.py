"""Training with a mask against Keras 3 (torch backend): ``Masking -> LSTM(return_sequences)
-> Dense`` compiled with mse. The output carries the mask, so the loss averages over
unmasked timesteps only (Keras's ``apply_mask``), and so do ``metrics``."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import unrolled
from tests.peers import require
from tests.reference import nonzero_uniform
from unrolled.errors import InputShapeError
from unrolled.layers import LSTM, Dense, Dropout, Masking
from unrolled.training import optimizers as O

T, F, H = 6, 3, 4


@pytest.fixture(scope="module")
def keras():
    return require("keras")


def twins(keras: Any, seed: int = 1, last: str = "sequences") -> tuple[Any, Any]:
    """``Masking -> LSTM -> (Dropout(0) ->) Dense`` in unrolled and Keras, same weights."""
    K = keras.layers
    seq = last == "sequences"
    ours = unrolled.Sequential([unrolled.Input((T, F)), Masking(), LSTM(H, return_sequences=seq),
                                Dropout(0.0), Dense(2)])
    theirs = keras.Sequential([keras.Input((T, F)), K.Masking(), K.LSTM(H, return_sequences=seq),
                               K.Dropout(0.0), K.Dense(2)])
    rng = np.random.default_rng(seed)
    weights = [nonzero_uniform(rng, w.shape, dtype="float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


def padded(n: int, seed: int = 2, y_shape: tuple[int, ...] = (T, 2)) -> tuple[np.ndarray, np.ndarray]:
    """Sequences zero-padded at the end or at the start, one fully padded; targets
    non-zero everywhere (so masked timesteps would change the loss if counted)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, T, F)).astype("float32")
    lengths = rng.integers(1, T + 1, size=n)
    for i, k in enumerate(lengths):
        if i % 2:
            x[i, :T - k] = 0.0
        else:
            x[i, k:] = 0.0
    x[n // 2] = 0.0
    y = rng.normal(size=(n,) + y_shape).astype("float32")
    return x, y


def max_weight_diff(ours: Any, theirs: Any) -> float:
    return max(float(np.max(np.abs(a - b))) for a, b in zip(ours.get_weights(), theirs.get_weights()))


def test_masked_loss_is_the_mean_over_unmasked_timesteps(keras):
    ours, _ = twins(keras)
    ours.compile(optimizer="sgd", loss="mse")
    x, y = padded(7)
    mask = np.any(x != 0, axis=-1)
    per_step = np.mean((ours.predict(x, verbose=0) - y) ** 2, axis=-1)        # (B, T)
    assert ours.evaluate(x, y, verbose=0) == pytest.approx(per_step[mask].mean(), rel=1e-5)


@pytest.mark.parametrize("last", ["sequences", "last_step"])
def test_train_on_batch_loss_and_adam_step_match_keras(keras, last):
    ours, theirs = twins(keras, last=last)
    ours.compile(optimizer=O.Adam(0.01), loss="mse")
    theirs.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    x, y = padded(5, y_shape=(T, 2) if last == "sequences" else (2,))
    start = ours.get_weights()
    loss_ours, loss_theirs = ours.train_on_batch(x, y), theirs.train_on_batch(x, y)
    assert abs(loss_ours - loss_theirs) <= 1e-5 * abs(loss_theirs)
    assert max_weight_diff(ours, theirs) <= 1e-5
    assert all(not np.array_equal(a, b) for a, b in zip(start, ours.get_weights()))
    for _ in range(5):
        ours.train_on_batch(x, y)
        theirs.train_on_batch(x, y)
    assert max_weight_diff(ours, theirs) <= 1e-5


@pytest.mark.parametrize("weights", [None, "per_sample", "per_timestep"])
def test_fit_history_with_mask_matches_keras(keras, weights):
    """2 epochs, batches of 8 over 27 samples (a partial last batch), validation split,
    a metric (masked like the loss) and sample weights: per timestep (batch, T), the only
    shape Keras accepts with a mask, or per sample as (batch, 1), which Keras refuses and
    unrolled broadcasts over T (compared with Keras on the repeated weights)."""
    ours, theirs = twins(keras)
    x, y = padded(36, seed=4)
    rng = np.random.default_rng(5)
    kwargs: dict[str, Any] = dict(batch_size=8, epochs=2, validation_split=0.25, shuffle=False,
                                  verbose=0)
    compile_kwargs: dict[str, Any] = dict(loss="mse", metrics=["mae"])
    if weights == "per_sample":
        kwargs["sample_weight"] = rng.uniform(0.2, 2.0, size=(36, 1)).astype("float32")
    elif weights == "per_timestep":
        kwargs["sample_weight"] = rng.uniform(0.2, 2.0, size=(36, T)).astype("float32")
    if weights:
        compile_kwargs["weighted_metrics"] = ["mse"]
    ours.compile(optimizer=O.Adam(0.01), **compile_kwargs)
    theirs.compile(optimizer=keras.optimizers.Adam(0.01), **compile_kwargs)
    their_kwargs = dict(kwargs)
    if weights == "per_sample":   # Keras's in-place `sample_weight *= mask` refuses (B, 1)
        their_kwargs["sample_weight"] = np.repeat(kwargs["sample_weight"], T, axis=1)
    h_ours, h_theirs = ours.fit(x, y, **kwargs), theirs.fit(x, y, **their_kwargs)
    assert list(h_ours.history) == list(h_theirs.history)
    for key, values in h_theirs.history.items():
        np.testing.assert_allclose(h_ours.history[key], values, rtol=1e-4, err_msg=key)
    assert max_weight_diff(ours, theirs) <= 1e-4
    a = ours.evaluate(x, y, batch_size=7, verbose=0, sample_weight=kwargs.get("sample_weight"))
    b = theirs.evaluate(x, y, batch_size=7, verbose=0, sample_weight=their_kwargs.get("sample_weight"))
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_fully_masked_batch_has_zero_loss_and_no_update(keras):
    ours, theirs = twins(keras)
    ours.compile(optimizer=O.SGD(0.1), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.zeros((3, T, F), "float32")
    y = np.ones((3, T, 2), "float32")
    start = ours.get_weights()
    assert ours.train_on_batch(x, y) == theirs.train_on_batch(x, y) == 0.0
    assert all(np.array_equal(a, b) for a, b in zip(start, ours.get_weights()))


def test_per_sample_weights_against_the_mask_say_how_to_fix_them(keras):
    ours, _ = twins(keras)
    ours.compile(optimizer="sgd", loss="mse")
    x, y = padded(4)
    with pytest.raises(InputShapeError, match=r"\(batch, 1\)"):
        ours.train_on_batch(x, y, sample_weight=np.ones(4, "float32"))
    # Keras fails here too (RuntimeError from its in-place multiply), even when B == T.
    theirs = twins(keras)[1]
    theirs.compile(optimizer="sgd", loss="mse")
    with pytest.raises(RuntimeError):
        theirs.train_on_batch(x, y, sample_weight=np.ones(4, "float32"))
