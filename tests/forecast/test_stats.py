"""AutoETS / AutoARIMA baselines (statsforecast, the [stats] extra): present, sane on a
seasonal series, never reading past a window, and a clear error without the extra."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.forecast import write_csv
from tests.peers import require
from unrolled import forecast
from unrolled.cli import main
from unrolled.errors import ConfigError
from unrolled.forecast import stats
from unrolled.forecast.backtest import backtest

TINY = forecast.FitConfig(units=3, epochs=2, patience=2, interval=None)


def monthly(n=120, seed=0):
    """``y = 10 + 3 sin(2πt/12) + 0.5 e``, monthly: seasonal, so ETS/ARIMA with season 12
    forecast it to about the noise (MAE ≈ 0.5·0.8 = 0.4) and persistence does not."""
    rng = np.random.default_rng(seed)
    y = 10 + 3 * np.sin(2 * np.pi * np.arange(n) / 12) + 0.5 * rng.normal(size=n)
    months = np.datetime64("2000-01", "M") + np.arange(n)
    return {"date": [str(m) for m in months], "y": [f"{v:.6f}" for v in y]}, y


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    require("statsforecast")
    return write_csv(tmp_path_factory.mktemp("stats") / "m.csv", monthly()[0])


def test_baselines_are_sane_on_a_seasonal_series(csv_path):
    data = forecast.prepare(csv_path, targets="y", window=12, horizon=2)
    assert data.spec.season == 12
    st = stats.for_test(data)
    assert set(st.forecasts) == {"AutoETS", "AutoARIMA"}, st.notes
    fit = forecast.fit_forecaster(data, TINY, seed=0)
    cmp = forecast.assess(fit.forecaster, data.test, st.forecasts).comparison
    base = cmp.baselines
    assert list(base)[-2:] == ["AutoETS", "AutoARIMA"]  # in the table and the verdict
    assert set(cmp.margins) >= {"AutoETS", "AutoARIMA"}
    for name in ("AutoETS", "AutoARIMA"):
        assert st.forecasts[name].shape == data.test.y_true.shape
        assert base[name].mae < 0.6 < base["persistence"].mae  # near the noise
        assert base[name].mae < 1.2 * base["seasonal naive"].mae


def test_a_window_forecast_never_reads_past_its_last_row():
    _, y = monthly(90)
    rows = np.array([50, 60, 70])
    clean = stats.forecast_windows(y[:, None], rows, 3, 12, fit_end=50, models=("AutoETS",))
    poisoned = y.copy()
    poisoned[61:] = 1e6  # after the second window's last row
    dirty = stats.forecast_windows(poisoned[:, None], rows, 3, 12, fit_end=50,
                                   models=("AutoETS",))
    a, b = clean.forecasts["AutoETS"], dirty.forecasts["AutoETS"]
    np.testing.assert_array_equal(a[:2], b[:2])
    assert np.abs(b[2]).max() > 1e4  # the third window did read its (poisoned) history


def test_left_out_with_a_note_when_too_short_and_named_extra_when_missing(monkeypatch):
    short = stats.forecast_windows(np.ones((10, 1)), np.array([5]), 1, None, fit_end=6)
    assert short.forecasts == {} and "at least" in short.notes[0]
    monkeypatch.setitem(sys.modules, "statsforecast", None)
    with pytest.raises(ConfigError, match=r"pip install 'unrolled\[stats\]'.*--no-stats"):
        stats.forecast_windows(np.ones((40, 1)), np.array([30]), 1, None, fit_end=30)


def test_cli_train_evaluate_backtest(csv_path, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("UNROLLED_STATS", "1")
    out = tmp_path / "m.keras"
    assert main(["train", str(csv_path), "--target", "y", "--window", "12", "--epochs", "2",
                 "--units", "3", "--no-plot", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "AutoETS" in text and "AutoARIMA" in text and "statsforecast" in text
    assert main(["evaluate", str(out), str(csv_path), "--no-stats"]) == 0
    assert "AutoETS" not in capsys.readouterr().out
    result = backtest(csv_path, dict(targets=["y"], window=12), TINY, folds=2, seeds=2,
                      stats=True)
    assert result.names[-2:] == ["AutoETS", "AutoARIMA"]
    assert {"AutoETS", "AutoARIMA"} <= set(result.margins())
    # computed once per fold (first seed), not per seed
    assert ["AutoETS" in f.steps for f in result.folds] == [True, False, True, False]
