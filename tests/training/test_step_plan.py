"""The trainer's step plan (what a training step needs, worked out once) gives the same
numbers as asking the model every step, and is rebuilt whenever what it lists changes:
a regularizer, constraint or activity regularizer added after a first step, a layer
frozen, a layer added, a recompile, a new learning rate.

Each check compares a model trained through ``train_on_batch`` with a twin trained by
hand through the model protocol (forward, loss gradient, penalties, backward, optimizer,
constraints), bit for bit.
"""
from __future__ import annotations

import copy as copy_module

import numpy as np
import pytest

import unrolled
from unrolled.core import constraints, regularizers
from unrolled.layers import LSTM, Dense
from unrolled.layers.base import state_version
from unrolled.training import losses as L
from unrolled.training import metrics as M
from unrolled.training import optimizers as O

T, F, H = 4, 3, 5


def _model(seed: int = 1, **dense_options):
    model = unrolled.Sequential([unrolled.Input((T, F)), LSTM(H), Dense(2, **dense_options)])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    return model


def _data(seed: int = 2):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(6, T, F)).astype("float32"), rng.normal(size=(6, 2)).astype("float32")


def _by_hand(model, optimizer, x, y) -> float:
    """One step through the model protocol, asking the model for everything."""
    y_pred, cache = model.forward_prepared(model.prepare_inputs(x), True)
    loss, dy = L.MeanSquaredError().value_and_grad(y, y_pred)
    penalty, reg_grads = 0.0, {}
    for w, reg in model.regularized_weights():
        penalty += float(reg(w))
        reg_grads[id(w)] = reg.gradient(w).astype(w.dtype)
    activity = model.activity_penalty(cache)
    if penalty or activity:
        loss = loss + penalty + activity
    weights = model.trainable_weights
    _, grads = model.backward(dy, cache)
    grads = [g + reg_grads[id(w)] if id(w) in reg_grads else g for g, w in zip(grads, weights)]
    optimizer.apply(grads, weights)
    model.apply_constraints()
    logged = M.Mean(name="loss")                     # what train_on_batch reports
    logged.update_state(loss, sample_weight=len(x))
    return logged.result()


def _twins():
    ours, hand = _model(), _model()
    ours.compile(optimizer=O.Adam(0.05), loss="mse")
    return ours, hand, O.Adam(0.05)


def _same(a, b, la, lb):
    assert la == lb
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(p, q)


def _penalize(model, what: str) -> None:
    dense = model.layers[-1]
    if what == "regularizer":
        dense._weight_regularizers["kernel"] = regularizers.L2(0.1)
    elif what == "constraint":
        dense._weight_constraints["kernel"] = constraints.MaxNorm(0.3)
    elif what == "activity":
        dense.activity_regularizer = "l2"
    elif what == "frozen":
        model.layers[0].trainable = False


@pytest.mark.parametrize("what", ["regularizer", "constraint", "activity"])
def test_penalties_added_after_a_first_step_count_from_the_next(what):
    ours, hand, opt = _twins()
    x, y = _data()
    _same(ours, hand, ours.train_on_batch(x, y), _by_hand(hand, opt, x, y))
    first = ours._trainer.step_plan()
    for model in (ours, hand):
        _penalize(model, what)
    assert not first.valid()
    for _ in range(2):
        _same(ours, hand, ours.train_on_batch(x, y), _by_hand(hand, opt, x, y))
    plan = ours._trainer.step_plan()
    assert plan is not first and plan.valid()
    assert (bool(plan.regularized), bool(plan.constrained), plan.activity) == (
        what == "regularizer", what == "constraint", what == "activity")


def test_a_penalty_changes_the_loss_it_is_added_to():
    """The plan is not vacuous: the same step with a regularizer added gives another loss."""
    a, b = _model(), _model()
    for m in (a, b):
        m.compile(optimizer=O.SGD(0.1), loss="mse")
    x, y = _data()
    a.train_on_batch(x, y), b.train_on_batch(x, y)
    _penalize(b, "regularizer")
    assert b.train_on_batch(x, y) > a.train_on_batch(x, y)


def test_plan_is_kept_between_steps():
    ours, _, _ = _twins()
    x, y = _data()
    ours.train_on_batch(x, y)
    version, plan = state_version(), ours._trainer.step_plan()
    ours.train_on_batch(x, y)
    ours.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert state_version() == version and ours._trainer.step_plan() is plan


def test_freezing_a_layer_after_a_step_is_seen_as_without_a_plan():
    """Freezing changes the optimizer's variables: refused the same way as before (the
    optimizer was built for the other list), never silently trained on the old list."""
    ours, _, _ = _twins()
    x, y = _data()
    ours.train_on_batch(x, y)
    _penalize(ours, "frozen")
    assert len(ours._trainer.step_plan().weights) == len(ours.trainable_weights) == 2
    with pytest.raises(unrolled.errors.InputShapeError, match="was built for variables"):
        ours.train_on_batch(x, y)


