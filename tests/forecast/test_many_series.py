"""Long-format files: one global model over series with shared dynamics but different
levels and scales; per-series scaling and series order round-trip through the file."""
from __future__ import annotations

import numpy as np
import pytest

from tests.forecast import write_csv
from unrolled import forecast
from unrolled.cli import main
from unrolled.errors import DataError
from unrolled.forecast.many import assess_many, fit_many, prepare_many, split_series

LEVELS = {"north": (100.0, 5.0), "south": (1000.0, 50.0), "7": (10.0, 0.5)}


def long_csv(path, n=160, seed=0):
    """Three series, AR(1) with phi 0.7 around different levels and scales, interleaved
    by date (long format). Returns the path and each series' values."""
    rng = np.random.default_rng(seed)
    values = {}
    for name, (level, scale) in LEVELS.items():
        x = np.zeros(n)
        for t in range(1, n):
            x[t] = 0.7 * x[t - 1] + rng.normal()
        values[name] = level + scale * x
    dates = np.datetime64("2021-01-01") + np.arange(n)
    cols = {"date": [], "shop": [], "sales": []}
    for t in range(n):
        for name in LEVELS:
            cols["date"].append(str(dates[t]))
            cols["shop"].append(name)
            cols["sales"].append(f"{values[name][t]:.6f}")
    return write_csv(path, cols), values


def test_split_series_keeps_file_order_and_drops_the_column(tmp_path):
    from unrolled.data import read_csv

    path, values = long_csv(tmp_path / "l.csv", n=20)
    groups = split_series(read_csv(path), "shop")
    assert list(groups) == ["north", "south", "7"]
    assert groups["south"].columns == ["sales"] and "shop" not in groups["south"].kinds
    np.testing.assert_allclose(groups["7"].column("sales"), values["7"], atol=1e-6)
    assert groups["north"].row_numbers.tolist() == list(range(1, 60, 3))  # source rows kept


def test_global_model_is_within_noise_of_the_process_on_every_series(tmp_path):
    path, values = long_csv(tmp_path / "l.csv")
    md = prepare_many(path, "shop", targets="sales", window=5, season=0)
    for name, (level, scale) in LEVELS.items():  # each series scaled by its own train rows
        d = md.parts[name]
        np.testing.assert_allclose(d.scaler_y.mean, values[name][:112].mean(), rtol=1e-6)
    fit = fit_many(md, forecast.FitConfig(units=4, epochs=5, patience=3), seed=0)
    pooled, per, cov = assess_many(fit.forecaster, md.parts)
    for name, (level, scale) in LEVELS.items():
        w = md.parts[name].test
        truth = w.y_true[:, 0, 0]
        best = level + 0.7 * (w.last[:, 0] - level)  # the process's own forecast
        oracle = np.mean(np.abs(best - truth))
        assert per[name].model.mae <= 1.25 * oracle, name
        assert per[name].margins["training mean"].verdict != "worse"
    assert pooled.samples == sum(len(d.test) for d in md.parts.values())
    assert 0.7 < cov <= 1.0


def test_series_scalers_and_order_round_trip_and_predict_every_series(tmp_path, capsys):
    path, values = long_csv(tmp_path / "l.csv", n=120)
    model = tmp_path / "m.keras"
    assert main(["train", str(path), "--series-column", "shop", "--target", "sales",
                 "--window", "4", "--season", "0", "--units", "3", "--epochs", "2",
                 "-o", str(model)]) == 0
    out = capsys.readouterr().out
    assert "3 series in column 'shop'" in out and "All series pooled" in out
    fc = forecast.load_forecaster(model)
    assert fc.series_column == "shop" and list(fc.series) == ["north", "south", "7"]
    np.testing.assert_allclose(fc.series["south"][0].y.mean, values["south"][:84].mean(),
                               rtol=1e-6)
    assert main(["predict", str(model), str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "shop,last_input,step,date,sales,sales_lower90,sales_upper90"
    assert [l.split(",")[0] for l in lines[1:]] == ["north", "south", "7"]
    south = float(lines[2].split(",")[4])
    assert 500 < south < 1500  # in the south series' own units
    # One series alone gives the same forecast as within the whole file.
    one = forecast.forecast(fc, path, series=["south"])
    assert one.series[1] == ["south"] and one.values[0, 0, 0] == np.float32(south)
    with pytest.raises(Exception, match="'east' not in the file"):
        forecast.forecast(fc, path, series=["east"])
    assert main(["evaluate", str(model), str(path)]) == 0
    text = capsys.readouterr().out
    assert "north" in text and "All series pooled" in text


def test_series_too_short_is_named(tmp_path):
    path, _ = long_csv(tmp_path / "l.csv", n=40)
    with pytest.raises(DataError, match="series 'north'"):
        prepare_many(path, "shop", targets="sales", window=30, season=0)
