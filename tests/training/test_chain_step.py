"""The short training step of a plain chain of layers (``StepPlan.chain``) and the
input check ``train_on_batch`` skips for arrays like the last ones it accepted give the
bits of the general path, and are given up whenever what they rest on changes: other
shapes or dtypes, bad arrays, a layer frozen or added, a recompile, a new optimizer.

Every check compares with a twin model trained through the model protocol
(``forward_prepared`` / ``backward``: the graph engine's general walk), or with a fresh
model, bit for bit.
"""
from __future__ import annotations

import numpy as np
import pytest

import unrolled
from unrolled.errors import InputShapeError
from unrolled.layers import LSTM, Dense, Dropout, Embedding
from unrolled.training import losses as L
from unrolled.training import metrics as M
from unrolled.training import optimizers as O

T, F, H = 4, 3, 5


def _weights_for(model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(w.dtype) for w in model.get_weights()])


def _sequential(seed: int = 1, *extra):
    model = unrolled.Sequential([unrolled.Input((T, F)), LSTM(H), *extra, Dense(2)])
    _weights_for(model, seed)
    return model


def _functional(seed: int = 1):
    inp = unrolled.Input((T, F))
    model = unrolled.Model(inp, Dense(2)(LSTM(H)(inp)))
    _weights_for(model, seed)
    return model


def _data(seed: int = 2, n: int = 6, dtype: str = "float32"):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, T, F)).astype(dtype), rng.normal(size=(n, 2)).astype(dtype)


def _by_hand(model, optimizer, x, y, logged=None) -> float:
    """One step through the general model protocol (what the chain step replaces); the
    loss as ``train_on_batch`` reports it, or added to the running mean ``logged``."""
    y_pred, cache = model.forward_prepared(model.prepare_inputs(x), True)
    loss, dy = L.MeanSquaredError().value_and_grad(y.astype(y_pred.dtype), y_pred)
    _, grads = model.backward(dy, cache)
    optimizer.apply(grads, model.trainable_weights)
    logged = M.Mean(name="loss") if logged is None else logged
    logged.update_state(loss, sample_weight=len(x))
    return logged.result()


def _same(a, b) -> None:
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("make", [_sequential, _functional,
                                  lambda seed=1: _sequential(seed, Dropout(0.0), Dense(4))])
def test_chain_step_gives_the_general_paths_bits(make):
    ours, hand = make(), make()
    ours.compile(optimizer=O.Adam(0.05), loss="mse")
    opt = O.Adam(0.05)
    x, y = _data()
    for _ in range(3):
        assert ours.train_on_batch(x, y) == _by_hand(hand, opt, x, y)
        _same(ours, hand)
    assert ours._trainer.step_plan().chain is not None      # the short step ran


def test_fit_on_the_chain_step_gives_the_general_paths_bits():
    """Batches of two sizes (a last partial batch), several epochs."""
    ours, hand = _sequential(), _sequential()
    ours.compile(optimizer=O.RMSprop(0.01), loss="mse")
    opt = O.RMSprop(0.01)
    x, y = _data(n=7)
    history = ours.fit(x, y, batch_size=3, epochs=2, shuffle=False, verbose=0)
    losses = []
    for epoch in range(2):
        logged = M.Mean(name="loss")             # the epoch's running mean, by batch size
        for start in range(0, 7, 3):
            _by_hand(hand, opt, x[start:start + 3], y[start:start + 3], logged)
        losses.append(logged.result())
    _same(ours, hand)
    assert history.history["loss"] == losses


def test_embedding_first_and_a_frozen_layer_in_the_middle():
    """No input gradient from the Embedding (its dx is None), a frozen Dense (its weights
    are not trainable ones): the chain step lists the same gradients as the model."""
    def make():
        model = unrolled.Sequential([unrolled.Input((T,), dtype="int32"), Embedding(7, F),
                                     LSTM(H, return_sequences=True), Dense(3), LSTM(2)])
        _weights_for(model, 3)
        model.layers[2].trainable = False
        return model

    ours, hand = make(), make()
    ours.compile(optimizer=O.SGD(0.1, momentum=0.9), loss="mse")
    opt = O.SGD(0.1, momentum=0.9)
    x = np.random.default_rng(4).integers(0, 7, size=(5, T)).astype("int32")
    y = np.random.default_rng(5).normal(size=(5, 2)).astype("float32")
    for _ in range(2):
        assert ours.train_on_batch(x, y) == _by_hand(hand, opt, x, y)
        _same(ours, hand)
    assert ours._trainer.step_plan().chain is not None


