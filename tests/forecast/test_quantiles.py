"""Quantile forecasts: never crossing, nominal coverage on data with known noise, stored
in the model file (real Keras loads it), predict's columns, evaluate/backtest reports."""
from __future__ import annotations

import csv
import json
import zipfile

import numpy as np
import pytest

from tests.forecast.generated import write_series
from tests.peers import require
from unrolled import forecast
from unrolled.cli import main
from unrolled.errors import ConfigError, ModelFileError
from unrolled.forecast import quantiles as Q
from unrolled.forecast.backtest import backtest

TINY = forecast.FitConfig(units=4, epochs=3, patience=2, interval=None)
Z90 = 1.2815516  # standard normal 0.9-quantile


def noisy_season(n, sigma=1.0, seed=0):
    """``y_t = 3 sin(2πt/7) + σ e_t``, e iid N(0, 1), with clean columns ``s, c`` (sine and
    cosine of the phase): the seasonal part is a linear function of the window's last
    ``s, c``, so the true forecast quantiles are the seasonal value ± σ·z_τ."""
    rng = np.random.default_rng(seed)
    w = 2 * np.pi * np.arange(n) / 7
    return 3 * np.sin(w) + sigma * rng.normal(size=n), {"s": np.sin(w), "c": np.cos(w)}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    y, extra = noisy_season(1500, 1.0)
    path = write_series(tmp_path_factory.mktemp("q") / "s.csv", y, extra=extra)
    data = forecast.prepare(path, targets="y", features=["s", "c"], window=7, season=0,
                            transform="level", quantiles=[0.1, 0.9], val_fraction=0.25,
                            test_fraction=0.25)
    fit = forecast.fit_forecaster(data, TINY, seed=0)
    return path, data, fit.forecaster


def test_head_never_crosses_for_random_weights_and_inputs():
    rng = np.random.default_rng(0)
    quantiles = [0.02, 0.1, 0.25, 0.5, 0.75, 0.97]
    spec = forecast.ForecastSpec(features=["a", "b"], targets=["a", "b"], window=4,
                                 horizon=3, linear=True, quantiles=quantiles)
    model = forecast.build_model(spec, units=5)
    for trial in range(30):
        weights = [rng.normal(0, rng.choice([0.1, 1, 10]), w.shape).astype(np.float32)
                   for w in model.get_weights()]
        # the fixed 0/±1 layers are the construction itself (not trained): keep them
        fixed = {id(w) for layer in model.layers if not layer.trainable for w in layer.weights}
        model.set_weights([w if id(cur) not in fixed else cur
                           for w, cur in zip(weights, model.weights)])
        x = rng.normal(0, rng.choice([1, 100]), (16, 4, 2)).astype(np.float32)
        zq = Q.split(model.predict(x, verbose=0), 6, len(quantiles))
        # never crossing; equal only where a softplus underflows or a gap is below the
        # float32 spacing of the centre (huge weights and inputs here)
        assert (np.diff(zq, axis=2) >= 0).all(), trial
        # the median is the point forecast network_z returns
        np.testing.assert_allclose(forecast.pipeline.network_z(model, x, spec, None),
                                   zq[:, :, 3], rtol=1e-6)


