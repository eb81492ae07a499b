"""Windowing: hand-computed windows, and Keras's own index arithmetic as the reference."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from tests.peers import require
from unrolled.data import make_windows, timeseries_windows, window_index
from unrolled.errors import ConfigError, DataError


def rows_series(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Values that spell their own row: data (n, 2) = [t, 100+t], targets (n, 2) = [1000+t, 2000+t]."""
    t = np.arange(n, dtype=np.float64)
    return np.stack([t, 100 + t], axis=1), np.stack([1000 + t, 2000 + t], axis=1)


def test_default_window_predicts_the_next_row():
    data, targets = rows_series(6)
    X, Y = make_windows(data, targets, window=3)
    assert X.shape == (3, 3, 2) and Y.shape == (3, 1, 2)
    np.testing.assert_array_equal(X[:, :, 0], [[0, 1, 2], [1, 2, 3], [2, 3, 4]])
    np.testing.assert_array_equal(X[:, :, 1], X[:, :, 0] + 100)
    np.testing.assert_array_equal(Y[:, 0, :], [[1003, 2003], [1004, 2004], [1005, 2005]])
    assert X.dtype == np.float64 and Y.dtype == np.float64


def test_stride_sampling_rate_horizon_and_several_targets():
    data, targets = rows_series(20)
    # span = (3-1)*2 + 1 = 5 rows, plus horizon 2 → 7 rows per sample; starts 0, 3, ..., 12
    X, Y = make_windows(data, targets, window=3, horizon=2, stride=3, sampling_rate=2)
    np.testing.assert_array_equal(X[:, :, 0], [[0, 2, 4], [3, 5, 7], [6, 8, 10],
                                                [9, 11, 13], [12, 14, 16]])
    np.testing.assert_array_equal(Y[:, :, 0] - 1000, [[5, 6], [8, 9], [11, 12], [14, 15],
                                                      [17, 18]])
    np.testing.assert_array_equal(Y[:, :, 1], Y[:, :, 0] + 1000)
    assert Y.shape == (5, 2, 2)


def test_gap_start_and_end_index():
    data, targets = rows_series(30)
    # rows 5..19 only; window 4, gap 2, horizon 3 → need 4 + 2 + 3 = 9 rows: starts 5..11
    X, Y = make_windows(data, targets[:, :1], window=4, horizon=3, gap=2, stride=2,
                        start_index=5, end_index=20)
    np.testing.assert_array_equal(X[:, :, 0], [[5, 6, 7, 8], [7, 8, 9, 10], [9, 10, 11, 12],
                                                [11, 12, 13, 14]])
    np.testing.assert_array_equal(Y[:, :, 0] - 1000, [[11, 12, 13], [13, 14, 15],
                                                      [15, 16, 17], [17, 18, 19]])
    assert Y.max() < 1020  # nothing at or beyond end_index


def test_window_index_dates_each_forecast():
    inputs, future = window_index(10, window=3, horizon=2, stride=4)
    np.testing.assert_array_equal(inputs, [[0, 1, 2], [4, 5, 6]])
    np.testing.assert_array_equal(future, [[3, 4], [7, 8]])
    assert inputs.dtype == np.int64


def test_without_targets_the_last_window_ends_on_the_last_row():
    data, _ = rows_series(7)
    X, Y = make_windows(data[:, 0], None, window=3)
    assert Y is None and X.shape == (5, 3, 1)
    np.testing.assert_array_equal(X[-1, :, 0], [4, 5, 6])


def test_one_dimensional_series_become_one_feature():
    X, Y = make_windows(np.arange(5.0), np.arange(5.0) * 10, window=2, horizon=2)
    assert X.shape == (2, 2, 1) and Y.shape == (2, 2, 1)
    np.testing.assert_array_equal(Y[:, :, 0], [[20, 30], [30, 40]])


def test_make_windows_equals_shifted_keras_style_call():
    data, targets = rows_series(25)
    for w in (1, 4, 7):
        X, Y = make_windows(data, targets, window=w)
        Xk, Yk = timeseries_windows(data[:-1], targets[w:], sequence_length=w)
        np.testing.assert_array_equal(X, Xk)
        np.testing.assert_array_equal(Y[:, 0, :], Yk)


def test_too_short_series_names_both_lengths():
    data, targets = rows_series(5)
    with pytest.raises(DataError, match=r"has 5 rows.*needs 6 \(window 5"):
        make_windows(data, targets, window=5)
    with pytest.raises(DataError, match=r"has 10 rows 5\.\.14 of 20.*needs 12.*gap 1 \+ horizon 2"):
        make_windows(*rows_series(20), window=9, gap=1, horizon=2, start_index=5, end_index=15)


@pytest.mark.parametrize("kwargs, word", [
    ({"window": 0}, "window"), ({"window": 2.5}, "window"), ({"window": 2, "horizon": 0}, "horizon"),
    ({"window": 2, "stride": 0}, "stride"), ({"window": 2, "sampling_rate": -1}, "sampling_rate"),
    ({"window": 2, "gap": -1}, "gap"), ({"window": 2, "start_index": 8, "end_index": 4}, "start_index"),
    ({"window": 2, "end_index": 99}, "end_index"),
])
def test_bad_arguments_are_config_errors(kwargs, word):
    with pytest.raises(ConfigError, match=word):
        make_windows(*rows_series(10), **kwargs)


