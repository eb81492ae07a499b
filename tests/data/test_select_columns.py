"""select_columns: what is used, what is ignored and why, and every bad-data message."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.peers import require

from unrolled.data import fill_gaps, read_csv, select_columns
from unrolled.errors import ConfigError, DataError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """\
idx,date,temp,wind,label,site,created
0,2020-01-01,1.0,5.0,sun,3,2019-01-01
1,2020-01-02,2.0,4.0,rain,3,2019-01-01
2,2020-01-03,4.0,6.0,sun,3,2019-01-01
3,2020-01-04,3.0,7.0,fog,3,2019-01-01
"""


def test_automatic_features_explain_what_was_left_out(tmp_path):
    X, Y, info = select_columns(write(tmp_path, GOOD), targets="temp")
    assert info.features == ["temp", "wind"] and info.targets == ["temp"]
    assert info.time_column == "date"
    assert info.ignored == {
        "idx": "a row counter (0..n-1 or 1..n), not a measurement",
        "label": "text, e.g. 'sun': not a number",
        "site": "constant (every value is 3.0)",
        "created": "a date column that is not the time axis",
    }
    np.testing.assert_array_equal(X, [[1, 5], [2, 4], [4, 6], [3, 7]])
    np.testing.assert_array_equal(Y, [[1], [2], [4], [3]])
    assert X.dtype == np.float64 and info.target_in_features == [0]
    assert info.time[0] == np.datetime64("2020-01-01")
    summary = info.summary()
    assert "inputs  (2): temp, wind" in summary and "ignored 'label': text" in summary


def test_explicit_features_are_used_as_given(tmp_path):
    X, Y, info = select_columns(write(tmp_path, GOOD), targets=["temp"], features=["wind", "idx"],
                                dtype=np.float32)
    assert info.features == ["wind", "idx"] and info.ignored == {}
    assert info.target_in_features == [None]
    assert X.dtype == np.float32 and Y.dtype == np.float32
    np.testing.assert_array_equal(X[:, 1], [0, 1, 2, 3])


def test_targets_stay_inputs_even_when_automatic_rules_would_drop_them(tmp_path):
    _, _, info = select_columns(write(tmp_path, GOOD), targets=["wind", "idx"])
    assert info.features == ["idx", "temp", "wind"] and "idx" not in info.ignored


def test_missing_column_lists_the_available_ones(tmp_path):
    with pytest.raises(DataError, match=r"column 'tmp' not found in .*data\.csv\. Available columns: "
                                        r"idx, date, temp, wind, label, site, created\. Did you mean 'temp'\?"):
        select_columns(write(tmp_path, GOOD), targets="tmp")
    with pytest.raises(DataError, match="column 'gust' not found"):
        select_columns(write(tmp_path, GOOD), targets="temp", features=["wind", "gust"])


def test_named_non_numeric_column_shows_the_offending_cell(tmp_path):
    path = write(tmp_path, "date,temp,rain\n2020-01-01,1,0.5\n2020-01-02,2,0.4\n2020-01-03,3,\"1,5\"\n")
    with pytest.raises(DataError, match=r"column 'rain' in .* is numeric but 1 cell\(s\) are not "
                                        r"numbers: '1,5' at data row 3 \(file line 4; header is "
                                        r"line 1\)\. A feature must be a number.*Hint: for decimal "
                                        r"commas pass --decimal ,"):
        select_columns(path, targets="temp", features=["temp", "rain"])
    with pytest.raises(DataError, match=r"column 'label' .*not numeric.*data row 1 .*holds 'sun'"
                                        r".*A target must.*Hint: encode labels as numbers"):
        select_columns(write(tmp_path, GOOD), targets="label")
    with pytest.raises(DataError, match=r"'date' is the time column.*cannot be a target"):
        select_columns(write(tmp_path, GOOD), targets="date")


def test_empty_cells_are_reported_with_rows_and_fills(tmp_path):
    path = write(tmp_path, "date,a,b\n2020-01-01,1,10\n2020-01-02,,20\n2020-01-03,3,\n"
                           "2020-01-04,,40\n2020-01-05,5,50\n")
    with pytest.raises(DataError) as err:
        select_columns(path, targets="a")
    message = str(err.value)
    assert "'a': 2 empty cell(s) at data rows 2, 4 (file lines 3, 5; header is line 1)" in message
    assert "'b': 1 empty cell(s) at data row 3 (file line 4; header is line 1)" in message
    for fill in ("fill='ffill'", "fill='interpolate'", "fill='drop'"):
        assert fill in message


def test_the_three_fills(tmp_path):
    # Irregular dates: interpolation follows time, not row count.
    path = write(tmp_path, "date,a,b\n2020-01-01,,10\n2020-01-02,2,20\n2020-01-03,,30\n"
                           "2020-01-06,8,40\n2020-01-07,,50\n")
    X, _, info = select_columns(path, targets="b", features=["a"], fill="ffill")
    np.testing.assert_array_equal(X[:, 0], [2, 2, 2, 8, 8])
    assert info.filled == {"a": 3}
    X, _, _ = select_columns(path, targets="b", features=["a"], fill="interpolate")
    np.testing.assert_array_equal(X[:, 0], [2, 2, 3.5, 8, 8])  # 2 + (8-2) * 1/4 on Jan 3
    X, Y, info = select_columns(path, targets="b", features=["a"], fill="drop")
    np.testing.assert_array_equal(X[:, 0], [2, 8])
    np.testing.assert_array_equal(Y[:, 0], [20, 40])
    assert info.dropped_rows == [1, 3, 5] and "dropped 3 row(s)" in info.summary()
    np.testing.assert_array_equal(info.time, np.array(["2020-01-02", "2020-01-06"], "datetime64[D]"))
    np.testing.assert_array_equal(fill_gaps(np.array([np.nan, 1, np.nan, 3]), "interpolate"),
                                  [1, 1, 2, 3])


def test_errors_after_dropping_rows_still_name_the_original_rows(tmp_path):
    path = write(tmp_path, "date,a\n2020-01-01,\n2020-01-02,1\n2020-01-03,1\n")
    with pytest.raises(DataError, match="column 'a' .* is constant"):
        select_columns(path, targets="a", fill="drop")
    path = write(tmp_path, "date,a,b\n2020-01-01,,1\n2020-01-02,1,inf\n2020-01-03,2,3\n")
    with pytest.raises(DataError, match=r"'b' .* infinite value at data row 2 \(file line 3"):
        select_columns(path, targets="a", fill="drop")


def test_constant_named_column_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"column 'site' in .* is constant \(every value is 3\.0\).*"
                                        "cannot be standardised"):
        select_columns(write(tmp_path, GOOD), targets="temp", features=["temp", "site"])


@pytest.mark.parametrize("dates, pattern", [
    (["2020-01-01", "2020-01-02", "2020-01-02", "2020-01-03"],
     r"time column 'date' .* repeats 2020-01-02 at data rows 2, 3 \(file lines 3, 4;.*one row per time step"),
    (["2020-01-01", "2020-01-03", "2020-01-02", "2020-01-04"],
     r"goes backwards: 2020-01-02 at data row 3 \(file line 4;.* comes after 2020-01-03.*sort the rows by 'date'"),
    (["2020-01-04", "2020-01-03", "2020-01-02", "2020-01-01"], "newest-first: reverse the file"),
    (["2020-01-01", "", "2020-01-03", "2020-01-04"],
     r"time column 'date' .* is empty at data row 2 \(file line 3"),
])
def test_time_axis_problems_name_the_rows(tmp_path, dates, pattern):
    rows = "".join(f"{d},{v}\n" for d, v in zip(dates, [1.0, 2.0, 4.0, 3.0]))
    with pytest.raises(DataError, match=pattern):
        select_columns(write(tmp_path, "date,x\n" + rows), targets="x")


def test_time_column_override(tmp_path):
    path = write(tmp_path, "step,date,x\n10,2020-01-02,1\n20,2020-01-01,2\n30,2020-01-03,4\n")
    with pytest.raises(DataError, match="goes backwards"):
        select_columns(path, targets="x")
    X, _, info = select_columns(path, targets="x", time_column="step")
    assert info.time_column == "step" and list(info.time) == [10, 20, 30]
    assert info.ignored == {"date": "a date column that is not the time axis"}


def test_argument_errors_are_config_errors(tmp_path):
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigError, match="fill must be None or one of"):
        select_columns(path, targets="temp", fill="mean")
    with pytest.raises(ConfigError, match="targets is empty"):
        select_columns(path, targets=[])
    with pytest.raises(ConfigError, match="features lists a column twice"):
        select_columns(path, targets="temp", features=["wind", "wind"])
    with pytest.raises(ConfigError, match="expected a CSV path, a DataFrame or a TimeSeriesTable"):
        select_columns(np.zeros((3, 2)), targets="temp")


def test_accepts_tables_and_dataframes(tmp_path):
    path = write(tmp_path, GOOD)
    X1, Y1, _ = select_columns(read_csv(path), targets="temp")
    pd = require("pandas")
    X2, Y2, info = select_columns(pd.read_csv(path), targets="temp")
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(Y1, Y2)
    assert info.source == "<DataFrame>"
