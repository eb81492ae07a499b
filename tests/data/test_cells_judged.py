"""Columns are judged by their cells: a few unreadable cells stop with those cells and the
option that reads them; only genuinely text columns are ignored; dates likewise; gaps in
a regular time axis are reported; nothing beyond float32 reaches the model."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from tests.forecast import series, write_csv
from unrolled.cli import main
from unrolled.data import read_csv, select_columns
from unrolled.data.parsing import CellFormat, classify, parse_number
from unrolled.errors import DataError, DataWarning

FAST = ["--units", "2", "--epochs", "1"]


def _train(tmp_path, columns, *extra, text=None):
    data = tmp_path / "d.csv"
    if text is None:
        write_csv(data, columns)
    else:
        data.write_text(text, encoding="utf-8")
    return main(["train", str(data), "--target", "temp", "--window", "4", *FAST,
                 "-o", str(tmp_path / "m.keras"), *extra])


def _expect_exit_2(tmp_path, capsys, columns, *messages, extra=(), text=None):
    assert _train(tmp_path, columns, *extra, text=text) == 2
    err = capsys.readouterr().err
    assert err.startswith("unrolled train: error: "), err
    for m in messages:
        assert m in err, f"{m!r} not in {err!r}"
    assert not (tmp_path / "m.keras").exists()
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")] == []
    return err


# -- numbers --------------------------------------------------------------------------
@pytest.mark.parametrize("cell, fmt, value", [
    ("1_000", CellFormat(), None), ("1_000", CellFormat(thousands=","), None),
    ("1,000", CellFormat(), None), ("1,000", CellFormat(thousands=","), 1000.0),
    ("1,00", CellFormat(thousands=","), None), ("12,345,678.5", CellFormat(thousands=","), 12345678.5),
    ("4,7", CellFormat(), None), ("4,7", CellFormat(decimal=","), 4.7),
    ("4.7", CellFormat(decimal=","), None), ("1.234,5", CellFormat(decimal=",", thousands="."), 1234.5),
    (" -3.5e2 ", CellFormat(), -350.0), ("0x10", CellFormat(), None),
])
def test_numbers_are_read_strictly(cell, fmt, value):
    assert parse_number(cell, fmt) == value


def test_a_mostly_numeric_column_keeps_its_kind_and_names_its_bad_cells():
    kind, values, bad = classify(["1.5", "?", "2", "", "3"])
    assert kind == "numeric" and bad == [1] and np.isnan(values[1]) and values[4] == 3
    assert classify(["sun", "rain", "4.7"])[0] == "text"


def test_question_mark_in_a_feature_stops_train_with_the_cell(tmp_path, capsys):
    cols = series(60)
    cols["wind"][11] = "?"
    err = _expect_exit_2(tmp_path, capsys, cols, "column 'wind'",
                         "'?' at data row 12 (file line 13", "--missing")
    assert "ignored 'wind'" not in err
    assert _train(tmp_path, cols, "--missing", "?", "--fill", "interpolate") == 0
    out = capsys.readouterr().out
    assert "inputs  (3): temp, humidity, wind" in out and "filled 1 empty cell(s) in 'wind'" in out


def test_decimal_comma_and_thousands_cells_name_the_option(tmp_path, capsys):
    cols = series(60)
    cols["wind"][5] = '"4,7"'
    _expect_exit_2(tmp_path, capsys, cols, "'4,7' at data row 6 (file line 7", "--decimal ,",
                   "--delimiter ';'")
    cols = series(60)
    cols["humidity"] = [f'"{float(v) * 1000:,.1f}"' for v in cols["humidity"]]
    cols["humidity"][0] = "61234.5"
    _expect_exit_2(tmp_path, capsys, cols, "column 'humidity'", "--thousands ,")
    assert _train(tmp_path, cols, "--thousands", ",") == 0
    assert "inputs  (3): temp, humidity, wind" in capsys.readouterr().out


def test_semicolon_file_with_decimal_commas_reads_with_the_options(tmp_path, capsys):
    cols = series(60)
    rows = [";".join(cols)] + [";".join(cols[c][i].replace(".", ",") for c in cols)
                               for i in range(60)]
    text = "\n".join(rows) + "\n"
    _expect_exit_2(tmp_path, capsys, None, "pass --delimiter ';'", text=text)
    assert _train(tmp_path, None, "--delimiter", ";", "--decimal", ",", text=text) == 0
    assert "inputs  (3): temp, humidity, wind" in capsys.readouterr().out
    assert _train(tmp_path, None, "--decimal", ",", text=text) == 2
    assert "--decimal , needs another cell separator" in capsys.readouterr().err


def test_underscore_is_not_a_digit_separator(tmp_path, capsys):
    cols = series(60)
    cols["humidity"][3] = "1_000"
    _expect_exit_2(tmp_path, capsys, cols, "'1_000' at data row 4", "write 1000, not 1_000")


def test_a_text_column_is_ignored_quoting_an_actual_text_cell(tmp_path):
    cols = series(60)
    cols["sky"][0] = "4.7"          # a number among labels: still a label column
    path = write_csv(tmp_path / "d.csv", cols)
    _, _, info = select_columns(path, targets="temp")
    assert info.ignored["sky"] == "text, e.g. 'rain': not a number"


# -- dates ----------------------------------------------------------------------------
def test_a_malformed_date_stops_naming_it(tmp_path, capsys):
    cols = series(60)
    cols["date"][30] = "2020/02/30"
    cols["date"][40] = "03/04/2020"
    _expect_exit_2(tmp_path, capsys, cols, "time column 'date'", "2 cell(s) that are not dates",
                   "'2020/02/30' at data row 31 (file line 32", "'03/04/2020' at data row 41",
                   "--date-format")


def test_month_first_dates_are_named_and_read_with_date_format(tmp_path, capsys):
    cols = series(60)
    cols["date"] = [f"{d[5:7]}/{d[8:10]}/{d[:4]}" for d in cols["date"]]
    path = write_csv(tmp_path / "d.csv", cols)
    _, _, info = select_columns(path, targets="temp")
    assert info.time_column is None and "--date-format" in info.ignored["date"]
    assert _train(tmp_path, cols, "--date-format", "%m/%d/%Y") == 0
    assert "time axis: date" in capsys.readouterr().out


def test_a_gap_in_daily_dates_is_a_warning_or_an_error_under_strict(tmp_path, capsys):
    cols = series(70)
    cols = {k: v[:30] + v[40:] for k, v in cols.items()}   # 10 days missing
    path = write_csv(tmp_path / "d.csv", cols)
    with pytest.warns(DataWarning, match=r"steps by 1 days but skips from 2020-01-30 to "
                                         r"2020-02-10 \(data rows 30, 31.*about 10 row"):
        select_columns(path, targets="temp")
    assert _train(tmp_path, cols) == 0
    err = capsys.readouterr().err
    assert "unrolled train: warning: time column 'date'" in err and "--strict" in err
    os.remove(tmp_path / "m.keras")
    _expect_exit_2(tmp_path, capsys, cols, "skips from 2020-01-30", "(--strict)",
                   extra=["--strict"])


def test_no_gap_warning_for_a_complete_or_irregular_axis(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        select_columns(write_csv(tmp_path / "d.csv", series(60)), targets="temp")
        cols = series(70)
        keep = [i for i in range(70) if i % 7 not in (5, 6)]   # business days
        select_columns(write_csv(tmp_path / "b.csv", {k: [v[i] for i in keep]
                                                      for k, v in cols.items()}), targets="temp")


# -- float32 range: train, predict and evaluate alike ----------------------------------
def test_values_beyond_float32_are_refused_everywhere(tmp_path, capsys):
    cols = series(60)
    assert _train(tmp_path, cols) == 0
    capsys.readouterr()
    model = tmp_path / "m.keras"
    cols["humidity"][57] = "1e300"
    bad = write_csv(tmp_path / "bad.csv", cols)
    for argv in (["predict", str(model), str(bad)], ["evaluate", str(model), str(bad)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"unrolled {argv[0]}: error: column 'humidity'" in err
        assert "holds 1e+300 at data row 58" in err and "beyond float32's range" in err
    os.remove(model)
    _expect_exit_2(tmp_path, capsys, cols, "holds 1e+300 at data row 58", "float32")


def test_read_csv_refuses_a_bad_delimiter():
    from unrolled.errors import ConfigError
    with pytest.raises(ConfigError, match="one character"):
        read_csv("x.csv", delimiter=";;")


def test_bad_cells_survive_a_change_of_time_column(tmp_path):
    cols = series(60)
    cols["wind"][2] = "calm?"
    path = write_csv(tmp_path / "d.csv", cols)
    with pytest.raises(DataError, match="'calm\\?' at data row 3"):
        select_columns(path, targets="temp", time_column="idx")


def test_predict_and_evaluate_read_cells_with_the_same_options(tmp_path, capsys):
    cols = series(60)
    assert _train(tmp_path, cols) == 0
    model = tmp_path / "m.keras"
    cols["wind"][55] = "?"
    path = write_csv(tmp_path / "new.csv", cols)
    for command in ("predict", "evaluate"):
        capsys.readouterr()
        assert main([command, str(model), str(path)]) == 2
        err = capsys.readouterr().err
        assert f"unrolled {command}: error: column 'wind'" in err
        assert "'?' at data row 56 (file line 57" in err and "--missing" in err
        assert main([command, str(model), str(path), "--missing", "?"]) == 2
        assert "--fill interpolate" in capsys.readouterr().err
        assert main([command, str(model), str(path), "--missing", "?", "--fill", "ffill"]) == 0
