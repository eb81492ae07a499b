"""Integrated gradients: completeness on every cell kind, exactness on a linear model,
zero attribution for a feature no gate reads."""
from __future__ import annotations

import numpy as np
import pytest

import unrolled
from unrolled.errors import ConfigError, InputShapeError
from unrolled.inspect.attributions import attributions
from unrolled.layers import GRU, LSTM, Dense, Masking, SimpleRNN
from tests.reference import random_weights

T, F = 7, 3


def _model(*layers, steps=T, features=F):
    unrolled.set_random_seed(1)
    model = unrolled.Sequential([unrolled.Input((steps, features)), *layers])
    rng = np.random.default_rng(2)
    for layer in model.layers:
        if layer.weights:
            random_weights(layer, rng, low=0.1, high=0.6)
    return model


def _x(batch=3, steps=T, features=F, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, steps, features)).astype(np.float32)


@pytest.mark.parametrize("make", [
    lambda: _model(LSTM(5), Dense(2)),
    lambda: _model(GRU(4), Dense(1)),
    lambda: _model(GRU(4, reset_after=False), Dense(1)),
    lambda: _model(SimpleRNN(6), Dense(1)),
    lambda: _model(LSTM(4, return_sequences=True), GRU(3), Dense(1)),       # stacked
], ids=["lstm", "gru", "gru-reset-before", "simple-rnn", "stacked"])
def test_contributions_add_up_to_the_change_of_the_output(make):
    model = make()
    x = _x()
    att = attributions(model, x, sample=1)
    f = model.predict(x, verbose=0)
    assert att.values.shape == (T, F)
    assert att.output == pytest.approx(float(f[1, 0]), rel=1e-5)
    assert att.completeness_error <= 1e-4
    assert abs(att.total - (att.output - att.baseline_output)) <= 1e-4 * abs(att.output - att.baseline_output)
    assert np.abs(att.values).max() > 0


def test_masked_model_completeness_and_masked_steps_get_nothing():
    model = _model(Masking(mask_value=0.0), LSTM(4), Dense(1))
    x = _x(batch=2)
    x[0, :3] = 0.0                                # left padding: three masked steps
    att = attributions(model, x, sample=0)
    assert att.completeness_error <= 1e-4
    np.testing.assert_array_equal(att.values[:3], 0.0)
    np.testing.assert_array_equal(att.baseline[:3], 0.0)    # masked steps stay masked
    assert "unmasked" in att.baseline_note


def test_linear_model_attributions_are_weight_times_input_minus_baseline():
    unrolled.set_random_seed(0)
    model = unrolled.Sequential([unrolled.Input((T * F,)), Dense(1)])
    rng = np.random.default_rng(5)
    w = rng.normal(size=(T * F, 1)).astype(np.float32)
    model.layers[0].set_weights([w, np.array([0.3], np.float32)])
    x = rng.normal(size=(2, T * F)).astype(np.float32)
    base = rng.normal(size=(T * F,)).astype(np.float32)
    att = attributions(model, x, baseline=base, sample=0)
    expected = w[:, 0].astype(np.float64) * (x[0].astype(np.float64) - base)
    np.testing.assert_allclose(att.values, expected, rtol=1e-6, atol=1e-7)


def test_a_feature_no_gate_reads_gets_zero_attribution():
    model = _model(LSTM(4), Dense(1))
    lstm = model.layers[0]
    lstm.kernel[1, :] = 0.0                      # feature 1 enters no gate
    att = attributions(model, _x())
    np.testing.assert_array_equal(att.values[:, 1], 0.0)
    assert np.abs(att.values[:, [0, 2]]).min() > 0
    assert att.by_feature()["x[1]"] == 0.0


def test_ranking_names_and_errors():
    model = _model(LSTM(3), Dense(2))
    x = _x()
    att = attributions(model, x, output=1, feature_names=["a", "b", "c"])
    ranked = att.ranked()
    assert len(ranked) == T * F and abs(ranked[0][2]) == np.abs(att.values).max()
    assert ranked[0][0] in ("a", "b", "c") and "output[1]" in att.table()
    with pytest.raises(ConfigError, match=r"output must be in \[0, 2\)"):
        attributions(model, x, output=2)
    with pytest.raises(ConfigError, match="feature_names has 2"):
        attributions(model, x, feature_names=["a", "b"])
    with pytest.raises(InputShapeError, match="baseline must have the shape"):
        attributions(model, x, baseline=np.zeros((T, F + 1)))
