"""Conformal intervals reach their coverage; backtest folds never see the future; the
`backtest` command and predict's interval columns."""
from __future__ import annotations

import csv

import numpy as np

from tests.forecast import series, write_csv
from tests.forecast.generated import seasonal_ar, write_series
from unrolled import forecast
from unrolled.cli import main
from unrolled.forecast.backtest import backtest, fold_blocks
from unrolled.forecast.intervals import conformal, coverage

TINY = forecast.FitConfig(units=3, epochs=2, patience=2)


def test_conformal_coverage_is_nominal_on_exchangeable_errors():
    rng = np.random.default_rng(0)
    covered = []
    for _ in range(300):  # average over calibration draws: E[coverage] = ceil(0.9·200)/200
        cal = rng.standard_t(df=4, size=(199, 2, 1))  # heavy tails: no normality assumed
        iv = conformal(np.zeros_like(cal), cal, level=0.9)
        test = rng.standard_t(df=4, size=(2000, 2, 1))
        covered.append(coverage(iv, np.zeros_like(test), test).coverage)
    # 300 draws: the mean's sd is about 0.021 / sqrt(300) = 0.0012.
    assert abs(np.mean(covered) - 0.9) < 0.005
    one = conformal(np.zeros((9, 1, 1)), np.arange(1.0, 10.0).reshape(9, 1, 1), level=0.8)
    assert one.half_width[0, 0] == 8.0  # ceil(10 · 0.8) = 8th smallest of |1..9|


def test_trained_intervals_cover_generated_test_data_within_sampling_error(tmp_path):
    y, _ = seasonal_ar(n=1400, period=7, amp=2.0, phi=0.6, sigma=1.0, seed=5)
    data = forecast.prepare(write_series(tmp_path / "ar.csv", y), targets="y", window=7,
                            horizon=2, val_fraction=0.2)
    fit = forecast.fit_forecaster(data, TINY, seed=0)
    a = forecast.assess(fit.forecaster, data.test)
    n = len(data.test)  # ~210 windows; errors are autocorrelated, so allow 4 binomial sd
    assert a.coverage.level == 0.9
    assert abs(a.coverage.coverage - 0.9) < 4 * np.sqrt(0.09 / n)
    np.testing.assert_allclose(a.upper - a.lower,
                                  np.broadcast_to(2 * fit.forecaster.intervals.half_width,
                                                  a.pred.shape), rtol=1e-12)


def test_fold_blocks_roll_the_origin_forward():
    blocks = fold_blocks(100, folds=3, test_rows=10, val_rows=15, horizon=2)
    assert [(b[0].stop, b[1].stop, b[2].start, b[2].stop) for b in blocks] == [
        (55, 70, 70, 80), (65, 80, 80, 90), (75, 90, 90, 100)]


def _backtest_csv(path, cols):
    return backtest(write_csv(path, cols), {"targets": ["temp"], "window": 5, "horizon": 2},
                    TINY, folds=2, seeds=1, test_rows=20)


def test_backtest_folds_never_see_the_future(tmp_path):
    cols = series(200)
    clean = _backtest_csv(tmp_path / "clean.csv", cols)
    # Poison every row after fold 1's test block (rows 180..199): huge values in every
    # column. Fold 1 (test rows 160..179) must not change at all; fold 2 must.
    poisoned = {k: (v[:180] + [str(1e6 + i) for i in range(20)]
                    if k in ("temp", "humidity", "wind") else v) for k, v in cols.items()}
    dirty = _backtest_csv(tmp_path / "dirty.csv", poisoned)
    a, b = clean.folds[0], dirty.folds[0]
    assert a.origin == b.origin == "2020-06-09" and a.windows == b.windows == 19
    for name in a.steps:
        np.testing.assert_array_equal(a.steps[name], b.steps[name])
    assert a.coverage == b.coverage
    assert dirty.folds[1].mae["persistence"] > 1000 * clean.folds[1].mae["persistence"]


def test_backtest_reports_every_step_and_baseline_with_spread(tmp_path):
    r = _backtest_csv(tmp_path / "b.csv", series(200))
    assert r.names == ["model", "persistence", "training mean", "ridge"]
    assert all(v.shape == (2,) for v in r.step_mean().values())
    assert set(r.margins()) == {"persistence", "training mean", "ridge"}
    pers = [f.steps["persistence"] for f in r.folds]
    np.testing.assert_allclose(r.step_spread()["persistence"], np.std(pers, axis=0))


def test_backtest_command_writes_rows_per_fold_seed_and_method(tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", series(200))
    out = tmp_path / "folds.csv"
    assert main(["backtest", str(data), "--target", "temp", "--window", "5", "--horizon", "2",
                 "--units", "3", "--epochs", "2", "--folds", "2", "--seeds", "2",
                 "--test-rows", "20", "--plot", str(tmp_path / "bt.png"), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2 origin(s) x 2 seed(s) = 4 training runs" in text
    assert "MAE per step ahead, mean ± sd over 4 fold x seed runs" in text
    assert "Model vs each baseline over every test window" in text
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 2 * 4 and {r["method"] for r in rows} == {
        "model", "persistence", "training mean", "ridge"}
    assert set(rows[0]) >= {"fold", "seed", "origin", "mae_step1", "mae_step2"}
    if (tmp_path / "bt.png").exists():
        assert (tmp_path / "bt.png").read_bytes()[:4] == b"\x89PNG"


def test_predict_needs_the_seasonal_history_and_writes_intervals(tmp_path, capsys):
    y, _ = seasonal_ar(n=120, seed=1)
    path = write_series(tmp_path / "m.csv", y, "M")
    model = tmp_path / "m.keras"
    assert main(["train", str(path), "--target", "y", "--window", "4", "--units", "3",
                 "--epochs", "2", "--no-plot", "-o", str(model)]) == 0
    out = capsys.readouterr().out
    assert "season: 12 rows (monthly" in out and "derived inputs: y@lag11" in out
    assert main(["predict", str(model), str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "last_input,step,date,y,y_lower90,y_upper90"
    value, lo, hi = map(float, lines[1].split(",")[3:])
    assert lo < value < hi and lines[1].split(",")[2] == "2010-01"
    short = write_series(tmp_path / "short.csv", y[-14:], "M")
    assert main(["predict", str(model), str(short)]) == 2
    assert "give it at least the last 15 rows" in capsys.readouterr().err
