"""Time-axis detection: frequencies and their seasons, gaps, year-months, quarters,
integer years, and the calendar encoding."""
from __future__ import annotations

import numpy as np
import pytest

from unrolled.data import from_frame
from unrolled.data.time_axis import (calendar_features, detect_time_axis, extend, frequency,
                                     parse_periods)


def days(start: str, n: int, step: int = 1) -> np.ndarray:
    return np.datetime64(start) + step * np.arange(n)


@pytest.mark.parametrize("time, name, seasons", [
    (days("2020-01-01", 50), "daily", (7, 365)),
    (days("2020-01-06", 60, 7), "weekly", (52,)),
    (np.datetime64("2020-01-01T00", "s") + 3600 * np.arange(72), "hourly", (24, 168)),
    (np.arange("2000-01", "2004-01", dtype="datetime64[M]").astype("datetime64[D]"),
     "monthly", (12,)),  # month starts written as dates: 28..31 days apart
    (np.arange("2000-01", "2004-01", 3, dtype="datetime64[M]"), "quarterly", (4,)),
    (np.arange(1749, 1800), "yearly", ()),
    (np.arange(0, 10, 1), "rows", ()),
])
def test_frequency_and_its_seasons(time, name, seasons):
    f = frequency(time)
    assert (f.name, f.seasons, f.gaps) == (name, seasons, ())


def test_gaps_are_found_and_counted():
    t = np.delete(days("2020-01-01", 40), [5, 6, 20])  # 2 gaps, 3 missing days
    f = frequency(t)
    assert f.name == "daily" and f.gaps == ((4, 2), (17, 1))
    assert "2 gap(s), about 3 missing row(s)" in f.describe()
    months = np.array(["2000-01", "2000-02", "2000-05", "2000-06"], dtype="datetime64[M]")
    assert frequency(months).gaps == ((1, 2),)
    assert frequency(None).describe().startswith("rows in file order")


def test_year_months_and_quarters_parse_to_months():
    np.testing.assert_array_equal(parse_periods(["2015-03", "2015/4", "2015-12"]),
                                  np.array(["2015-03", "2015-04", "2015-12"], "datetime64[M]"))
    np.testing.assert_array_equal(parse_periods(["1959Q1", "1959-Q2", "1959 q3"]),
                                  np.array(["1959-01", "1959-04", "1959-07"], "datetime64[M]"))
    assert parse_periods(["2015-13"]) is None  # no month 13
    assert parse_periods(["2015-03", "rain"]) is None
    assert parse_periods(["2015-03-01"]) is None  # a full date is the reader's job


def test_detect_time_axis_takes_quarters_and_integer_years_out_of_the_features():
    import pandas as pd

    q = from_frame(pd.DataFrame({"quarter": ["1959Q1", "1959Q2", "1959Q3", "1959Q4"],
                                 "gdp": [1.0, 2.0, 3.0, 5.0]}))
    assert q.time_column is None
    found = detect_time_axis(q)
    assert found.time_column == "quarter" and found.columns == ["gdp"]
    assert frequency(found.time).name == "quarterly"
    years = from_frame(pd.DataFrame({"YEAR": [1700, 1701, 1702, 1703],
                                     "spots": [5.0, 11.0, 16.0, 23.0]}))
    found = detect_time_axis(years)
    assert found.time_column == "YEAR" and found.columns == ["spots"]
    assert found.time.dtype.kind == "i" and frequency(found.time).name == "yearly"
    # Whole numbers that are not years (or not increasing) stay measurements.
    other = from_frame(pd.DataFrame({"count": [1700, 1690, 1702, 1703],
                                     "x": [5.0, 11.0, 16.0, 23.0]}))
    assert detect_time_axis(other).time_column is None


def test_extend_continues_the_axis_by_its_step():
    q = np.arange("2000-01", "2001-01", 3, dtype="datetime64[M]")
    np.testing.assert_array_equal(extend(q, frequency(q), 2),
                                  np.array(["2001-01", "2001-04"], "datetime64[M]"))
    m = np.arange("2000-01", "2001-01", dtype="datetime64[M]").astype("datetime64[D]")
    np.testing.assert_array_equal(extend(m, frequency(m), 2),
                                  np.array(["2001-01-01", "2001-02-01"], "datetime64[D]"))
    d = days("2020-02-27", 3)
    np.testing.assert_array_equal(extend(d, frequency(d), 2), days("2020-03-01", 2))


def test_calendar_features_are_periodic_and_match_the_date():
    t = days("2024-01-01", 14)  # 2024-01-01 was a Monday
    names, values = calendar_features(t, frequency(t))
    assert names == ["weekday_sin", "weekday_cos", "year_sin", "year_cos"]
    np.testing.assert_allclose(values[:7, :2], values[7:, :2], atol=1e-12)  # a week repeats
    # Phase 0 is Monday (the ISO week's first day): Monday (0, 1), Tuesday at 1/7.
    np.testing.assert_allclose(values[0, :2], [0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(values[1, :2], [np.sin(2 * np.pi / 7), np.cos(2 * np.pi / 7)],
                               atol=1e-12)
    np.testing.assert_allclose(values[0, 2:], [0.0, 1.0], atol=1e-12)  # new year's day
