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
    """``meta`` if it follows the schema of format ``fmt``, else ModelFileError."""
    c = _Checker(path)
    meta = c.dict(meta, "the metadata", required={"format", "spec", "scaler_x", "scaler_y"})
    if meta["format"] != fmt or isinstance(meta["format"], bool):
        raise ModelFileError(f"{path}: forecasting metadata format {meta['format']!r} is not "
                             f"supported (this unrolled reads format {fmt}).")
    spec = c.dict(meta["spec"], "spec", keys=_SPEC_KEYS, required={"features", "targets", "window"})
    features = c.names(spec["features"], "spec.features")
    targets = c.names(spec["targets"], "spec.targets")
    c.integer(spec["window"], "spec.window", MAX_WINDOW)
    c.integer(spec.get("horizon", 1), "spec.horizon", MAX_HORIZON)
    if spec.get("time_column") is not None and not isinstance(spec["time_column"], str):
        raise c.fail("spec.time_column", "a column name or null", spec["time_column"])
    if spec.get("fill") not in FILLS:
        raise c.fail("spec.fill", f"one of {list(FILLS)}", spec.get("fill"))
    units = c.dict(spec.get("units", {}), "spec.units")
    if not all(isinstance(v, str) for v in units.values()):
        raise c.fail("spec.units", "an object of column -> unit text", units)
    for key, names in (("scaler_x", features), ("scaler_y", targets)):
        scaler = c.dict(meta[key], key, keys=_SCALER_KEYS, required={"mean", "scale"})
        c.numbers(scaler["mean"], f"{key}.mean", len(names))
        c.numbers(scaler["scale"], f"{key}.scale", len(names), positive=True)
        if scaler.get("columns") is not None:
            c.names(scaler["columns"], f"{key}.columns")
    if meta.get("output", "horizon-major") != "horizon-major":
        raise c.fail("output", "'horizon-major'", meta.get("output"))
    c.dict(meta.get("training") or {}, "training")
    return meta


__all__ = ["check_metadata"]
