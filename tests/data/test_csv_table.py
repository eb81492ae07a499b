"""Reading CSV files and DataFrames into a TimeSeriesTable, and the errors on bad files."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from tests.peers import require

from unrolled.data import from_frame, read_csv, set_time_column
from unrolled.errors import DataError


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


MIXED = """\
,date,temp,label,when,blank,station
0,2020-01-01,1.5,sun,2019/12/31,,7
1,2020-01-02,,rain,2020/01/01,,7
2,2020-01-03,2.5,sun,2020/01/02,,7
"""


def test_columns_are_classified(tmp_path):
    t = read_csv(write(tmp_path, MIXED))
    assert t.kinds == {"unnamed_1": "row counter", "date": "date", "temp": "numeric",
                       "label": "text", "when": "date", "blank": "empty", "station": "numeric"}
    assert t.time_column == "date"  # the first date column
    assert t.columns == ["unnamed_1", "temp", "station"]
    assert t.values.dtype == np.float64 and t.values.shape == (3, 3)
    np.testing.assert_array_equal(t.column("temp"), [1.5, np.nan, 2.5])
    assert t.time.dtype == np.dtype("datetime64[D]")
    assert list(t.text) == ["label", "when", "blank"]
    assert list(t.text["label"]) == ["sun", "rain", "sun"]
    assert t.source_columns == ["unnamed_1", "date", "temp", "label", "when", "blank", "station"]
    np.testing.assert_array_equal(t.row_numbers, [1, 2, 3])
    np.testing.assert_array_equal(t.line_numbers, [2, 3, 4])
    assert len(t) == 3


def test_date_formats_and_times_of_day(tmp_path):
    t = read_csv(write(tmp_path, "t,x\n2021/3/4,1\n2021/03/05,2\n"))
    np.testing.assert_array_equal(t.time, np.array(["2021-03-04", "2021-03-05"], "datetime64[D]"))
    t = read_csv(write(tmp_path, "t,x\n2021-03-04 10:30,1\n2021-03-04T11:00:15,2\n"))
    assert t.time.dtype == np.dtype("datetime64[s]")
    assert t.time[1] == np.datetime64("2021-03-04T11:00:15")
    t = read_csv(write(tmp_path, "t,x\n2021-03-04 00:00:00,1\n2021-03-05 00:00:00,2\n"))
    assert t.time.dtype == np.dtype("datetime64[D]")  # midnight everywhere: daily data
    t = read_csv(write(tmp_path, "t,x\n03/04/2021,1\n2021-02-30,2\n"))
    assert t.time_column is None and t.kinds["t"] == "text"  # month-first / impossible: not dates


def test_blank_lines_bom_and_file_objects(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffa,b\n1,2\n\n3,4\n\n".encode("utf-8"))
    t = read_csv(path, time_column=None)
    assert t.columns == ["a", "b"]
    np.testing.assert_array_equal(t.line_numbers, [2, 4])  # the blank line 3 is skipped
    t = read_csv(io.StringIO("x;y\n1;2\n3;5\n"), delimiter=";")
    assert t.columns == ["x", "y"] and t.source == "<file>"


def test_numeric_time_column_and_no_time_column(tmp_path):
    path = write(tmp_path, "year,value,date\n1990,3,2000-01-01\n1991,4,2000-01-02\n1993,2,2000-01-03\n")
    t = read_csv(path, time_column="year")
    assert t.time.dtype == np.int64 and list(t.time) == [1990, 1991, 1993]
    assert t.columns == ["value"] and t.kinds["date"] == "date"
    t = read_csv(path, time_column=None)
    assert t.time is None and t.columns == ["year", "value"]
    back = set_time_column(t, "date")
    assert back.time_column == "date" and back.columns == ["year", "value"]
    assert set_time_column(back, None).time is None


@pytest.mark.parametrize("text, pattern", [
    ("", "is empty: expected a header row"),
    ("a,b\n", "has a header but no data rows"),
    ("a,b\n1,2\n3,4,5\n", r"data row 2 \(file line 3; header is line 1\) has 3 cells but the header has 2 columns.*quoted"),
    ("a,b,a\n1,2,3\n", "column names must be unique; repeated: a"),
    ("a;b;c\n1;2;3\n", "seems to use ';' as separator: pass --delimiter ';' \\(delimiter=';'"),
])
def test_bad_files_are_explained(tmp_path, text, pattern):
    with pytest.raises(DataError, match=pattern):
        read_csv(write(tmp_path, text))


def test_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="CSV file not found: .*nope.csv"):
        read_csv(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a directory"):
        read_csv(tmp_path)
    path = tmp_path / "latin1.csv"
    path.write_bytes("a,b\n1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8 text.*save it as 'CSV UTF-8'"):
        read_csv(path)


def test_bad_time_column(tmp_path):
    path = write(tmp_path, "day,label,x\n2020-01-01,a,1\n2020-01-02,b,2\n")
    with pytest.raises(DataError, match=r"column 'dya' not found.*Available columns: day, label, x\. "
                                        r"Did you mean 'day'\?"):
        read_csv(path, time_column="dya")
    with pytest.raises(DataError, match=r"time column 'label' .* neither dates nor numbers: data row 1 "
                                        r"\(file line 2; header is line 1\) holds 'a'.*YYYY-MM-DD"):
        read_csv(path, time_column="label")


def test_dataframe_matches_csv(tmp_path):
    pd = require("pandas")
    path = write(tmp_path, "date,temp,label\n2020-01-01,1.5,sun\n2020-01-02,,NA\n2020-01-03,2.5,fog\n")
    frame = pd.read_csv(path, parse_dates=["date"], keep_default_na=False,
                        na_values={"temp": [""]})
    a, b = read_csv(path), from_frame(frame)
    assert a.columns == b.columns and a.kinds == b.kinds and a.time_column == b.time_column
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.time, b.time)
    np.testing.assert_array_equal(a.text["label"], b.text["label"])
    assert b.line_numbers is None and b.source == "<DataFrame>"
    assert b.describe_rows([1]) == "data row 2 (0-based position 1)"
    assert a.describe_rows([0, 2]) == "data rows 1, 3 (file lines 2, 4; header is line 1)"


def test_dataframe_object_columns_go_through_cell_rules():
    pd = require("pandas")
    frame = pd.DataFrame({"when": ["2020-01-01", "2020-01-02"], "n": ["1", "2.5"],
                          "i": pd.array([1, None], dtype="Int64")})
    t = from_frame(frame)
    assert t.time_column == "when" and t.kinds["n"] == "numeric"
    np.testing.assert_array_equal(t.column("i"), [1.0, np.nan])


def test_table_built_from_arrays():
    from unrolled.data import TimeSeriesTable
    from unrolled.errors import ConfigError

    time = np.array(["2020-01-01", "2020-01-02"], "datetime64[D]")
    t = TimeSeriesTable(["a"], np.array([[1.0], [2.0]]), time=time, time_column="day",
                        text={"note": np.array(["x", "y"])})
    assert t.kinds == {"day": "date", "a": "numeric", "note": "text"}
    assert t.describe_rows([1]) == "data row 2 (0-based position 1)"
    with pytest.raises(ConfigError, match=r"values must be \(time, 2\)"):
        TimeSeriesTable(["a", "b"], np.zeros((3, 1)))
    with pytest.raises(ConfigError, match="'note' has 1 rows, values has 2"):
        TimeSeriesTable(["a"], np.zeros((2, 1)), text={"note": np.array(["x"])})
    with pytest.raises(ConfigError, match="time and time_column together"):
        TimeSeriesTable(["a"], np.zeros((2, 1)), time=time)
