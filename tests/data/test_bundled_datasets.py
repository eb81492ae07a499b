"""The bundled Seattle weather data: present, intact, and usable end to end."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from unrolled.data import Standardizer, chronological_split, make_windows, select_columns
from unrolled.datasets import (SHA256, dataset_path, list_datasets, load_dataset,
                               load_seattle_weather)
from unrolled.errors import ConfigError


def test_list_and_path():
    assert list_datasets() == ["seattle_weather"]
    path = Path(dataset_path("seattle_weather"))
    assert path.is_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA256["seattle_weather"]
    with pytest.raises(ConfigError, match="unknown dataset 'jena'; bundled datasets: seattle_weather"):
        load_dataset("jena")


def test_seattle_weather_loads_complete_and_sorted():
    t = load_seattle_weather()
    assert len(t) == 1461
    assert t.columns == ["precipitation", "temp_max", "temp_min", "wind"]
    assert t.source_columns == ["date", "precipitation", "temp_max", "temp_min", "wind", "weather"]
    assert t.values.shape == (1461, 4) and t.values.dtype == np.float64
    assert not np.isnan(t.values).any()
    assert t.time_column == "date" and t.time.dtype == np.dtype("datetime64[D]")
    assert t.time[0] == np.datetime64("2012-01-01") and t.time[-1] == np.datetime64("2015-12-31")
    assert np.all(np.diff(t.time) == np.timedelta64(1, "D"))  # sorted, daily, no gaps
    assert set(t.text["weather"]) == {"sun", "fog", "rain", "drizzle", "snow"}
    assert t.units == {"precipitation": "mm", "temp_max": "°C", "temp_min": "°C", "wind": "m/s"}
    assert np.all(t.column("temp_max") >= t.column("temp_min"))
    assert t.column("precipitation").min() == 0 and t.column("wind").min() > 0
    np.testing.assert_array_equal(t.values[0], [0.0, 12.8, 5.0, 4.7])  # first line of the file


def test_forecasting_pipeline_runs_on_it():
    window = 30
    X, Y, info = select_columns(load_seattle_weather(), targets=["temp_max", "temp_min"])
    assert info.ignored == {"weather": "text, e.g. 'drizzle': not a number"}
    train, val, test = chronological_split((X, Y), 0.15, 0.15, min_rows=window + 1)
    sx = Standardizer(columns=info.features).fit(train[0])
    sy = sx.subset(info.targets)
    x, y = make_windows(sx.transform(train[0]), sy.transform(train[1]), window=window)
    assert x.shape == (len(train[0]) - window, window, 4) and y.shape == (len(x), 1, 2)
    np.testing.assert_allclose(sy.inverse_transform(y[:, 0]), train[1][window:])
    xt, yt = make_windows(sx.transform(test[0]), test[1], window=window, horizon=7)
    assert xt.shape[1:] == (window, 4) and yt.shape[1:] == (7, 2)
