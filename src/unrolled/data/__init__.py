"""Data side of forecasting: read a table, pick columns, split, scale, window.

A typical pipeline (each step is a plain function of arrays)::

    table = read_csv("weather.csv")                       # or datasets.load_seattle_weather()
    X, Y, info = select_columns(table, targets=["temp_max"], fill="interpolate")
    train, val, test = chronological_split((X, Y), 0.15, 0.15, min_rows=window + 1)
    scaler_x = Standardizer(columns=info.features).fit(train[0])
    scaler_y = Standardizer(columns=info.targets).fit(train[1])
    x_win, y_win = make_windows(scaler_x.transform(train[0]), scaler_y.transform(train[1]),
                                window=30)                 # (samples, 30, features), (samples, 1, targets)
"""
from unrolled.data.columns import Selection, check_time, fill_gaps, select_columns
from unrolled.data.scaling import Standardizer
from unrolled.data.split import SplitSlices, chronological_split, split_sizes
from unrolled.data.table import TimeSeriesTable, as_table, from_frame, read_csv, set_time_column
from unrolled.data.windows import make_windows, timeseries_windows, window_index

__all__ = [
    "Selection", "SplitSlices", "Standardizer", "TimeSeriesTable", "as_table", "check_time",
    "chronological_split", "fill_gaps", "from_frame", "make_windows", "read_csv",
    "select_columns", "set_time_column", "split_sizes", "timeseries_windows", "window_index",
]
