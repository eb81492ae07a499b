"""`unrolled train / predict / evaluate` on small CSVs: every bad-data case names row and
column and leaves no file behind; train → predict reproduces model.predict exactly."""
from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from tests.forecast import numeric, series, write_csv
from unrolled.cli import main

FAST = ["--units", "4", "--epochs", "2", "--no-plot"]


def files(directory) -> set[str]:
    return set(os.listdir(directory))  # temporary files included: none may survive


def fails(capsys, argv, *messages) -> str:
    """Run the CLI, expect exit code 2 and every message (regex-free substrings) in stderr."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"unrolled {argv[0]}: error: "), err
    for message in messages:
        assert message in err, f"{message!r} not in {err!r}"
    return err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained by the CLI on series(160): (directory, csv path, model path)."""
    d = tmp_path_factory.mktemp("trained")
    data = write_csv(d / "data.csv", series(160))
    model = d / "model.keras"
    assert main(["train", str(data), "--target", "temp", "--target", "wind", "--window", "6",
                 "--horizon", "2", "--season", "0", *FAST, "-o", str(model)]) == 0
    return d, data, model


# -- train -------------------------------------------------------------------------------
def test_train_reports_used_and_ignored_columns_and_baselines(tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", series(160))
    out_file = tmp_path / "m.keras"
    assert main(["train", str(data), "--target", "temp", "--window", "5", *FAST,
                 "-o", str(out_file)]) == 0
    out = capsys.readouterr().out
    assert "inputs  (3): temp, humidity, wind" in out
    assert "ignored 'sky': text, e.g. 'sun': not a number" in out
    assert "ignored 'idx': a row counter (0..n-1 or 1..n), not a measurement" in out
    assert "ignored 'station': constant (every value is 7.0)" in out
    assert "time axis: date" in out
    assert "persistence" in out and "training mean" in out and "ridge" in out
    assert "target transform: level" in out and "time steps: daily rows" in out
    assert "the best baseline" in out and "95 %" in out
    assert "Where the parameters come from" in out
    assert out_file.exists() and files(tmp_path) == {"d.csv", "m.keras"}


def _bad_train(tmp_path, capsys, columns, *messages, extra=()):
    data = write_csv(tmp_path / "bad.csv", columns)
    before = files(tmp_path)
    err = fails(capsys, ["train", data, "--target", "temp", "--window", "5", *FAST,
                         *extra, "-o", tmp_path / "m.keras"], *messages)
    assert files(tmp_path) == before  # no model file, no temporary file
    return err


def test_train_missing_column_lists_the_available_ones(tmp_path, capsys):
    _bad_train(tmp_path, capsys, series(160), "column 'tmep' not found",
               "Available columns: date, temp, humidity, wind, sky, idx, station",
               "Did you mean 'temp'?", extra=["--target", "tmep"])


def test_train_non_numeric_cell_names_row_and_column(tmp_path, capsys):
    cols = series(160)
    cols["temp"][41] = "n/a?"
    _bad_train(tmp_path, capsys, cols, "column 'temp'", "is numeric but 1 cell(s) are not numbers",
               "'n/a?' at data row 42 (file line 43", "--missing")


def test_explicit_text_feature_is_an_error(tmp_path, capsys):
    _bad_train(tmp_path, capsys, series(160), "column 'sky'", "is not numeric", "'sun'",
               extra=["--features", "temp,sky"])


def test_train_empty_cells_say_where_and_offer_fill(tmp_path, capsys):
    cols = series(160)
    cols["humidity"][9] = ""
    cols["humidity"][20] = "NaN"
    err = _bad_train(tmp_path, capsys, cols, "'humidity': 2 empty cell(s) at data rows 10, 21",
                     "--fill ffill", "--fill interpolate", "--fill drop")
    assert "fill='" not in err  # the CLI spelling, not the Python one


def test_train_fill_interpolate_accepts_empty_cells(tmp_path, capsys):
    cols = series(160)
    cols["humidity"][9] = ""
    data = write_csv(tmp_path / "gaps.csv", cols)
    assert main(["train", str(data), "--target", "temp", "--window", "5", *FAST,
                 "--fill", "interpolate", "-o", str(tmp_path / "m.keras")]) == 0
    assert "filled 1 empty cell(s) in 'humidity'" in capsys.readouterr().out


def test_train_series_shorter_than_window_plus_horizon(tmp_path, capsys):
    _bad_train(tmp_path, capsys, series(12), "too short", "has 12 rows",
               "window 10 + horizon 3 = 13", extra=["--window", "10", "--horizon", "3"])


def test_train_constant_column(tmp_path, capsys):
    _bad_train(tmp_path, capsys, series(160), "column 'station'", "is constant",
               "every value is 7.0", extra=["--features", "temp,station"])


def test_train_unsorted_timestamps(tmp_path, capsys):
    cols = series(160)
    cols["date"][30], cols["date"][31] = cols["date"][31], cols["date"][30]
    _bad_train(tmp_path, capsys, cols, "time column 'date'", "goes backwards",
               "2020-01-31", "data row 32", "sort the rows by 'date'")


def test_train_duplicate_timestamps(tmp_path, capsys):
    cols = series(160)
    cols["date"][51] = cols["date"][50]
    _bad_train(tmp_path, capsys, cols, "time column 'date'", "repeats 2020-02-20",
               "data rows 51, 52")


def test_train_refuses_a_bad_output_name_before_training(tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", series(160))
    fails(capsys, ["train", data, "--target", "temp", "--window", "5", "-o", tmp_path / "m.h5"],
          "must end in '.keras'")
    fails(capsys, ["train", data, "--target", "temp", "--window", "5",
                   "-o", tmp_path / "nowhere" / "m.keras"], "does not exist")
    assert files(tmp_path) == {"d.csv"}


def test_train_rejects_bad_numbers_at_parse_time(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "x.csv", "--target", "t", "--window", "0", "-o", "m.keras"])
    assert exc.value.code == 2
    assert "expected a positive integer, got 0" in capsys.readouterr().err


# -- predict -----------------------------------------------------------------------------
def _expected(model_path, data_path, window):
    """model.predict on hand-made windows, with the file's own model (linear path
    included), scaling and target transform (see model_file's docstring)."""
    from unrolled.data import Standardizer
    from unrolled.models.saving import load_model, read_extra

    meta = read_extra(model_path)["unrolled_forecast"]
    spec = meta["spec"]
    sx = Standardizer.from_config(meta["scaler_x"])
    sz = Standardizer.from_config(meta["scaler_z"])
    cols = {}
    with open(data_path, newline="") as f:
        for row in csv.DictReader(f):
            for k, v in row.items():
                cols.setdefault(k, []).append(v)
    raw = numeric(cols, spec["features"])
    X = sx.transform(raw.astype(np.float32))
    x = np.stack([X[i:i + window] for i in range(len(X) - window + 1)])  # (N, W, F)
    net = load_model(model_path)
    assert spec["linear"] and [l.name for l in net.layers][-1] == "forecast_sum"
    z = net.predict(x, verbose=0).astype(np.float64)  # (N, H·T), the linear path inside
    y = sz.inverse_transform(z).reshape(len(x), spec["horizon"], -1)
    if spec["transform"] == "diff":
        last = raw[window - 1:, [spec["features"].index(t) for t in spec["targets"]]]
        y = y + last[:, None, :]
    return y.astype(np.float32)


def test_train_then_predict_reproduces_model_predict_exactly(trained, capsys):
    d, data, model = trained
    out_csv = d / "all.csv"
    capsys.readouterr()
    assert main(["predict", str(model), str(data), "--all", "-o", str(out_csv)]) == 0
    assert "Wrote 310 forecast row(s) of temp, wind for 155 window(s)" in capsys.readouterr().out
    with open(out_csv, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["last_input", "step", "date", "temp", "wind", "temp_lower90",
                       "temp_upper90", "wind_lower90", "wind_upper90"]
    got = np.array([[float(r[3]), float(r[4])] for r in rows[1:]],
                   dtype=np.float32).reshape(155, 2, 2)
    expected = _expected(model, data, window=6)  # float32
    assert expected.dtype == np.float32
    np.testing.assert_array_equal(got, expected)  # bit for bit, via the CSV's text
    assert rows[1][:3] == ["2020-01-06", "1", "2020-01-07"]
    assert rows[-1][:3] == ["2020-06-08", "2", "2020-06-10"]  # past the end: +1 day steps


def test_predict_prints_the_last_window_by_default(trained, capsys):
    d, data, model = trained
    capsys.readouterr()
    assert main(["predict", str(model), str(data)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("last_input,step,date,temp,wind,temp_lower90,")
    assert [l.split(",")[:3] for l in lines[1:]] == [["2020-06-08", "1", "2020-06-09"],
                                                     ["2020-06-08", "2", "2020-06-10"]]
    expected = _expected(model, data, window=6)[-1]  # (H, T)
    got = np.array([[float(v) for v in l.split(",")[3:5]] for l in lines[1:]], dtype=np.float32)
    np.testing.assert_array_equal(got, expected)


def test_predict_needs_only_the_input_columns_in_any_order(trained, tmp_path, capsys):
    _, data, model = trained
    cols = series(160)
    subset = {k: cols[k][-6:] for k in ("wind", "date", "humidity", "temp")}
    recent = write_csv(tmp_path / "recent.csv", subset)
    capsys.readouterr()
    assert main(["predict", str(model), str(recent)]) == 0
    by_file = capsys.readouterr().out
    assert main(["predict", str(model), str(data)]) == 0
    assert by_file == capsys.readouterr().out


def _bad_predict(tmp_path, capsys, model, data, *messages):
    out_csv = tmp_path / "out.csv"
    before = files(tmp_path)
    fails(capsys, ["predict", model, data, "-o", out_csv], *messages)
    assert not out_csv.exists() and files(tmp_path) == before


def test_predict_missing_column_lists_available(trained, tmp_path, capsys):
    _, _, model = trained
    cols = {k: v for k, v in series(160).items() if k != "humidity"}
    data = write_csv(tmp_path / "nohum.csv", cols)
    _bad_predict(tmp_path, capsys, model, data, "column 'humidity' not found",
                 "Available columns: date, temp, wind, sky, idx, station")


def test_predict_non_numeric_and_empty_cells(trained, tmp_path, capsys):
    _, _, model = trained
    cols = series(160)
    cols["wind"][150] = "calm"
    _bad_predict(tmp_path, capsys, model, write_csv(tmp_path / "text.csv", cols),
                 "column 'wind'", "1 cell(s) are not numbers", "'calm' at data row 151")
    cols = series(160)
    cols["temp"][157] = ""
    _bad_predict(tmp_path, capsys, model, write_csv(tmp_path / "gap.csv", cols),
                 "'temp': 1 empty cell(s) at data row 158", "--fill")


def test_predict_too_few_rows_and_unsorted_time(trained, tmp_path, capsys):
    _, _, model = trained
    cols = {k: v[:5] for k, v in series(160).items()}
    _bad_predict(tmp_path, capsys, model, write_csv(tmp_path / "five.csv", cols),
                 "has 5 rows but the model reads windows of 6 rows")
    cols = series(160)
    cols["date"][100] = cols["date"][99]
    _bad_predict(tmp_path, capsys, model, write_csv(tmp_path / "dup.csv", cols),
                 "time column 'date'", "repeats")


def test_a_model_file_that_is_not_a_model(trained, tmp_path, capsys):
    _, data, model = trained
    _bad_predict(tmp_path, capsys, data, data, "unrolled predict: error:")  # a CSV as model
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    _bad_predict(tmp_path, capsys, junk, data, str(junk))
    _bad_predict(tmp_path, capsys, tmp_path / "missing.keras", data, "model file not found")
    fails(capsys, ["evaluate", junk, data], str(junk))


def test_a_keras_model_without_forecast_metadata(trained, tmp_path, capsys):
    from unrolled.models.saving import load_model, save_model

    _, data, model = trained
    plain = tmp_path / "plain.keras"
    save_model(load_model(model), plain)
    _bad_predict(tmp_path, capsys, plain, data, "is a Keras model but not a forecaster",
                 "unrolled train")


# -- evaluate ----------------------------------------------------------------------------
def test_evaluate_prints_scores_beside_both_baselines(trained, capsys):
    _, data, model = trained
    capsys.readouterr()
    assert main(["evaluate", str(model), str(data)]) == 0
    out = capsys.readouterr().out
    assert "153 windows of 6 rows, forecasting temp, wind 1..2 steps ahead" in out
    # Persistence's MAE, computed here independently of unrolled.
    raw = numeric(series(160), ["temp", "wind"])
    truth = np.stack([raw[6 + h: 6 + h + 153] for h in range(2)], axis=1)  # (153, 2, 2)
    last = raw[5:5 + 153][:, None, :]
    line = next(l for l in out.splitlines() if l.strip().startswith("persistence"))
    assert float(line.split()[1]) == pytest.approx(np.abs(truth - last).mean(), abs=5e-4)
    assert "training mean" in out and "ridge" in out and "model MAE" in out
    assert "MAE by step" in out and "90 % intervals: the truth fell inside" in out
    assert "  temp:" in out and "  wind:" in out  # one table per target