def test_offset_matrix_by_hand():
    # one output, quantiles (0.1, 0.5, 0.9), gaps g0 (0.1→0.5), g1 (0.5→0.9):
    # offsets: q0.1 = -g0, q0.5 = 0, q0.9 = +g1
    np.testing.assert_array_equal(Q.offset_matrix(1, [0.1, 0.5, 0.9]), [[-1, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(Q.repeat_matrix(2, 2), [[1, 1, 0, 0], [0, 0, 1, 1]])
    assert Q.normalize([0.9, 0.1, 0.9]) == [0.1, 0.5, 0.9]
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        Q.normalize([0.1, 1.5])


def test_coverage_of_each_quantile_is_nominal_on_known_noise(fitted):
    _, data, fc = fitted
    a = forecast.assess(fc, data.test)
    s = a.quantile_scores
    n = s.samples  # ~370 one-step forecasts of iid noise
    assert s.quantiles == [0.1, 0.5, 0.9] and n > 300
    # Sampling error of a coverage: the test draw (binomial, sd sqrt(τ(1-τ)/n)) plus the
    # error of the fitted quantile itself (~750 train residuals: sd ≈ sqrt(τ(1-τ)/750)/
    # φ(z_τ) ≈ 0.06σ, i.e. ≈ 0.011 in coverage at τ = 0.1, 0.9); 3.5 combined sd.
    for tau, cov in zip(s.quantiles, s.coverage):
        sd = np.sqrt(tau * (1 - tau) / n + tau * (1 - tau) / 750)
        assert abs(cov - tau) < 3.5 * sd, (tau, cov)
    assert abs(s.inside - 0.8) < 3.5 * np.sqrt(0.16 / n + 0.16 / 750)
    # the quantiles themselves: σ·z_0.9 = 1.28 either side of the median, to 3 sd of
    # the fitted quantile (0.06 each, 5 %)
    qp = a.quantiles[:, 0, 0, :]
    assert np.mean(qp[:, 2] - qp[:, 1]) == pytest.approx(Z90, rel=0.15)
    assert np.mean(qp[:, 1] - qp[:, 0]) == pytest.approx(Z90, rel=0.15)
    assert np.mean(qp[:, 2] - qp[:, 0]) == pytest.approx(2 * Z90, rel=0.1)
    assert (np.diff(a.quantiles, axis=-1) > 0).all()
    # the point forecast is the median, and pinball(median) = MAE / 2
    np.testing.assert_allclose(a.pred, a.quantiles[..., 1], rtol=1e-6)
    assert s.pinball[1] == pytest.approx(a.comparison.model.mae / 2, rel=1e-6)


def test_training_moves_the_quantiles_toward_the_truth(tmp_path):
    # Noise whose spread changes with the season: the ridge's constant error quantiles
    # are wrong in the calm and the wild half; training must lower the validation
    # pinball loss below the starting point's (the promise check keeps the better).
    rng = np.random.default_rng(3)
    t = np.arange(1400)
    wild = np.sin(2 * np.pi * t / 14) > 0
    y = 3 * np.sin(2 * np.pi * t / 14) + np.where(wild, 2.0, 0.2) * rng.normal(size=len(t))
    data = forecast.prepare(write_series(tmp_path / "h.csv", y), targets="y", window=14,
                            season=0, transform="level", quantiles=[0.1, 0.9])
    fit = forecast.fit_forecaster(data, forecast.FitConfig(units=8, epochs=25, lr=0.01,
                                                           interval=None), seed=0)
    assert not fit.notes, fit.notes  # training beat the starting point
    model = fit.forecaster.model
    trained = Q.z_pinball(model, data.val.x, data.val.z, [0.1, 0.5, 0.9])
    start = forecast.build_model(data.spec, units=8, linear=data.ridge, quantile_gaps=Q.initial_gaps(
        data.train.z - data.ridge(data.train.x), [0.1, 0.5, 0.9]))
    assert trained < 0.9 * Q.z_pinball(start, data.val.x, data.val.z, [0.1, 0.5, 0.9])


def test_quantiles_round_trip_through_the_model_file_and_keras(fitted, tmp_path):
    keras = require("keras")
    _, data, fc = fitted
    path = forecast.save_forecaster(fc, tmp_path / "q.keras")
    back = forecast.load_forecaster(path)
    assert back.spec.quantiles == [0.1, 0.5, 0.9]
    x = data.test.x[:8]
    ours = back.model.predict(x, verbose=0)
    np.testing.assert_array_equal(ours, fc.model.predict(x, verbose=0))
    theirs = keras.saving.load_model(path).predict(x, verbose=0)
    np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-5)
    # a damaged quantile list is refused, naming the field
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    meta = json.loads(members["unrolled.json"])
    meta["unrolled_forecast"]["spec"]["quantiles"] = [0.9, 0.1]
    members["unrolled.json"] = json.dumps(meta).encode()
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(bad, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    with pytest.raises(ModelFileError, match="spec.quantiles"):
        forecast.load_forecaster(bad)


def test_predict_writes_quantile_columns_and_evaluate_reports_them(fitted, tmp_path, capsys):
    path, _, fc = fitted
    model = forecast.save_forecaster(fc, tmp_path / "q.keras")
    out = tmp_path / "f.csv"
    assert main(["predict", model, str(path), "--all", "-o", str(out)]) == 0
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[-3:] == ["y_q10", "y_q50", "y_q90"]
    for r in rows:
        assert float(r["y_q10"]) < float(r["y_q50"]) < float(r["y_q90"])
        assert float(r["y_q50"]) == pytest.approx(float(r["y"]))
    capsys.readouterr()
    png = tmp_path / "e.png"
    assert main(["evaluate", model, str(path), "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert png.stat().st_size > 1000
    assert "q10" in text and "(nominal 10 %)" in text and "10..90 % interval" in text


def test_cli_option_and_backtest_report(tmp_path, capsys):
    path = write_series(tmp_path / "s.csv", noisy_season(300)[0])
    with pytest.raises(SystemExit):
        main(["train", str(path), "--target", "y", "--window", "7", "--quantiles", "0.1,2",
              "-o", str(tmp_path / "m.keras")])
    assert "strictly between 0 and 1" in capsys.readouterr().err
    result = backtest(path, dict(targets=["y"], window=7, horizon=2, season=0,
                                 quantiles=[0.25, 0.75]), TINY, folds=2)
    qs = result.quantile_summary()
    assert qs.quantiles == [0.25, 0.5, 0.75] and qs.interval == (0.25, 0.75)
    assert all(0 <= c <= 1 for c in qs.coverage) and qs.width > 0
    from unrolled.commands.backtest import report_text

    assert "Quantiles, mean over runs" in report_text(result)


def test_global_model_of_many_series_forecasts_quantiles(tmp_path):
    from tests.forecast.test_many_series import long_csv
    from unrolled.forecast.many import fit_many, prepare_many

    path, _ = long_csv(tmp_path / "l.csv", n=80)
    md = prepare_many(path, "shop", targets="sales", window=5, season=0, quantiles=[0.2, 0.8])
    fc = fit_many(md, TINY, seed=0).forecaster
    result = forecast.forecast(fc, path)
    assert result.header[-3:] == ["sales_q20", "sales_q50", "sales_q80"]
    q = result.quantiles  # (3 series, 1, 1, 3), each in its own series' units
    assert q.shape == (3, 1, 1, 3) and (np.diff(q, axis=-1) > 0).all()
    np.testing.assert_allclose(q[..., 1], result.values, rtol=1e-6)
    assert forecast.evaluate(fc, path).quantiles.quantiles == [0.2, 0.5, 0.8]


def test_a_model_equal_to_its_baseline_up_to_rounding_is_a_tie():
    from unrolled.forecast.significance import margin

    rng = np.random.default_rng(0)
    true = rng.normal(size=(200, 1, 1))
    base = true + rng.normal(size=true.shape)
    m = margin(base + 1e-9, base, true)  # float32 rounding of the same forecasts
    assert m.verdict == "tie"
    assert margin(base * 0.5 + true * 0.5, base, true).verdict == "better"
