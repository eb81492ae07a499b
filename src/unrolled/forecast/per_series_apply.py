"""Forecast and evaluate with a folder of per-series models (``train --per-series``).

The file is split by the series column (the folder's ``series.json`` names it, or
``series_column=``); each series is forecast or scored by its own model, exactly as
``unrolled predict/evaluate MODEL.keras`` would on that series alone. A series of the file
without a model (it failed or was not trained) or whose rows cannot be used is reported
in ``problems`` and the others go on.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError, UnrolledError
from .apply import ForecastResult, evaluate, forecast
from .baselines import Comparison
from .model_file import load_forecaster
from .per_series import read_manifest


@dataclass
class FolderResult:
    """Per-series results, and the series that could not be done (name → why)."""

    series_column: str
    forecasts: ForecastResult | None = None
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


def _parts(folder: str, data: Any, series_column: str | None, series: list[str] | None,
           delimiter: str, fmt: Any) -> tuple[str, dict[str, tuple[str | None, Any]]]:
    """(series column, name → (model path or None, that series' rows))."""
    from ..data.table import as_table
    from .many import split_series

    manifest = read_manifest(folder)
    column = series_column or manifest["run"]["series_column"]
    kw = {} if fmt is None else {"fmt": fmt}
    table = data if hasattr(data, "kinds") else as_table(data, time_column=None,
                                                         delimiter=delimiter, **kw)
    groups = split_series(table, column)
    if series is not None:
        missing = [n for n in series if n not in groups]
        if missing:
            raise DataError(f"series {', '.join(map(repr, missing))} not in the file; it has "
                            f"{', '.join(list(groups)[:10])}")
        groups = {n: groups[n] for n in series}
    files = manifest.get("series", {})
    out = {}
    for name, part in groups.items():
        path = os.path.join(folder, files[name]) if name in files else None
        out[name] = (path if path is not None and os.path.isfile(path) else None, part)
    return column, out


def _load(path: str | None, fill: str | None) -> Any:
    import dataclasses

    if path is None:
        raise DataError("no model for this series in the folder (it failed in training, or "
                        "was not in the training file)")
    fc = load_forecaster(path)
    if fill is not None:
        fc = dataclasses.replace(fc, spec=dataclasses.replace(fc.spec, fill=fill))
    return fc


def forecast_folder(folder: str, data: Any, every_window: bool = False,
                    series: list[str] | None = None, series_column: str | None = None,
                    fill: str | None = None, delimiter: str = ",", fmt: Any = None
                    ) -> FolderResult:
    """Forecast each series of ``data`` with its own model from ``folder``."""
    column, parts = _parts(folder, data, series_column, series, delimiter, fmt)
    out = FolderResult(column)
    done: list[tuple[str, ForecastResult]] = []
    for name, (path, part) in parts.items():
        try:
            done.append((name, forecast(_load(path, fill), part, every_window)))
        except UnrolledError as err:
            out.problems[name] = f"{type(err).__name__}: {err}"
    if done:
        first = done[0][1]
        same = all(r.spec.targets == first.spec.targets and
                   (r.intervals is None) == (first.intervals is None) for _, r in done)
        if not same:  # pragma: no cover - one folder is trained with one set of options
            raise DataError(f"the models in {folder} forecast different columns")
        ivs = None if first.intervals is None else (
            first.intervals[0], np.concatenate([r.intervals[1] for _, r in done]),  # type: ignore[index]
            np.concatenate([r.intervals[2] for _, r in done]))  # type: ignore[index]
        out.forecasts = ForecastResult(
            first.spec, np.concatenate([r.values for _, r in done]),
            [o for _, r in done for o in r.last_input], [w for _, r in done for w in r.when],
            np.concatenate([r.x for _, r in done]), ivs,
            (column, [n for n, r in done for _ in r.last_input]),
            None if first.quantiles is None else
            np.concatenate([r.quantiles for _, r in done]))  # type: ignore[misc]
    return out


def evaluate_folder(folder: str, data: Any, series: list[str] | None = None,
                    series_column: str | None = None, fill: str | None = None,
                    delimiter: str = ",", fmt: Any = None) -> FolderResult:
    """Score each series of ``data`` with its own model beside its baselines."""
    column, parts = _parts(folder, data, series_column, series, delimiter, fmt)
    out = FolderResult(column)
    for name, (path, part) in parts.items():
        try:
            out.comparisons[name] = evaluate(_load(path, fill), part).comparison
        except UnrolledError as err:
            out.problems[name] = f"{type(err).__name__}: {err}"
    return out
