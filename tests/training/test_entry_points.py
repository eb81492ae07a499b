"""The entry points (``model(x)``, ``predict_on_batch``, ``predict``, ``train_on_batch``,
``fit``) keep Keras 3's results while they take their short paths: the same outputs from
every inference entry point, the same loss and metrics as Keras after one step, arrays of
their own, and the same random streams as before (a ``predict`` between two ``fit`` calls
does not move the second one's draws).

No timing is asserted here (benchmarks/bench_entry.py measures it).
"""
from __future__ import annotations

import numpy as np
import pytest

import unrolled
from tests.peers import require
from tests.reference import nonzero_uniform
from unrolled.layers import LSTM, Dense, Flatten
from unrolled.random import make_rng, reserve_rng, set_random_seed
from unrolled.training import losses as L
from unrolled.training import metrics as M

T, F, H = 6, 3, 5


@pytest.fixture(scope="module")
def keras():
    return require("keras")


def _twins(keras, head: str = "linear"):
    ours = unrolled.Sequential([unrolled.Input((T, F)), LSTM(H), Dense(3, activation=head)])
    theirs = keras.Sequential([keras.Input((T, F)), keras.layers.LSTM(H),
                               keras.layers.Dense(3, activation=head)])
    rng = np.random.default_rng(3)
    weights = [nonzero_uniform(rng, w.shape, dtype="float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


def _data(n: int, seed: int = 4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, T, F)).astype("float32"), rng.normal(size=(n, 3)).astype("float32")


def test_inference_entry_points_agree_with_each_other_and_keras(keras):
    ours, theirs = _twins(keras)
    x, _ = _data(70)
    a = ours.predict(x, verbose=0)                       # three batches of 32, 32, 6
    b = ours.predict_on_batch(x)
    c = ours(x)
    d = ours.predict(x, batch_size=70, verbose=0)        # one batch
    for out in (a, b, c, d):
        assert type(out) is np.ndarray and out.dtype == np.float32 and out.shape == (70, 3)
    np.testing.assert_array_equal(b, c)
    np.testing.assert_array_equal(b, d)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    ref = theirs.predict(x, verbose=0)
    assert ref.dtype == a.dtype
    np.testing.assert_allclose(a, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b, theirs.predict_on_batch(x), rtol=1e-5, atol=1e-6)


def test_float64_input_and_list_outputs_take_the_same_paths(keras):
    inp = unrolled.Input((T, F))
    seq = LSTM(H, return_sequences=True)(inp)
    model = unrolled.Model(inp, [Dense(2)(seq), Flatten()(seq)])
    x, _ = _data(9)
    x64 = x.astype("float64")
    outs = model.predict(x64, verbose=0)
    assert isinstance(outs, list) and [o.dtype for o in outs] == [np.float32, np.float32]
    for p, q, r in zip(outs, model.predict_on_batch(x64), model(x)):
        np.testing.assert_array_equal(p, q)
        np.testing.assert_array_equal(p, r)


def test_outputs_never_share_memory_with_the_input():
    """A model whose output is a view of its input (Flatten) still returns new arrays from
    predict and predict_on_batch, as Keras does."""
    model = unrolled.Sequential([unrolled.Input((T, F)), Flatten()])
    x, _ = _data(4)
    for out in (model.predict(x, verbose=0), model.predict_on_batch(x)):
        np.testing.assert_array_equal(out, x.reshape(4, -1))
        assert not np.shares_memory(out, x)
        out[...] = 0.0
    assert np.any(x != 0)


@pytest.mark.parametrize("loss,head", [("mse", "linear"), ("mae", "linear"), ("huber", "linear"),
                                       ("categorical_crossentropy", "softmax"),
                                       ("binary_crossentropy", "sigmoid")])
def test_train_on_batch_and_fit_match_keras(keras, loss, head):
    """Losses and metrics from a step without sample weights (the short loss path) equal
    Keras's, and so do the weights after it; then one fit epoch of several batches."""
    ours, theirs = _twins(keras, head)
    x, y = _data(40)
    if head != "linear":
        y = np.abs(y) / np.abs(y).sum(axis=1, keepdims=True)
    ours.compile(optimizer=unrolled.optimizers.Adam(0.01), loss=loss, metrics=["mae"])
    theirs.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss, metrics=["mae"])
    a, b = ours.train_on_batch(x, y), theirs.train_on_batch(x, y)
    assert isinstance(a, list) and len(a) == 2
    np.testing.assert_allclose(a, b, rtol=2e-5)
    for p, q in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(p, q, rtol=0, atol=2e-5)
    h1 = ours.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    h2 = theirs.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    assert sorted(h1) == sorted(h2) == ["loss", "mae"]
    for key in h1:
        np.testing.assert_allclose(h1[key], h2[key], rtol=1e-4)


@pytest.mark.parametrize("loss", [L.MeanSquaredError(), L.MeanAbsoluteError(), L.Huber(0.7),
                                  L.BinaryCrossentropy(from_logits=True),
                                  L.CategoricalCrossentropy(label_smoothing=0.1)])
@pytest.mark.parametrize("shape", [(5, 3), (4, 6, 2), (1, 2)])
def test_short_loss_path_gives_the_general_paths_bits(loss, shape):
    rng = np.random.default_rng(0)
    y_true = rng.uniform(0.05, 0.95, shape).astype("float32")
    y_pred = rng.uniform(0.05, 0.95, shape).astype("float32")
    fast = loss.value_and_grad(y_true, y_pred)
    # A mask of ones takes the general reduction (weights size/valid = 1 everywhere).
    general = loss.value_and_grad(y_true, y_pred, mask=np.ones(shape[:-1], bool))
    assert fast[0] == general[0] and fast[1].dtype == general[1].dtype == np.float32
    np.testing.assert_array_equal(fast[1], general[1])


def test_running_loss_short_path_gives_the_array_paths_bits():
    fast, general = M.Mean(name="loss"), M.Mean(name="loss")
    for value, n in ((0.1234567, 32), (2.5e-3, 7), (11.75, 1)):
        fast.update_state(value, sample_weight=n)
        general.update_state(np.float64(value), sample_weight=np.int64(n))
    assert fast.total.dtype == np.float32 and fast.total == general.total
    assert fast.count == general.count and fast.result() == general.result()


def test_reserved_streams_are_the_spawned_ones():
    set_random_seed(11)
    later = reserve_rng()
    a = make_rng().random(3)
    children = np.random.SeedSequence(11).spawn(2)
    np.testing.assert_array_equal(a, np.random.default_rng(children[1]).random(3))
    np.testing.assert_array_equal(later().random(3), np.random.default_rng(children[0]).random(3))


def test_predict_between_fits_keeps_the_random_streams():
    """predict reserves one stream (as it drew one before), so the draws after it stay put."""
    x, y = _data(12)
    set_random_seed(5)
    model = unrolled.Sequential([unrolled.Input((T, F)), LSTM(H), Dense(3)])
    model.predict(x, verbose=0)
    after = make_rng().random(2)
    set_random_seed(5)
    unrolled.Sequential([unrolled.Input((T, F)), LSTM(H), Dense(3)])
    make_rng()                          # the stream predict reserved
    np.testing.assert_array_equal(after, make_rng().random(2))
