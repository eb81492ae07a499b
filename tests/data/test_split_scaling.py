"""Chronological splits and standardisation: no future leaks into training statistics."""
from __future__ import annotations

import json

import numpy as np
import pytest

from unrolled.data import SplitSlices, Standardizer, chronological_split, make_windows
from unrolled.errors import ConfigError, DataError, InputShapeError


def test_split_of_a_row_count_is_contiguous_and_ordered():
    s = chronological_split(100, val_fraction=0.15, test_fraction=0.2)
    assert s == SplitSlices(slice(0, 65), slice(65, 80), slice(80, 100))
    rows = np.arange(100)
    np.testing.assert_array_equal(np.concatenate([rows[s.train], rows[s.val], rows[s.test]]), rows)


def test_split_of_arrays_keeps_them_aligned():
    X, Y = np.arange(20).reshape(10, 2), np.arange(10)
    train, val, test = chronological_split((X, Y, None), 0.2, 0.2)
    np.testing.assert_array_equal(train[0], X[:6])
    np.testing.assert_array_equal(val[1], [6, 7])
    np.testing.assert_array_equal(test[1], [8, 9])
    assert train[2] is None
    a, b, c = chronological_split(np.arange(10.0), 0.0, 0.3)
    assert len(a) == 7 and len(b) == 0 and list(c) == [7, 8, 9]


def test_split_rejects_bad_fractions_and_short_blocks():
    with pytest.raises(ConfigError, match="val_fraction must be in"):
        chronological_split(10, -0.1, 0.2)
    with pytest.raises(ConfigError, match="below 1"):
        chronological_split(10, 0.5, 0.5)
    with pytest.raises(DataError, match=r"validation block would have 15 rows of 100.*min_rows=20"):
        chronological_split(100, 0.15, 0.15, min_rows=20)
    with pytest.raises(DataError, match="same number of rows"):
        chronological_split((np.zeros(5), np.zeros(6)), 0.2, 0.2)


def test_windows_of_each_block_never_reach_into_the_next():
    n, window = 100, 5
    series = np.arange(n, dtype=np.float64)  # each value is its row number
    train, val, test = chronological_split(series, 0.15, 0.15)
    X, Y = make_windows(train, train, window)
    assert max(X.max(), Y.max()) == 69  # last train row
    Xv, Yv = make_windows(val, val, window)
    assert Xv.min() == 70 and Yv.max() == 84


def test_scaler_statistics_come_from_the_training_block_only():
    rng = np.random.default_rng(0)
    series = rng.normal(size=(200, 2))
    series[170:] += 1000.0  # a jump that only the test block contains
    train, val, test = chronological_split(series, 0.15, 0.15)
    scaler = Standardizer(columns=["a", "b"]).fit(train)
    np.testing.assert_allclose(scaler.mean, train.mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(scaler.scale, train.std(axis=0), rtol=0, atol=1e-12)
    assert np.all(np.abs(scaler.mean) < 1) and np.all(series.mean(axis=0) > 100)
    z = scaler.transform(test)
    assert z.min() > 100  # the jump stays visible instead of being normalised away


def test_inverse_transform_round_trips_and_keeps_float32():
    rng = np.random.default_rng(1)
    x = rng.normal(5, 3, size=(50, 3))
    s = Standardizer().fit(x)
    np.testing.assert_allclose(s.inverse_transform(s.transform(x)), x, rtol=1e-12)
    z = s.transform(x)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-12)
    x32 = x.astype(np.float32)
    assert s.transform(x32).dtype == np.float32
    assert s.inverse_transform(s.transform(x32)).dtype == np.float32
    assert s.transform(np.arange(6).reshape(2, 3)).dtype == np.float64


def test_windows_and_series_give_the_same_statistics():
    x = np.random.default_rng(2).normal(size=(40, 2))
    windows, _ = make_windows(x, None, window=4, stride=4)  # non-overlapping: every row once
    a, b = Standardizer().fit(x), Standardizer().fit(windows)
    np.testing.assert_allclose(a.mean, b.mean)
    np.testing.assert_allclose(a.scale, b.scale)
    assert a.transform(windows).shape == (10, 4, 2)


def test_config_is_plain_json_and_exact():
    s = Standardizer(columns=["temp", "wind"]).fit(np.random.default_rng(3).normal(size=(30, 2)))
    config = json.loads(json.dumps(s.to_config()))
    assert set(config) == {"mean", "scale", "columns"} and isinstance(config["mean"][0], float)
    t = Standardizer.from_config(config)
    np.testing.assert_array_equal(t.mean, s.mean)
    np.testing.assert_array_equal(t.scale, s.scale)
    assert t.columns == ["temp", "wind"]
    assert Standardizer.from_config(Standardizer().get_config()).mean is None


def test_subset_undoes_the_scaling_of_targets():
    x = np.random.default_rng(4).normal(size=(30, 3)) * [1, 10, 100]
    s = Standardizer(columns=["a", "b", "c"]).fit(x)
    t = s.subset(["c", "a"])
    np.testing.assert_allclose(t.inverse_transform(s.transform(x)[:, [2, 0]]), x[:, [2, 0]])
    assert s.subset([1]).columns == ["b"]
    with pytest.raises(ConfigError, match="no column 'z'"):
        s.subset(["z"])


def test_zero_variance_and_bad_values_are_named():
    x = np.random.default_rng(5).normal(size=(20, 3))
    x[:, 1] = 7.25
    with pytest.raises(DataError, match=r"column 'flat' is constant in the training data \(value 7\.25\)"):
        Standardizer(columns=["a", "flat", "c"]).fit(x)
    x[:, 1] = 0.1 + 0.2  # float noise must not pass for variation
    x[3, 1] = 0.30000000000000004 - 1e-17
    with pytest.raises(DataError, match=r"column 1 \(0-based\) is constant"):
        Standardizer().fit(x)
    x[2, 2] = np.nan
    with pytest.raises(DataError, match="column 2 \\(0-based\\) has NaN"):
        Standardizer().fit(x[:, [0, 0, 2]])


def test_misuse_is_reported():
    with pytest.raises(ConfigError, match="not fitted"):
        Standardizer().transform(np.zeros((2, 2)))
    s = Standardizer(columns=["a", "b"]).fit(np.arange(8.0).reshape(4, 2))
    with pytest.raises(InputShapeError, match=r"expects \(\.\.\., 2\).*got shape \(4, 3\)"):
        s.transform(np.zeros((4, 3)))
    with pytest.raises(ConfigError, match="both mean and scale"):
        Standardizer(mean=[0.0])
    with pytest.raises(ConfigError, match="scale finite and > 0"):
        Standardizer(mean=[0.0], scale=[0.0])
    with pytest.raises(ConfigError, match="2 column names for 3 columns"):
        Standardizer(columns=["a", "b"]).fit(np.arange(9.0).reshape(3, 3))
