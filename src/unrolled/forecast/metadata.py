"""The schema of a forecaster's ``unrolled.json`` metadata, checked before it is used.

The metadata comes from a file, so every field is checked for type, range and agreement
with the others before a :class:`ForecastSpec` or a scaler is made from it; a violation is
a :class:`~unrolled.errors.ModelFileError` naming the field, what it should be and what it
is. The layout is in :mod:`.model_file`'s docstring.
"""
from __future__ import annotations

import math
from typing import Any

from ..errors import ModelFileError

FILLS = (None, "ffill", "interpolate", "drop")
MAX_COLUMNS = 10_000
MAX_WINDOW = 1 << 24       # rows per window, as the cap on a declared sample (io/limits.py)
MAX_HORIZON = 1 << 16

_SPEC_KEYS = {"features", "targets", "window", "horizon", "time_column", "fill", "units"}
_SPEC_KEYS_2 = _SPEC_KEYS | {"transform", "season", "lags", "calendar", "linear", "quantiles",
                             "future"}
MAX_SEASON = 1 << 20
_SCALER_KEYS = {"mean", "scale", "columns"}


class _Checker:
    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, field: str, expected: str, got: Any) -> ModelFileError:
        shown = repr(got)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return ModelFileError(f"{self.path}: the forecasting metadata is damaged: {field} "
                              f"should be {expected}, got {shown}.")

    def dict(self, value: Any, field: str, keys: set[str] | None = None,
             required: set[str] | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(field, "a JSON object", value)
        if keys is not None and set(value) - keys:
            raise self.fail(field, f"an object with keys among {sorted(keys)}",
                            sorted(set(value) - keys))
        missing = (required or set()) - set(value)
        if missing:
            raise self.fail(field, f"an object with the keys {sorted(required or ())}",
                            f"no {sorted(missing)}")
        return value

    def names(self, value: Any, field: str, allow_empty: bool = False) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) \
                or (not value and not allow_empty) or len(value) > MAX_COLUMNS:
            raise self.fail(field, f"a list of 1..{MAX_COLUMNS} column names", value)
        if len(set(value)) != len(value):
            raise self.fail(field, "a list of distinct column names", value)
        return value

    def integer(self, value: Any, field: str, top: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise self.fail(field, f"an integer from 1 to {top:,}", value)
        return value

    def numbers(self, value: Any, field: str, n: int, positive: bool = False) -> list[float]:
        ok = (isinstance(value, list) and len(value) == n
              and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                      and math.isfinite(v) and (v > 0 or not positive) for v in value))
        if not ok:
            kind = "positive finite numbers" if positive else "finite numbers"
            raise self.fail(field, f"a list of {n} {kind}", value)
        return value


def check_metadata(meta: Any, path: str, fmt: int) -> dict[str, Any]:
    """``meta`` if it follows the schema of format 1 or ``fmt`` (2), else ModelFileError."""
    c = _Checker(path)
    meta = c.dict(meta, "the metadata", required={"format", "spec", "scaler_x", "scaler_y"})
    if meta["format"] not in (1, fmt) or isinstance(meta["format"], bool):
        raise ModelFileError(f"{path}: forecasting metadata format {meta['format']!r} is not "
                             f"supported (this unrolled reads formats 1 and {fmt}).")
    keys = _SPEC_KEYS if meta["format"] == 1 else _SPEC_KEYS_2
    spec = c.dict(meta["spec"], "spec", keys=keys, required={"features", "targets", "window"})
    features = c.names(spec["features"], "spec.features")
    targets = c.names(spec["targets"], "spec.targets")
    window = c.integer(spec["window"], "spec.window", MAX_WINDOW)
    horizon = c.integer(spec.get("horizon", 1), "spec.horizon", MAX_HORIZON)
    inputs = list(features)
    if meta["format"] != 1:
        inputs += _check_derived(c, spec, meta, features, targets, window, horizon)
    if spec.get("time_column") is not None and not isinstance(spec["time_column"], str):
        raise c.fail("spec.time_column", "a column name or null", spec["time_column"])
    if spec.get("fill") not in FILLS:
        raise c.fail("spec.fill", f"one of {list(FILLS)}", spec.get("fill"))
    units = c.dict(spec.get("units", {}), "spec.units")
    if not all(isinstance(v, str) for v in units.values()):
        raise c.fail("spec.units", "an object of column -> unit text", units)
    for key, names in (("scaler_x", inputs), ("scaler_y", targets)):
        scaler = c.dict(meta[key], key, keys=_SCALER_KEYS, required={"mean", "scale"})
        c.numbers(scaler["mean"], f"{key}.mean", len(names))
        c.numbers(scaler["scale"], f"{key}.scale", len(names), positive=True)
        if scaler.get("columns") is not None:
            c.names(scaler["columns"], f"{key}.columns")
    if meta.get("output", "horizon-major") != "horizon-major":
        raise c.fail("output", "'horizon-major'", meta.get("output"))
    c.dict(meta.get("training") or {}, "training")
    return meta


