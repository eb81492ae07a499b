"""``unrolled tune``: the same table serially, on the local pool and on a real 2-worker
LocalCluster; the best configuration is the one with the lowest validation MAE, and the
saved model is what ``unrolled train`` trains with that configuration and seed."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from tests.forecast import series, write_csv
from unrolled.cli import main
from unrolled.forecast import load_forecaster
from unrolled.forecast.tune import Config, grid

GRID = ["--window", "5", "--units", "3,4", "--lr", "1e-2", "--epochs", "3",
        "--season", "0", "--no-linear", "--interval", "0"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("tune") / "data.csv", series(160))


def _tune(data, out, *extra):
    model = out / "best.keras"
    out.mkdir()
    assert main(["tune", str(data), "--target", "temp", *GRID, "-o", str(model),
                 *extra]) == 0
    table = (out / "best_tune.csv").read_text()
    return table, load_forecaster(model).model.get_weights()


def _rows(table: str) -> list[dict[str, str]]:
    return list(csv.DictReader(table.splitlines()))


def test_the_same_table_serially_on_the_pool_and_on_the_cluster(data, tmp_path, capsys,
                                                                cluster_client):
    serial, w1 = _tune(data, tmp_path / "serial", "--jobs", "1", "--backtest", "2")
    pool, w2 = _tune(data, tmp_path / "pool", "--jobs", "2", "--backtest", "2")
    cluster, w3 = _tune(data, tmp_path / "cluster", "--backtest", "2",
                        "--scheduler", cluster_client.scheduler.address)
    assert serial == pool == cluster
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(w1, w3):
        np.testing.assert_array_equal(a, b)
    rows = _rows(serial)
    assert len(rows) == 2 and all(r["splits"] == "2" for r in rows)
    assert len({r["val_mae"] for r in rows}) == 2  # the configurations really differ
    best = min(rows, key=lambda r: float(r["val_mae"]))
    assert best["rank"] == "1"
    text = capsys.readouterr().out
    label = Config(int(best["window"]), int(best["units"]), float(best["lr"])).label
    assert f"* best by validation MAE (mean ± sd over the folds): {label}" in text


def test_the_saved_model_is_what_train_trains(data, tmp_path):
    table, weights = _tune(data, tmp_path / "split", "--jobs", "1")
    rows = _rows(table)
    best = next(r for r in rows if r["rank"] == "1")
    assert float(best["val_mae"]) == min(float(r["val_mae"]) for r in rows)
    model = tmp_path / "train.keras"
    assert main(["train", str(data), "--target", "temp", "--window", best["window"],
                 "--units", best["units"], "--lr", best["lr"], "--epochs", "3",
                 "--season", "0", "--no-linear", "--interval", "0", "--no-plot",
                 "-o", str(model)]) == 0
    for a, b in zip(weights, load_forecaster(model).model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_grid_order_and_refusals():
    assert [c.label for c in grid([7, 14], [16], [1e-3, 3e-3])] == [
        "window=7 units=16 lr=0.001", "window=7 units=16 lr=0.003",
        "window=14 units=16 lr=0.001", "window=14 units=16 lr=0.003"]
    from unrolled.errors import ConfigError
    with pytest.raises(ConfigError, match="--units lists a value twice"):
        grid([7], [16, 16], [1e-3])


def test_a_bad_list_is_an_argument_error(data, capsys):
    with pytest.raises(SystemExit):
        main(["tune", str(data), "--target", "temp", "--window", "7,x", "-o", "b.keras"])
    assert "expected comma-separated positive integers such as 7,14,28, got '7,x'" in \
        capsys.readouterr().err


def test_a_failing_configuration_is_reported_and_the_others_finish(data, tmp_path, capsys):
    """window 200 cannot fit 160 rows: that run fails with its reason, the other is
    chosen and saved; exit status 1. Options such as --quantiles/--future reach the runs."""
    model = tmp_path / "best.keras"
    rc = main(["tune", str(data), "--target", "temp", "--window", "5,200", "--units", "3",
               "--lr", "1e-2", "--epochs", "2", "--season", "0", "--quantiles", "0.1,0.9",
               "--future", "humidity", "--jobs", "1", "-o", str(model)])
    assert rc == 1
    out = capsys.readouterr().out
    assert "window=200 units=3 lr=0.01 split: FAILED: DataError:" in out
    assert "no result (every run failed): window=200 units=3 lr=0.01" in out
    rows = _rows((tmp_path / "best_tune.csv").read_text())
    assert [r["window"] for r in rows] == ["5"]
    spec = load_forecaster(model).spec
    assert spec.window == 5 and list(spec.quantiles) == [0.1, 0.5, 0.9]
    assert list(spec.future) == ["humidity"]
