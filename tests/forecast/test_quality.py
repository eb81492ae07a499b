"""Forecasting quality on generated series whose right answers are known: the transform
and season chosen, the default forecaster against the generating process and against
every baseline, the linear path's promise, and the building blocks (ridge, seasonal lags,
Diebold-Mariano margins) by hand."""
from __future__ import annotations

import numpy as np
import pytest

from tests.forecast.generated import drift_walk, seasonal_ar, white_noise, write_series
from unrolled import forecast
from unrolled.forecast.linear import fit_ridge
from unrolled.forecast.significance import margin

FAST = forecast.FitConfig(units=8, epochs=12, patience=4)


def test_a_trend_past_the_training_range_chooses_diff(tmp_path):
    data = forecast.prepare(write_series(tmp_path / "trend.csv", drift_walk()), targets="y",
                            window=8)
    assert data.spec.transform == "diff"
    assert "outside the training range" in data.choices["transform"]


def test_noise_around_a_mean_chooses_level(tmp_path):
    data = forecast.prepare(write_series(tmp_path / "noise.csv", white_noise()), targets="y",
                            window=8)
    assert data.spec.transform == "level"
    assert data.spec.season is None  # daily candidates 7 and 365: neither is in the data


def test_monthly_season_is_detected_and_fed_as_a_lag(tmp_path):
    y, _ = seasonal_ar()
    data = forecast.prepare(write_series(tmp_path / "m.csv", y, "M"), targets="y", window=6,
                            horizon=2)
    assert data.freq.name == "monthly" and data.spec.season == 12
    assert data.spec.lags == [["y", 10]] and data.spec.inputs == ["y", "y@lag10"]
    # The lag column's last H rows of each window are the seasonal-naive forecasts.
    x = data.scaler_x.inverse_transform(data.test.x.astype(np.float64))  # (N, W, 2)
    np.testing.assert_allclose(x[:, -2:, 1], data.test.seasonal[:, :, 0], atol=1e-4)
    rows = data.test.target_rows
    np.testing.assert_allclose(data.test.seasonal[:, :, 0], y[rows - 12], atol=1e-5)
    given = forecast.prepare(write_series(tmp_path / "m.csv", y, "M"), targets="y", window=6,
                             season=0)
    assert given.spec.season is None and given.spec.lags == []


def test_hourly_daily_cycle_is_detected(tmp_path):
    y, _ = seasonal_ar(n=24 * 30, period=24, seed=3)
    data = forecast.prepare(write_series(tmp_path / "h.csv", y, "h"), targets="y", window=6)
    assert data.freq.name == "hourly" and data.spec.season == 24


def _oracle_mae(best: np.ndarray, w) -> float:
    return float(np.mean(np.abs(best[w.target_rows[:, 0]] - w.y_true[:, 0, 0])))


def test_default_on_a_trend_is_within_noise_of_the_truth_and_no_worse_than_baselines(tmp_path):
    y = drift_walk(n=500, seed=1)
    data = forecast.prepare(write_series(tmp_path / "t.csv", y), targets="y", window=8)
    fit = forecast.fit_forecaster(data, FAST, seed=0)
    cmp = forecast.assess(fit.forecaster, data.test).comparison
    best = np.full(len(y), np.nan)
    best[1:] = y[:-1] + 0.5  # the generating process's own forecast
    oracle = _oracle_mae(best, data.test)
    assert cmp.model.mae <= 1.1 * oracle
    for name, s in cmp.baselines.items():
        assert cmp.model.mae <= 1.03 * s.mae, name
    assert cmp.margins["training mean"].verdict == "better"


def test_default_on_a_seasonal_series_is_within_noise_of_the_truth(tmp_path):
    y, best = seasonal_ar(n=360, seed=2)
    data = forecast.prepare(write_series(tmp_path / "s.csv", y, "M"), targets="y", window=12)
    assert data.spec.season == 12
    fit = forecast.fit_forecaster(data, FAST, seed=0)
    cmp = forecast.assess(fit.forecaster, data.test).comparison
    oracle = _oracle_mae(best, data.test)
    # A finite window cannot separate the season from the AR noise exactly (the oracle
    # knows the sine), so the default lands between seasonal naive and the oracle...
    assert cmp.model.mae <= 1.35 * oracle
    for name in ("persistence", "seasonal naive", "training mean", "ridge"):
        assert cmp.model.mae <= 1.03 * cmp.baselines[name].mae, name
    assert cmp.margins["persistence"].verdict == "better"
    assert cmp.margins["seasonal naive"].verdict != "worse"
    # ...and calendar inputs (the month as sine/cosine) give it the season itself.
    cal = forecast.prepare(write_series(tmp_path / "s.csv", y, "M"), targets="y", window=12,
                           calendar=True)
    assert cal.spec.calendar == ["month_sin", "month_cos"]
    fit = forecast.fit_forecaster(cal, FAST, seed=0)
    # (48 ridge weights from ~230 windows and 54 test windows: ~1.1x is the noise.)
    assert forecast.assess(fit.forecaster, cal.test).comparison.model.mae <= 1.2 * oracle