def test_no_chain_for_a_branching_model_and_it_still_trains_the_same():
    def make():
        inp = unrolled.Input((T, F))
        h = LSTM(H)(inp)
        model = unrolled.Model(inp, unrolled.layers.Add()([Dense(2)(h), Dense(2)(h)]))
        _weights_for(model, 6)
        return model

    ours, hand = make(), make()
    ours.compile(optimizer=O.Adam(0.05), loss="mse")
    opt = O.Adam(0.05)
    x, y = _data()
    for _ in range(2):
        assert ours.train_on_batch(x, y) == _by_hand(hand, opt, x, y)
        _same(ours, hand)
    assert ours._trainer.step_plan().chain is None


def test_each_input_shape_is_checked_once_per_plan():
    model = _sequential()
    model.compile(optimizer="adam", loss="mse")
    seen = []
    for layer in model.layers:
        check = layer.validate_input
        layer.validate_input = lambda shape, check=check: (seen.append(shape), check(shape))[1]
    x, y = _data(n=6)
    model.train_on_batch(x, y)                    # the model's input check, then the chain's
    assert seen[-2:] == [(6, T, F), (6, H)]
    first = len(seen)
    model.train_on_batch(x, y)
    model.fit(x, y, batch_size=6, epochs=2, verbose=0)
    assert len(seen) == first                     # the same shape again: no second look
    model.train_on_batch(x[:4], y[:4])            # another shape: checked
    assert seen[-2:] == [(4, T, F), (4, H)]


# -- what the skipped input check rests on ----------------------------------------------

def _fresh_twin_after(change, steps_before: int = 2):
    """Train ``ours`` ``steps_before`` steps, apply ``change`` to it and to a twin trained
    the same way, then one step each: the same loss and weights."""
    ours, twin = _sequential(), _sequential()
    x, y = _data()
    for model in (ours, twin):
        model.compile(optimizer=O.Adam(0.05), loss="mse")
    for _ in range(steps_before):
        ours.train_on_batch(x, y)
    for _ in range(steps_before):
        twin._trainer._accepted = None                       # the twin never skips the check
        twin.train_on_batch(x, y)
    return ours, twin, x, y


def test_other_dtypes_and_shapes_take_the_full_check():
    ours, twin, x, y = _fresh_twin_after(None)
    x64, y64 = x.astype("float64"), y.astype("float64")
    a = ours.train_on_batch(x64, y64)                          # converted as before
    twin._trainer._accepted = None
    b = twin.train_on_batch(x64, y64)
    assert a == b
    _same(ours, twin)
    assert ours.train_on_batch(x[:3], y[:3]) == twin.train_on_batch(x[:3], y[:3])
    _same(ours, twin)


def test_bad_arrays_after_good_ones_are_still_refused():
    model = _sequential()
    model.compile(optimizer="adam", loss="mse")
    x, y = _data()
    model.train_on_batch(x, y)
    with pytest.raises(InputShapeError, match="same number of samples"):
        model.train_on_batch(x, y[:5])
    with pytest.raises(InputShapeError):
        model.train_on_batch(x[..., :2], y)
    with pytest.raises(InputShapeError, match="sample_weight"):
        model.train_on_batch(x, y, sample_weight=np.ones(5, "float32"))
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(InputShapeError):
        model.test_on_batch(x[:, :, :2], y)
    _same_arrays = [np.array_equal(a, b) for a, b in zip(before, model.get_weights())]
    assert all(_same_arrays)


@pytest.mark.parametrize("dtype", ["int64", "int32", "float32"])
def test_integer_ids_are_checked_every_call(dtype):
    """Embedding checks the values of its ids (range, integers), not only their shape:
    ids of the shape and dtype of accepted ones but out of range are still refused (the
    input check is never skipped for integer ids)."""
    model = unrolled.Sequential([unrolled.Input((T,), dtype=dtype), Embedding(7, F), LSTM(2)])
    model.compile(optimizer="adam", loss="mse")
    ids = np.random.default_rng(4).integers(0, 7, size=(5, T)).astype(dtype)
    y = np.zeros((5, 2), "float32")
    model.train_on_batch(ids, y)
    model.train_on_batch(ids, y)
    bad = ids.copy()
    bad[1, 2] = 7
    with pytest.raises(InputShapeError, match="out of range"):
        model.train_on_batch(bad, y)
    with pytest.raises(InputShapeError, match="out of range"):
        model.test_on_batch(bad, y)


