"""Small real datasets shipped inside the package: no downloads, ever.

``seattle_weather``
    Daily weather at Seattle, 2012-01-01 to 2015-12-31: 1461 rows, one per day, no gaps,
    no empty cells.

    ===============  ======  =========================================================
    column           unit    meaning
    ===============  ======  =========================================================
    date             —       the day (``YYYY/MM/DD`` in the file) → ``table.time``
    precipitation    mm      total precipitation of the day
    temp_max         °C      highest temperature of the day
    temp_min         °C      lowest temperature of the day
    wind             m/s     average wind speed of the day
    weather          —       text label: sun, fog, rain, drizzle or snow
    ===============  ======  =========================================================

    Provenance: ``seattle-weather.csv`` from the ``vega_datasets`` PyPI package, version
    0.9.0 (MIT-licensed package), copied byte for byte (SHA-256 in ``SHA256``). Its
    description: "drawn from public-domain NOAA data, and transformed using scripts
    available at http://github.com/vega/vega_datasets/" (GHCN daily records, Seattle).
    NOAA data is in the public domain in the United States. The ``weather`` label is
    part of that transformation, not a raw NOAA measurement, and a known report
    (altair-viz/vega_datasets issue #48) finds this copy differs from the one in the
    Vega repository in places (e.g. little rain in early 2015): fine for demonstrating
    forecasting, not for climate conclusions.
"""
from __future__ import annotations

import dataclasses
import io
from importlib import resources

from unrolled.data.table import TimeSeriesTable, read_csv
from unrolled.errors import ConfigError

_FILES = {"seattle_weather": "seattle_weather.csv"}
# Checked by the tests, so an edited copy cannot pass for the original.
SHA256 = {"seattle_weather": "62f0609f787158128aa2bd102967173a4953122dd4f872bf1d502cae1037df0b"}
_UNITS = {
    "seattle_weather": {"precipitation": "mm", "temp_max": "°C", "temp_min": "°C",
                        "wind": "m/s"},
}


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return sorted(_FILES)


def load_dataset(name: str) -> TimeSeriesTable:
    """Load a bundled dataset by name (see :func:`list_datasets`)."""
    if name not in _FILES:
        raise ConfigError(f"unknown dataset {name!r}; bundled datasets: {', '.join(list_datasets())}")
    # read_bytes works from a source tree, an installed wheel or a zip alike; newline=""
    # hands line endings to the csv module untouched, as it asks.
    text = resources.files(__name__).joinpath(_FILES[name]).read_bytes().decode("utf-8")
    table = read_csv(io.StringIO(text, newline=""), time_column="auto")
    return dataclasses.replace(table, units=dict(_UNITS[name]), source=f"{name} (bundled)")


def load_seattle_weather() -> TimeSeriesTable:
    """Seattle daily weather 2012–2015 (see the module docstring for units and origin).

    Returns a :class:`~unrolled.data.TimeSeriesTable`: ``columns`` = ``["precipitation",
    "temp_max", "temp_min", "wind"]``, ``values`` ``(1461, 4)`` float64, ``time``
    ``(1461,)`` ``datetime64[D]``, ``text["weather"]`` the daily label, ``units`` per column.
    """
    return load_dataset("seattle_weather")


def dataset_path(name: str) -> str:
    """Filesystem path of a bundled dataset's CSV (for tools that want a file name)."""
    if name not in _FILES:
        raise ConfigError(f"unknown dataset {name!r}; bundled datasets: {', '.join(list_datasets())}")
    return str(resources.files(__name__).joinpath(_FILES[name]))


__all__ = ["dataset_path", "list_datasets", "load_dataset", "load_seattle_weather"]
