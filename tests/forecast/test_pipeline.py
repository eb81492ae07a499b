"""The forecasting pipeline: split before windowing, train-only scaling, hand-checked
windows and baselines, the model's layout, and the forecaster file."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from tests.forecast import numeric, series, write_csv
from tests.peers import require
from unrolled import forecast, set_random_seed
from unrolled.errors import ConfigError, DataError, ModelFileError
from unrolled.forecast.model_file import KEY


@pytest.fixture
def csv_path(tmp_path):
    return write_csv(tmp_path / "data.csv", series(160))


def test_prepare_splits_by_target_rows_and_windows_by_hand(csv_path):
    cols = series(160)
    data = forecast.prepare(csv_path, targets=["temp"], window=5, horizon=2, season=None,
                            transform="level")
    assert data.spec.features == ["temp", "humidity", "wind"]  # text, counter, constant left out
    assert set(data.selection.ignored) == {"sky", "idx", "station"}
    assert data.spec.time_column == "date"
    train, val, test = data.blocks
    assert (train.stop, val.stop, test.stop) == (112, 136, 160)  # 70 / 15 / 15 %
    raw = numeric(cols, ["temp", "humidity", "wind"])  # (160, 3)
    # Window i reads rows i..i+4 and predicts rows i+5, i+6; it belongs to the block
    # holding both target rows (inputs may come from earlier rows; straddlers dropped).
    for w, b, n in zip((data.train, data.val, data.test), data.blocks, (106, 23, 23)):
        assert w.x.shape == (n, 5, 3) and w.z.shape == (n, 2)
        assert w.x.dtype == np.float32 and w.z.dtype == np.float32
        assert w.target_rows.min() >= b.start and w.target_rows.max() < b.stop
    assert data.train.target_rows.min() == 5
    # Test window 0: inputs are rows 131..135, targets rows 136, 137, last observed row 135.
    mean, std = raw[:112].mean(axis=0), raw[:112].std(axis=0)
    np.testing.assert_allclose(data.test.x[0], (raw[131:136] - mean) / std, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(data.test.y_true[0, :, 0], raw[136:138, 0])
    np.testing.assert_array_equal(data.test.last[0], raw[135, :1])
    np.testing.assert_array_equal(data.test.target_rows[0], [136, 137])
    assert data.label(141) == "2020-05-21"


def test_scalers_see_only_the_training_block(tmp_path):
    cols = series(160)
    base = forecast.prepare(write_csv(tmp_path / "a.csv", cols), targets="temp", window=5)
    # Rewrite the future (validation and test rows): the scaling must not move.
    future = {k: (v[:112] + [str(float(c) * 100 + 1000) for c in v[112:]]
                  if k in ("temp", "humidity", "wind") else v) for k, v in cols.items()}
    changed = forecast.prepare(write_csv(tmp_path / "b.csv", future), targets="temp", window=5)
    np.testing.assert_array_equal(base.scaler_x.mean, changed.scaler_x.mean)
    np.testing.assert_array_equal(base.scaler_y.scale, changed.scaler_y.scale)
    np.testing.assert_array_equal(base.train.x, changed.train.x)
    raw = numeric(cols, ["temp"])[:112]
    np.testing.assert_allclose(base.scaler_y.mean, raw.mean(axis=0))
    np.testing.assert_allclose(base.scaler_y.scale, raw.std(axis=0))


def test_network_targets_decode_to_the_targets_in_data_units(csv_path):
    from unrolled.forecast.transform import decode

    for tr in ("level", "diff"):
        data = forecast.prepare(csv_path, targets=["temp", "wind"], window=4, horizon=3,
                                transform=tr)
        assert data.spec.transform == tr
        back = decode(data.test.z, data.test.last, tr, data.scalers.z, 3)  # float32 z
        np.testing.assert_allclose(back, data.test.y_true, rtol=1e-5, atol=1e-5)
        assert data.test.y_true.shape[1:] == (3, 2)
        d = data.train.y_true - (data.train.last[:, None, :] if tr == "diff" else 0)
        np.testing.assert_allclose(data.scalers.z.mean, d.reshape(len(d), -1).mean(axis=0))


def test_explicit_features_may_leave_out_the_target(csv_path):
    data = forecast.prepare(csv_path, targets="temp", features=["humidity", "wind"], window=3)
    assert data.spec.features == ["humidity", "wind"] and data.spec.targets == ["temp"]
    raw = numeric(series(160), ["temp"])
    np.testing.assert_array_equal(data.train.last[:, 0], raw[2:112 - 1, 0])  # still known
    assert data.spec.inputs == ["humidity", "wind"]


def test_series_shorter_than_window_plus_horizon(tmp_path):
    path = write_csv(tmp_path / "short.csv", series(10))
    with pytest.raises(DataError, match=r"too short: .* has 10 rows, but one sample needs window 8 \+ horizon 3 = 11"):
        forecast.prepare(path, targets="temp", window=8, horizon=3)


def test_persistence_training_mean_and_scores_by_hand():
    last = np.array([[1.0, 10.0], [2.0, 20.0]])  # (N=2, T=2)
    p = forecast.persistence(last, horizon=3)
    assert p.shape == (2, 3, 2)
    np.testing.assert_array_equal(p[1, :, 1], [20, 20, 20])
    m = forecast.training_mean(np.array([5.0, 7.0]), samples=2, horizon=3)
    np.testing.assert_array_equal(m[:, :, 0], np.full((2, 3), 5.0))
    s = forecast.scores(np.array([1.0, 2.0, 4.0]), np.array([1.0, 4.0, 1.0]))
    assert s.mae == pytest.approx(5 / 3) and s.rmse == pytest.approx(np.sqrt(13 / 3))
    true = np.array([[[2.0]], [[2.0]]])  # (2, 1, 1)
    cmp = forecast.compare(np.array([[[2.5]], [[2.0]]]), true, np.array([[1.0], [3.0]]),
                           np.array([0.0]))
    assert cmp.model.mae == pytest.approx(0.25) and cmp.persistence.mae == pytest.approx(1.0)
    assert cmp.training_mean.mae == pytest.approx(2.0)
    assert cmp.improvement().mae == pytest.approx(0.75)


def test_model_layout_and_horizon_major_output(csv_path):
    data = forecast.prepare(csv_path, targets=["temp", "wind"], window=6, horizon=3,
                            linear=False)
    set_random_seed(1)
    model = forecast.build_model(data.spec, units=5, layers=2)
    assert [type(l).__name__ for l in model.layers] == ["LSTM", "LSTM", "Dense"]
    assert model.layers[0].return_sequences and not model.layers[1].return_sequences
    assert model.input_batch_shape == (None, 6, 3)
    assert model.count_params() == 4 * (3 * 5 + 25 + 5) + 4 * (5 * 5 + 25 + 5) + 5 * 6 + 6
    flat = model.predict(data.test.x, verbose=0)  # (N, H·T)
    out = forecast.predict(model, data.test.x, data.spec)  # (N, H, T)
    np.testing.assert_array_equal(out[:, 2, 1], flat[:, 2 * 2 + 1])  # element h·T + t
    with pytest.raises(ConfigError, match="units must be a positive integer"):
        forecast.build_model(data.spec, units=0)


def _trained(csv_path, **kw):
    data = forecast.prepare(csv_path, targets=["temp"], window=5, horizon=2, **kw)
    set_random_seed(0)
    model = forecast.build_model(data.spec, units=4)
    forecast.train(model, data, epochs=2, verbose=0)
    return data, model


def test_forecaster_file_round_trip_and_forecast_dates(csv_path, tmp_path):
    data, model = _trained(csv_path)
    path = forecast.save_forecaster(forecast.Forecaster.from_data(model, data), tmp_path / "f.keras")
    fc = forecast.load_forecaster(path)
    assert fc.spec == data.spec
    np.testing.assert_array_equal(fc.scaler_x.mean, data.scaler_x.mean)
    np.testing.assert_array_equal(fc.scaler_y.scale, data.scaler_y.scale)
    with zipfile.ZipFile(path) as zf:  # the metadata is plain JSON beside Keras's members
        meta = json.loads(zf.read("unrolled.json"))[KEY]
    assert meta["spec"]["features"] == ["temp", "humidity", "wind"] and meta["output"] == "horizon-major"
    assert meta["training"]["blocks"]["train"] == [0, 112]

    result = forecast.forecast(path, csv_path)
    assert result.values.shape == (1, 2, 1) and result.values.dtype == np.float32
    assert result.last_input == ["2020-06-08"] and result.when == [["2020-06-09", "2020-06-10"]]
    np.testing.assert_array_equal(result.x[0], data.scaler_x.transform(
        numeric(series(160), data.spec.features)[-5:].astype(np.float32)))
    every = forecast.forecast(fc, csv_path, every_window=True)
    assert len(every.values) == 160 - 5 + 1
    # One window alone and the same window in a batch of 156 may run different kernels
    # (and BLAS blockings), so they agree to float32 rounding, not bit for bit.
    np.testing.assert_allclose(every.values[-1], result.values[0], rtol=1e-6, atol=1e-6)
    assert every.when[0] == ["2020-01-06", "2020-01-07"]


def test_forecast_tolerates_a_constant_column_in_a_short_file(csv_path, tmp_path):
    data, model = _trained(csv_path)
    fc = forecast.Forecaster.from_data(model, data)
    recent = {k: v[-5:] for k, v in series(160).items()}
    recent["wind"] = ["0"] * 5  # calm week: constant, but scaled with training statistics
    result = forecast.forecast(fc, write_csv(tmp_path / "recent.csv", recent))
    assert np.isfinite(result.values).all()


def test_forecast_without_a_time_column_numbers_rows(tmp_path):
    cols = {k: v for k, v in series(60).items() if k != "date"}
    path = write_csv(tmp_path / "rows.csv", cols)
    data = forecast.prepare(path, targets="temp", window=4, horizon=2, val_fraction=0.2,
                            test_fraction=0.2)
    assert data.spec.time_column is None
    model = forecast.build_model(data.spec, units=3)
    result = forecast.forecast(forecast.Forecaster.from_data(model, data), path)
    assert result.header == ["last_input", "step", "row", "temp"]
    assert result.last_input == ["60"] and result.when == [["61", "62"]]


def test_a_keras_file_without_forecast_metadata_is_refused(csv_path, tmp_path):
    from unrolled.models.saving import save_model

    _, model = _trained(csv_path)
    save_model(model, tmp_path / "plain.keras")
    with pytest.raises(ModelFileError, match="not a forecaster"):
        forecast.load_forecaster(tmp_path / "plain.keras")


def test_metadata_that_does_not_fit_the_model_is_refused(csv_path, tmp_path):
    from unrolled.models.saving import save_model

    data, model = _trained(csv_path)
    meta = forecast.Forecaster.from_data(model, data).metadata()
    meta["spec"]["window"] = 9
    save_model(model, tmp_path / "bad.keras", extra={KEY: meta})
    with pytest.raises(ModelFileError, match=r"ridge.kernel should be 27 rows of 2 numbers"):
        forecast.load_forecaster(tmp_path / "bad.keras")  # the linear path no longer fits
    meta["spec"]["linear"], meta["ridge"] = False, None
    save_model(model, tmp_path / "bad.keras", extra={KEY: meta})
    with pytest.raises(ModelFileError, match="does not match the model"):
        forecast.load_forecaster(tmp_path / "bad.keras")


def test_real_keras_loads_the_forecaster_and_agrees(csv_path, tmp_path):
    keras = require("keras")
    data, model = _trained(csv_path)
    path = forecast.save_forecaster(forecast.Forecaster.from_data(model, data), tmp_path / "k.keras")
    theirs = keras.saving.load_model(str(path))
    np.testing.assert_allclose(np.asarray(theirs.predict(data.test.x, verbose=0)),
                               model.predict(data.test.x, verbose=0), rtol=1e-5, atol=1e-6)


def test_table_input_keeps_units_for_reports():
    from unrolled.datasets import load_seattle_weather

    data = forecast.prepare(load_seattle_weather(), targets="temp_max", window=14)
    assert data.spec.units["temp_max"] == "°C"
    assert data.selection.ignored == {"weather": "text, e.g. 'drizzle': not a number"}