def _check_derived(c: _Checker, spec: dict[str, Any], meta: dict[str, Any],
                   features: list[str], targets: list[str], window: int,
                   horizon: int) -> list[str]:
    """Format 2's additions (:mod:`.model_file`); returns the derived input names."""
    if spec.get("transform", "level") not in ("level", "diff"):
        raise c.fail("spec.transform", "'level' or 'diff'", spec.get("transform"))
    season = spec.get("season")
    if season is not None:
        c.integer(season, "spec.season", MAX_SEASON)
    lags = spec.get("lags", [])
    if not isinstance(lags, list) or not all(
            isinstance(p, list) and len(p) == 2 and p[0] in targets
            and isinstance(p[1], int) and not isinstance(p[1], bool) and 0 <= p[1] <= MAX_SEASON
            for p in lags):
        raise c.fail("spec.lags", "a list of [target, lag rows] pairs", lags)
    calendar = c.names(spec.get("calendar", []), "spec.calendar", allow_empty=True)
    if not isinstance(spec.get("linear", False), bool):
        raise c.fail("spec.linear", "true or false", spec.get("linear"))
    quantiles = spec.get("quantiles", [])
    if not isinstance(quantiles, list) or (quantiles and (
            not all(isinstance(q, (int, float)) and not isinstance(q, bool) and 0 < q < 1
                    for q in quantiles)
            or quantiles != sorted(set(quantiles)) or 0.5 not in quantiles)):
        raise c.fail("spec.quantiles", "sorted distinct numbers in (0, 1) including 0.5",
                     quantiles)
    future = c.names(spec.get("future", []), "spec.future", allow_empty=True)
    if not set(future) <= set(features) or set(future) & set(targets):
        raise c.fail("spec.future", "input columns (among spec.features) that are not targets",
                     future)
    derived = ([f"{t}@lag{L}" for t, L in lags] + calendar
               + [f"{f}@+{h}" for f in future for h in range(1, horizon + 1)])
    if meta.get("series") is not None:
        _check_series(c, meta["series"], len(features) + len(derived), len(targets), horizon)
    k = horizon * len(targets)
    scaler = c.dict(meta.get("scaler_z"), "scaler_z", keys=_SCALER_KEYS,
                    required={"mean", "scale"})
    c.numbers(scaler["mean"], "scaler_z.mean", k)
    c.numbers(scaler["scale"], "scaler_z.scale", k, positive=True)
    d = window * (len(features) + len(derived))
    ridge = meta.get("ridge")
    if ridge is not None:
        ridge = c.dict(ridge, "ridge", keys={"kernel", "bias", "alpha"},
                       required={"kernel", "bias"})
        if d * k > MAX_WINDOW or not isinstance(ridge["kernel"], list) \
                or len(ridge["kernel"]) != d:
            raise c.fail("ridge.kernel", f"{d} rows of {k} numbers", "another shape")
        for i, row in enumerate(ridge["kernel"]):
            c.numbers(row, f"ridge.kernel[{i}]", k)
        c.numbers(ridge["bias"], "ridge.bias", k)
    elif spec.get("linear"):
        raise c.fail("ridge", "the linear path's weights (spec.linear is true)", None)
    iv = meta.get("intervals")
    if iv is not None:
        iv = c.dict(iv, "intervals", keys={"level", "half_width"},
                    required={"level", "half_width"})
        level = iv["level"]
        if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
            raise c.fail("intervals.level", "a number between 0 and 1", level)
        hw = iv["half_width"]
        if not isinstance(hw, list) or len(hw) != horizon:
            raise c.fail("intervals.half_width", f"{horizon} rows of {len(targets)} numbers", hw)
        for i, row in enumerate(hw):
            c.numbers(row, f"intervals.half_width[{i}]", len(targets))
    return derived


def _check_series(c: _Checker, series: Any, n_in: int, n_t: int, horizon: int) -> None:
    series = c.dict(series, "series", keys={"column", "names", "scalers", "intervals"},
                    required={"column", "names", "scalers"})
    if not isinstance(series["column"], str):
        raise c.fail("series.column", "a column name", series["column"])
    names = c.names(series["names"], "series.names")
    scalers = c.dict(series["scalers"], "series.scalers")
    intervals = c.dict(series.get("intervals") or {}, "series.intervals")
    for name in names:
        one = c.dict(scalers.get(name), f"series.scalers[{name!r}]", keys={"x", "y", "z"},
                     required={"x", "y", "z"})
        for key, n in (("x", n_in), ("y", n_t), ("z", n_t * horizon)):
            sc = c.dict(one[key], f"series.scalers[{name!r}].{key}", keys=_SCALER_KEYS,
                        required={"mean", "scale"})
            c.numbers(sc["mean"], f"series.scalers[{name!r}].{key}.mean", n)
            c.numbers(sc["scale"], f"series.scalers[{name!r}].{key}.scale", n, positive=True)
        iv = intervals.get(name)
        if iv is not None:
            iv = c.dict(iv, f"series.intervals[{name!r}]", keys={"level", "half_width"},
                        required={"level", "half_width"})
            hw = iv["half_width"]
            if not isinstance(hw, list) or len(hw) != horizon:
                raise c.fail(f"series.intervals[{name!r}].half_width",
                             f"{horizon} rows of {n_t} numbers", hw)
            for i, row in enumerate(hw):
                c.numbers(row, f"series.intervals[{name!r}].half_width[{i}]", n_t)


__all__ = ["check_metadata"]