def test_recompiling_the_same_trainer_with_a_new_optimizer():
    """``compile_from_config`` recompiles the trainer in place: the new optimizer is built
    and used from the first step, as on a fresh model."""
    ours, fresh = _sequential(), _sequential()
    x, y = _data()
    ours.compile(optimizer=O.SGD(0.5), loss="mse")
    ours.train_on_batch(x, y)
    _weights_for(ours, 1)                                     # back to the start
    config = dict(optimizer=O.Adam(0.05), loss="mse")
    ours._trainer.compile(**config)
    fresh.compile(optimizer=O.Adam(0.05), loss="mse")
    for _ in range(2):
        assert ours.train_on_batch(x, y) == fresh.train_on_batch(x, y)
        _same(ours, fresh)
    assert len(ours.optimizer.variables) == len(fresh.optimizer.variables)


def test_a_layer_added_after_steps_is_trained_like_in_a_fresh_model():
    ours, fresh = _sequential(), _sequential()
    x, y = _data()
    ours.compile(optimizer="sgd", loss="mse")
    ours.train_on_batch(x, y)
    _weights_for(ours, 1)
    extra, extra_fresh = Dense(2), Dense(2)
    ours.add(extra)
    fresh.add(extra_fresh)
    _weights_for(ours, 8), _weights_for(fresh, 8)
    for model in (ours, fresh):
        model.compile(optimizer=O.Adam(0.05), loss="mse")
    for _ in range(2):
        assert ours.train_on_batch(x, y) == fresh.train_on_batch(x, y)
        _same(ours, fresh)
    assert ours._trainer.step_plan().chain[-1] is extra


def test_freezing_after_steps_then_recompiling_trains_like_a_fresh_frozen_model():
    ours, fresh = _sequential(), _sequential()
    x, y = _data()
    ours.compile(optimizer=O.Adam(0.05), loss="mse")
    ours.train_on_batch(x, y)
    _weights_for(ours, 1)
    for model in (ours, fresh):
        model.layers[0].trainable = False
        model.compile(optimizer=O.Adam(0.05), loss="mse")
    lstm_before = ours.layers[0].get_weights()
    for _ in range(2):
        assert ours.train_on_batch(x, y) == fresh.train_on_batch(x, y)
        _same(ours, fresh)
    for a, b in zip(lstm_before, ours.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)                  # frozen, not trained on


def test_freezing_the_whole_model_after_steps():
    """A model made non-trainable: no weights to train, the same warning as ever."""
    model = _sequential()
    x, y = _data()
    model.compile(optimizer="adam", loss="mse")
    model.train_on_batch(x, y)
    model.trainable = False
    model.compile(optimizer="adam", loss="mse")
    before = [w.copy() for w in model.get_weights()]
    with pytest.warns(UserWarning, match="does not have any trainable weights"):
        model.train_on_batch(x, y)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_model_class_with_its_own_forward_is_run_through_it():
    """A subclass that changes ``forward_prepared`` (here: doubles the output) is not
    bypassed by the chain step."""
    class Doubled(unrolled.Sequential):
        def forward_prepared(self, arrays, training=False, keep_cache=True, masks=None):
            out, cache = super().forward_prepared(arrays, training, keep_cache, masks)
            return out * 2, cache

    ours = Doubled([unrolled.Input((T, F)), LSTM(H), Dense(2)])
    plain = _sequential()
    ours.set_weights(plain.get_weights())
    x, y = _data()
    for model in (ours, plain):
        model.compile(optimizer="sgd", loss="mse")
    logged = M.Mean(name="loss")
    logged.update_state(L.MeanSquaredError()(y, 2 * plain.predict(x, verbose=0)), sample_weight=len(x))
    assert ours.test_on_batch(x, y) == logged.result()
    assert ours._trainer.step_plan().chain is None