def test_bad_arrays_are_data_errors():
    data, targets = rows_series(10)
    with pytest.raises(DataError, match="data has 10 rows but targets has 9"):
        make_windows(data, targets[:9], window=2)
    data[4, 1] = np.nan
    with pytest.raises(DataError, match=r"NaN at row 4 \(0-based\).*fill="):
        make_windows(data, targets, window=2)
    with pytest.raises(DataError, match=r"\(time, columns\) or \(time,\), got shape \(2, 5, 1\)"):
        make_windows(np.zeros((2, 5, 1)), None, window=2)


def test_keras_docstring_example_1():
    """Indices 0..98, sequence_length=10, sampling_rate=2, sequence_stride=3 (Keras's docs)."""
    X = timeseries_windows(np.arange(99), None, sequence_length=10, sampling_rate=2,
                           sequence_stride=3)
    np.testing.assert_array_equal(X[0], np.arange(0, 20, 2))
    np.testing.assert_array_equal(X[1], np.arange(3, 23, 2))
    np.testing.assert_array_equal(X[2], np.arange(6, 26, 2))
    np.testing.assert_array_equal(X[-1], np.arange(78, 98, 2))
    assert len(X) == 27


def test_keras_docstring_example_2_next_step_regression():
    data = np.arange(50.0)
    X, Y = timeseries_windows(data[:-10], data[10:], sequence_length=10)
    np.testing.assert_array_equal(X[0], data[:10])
    assert Y[0] == data[10] and len(X) == 31 and Y[-1] == data[40]


def test_timeseries_windows_start_end_index_by_hand():
    data = np.arange(30) * 10
    X, Y = timeseries_windows(data, np.arange(30), sequence_length=3, sampling_rate=2,
                              sequence_stride=4, start_index=5, end_index=20)
    # rows 5..19; span 5 → 11 start offsets 0..10, every 4th: 0, 4, 8 → rows 5, 9, 13
    np.testing.assert_array_equal(X, [[50, 70, 90], [90, 110, 130], [130, 150, 170]])
    np.testing.assert_array_equal(Y, [5, 9, 13])  # targets[i] belongs to the window starting at i


def test_timeseries_windows_copies_keras_validation():
    data = np.arange(10)
    for kwargs, text in [({"end_index": 10}, "`end_index` must be lower than the length"),
                         ({"start_index": -1}, "`start_index` must be 0 or greater"),
                         ({"start_index": 10}, "`start_index` must be lower"),
                         ({"start_index": 5, "end_index": 5}, "`end_index` must be higher than `start_index`"),
                         ({"sampling_rate": 0}, "`sampling_rate` must be higher than 0"),
                         ({"sequence_stride": 10}, "`sequence_stride` must be lower")]:
        with pytest.raises(ConfigError, match=text):
            timeseries_windows(data, None, 3, **kwargs)
    assert timeseries_windows(data, None, 20).shape == (0, 20)  # too short: no samples, like Keras
    with pytest.raises(ConfigError, match=r"targets has 3 rows.*targets\[5\]"):
        timeseries_windows(data, np.arange(3), 2, start_index=5)


class _FakeGrainDataset:
    """Just enough of grain's MapDataset for Keras's unbatched, unshuffled grain path."""

    def __init__(self, items):
        self.items = list(items)

    @classmethod
    def source(cls, items):
        return cls(items)

    def to_iter_dataset(self):
        return self

    def __iter__(self):
        return iter(self.items)


@pytest.mark.parametrize("n, L, stride, rate, start, end, with_targets", [
    (40, 5, 1, 1, None, None, True), (40, 5, 3, 2, None, None, True),
    (41, 4, 2, 3, 6, 33, True), (30, 1, 1, 1, 0, None, False), (60, 7, 5, 4, 3, 55, False),
    (25, 6, 1, 2, None, None, True),
])
def test_matches_keras_timeseries_dataset_from_array(monkeypatch, n, L, stride, rate, start, end,
                                                     with_targets):
    """Run Keras's own function. Its default path needs TensorFlow (not a dependency), so
    we take its `format="grain"` path and hand it a list-backed stand-in for grain: the
    index arithmetic under test is Keras's, only the container is ours."""
    keras = require("keras")
    # The grain path lets Keras's own function run without TensorFlow; every Keras the
    # test extra installs (>= 3.5 with grain support) has it, so its absence is a failure.
    assert "format" in keras.utils.timeseries_dataset_from_array.__code__.co_varnames, (
        "this Keras has no grain path to run timeseries_dataset_from_array without TensorFlow")
    from keras.src.utils import timeseries_dataset_utils as tsu

    fake = SimpleNamespace(MapDataset=_FakeGrainDataset, experimental=SimpleNamespace(
        ZipMapDataset=lambda parts: _FakeGrainDataset(zip(*[p.items for p in parts]))))
    monkeypatch.setattr(tsu, "grain", fake)
    rng = np.random.default_rng(n + L)
    data = rng.normal(size=(n, 3))
    targets = rng.normal(size=(n, 2)) if with_targets else None
    kwargs = dict(sequence_length=L, sequence_stride=stride, sampling_rate=rate,
                  start_index=start, end_index=end)
    items = list(keras.utils.timeseries_dataset_from_array(
        data, targets, batch_size=None, format="grain", **kwargs))
    ours = timeseries_windows(data, targets, **kwargs)
    if with_targets:
        X, Y = ours
        np.testing.assert_array_equal(X, np.stack([x for x, _ in items]))
        np.testing.assert_array_equal(Y, np.stack([y for _, y in items]))
    else:
        np.testing.assert_array_equal(ours, np.stack(items))
