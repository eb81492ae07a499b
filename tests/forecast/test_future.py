"""Known-future covariates (``--future``): they help when the target depends on them,
they never let a window read a future target, and predict asks for the forecast rows."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from tests.forecast import write_csv
from unrolled import forecast
from unrolled.cli import main
from unrolled.errors import ConfigError, DataError
from unrolled.forecast.backtest import backtest
from unrolled.forecast.future import leads

TINY = forecast.FitConfig(units=4, epochs=3, patience=2)
H = 3


def promo_series(n=500, seed=0):
    """``y_t = 5 + sin(2πt/30) + 4·promo_t - 0.8·(price_t - 10) + 0.3 e_t`` with promo and
    price random (unpredictable from the past, but planned: known ahead)."""
    rng = np.random.default_rng(seed)
    promo = (rng.random(n) < 0.2).astype(float)
    price = 10 + rng.normal(0, 1, n)
    y = (5 + np.sin(2 * np.pi * np.arange(n) / 30) + 4 * promo - 0.8 * (price - 10)
         + 0.3 * rng.normal(size=n))
    dates = np.datetime64("2000-01-01") + np.arange(n)
    return {"date": [str(d) for d in dates], "y": [f"{v:.6f}" for v in y],
            "promo": [f"{v:g}" for v in promo], "price": [f"{v:.6f}" for v in price]}


OPTIONS = dict(targets=["y"], window=10, horizon=H, season=0, transform="level")


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("fut") / "promo.csv", promo_series())


@pytest.fixture(scope="module")
def fitted(csv_path):
    data = forecast.prepare(csv_path, future=["promo", "price"], **OPTIONS)
    return data, forecast.fit_forecaster(data, TINY, seed=0).forecaster


def test_leads_by_hand():
    v = np.array([[1.0], [2.0], [3.0]])
    np.testing.assert_array_equal(leads(v, 2), [[2, 3], [3, np.nan], [np.nan, np.nan]])
    np.testing.assert_array_equal(leads(v, 2, ahead=np.array([[4.0]])),
                                  [[2, 3], [3, 4], [4, np.nan]])


def test_future_inputs_make_the_forecast_much_better(csv_path, fitted):
    data, fc = fitted
    assert data.spec.future == ["promo", "price"]
    assert data.spec.inputs[-6:] == ["promo@+1", "promo@+2", "promo@+3",
                                     "price@+1", "price@+2", "price@+3"]
    with_future = forecast.assess(fc, data.test).comparison
    plain = forecast.prepare(csv_path, **OPTIONS)
    without = forecast.assess(forecast.fit_forecaster(plain, TINY, seed=0).forecaster,
                              plain.test).comparison
    # the promo effect (4) and the price effect are noise to a model without them
    assert with_future.model.mae < 0.35 * without.model.mae
    assert with_future.model.mae < 0.5  # near the noise (0.3 · 0.8 = 0.24 MAE)
    assert with_future.margins["ridge"].verdict != "worse"


def test_a_forecast_never_reads_a_target_after_its_window(csv_path, fitted):
    data, fc = fitted
    cols = promo_series()
    full = forecast.forecast(fc, csv_path, every_window=True)
    for cut in (200, 351):  # the window ending at row cut-1, whose forecast rows follow
        # keep the future columns at the forecast rows, but no target after the window
        part = {k: v[:cut + H] for k, v in cols.items()}
        part["y"] = part["y"][:cut] + [""] * H
        one = forecast.forecast(fc, write_csv(csv_path.parent / f"cut{cut}.csv", part))
        k = full.last_input.index(one.last_input[0])
        # equal up to float32 rounding (one window vs a batch); any target read would
        # move it by its effect (the series moves by ~1 per row)
        np.testing.assert_allclose(one.values[0], full.values[k], rtol=1e-6)
        assert one.when[0] == full.when[k]


def test_backtest_with_future_never_sees_future_targets(tmp_path):
    cols = promo_series(260)
    opts = dict(OPTIONS, future=["promo", "price"])
    clean = backtest(write_csv(tmp_path / "clean.csv", cols), opts, TINY, folds=2,
                     test_rows=20)
    # poison every row after fold 1's test block (rows 240..259), targets and future
    # columns alike: fold 1 must not change at all, fold 2 must
    dirty_cols = {k: (v[:240] + [str(1e6 + i) for i in range(20)] if k != "date" else v)
                  for k, v in cols.items()}
    dirty = backtest(write_csv(tmp_path / "dirty.csv", dirty_cols), opts, TINY, folds=2,
                     test_rows=20)
    a, b = clean.folds[0], dirty.folds[0]
    assert a.origin == b.origin and a.windows == b.windows > 0
    for name in a.steps:
        np.testing.assert_array_equal(a.steps[name], b.steps[name])
    assert dirty.folds[1].mae["persistence"] > 1000 * clean.folds[1].mae["persistence"]


def test_model_file_and_predict_with_forecast_rows(csv_path, fitted, tmp_path, capsys):
    data, fc = fitted
    path = forecast.save_forecaster(fc, tmp_path / "f.keras")
    assert forecast.load_forecaster(path).spec.future == ["promo", "price"]
    cols = promo_series()
    last = np.datetime64(cols["date"][-1])
    hist = {k: v[-20:] for k, v in cols.items()}

    def with_rows(promo, price):
        rows = {k: list(v) for k, v in hist.items()}
        for i, (p, q) in enumerate(zip(promo, price)):
            rows["date"].append(str(last + i + 1))
            rows["y"].append("")
            rows["promo"].append(p)
            rows["price"].append(q)
        return rows

    on = write_csv(tmp_path / "on.csv", with_rows(["1", "1", "1"], ["10", "10", "10"]))
    off = write_csv(tmp_path / "off.csv", with_rows(["0", "0", "0"], ["10", "10", "10"]))
    out = tmp_path / "p.csv"
    assert main(["predict", str(path), str(on), "-o", str(out)]) == 0
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert [r["date"] for r in rows] == [str(last + h) for h in (1, 2, 3)]
    y_on = np.array([float(r["y"]) for r in rows])
    y_off = forecast.forecast(path, off).values[0, :, 0]
    np.testing.assert_allclose(y_on - y_off, 4.0, atol=0.6)  # the promo effect
    # the forecast rows are required, named, with the hint
    short = write_csv(tmp_path / "short.csv", with_rows(["1", "0"], ["10", "10"]))
    with pytest.raises(DataError, match=rf"only 2 such row.*missing {last + 3}.*Hint: add"):
        forecast.forecast(path, short)
    with pytest.raises(DataError, match=r"gives none.*Hint: add the 3 forecast row"):
        forecast.forecast(path, write_csv(tmp_path / "none.csv", hist))
    gap = write_csv(tmp_path / "gap.csv", with_rows(["1", "0", "1"], ["10", "", "10"]))
    with pytest.raises(DataError, match=rf"empty: price at {last + 2}"):
        forecast.forecast(path, gap)
    capsys.readouterr()
    assert main(["evaluate", str(path), str(on)]) == 0  # forecast rows are left out
    assert "windows of 10 rows" in capsys.readouterr().out


def test_options_checked(csv_path, tmp_path, capsys):
    with pytest.raises(ConfigError, match="a target cannot be a known-future input"):
        forecast.prepare(csv_path, future=["y"], **OPTIONS)
    # a future column is an input even when --features leaves it out
    data = forecast.prepare(csv_path, features=["y"], future=["promo"], **OPTIONS)
    assert data.spec.features == ["y", "promo"] and data.spec.future == ["promo"]
    out = tmp_path / "m.keras"
    assert main(["train", str(csv_path), "--target", "y", "--window", "10", "--horizon", "3",
                 "--future", "promo,price", "--epochs", "2", "--units", "3", "--no-plot",
                 "-o", str(out)]) == 0
    assert "promo@+1" in capsys.readouterr().out