def test_recompile_and_learning_rate_change():
    ours, hand, opt = _twins()
    x, y = _data()
    _same(ours, hand, ours.train_on_batch(x, y), _by_hand(hand, opt, x, y))
    ours.optimizer.learning_rate = 0.2
    opt.learning_rate = 0.2
    _same(ours, hand, ours.train_on_batch(x, y), _by_hand(hand, opt, x, y))
    old = ours._trainer
    ours.compile(optimizer=O.SGD(0.1, momentum=0.5), loss="mse")
    hand_opt = O.SGD(0.1, momentum=0.5)
    assert ours._trainer is not old and ours._trainer._plan is None
    for _ in range(2):
        _same(ours, hand, ours.train_on_batch(x, y), _by_hand(hand, hand_opt, x, y))


def test_layer_added_to_a_sequential_model():
    model = unrolled.Sequential([unrolled.Input((T, F)), LSTM(H, return_sequences=True)])
    model.compile(optimizer="sgd", loss="mse")
    x, _ = _data()
    model.train_on_batch(x, np.zeros((6, T, H), "float32"))
    plan = model._trainer.step_plan()
    model.add(LSTM(2))
    assert not plan.valid()
    model.compile(optimizer="sgd", loss="mse")     # a new optimizer for the new variables
    model.train_on_batch(x, np.zeros((6, 2), "float32"))
    assert len(model._trainer.step_plan().weights) == 6


class _OwnPenalty(Dense):
    """A layer whose regularizers are its own code: asked every step, never cached."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.extra = {}

    @property
    def regularizers(self):
        return dict(self.extra)


def test_a_layer_with_its_own_regularizers_is_asked_every_step():
    def make():
        m = unrolled.Sequential([unrolled.Input((T, F)), LSTM(H), _OwnPenalty(2)])
        rng = np.random.default_rng(1)
        m.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in m.get_weights()])
        return m
    ours, hand = make(), make()
    ours.compile(optimizer=O.Adam(0.05), loss="mse")
    opt = O.Adam(0.05)
    x, y = _data()
    _same(ours, hand, ours.train_on_batch(x, y), _by_hand(hand, opt, x, y))
    assert not ours._trainer.step_plan().fixed_regularizers
    for m in (ours, hand):
        m.layers[-1].extra["kernel"] = regularizers.L1(0.05)   # no state_changed()
    _same(ours, hand, ours.train_on_batch(x, y), _by_hand(hand, opt, x, y))


def test_a_copied_model_trains_on_as_the_original():
    ours, _, _ = _twins()
    x, y = _data()
    ours.train_on_batch(x, y)
    copy = copy_module.deepcopy(ours)
    assert copy._trainer._plan is None
    assert copy.train_on_batch(x, y) == ours.train_on_batch(x, y)
    for p, q in zip(copy.get_weights(), ours.get_weights()):
        np.testing.assert_array_equal(p, q)


class _Seen(unrolled.callbacks.Callback):
    """Reads every batch's logs (so fit and evaluate make them each batch)."""

    def __init__(self):
        super().__init__()
        self.train, self.test = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.train.append(dict(logs))

    def on_test_batch_end(self, batch, logs=None):
        self.test.append(dict(logs))


def test_logs_made_only_at_the_end_equal_those_made_every_batch():
    """Without a batch hook, fit and evaluate read the running means once at the end;
    with one, every batch gets them. The epoch logs are the last batch's either way."""
    x, y = _data()
    runs = []
    for hooks in (False, True):
        model = _model()
        model.compile(optimizer=O.Adam(0.05), loss="mse", metrics=["mae"], weighted_metrics=["mse"])
        seen = _Seen()
        history = model.fit(x, y, batch_size=2, epochs=2, validation_split=0.34, verbose=0, shuffle=False,
                            sample_weight=np.linspace(0.5, 1.5, 6).astype("float32"),
                            callbacks=[seen] if hooks else None)
        evaluated = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True,
                                   callbacks=[seen] if hooks else None)
        assert evaluated == model.get_metrics_result()      # the running means at the end
        runs.append((history.history, evaluated, seen))
    (h0, e0, unseen), (h1, e1, seen) = runs
    assert not unseen.train and len(seen.train) == 4 and len(seen.test) == 4 + 2   # val + evaluate
    assert seen.train[-1] == {k: h1[k][-1] for k in seen.train[-1]}
    assert seen.test[-1] == e1
    assert h0 == h1 and e0 == e1                  # bit for bit
