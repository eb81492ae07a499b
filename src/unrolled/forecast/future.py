"""Known-future covariates (``--future price,promo``): inputs whose values are known ahead.

A column declared future is read like any input (its past values in the window) and,
besides, at the forecast time: for each step ``h = 1..H`` a *lead* column ``c@+h``
holds ``c[r + h]`` at row ``r``. At the window's last row ``t`` the leads carry
``c[t+1] .. c[t+H]`` — the planned price of each forecast row — so the LSTM reads them
on its last step and the linear path (ridge on the flattened window) reads them
directly; nothing else in the pipeline changes (scaling, windows, the model file's input
axis). Leads are added after the seasonal lags and calendar inputs.

Only these columns are shifted: a target is never a future input (it is refused), so a
window never sees a target value after its last row; past the series' end the leads are
NaN, and no training or scored window reaches them (their targets would be there too).

Predicting needs the values at the forecast rows: the CSV's last rows are the
forecast rows, with the future columns filled and every other column left empty
(:func:`split_future_rows`). ``--calendar`` inputs are known ahead by construction (they
come from the time axis), so they need no such rows.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, DataError


def lead_names(future: list[str], horizon: int) -> list[str]:
    """Input names of the leads, column-major: ``price@+1, price@+2, promo@+1, ...``."""
    return [f"{c}@+{h}" for c in future for h in range(1, horizon + 1)]


def check_future(future: list[str], targets: list[str]) -> list[str]:
    """The declared future columns, checked: no target (its future is what is forecast)."""
    future = list(dict.fromkeys(future))
    bad = [c for c in future if c in targets]
    if bad:
        raise ConfigError(
            f"--future {','.join(bad)}: a target cannot be a known-future input (its future "
            "values are what the model forecasts). Declare only columns whose values are "
            "known ahead, e.g. planned prices or holidays")
    return future


def leads(values: np.ndarray, horizon: int, ahead: np.ndarray | None = None) -> np.ndarray:
    """``(time, C·H)`` leads of ``values (time, C)``: column ``c·H + h - 1`` at row ``r``
    is ``values[r + h, c]``, continued by ``ahead (k, C)`` (the rows after the last, when
    known), NaN beyond."""
    n, c = values.shape
    extra = np.full((horizon, c), np.nan)
    if ahead is not None and len(ahead):
        k = min(len(ahead), horizon)
        extra[:k] = ahead[:k]
    full = np.concatenate([np.asarray(values, np.float64), extra])  # (n + H, C)
    out = np.empty((n, c * horizon))
    for j in range(c):
        for h in range(1, horizon + 1):
            out[:, j * horizon + h - 1] = full[h:h + n, j]
    return out


def with_leads(xa: np.ndarray, x: np.ndarray, features: list[str], future: list[str],
               horizon: int, ahead: np.ndarray | None = None) -> np.ndarray:
    """The derived inputs ``xa`` followed by the leads of the future columns, which are
    columns of ``x (time, features)``."""
    if not future:
        return xa
    cols = [features.index(c) for c in future]
    return np.concatenate([xa, leads(x[:, cols], horizon, ahead)], axis=1)


def split_future_rows(table: Any, spec: Any) -> tuple[Any, np.ndarray]:
    """``(history, ahead)``: the table without its trailing forecast rows, and the future
    columns' values on those rows ``(k, C)`` (``k = 0`` when the file has none).

    Forecast rows are the last rows in which every other model column (targets and
    non-future features present in the file) is empty.
    """
    others = [c for c in list(spec.features) + list(spec.targets)
              if c not in spec.future and c in table.columns]
    if not others or not len(table):
        return table, np.empty((0, len(spec.future)))
    empty = np.all(np.isnan(table.values[:, [table.columns.index(c) for c in others]]), axis=1)
    k = 0
    while k < len(empty) and empty[len(empty) - 1 - k]:
        k += 1
    if k == 0:
        return table, np.empty((0, len(spec.future)))
    missing = [c for c in spec.future if c not in table.columns]
    if missing:
        return table, np.empty((0, len(spec.future)))  # the column check names them
    rows = np.arange(len(table) - k, len(table))
    ahead = table.values[rows][:, [table.columns.index(c) for c in spec.future]]
    return table.take(np.arange(len(table) - k)), ahead


def require_ahead(table: Any, spec: Any, ahead: np.ndarray, labels: Any,
                  last_row: int) -> None:
    """Stop with the rows and columns missing for a forecast after row ``last_row`` of the
    history ``table`` (``labels(p)`` names row position ``p``)."""
    h = spec.horizon
    want = [labels(last_row + 1 + i) for i in range(h)]
    hint = (f" Hint: add the {h} forecast row(s) at the end of the file, with the time, "
            f"{', '.join(spec.future)} filled in and every other column left empty.")
    if len(ahead) < h:
        raise DataError(
            f"the model reads known-future inputs ({', '.join(spec.future)}) at the {h} "
            f"forecast row(s) {', '.join(want)}, but {table.source} gives "
            + (f"only {len(ahead)} such row(s)" if len(ahead) else "none (its last row has "
               "values in the other columns)")
            + f": missing {', '.join(want[len(ahead):])}." + hint)
    gaps = [(want[i], spec.future[j]) for i, j in zip(*np.nonzero(np.isnan(ahead[:h])))]
    if gaps:
        shown = ", ".join(f"{c} at {r}" for r, c in gaps[:8])
        raise DataError(f"{table.source}: the forecast rows need every known-future input, "
                        f"but these cells are empty: {shown}. Hint: fill them in (the "
                        "model cannot forecast without the planned values).")
