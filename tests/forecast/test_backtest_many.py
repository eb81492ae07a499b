"""Backtest of a global model over many series: per-series and pooled results, and no
fold of any series sees a row after its test block."""
from __future__ import annotations

import numpy as np

from tests.forecast.test_many_series import LEVELS, long_csv
from unrolled import forecast
from unrolled.cli import main
from unrolled.forecast.backtest_many import backtest_many, per_series_summary

TINY = forecast.FitConfig(units=3, epochs=2, patience=2)
OPTIONS = dict(targets=["sales"], window=5, horizon=2, season=0)


def test_per_series_and_pooled_results(tmp_path):
    path, _ = long_csv(tmp_path / "l.csv", n=120)
    r = backtest_many(path, "shop", OPTIONS, TINY, folds=2, seeds=1)
    assert len(r.folds) == 2 and r.names[0] == "model"
    assert {"persistence", "training mean", "ridge"} <= set(r.names)
    summary = per_series_summary(r)
    assert list(summary) == list(LEVELS)
    # errors are in each series' own units: the scales differ by 100x, and so do the MAEs
    assert summary["south"]["model"] > 30 * summary["7"]["model"]
    for name, maes in summary.items():
        # a few epochs from the pooled ridge: within 10 % of it on every series
        assert abs(maes["model"] / maes["ridge"] - 1) < 0.1, name
        assert set(maes) == set(r.names)
    # pooled over the ~100 windows, AR(1) with phi 0.7 is forecast better than persistence
    assert r.mae()["model"][0] < r.mae()["persistence"][0]
    assert set(r.margins()) >= {"persistence", "ridge"}


def test_no_fold_sees_a_row_after_its_test_block(tmp_path):
    path, _ = long_csv(tmp_path / "clean.csv", n=120)
    clean = backtest_many(path, "shop", OPTIONS, TINY, folds=2, test_rows=15)
    # fold 1 of each series ends at row 105 of its 120: poison rows 105.. of every series
    lines = path.read_text().splitlines()
    header, rows = lines[0], [line.split(",") for line in lines[1:]]
    for i, row in enumerate(rows):
        if i // len(LEVELS) >= 105:
            row[2] = str(1e6 + i)
    dirty_path = tmp_path / "dirty.csv"
    dirty_path.write_text("\n".join([header] + [",".join(r) for r in rows]) + "\n")
    dirty = backtest_many(dirty_path, "shop", OPTIONS, TINY, folds=2, test_rows=15)
    a, b = clean.folds[0], dirty.folds[0]
    assert a.windows == b.windows > 0
    for name in a.steps:
        np.testing.assert_array_equal(a.steps[name], b.steps[name])
    assert a.per_series == b.per_series
    assert dirty.folds[1].mae["persistence"] > 1000 * clean.folds[1].mae["persistence"]


def test_cli_backtest_and_train_backtest_with_series_column(tmp_path, capsys):
    path, _ = long_csv(tmp_path / "l.csv", n=100)
    assert main(["backtest", str(path), "--target", "sales", "--series-column", "shop",
                 "--window", "5", "--folds", "2", "--epochs", "2", "--units", "3",
                 "--season", "0", "--plot", "none"]) == 0
    out = capsys.readouterr().out
    assert "All series pooled" in out and "Per series" in out
    for name in LEVELS:
        assert f"\n  {name}" in out
    assert main(["train", str(path), "--target", "sales", "--series-column", "shop",
                 "--window", "5", "--epochs", "2", "--units", "3", "--season", "0",
                 "--backtest", "2", "--no-plot", "-o", str(tmp_path / "m.keras")]) == 0
    assert "Per series" in capsys.readouterr().out