def test_the_linear_path_is_never_worse_than_ridge_on_validation(tmp_path):
    y = white_noise(n=300, seed=4)  # nothing for the LSTM to find
    data = forecast.prepare(write_series(tmp_path / "n.csv", y), targets="y", window=8)
    fit = forecast.fit_forecaster(data, forecast.FitConfig(units=4, epochs=3), seed=0)
    fc = fit.forecaster
    z = forecast.pipeline.network_z(fc.model, data.val.x, fc.spec, fc.ridge)
    model_mse = np.mean((z - data.val.z) ** 2)
    ridge_mse = np.mean((data.ridge(data.val.x) - data.val.z) ** 2)
    assert model_mse <= ridge_mse + 1e-9


def test_ridge_matches_least_squares_on_augmented_rows():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3, 2))
    z = rng.normal(size=(40, 4))
    alpha = 2.5
    lin = fit_ridge(x, z, alpha)
    # Independent route: append sqrt(alpha)·I rows (penalty) and a free intercept column.
    X = x.reshape(40, -1)
    A = np.vstack([np.hstack([X, np.ones((40, 1))]),
                   np.hstack([np.sqrt(alpha) * np.eye(6), np.zeros((6, 1))])])
    B = np.vstack([z, np.zeros((6, 4))])
    coef = np.linalg.lstsq(A, B, rcond=None)[0]
    np.testing.assert_allclose(lin.kernel, coef[:6], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(lin.bias, coef[6], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(lin(x), X @ coef[:6] + coef[6], rtol=1e-9, atol=1e-12)


def test_diebold_mariano_margin_by_hand():
    rng = np.random.default_rng(1)
    true = rng.normal(size=(8, 1, 1))
    a = true + rng.normal(size=true.shape)
    b = true + 2 * rng.normal(size=true.shape)
    m = margin(a, b, true)
    d = (np.abs(a - true) - np.abs(b - true)).ravel()
    n, q = 8, 2  # q = max(H - 1, floor(8 ** (1/3))) = 2
    dc = d - d.mean()
    gamma = [sum(dc[i] * dc[i + k] for i in range(n - k)) / n for k in range(q + 1)]
    var = gamma[0] + 2 * sum((1 - k / (q + 1)) * gamma[k] for k in range(1, q + 1))
    se = np.sqrt(var / n)
    assert m.diff == pytest.approx(d.mean())
    assert (m.low, m.high) == pytest.approx((d.mean() - 1.959964 * se, d.mean() + 1.959964 * se))
    assert margin(a, a, true).verdict == "tie"
    assert margin(true + 0.01, true + 1.0, true).verdict == "better"
    assert margin(true + 1.0, true + 0.01, true).verdict == "worse"


def test_verdict_never_says_beats_on_a_tie():
    from unrolled.forecast.report import beats

    rng = np.random.default_rng(2)
    true = rng.normal(size=(50, 1, 1))
    last = true[:, 0, :] + rng.normal(size=(50, 1))  # persistence: noisy
    pred = true + rng.normal(size=true.shape)  # another forecast just as noisy
    cmp = forecast.compare(pred, true, last, np.array([0.0]))
    assert cmp.margins["persistence"].verdict == "tie"
    text = beats(cmp)
    assert "ties with the best baseline, persistence" in text and "beats" not in text
    good = forecast.compare(true + 0.01 * rng.normal(size=true.shape), true, last,
                            np.array([0.0]))
    assert beats(good).startswith("The LSTM beats the best baseline, persistence")


def test_the_untrained_highway_model_is_the_ridge_model_and_keras_agrees(tmp_path):
    from tests.peers import require
    from unrolled.forecast.pipeline import linear_in_graph

    y, _ = seasonal_ar(n=200, seed=6)
    data = forecast.prepare(write_series(tmp_path / "m.csv", y, "M"), targets="y", window=6,
                            horizon=2)
    model = forecast.build_model(data.spec, units=3, linear=data.ridge)
    assert linear_in_graph(model)
    assert [l.name for l in model.layers] == ["window", "lstm", "flatten", "forecast",
                                              "linear", "forecast_sum"]
    # LSTM path at 0, linear path = ridge (float32 weights): the ridge forecasts.
    np.testing.assert_allclose(model.predict(data.test.x, verbose=0),
                               data.ridge(data.test.x), rtol=1e-5, atol=1e-5)
    fit = forecast.fit_forecaster(data, forecast.FitConfig(units=3, epochs=2), seed=0)
    path = forecast.save_forecaster(fit.forecaster, tmp_path / "h.keras")
    keras = require("keras")
    theirs = keras.saving.load_model(str(path))
    np.testing.assert_allclose(np.asarray(theirs.predict(data.test.x, verbose=0)),
                               fit.forecaster.model.predict(data.test.x, verbose=0),
                               rtol=1e-5, atol=1e-5)
