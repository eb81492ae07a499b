"""Diverging training stops with finite weights: TerminateOnNaN and the trainer look at the
weights after each update, not only at the loss (an overflowing update can leave a finite
loss and infinite weights)."""
from __future__ import annotations

import numpy as np
import pytest

# NumPy's own "overflow encountered" warnings are the symptom under test, not the result.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                                        "ignore:invalid value encountered:RuntimeWarning")

import unrolled
from unrolled.callbacks import TerminateOnNaN
from unrolled.layers import LSTM, Dense
from unrolled.optimizers import SGD


def _overflowing():
    """Batch 0 has a finite loss (~1e18) but its SGD update overflows float32."""
    unrolled.set_random_seed(0)
    model = unrolled.Sequential([unrolled.Input((3, 2)), LSTM(2), Dense(1)])
    model.compile(optimizer=SGD(learning_rate=1e30), loss="mse")
    x = np.random.default_rng(0).normal(size=(8, 3, 2)).astype("f4")
    y = np.full((8, 1), 1e9, "f4")
    return model, x, y


def test_terminate_on_nan_restores_after_a_finite_loss_with_infinite_weights(capsys):
    model, x, y = _overflowing()
    before = model.get_weights()
    history = model.fit(x, y, batch_size=4, epochs=3, verbose=0, shuffle=False,
                        callbacks=[TerminateOnNaN()])
    out = capsys.readouterr().out
    assert "Epoch 1, batch 0: the update made weights non-finite (" in out
    assert "were restored" in out
    assert np.isfinite(history.history["loss"][0])   # the loss alone never said anything
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(v).all() for v in model.optimizer.variables)


def test_terminate_on_nan_says_when_it_cannot_restore(capsys):
    model, x, y = _overflowing()
    model.layers[-1].kernel[0, 0] = np.nan        # broken before training began
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[TerminateOnNaN()])
    out = capsys.readouterr().out
    assert "invalid loss (nan)" in out and "were NOT restored" in out
    assert "were restored" not in out


def test_trainer_stops_at_the_first_non_finite_update_and_says_so():
    model, x, y = _overflowing()
    with pytest.warns(RuntimeWarning, match=r"Epoch 1, batch 0: the update made weights "
                                            r"non-finite \(.*\); training stopped\. The "
                                            "weights are NOT finite now"):
        history = model.fit(x, y, batch_size=4, epochs=5, verbose=0, shuffle=False)
    assert len(history.history["loss"]) == 1      # stopped in the first epoch
    assert not all(np.isfinite(w).all() for w in model.get_weights())


def test_terminate_on_nan_raise_error_names_the_weights():
    model, x, y = _overflowing()
    with pytest.raises(RuntimeError, match="weights non-finite .*were restored"):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0,
                  callbacks=[TerminateOnNaN(raise_error=True)])
