"""Many series in one long-format file: one global model, per-series scaling.

A long-format table has a series column (``--series-column store``): each series' rows
are its own time axis, in time order, and the series may differ in level and scale. The
workflow here is the single-series one applied per series, with what must be shared
made shared:

* each series is split 70/15/15 by its own rows and standardised with its *own* train
  block's statistics (stored in the model per series);
* the target transform and the season are chosen per series as usual, then the
  majority choice is imposed on every series (one network reads one kind of input);
* one network and one linear path (ridge on the pooled standardised windows) are
  trained on the windows of every series together;
* the conformal half-widths are calibrated on the pooled validation errors in
  standardised units and scaled back per series.

Everything per series is a plain function of (series table, options); :func:`prepare_many`
maps :func:`~.pipeline.prepare_series` over the series, which a parallel layer can do too.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..data import split_sizes
from ..errors import ConfigError, DataError
from .baselines import Comparison, compare
from .intervals import Intervals
from .linear import choose_ridge
from .model_file import Forecaster
from .pipeline import (TEST_FRACTION, VAL_FRACTION, ForecastData, Scalers, Windows,
                       build_model, keep_linear_promise, load_series, load_table, network_z,
                       prepare_series, train)


def series_names(values: np.ndarray) -> list[str]:
    """Cells of a series column as names: ``7`` not ``7.0`` for whole numbers."""
    if values.dtype.kind == "f":
        return [str(int(v)) if float(v).is_integer() else repr(float(v)) for v in values]
    return [str(v) for v in values]


def split_series(table: Any, column: str) -> dict[str, Any]:
    """Series name → the table's rows of that series (in file order), without the series
    column. Series appear in the order of their first row."""
    if column == table.time_column:
        raise ConfigError(f"the series column {column!r} is the time column")
    if column in table.columns:
        names = series_names(table.column(column))
    elif column in table.text:
        names = [str(v) for v in table.text[column]]
    else:
        from ..data.table import missing_column_error

        raise missing_column_error(table, column)
    empty = [i for i, n in enumerate(names) if n in ("", "nan")]
    if empty:
        raise DataError(f"series column {column!r} in {table.source} is empty at "
                        f"{table.describe_rows(empty)}: every row must name its series")
    order = list(dict.fromkeys(names))
    ids = np.array(names, dtype=object)
    out = {}
    for name in order:
        sub = table.take(np.flatnonzero(ids == name))
        if column in sub.columns:
            j = sub.columns.index(column)
            sub = dataclasses.replace(sub, columns=sub.columns[:j] + sub.columns[j + 1:],
                                      values=np.delete(sub.values, j, axis=1))
        else:
            sub = dataclasses.replace(sub, text={k: v for k, v in sub.text.items()
                                                 if k != column})
        kinds = {k: v for k, v in sub.kinds.items() if k != column}
        out[name] = dataclasses.replace(sub, kinds=kinds, source=f"{table.source} [{column}="
                                                                  f"{name}]")
    return out


@dataclass(frozen=True)
class ManyData:
    """Per-series prepared data with shared choices, and the pooled windows."""

    parts: dict[str, ForecastData]
    pooled: ForecastData          # pooled windows, the global ridge; scalers of the first
    series_column: str
    choices: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> Any:
        return self.pooled.spec


def _pool(ws: list[Windows]) -> Windows:
    seasonal = None if any(w.seasonal is None for w in ws) else np.concatenate(
        [w.seasonal for w in ws])
    return Windows(*(np.concatenate([getattr(w, f) for w in ws])
                     for f in ("x", "z", "y_true", "last", "target_rows")), seasonal)


def prepare_many(table: Any, series_column: str, targets: Any, features: Any = None, *,
                 window: int, horizon: int = 1, time_column: str | None = None,
                 fill: str | None = None, val_fraction: float = VAL_FRACTION,
                 test_fraction: float = TEST_FRACTION, transform: str = "auto",
                 season: int | str | None = "auto", calendar: bool = False,
                 linear: bool = True, quantiles: Any = None,
                 future: list[str] | None = None) -> ManyData:
    """Prepare every series of a long-format table (see the module docstring)."""
    loaded = load_many(table, series_column, targets, features, time_column=time_column,
                       fill=fill, future=future)
    blocks = {}
    for name, s in loaded.items():
        try:
            blocks[name] = tuple(split_sizes(len(s.X), val_fraction, test_fraction,
                                             min_rows=horizon))
        except DataError as err:
            raise DataError(f"series {name!r}: {err}") from None
    return prepare_loaded(loaded, blocks, series_column, window=window, horizon=horizon,
                          fill=fill, transform=transform, season=season, calendar=calendar,
                          linear=linear, quantiles=quantiles, future=future)


def load_many(table: Any, series_column: str, targets: Any, features: Any = None, *,
              time_column: str | None = None, fill: str | None = None,
              future: list[str] | None = None) -> dict[str, Any]:
    """Series name → its :class:`~.pipeline.Series` (columns read and checked once)."""
    from ..data import as_table

    if future and features is not None:
        features = list(dict.fromkeys(list(features) + list(future)))
    loaded = {}
    for name, sub in split_series(as_table(table), series_column).items():
        try:
            loaded[name] = load_series(load_table(sub, time_column), targets, features,
                                       time_column=None, fill=fill)
        except DataError as err:
            raise DataError(f"series {name!r}: {err}") from None
    return loaded


def prepare_loaded(loaded: dict[str, Any], blocks: dict[str, tuple[slice, slice, slice]],
                   series_column: str, *, window: int, horizon: int = 1,
                   fill: str | None = None, transform: str = "auto",
                   season: int | str | None = "auto", calendar: bool = False,
                   linear: bool = True, quantiles: Any = None,
                   future: list[str] | None = None) -> ManyData:
    """:func:`prepare_many` on read series with given row blocks per series (rolling-origin
    folds pass each series cut at the end of its test block)."""
    feats = {tuple(s.selection.features) for s in loaded.values()}
    if len(feats) > 1:
        raise DataError(f"the series have different usable input columns ({sorted(feats)}); "
                        "name them with --features")
    opts = dict(window=window, horizon=horizon, calendar=calendar, linear=linear, fill=fill,
                quantiles=quantiles, future=future)
    first = {}
    for n, s in loaded.items():
        try:
            first[n] = prepare_series(s, blocks[n], transform=transform, season=season, **opts)
        except DataError as err:
            raise DataError(f"series {n!r}: {err}") from None
    tr = Counter(d.spec.transform for d in first.values()).most_common(1)[0][0]
    m = Counter(d.spec.season for d in first.values()).most_common(1)[0][0]
    choices = {"transform": f"{tr} (" + ", ".join(
        f"{k}: {v}" for k, v in Counter(d.spec.transform for d in first.values()).items())
        + " series)", "season": f"{m or 'none'} (" + ", ".join(
        f"{k or 'none'}: {v}" for k, v in Counter(d.spec.season for d in first.values())
        .items()) + " series)", "series": f"{len(loaded)} series"}
    parts = {}
    for n, s in loaded.items():
        try:
            parts[n] = prepare_series(s, blocks[n], transform=tr, season=m or None, **opts)
        except DataError as err:
            raise DataError(f"series {n!r}: {err}") from None
    pooled_w = [_pool([getattr(d, b) for d in parts.values()]) for b in ("train", "val", "test")]
    ridge = choose_ridge(pooled_w[0].x, pooled_w[0].z, pooled_w[1].x, pooled_w[1].z)
    one = next(iter(parts.values()))
    pooled = replace(one, train=pooled_w[0], val=pooled_w[1], test=pooled_w[2], ridge=ridge,
                     choices=choices)
    return ManyData(parts, pooled, series_column, choices)


def fit_many(md: ManyData, config: Any, seed: int = 0, verbose: Any = 0) -> Any:
    """One network for every series (see the module docstring); returns a FitResult."""
    from ..random import set_random_seed
    from .fit import FitResult

    set_random_seed(seed)
    spec = md.spec
    gaps = None
    if spec.quantiles:
        from .quantiles import initial_gaps

        tr = md.pooled.train
        gaps = initial_gaps(tr.z - md.pooled.ridge(tr.x) if spec.linear
                            else tr.z - tr.z.mean(axis=0), spec.quantiles)
    model = build_model(spec, units=config.units, layers=config.layers,
                        linear=md.pooled.ridge, quantile_gaps=gaps)
    history = train(model, md.pooled, epochs=config.epochs, batch_size=config.batch_size,
                    lr=config.lr, patience=config.patience, verbose=verbose)
    notes = []
    val = md.pooled.val
    note = keep_linear_promise(model, val, spec, md.pooled.ridge)
    if note:
        notes.append(note)
    z = network_z(model, val.x, spec, md.pooled.ridge)
    target = np.asarray(val.z, np.float64)
    net = z
    epochs = len(history.history.get("loss", []))
    series: dict[str, tuple[Scalers, Intervals | None]] = {}
    hw_z = None
    if config.interval:
        err = np.sort(np.abs(net - target), axis=0)  # (N, H·T) pooled z errors
        k = min(int(np.ceil((len(err) + 1) * config.interval)), len(err))
        hw_z = err[k - 1]
    for name, d in md.parts.items():
        iv = None
        if hw_z is not None:
            scale = d.scalers.z.scale
            assert scale is not None
            iv = Intervals(config.interval, (hw_z * scale).reshape(spec.horizon, -1))
        series[name] = (d.scalers, iv)
    first = next(iter(series.values()))
    fc = Forecaster(model, spec, first[0], md.pooled.ridge, first[1],
                    {"source": md.pooled.selection.source, "seed": seed, "epochs": epochs,
                     "units": config.units, "layers": config.layers, "choices": md.choices},
                    series_column=md.series_column, series=series)
    return FitResult(fc, epochs, {k: list(map(float, v)) for k, v in history.history.items()},
                     notes)


def assess_many(fc: Forecaster, parts: dict[str, Any], block: str = "test"
                ) -> tuple[Comparison, dict[str, Comparison], Any]:
    """Per-series comparisons and the pooled one (errors in each series' own units)."""
    from .fit import assess

    per, preds, trues, lasts, seas, ridges, means = {}, [], [], [], [], [], []
    coverage = []
    for name, d in parts.items():
        w = getattr(d, block) if block else d
        a = assess(fc.for_series(name), w)
        per[name] = a.comparison
        preds.append(a.pred)
        trues.append(w.y_true)
        if a.coverage is not None:
            coverage.append((a.coverage.coverage, a.coverage.samples))
    pooled = _pooled_comparison(per, preds, trues, parts, fc, block)
    cov = (sum(c * n for c, n in coverage) / sum(n for _, n in coverage)) if coverage else None
    return pooled, per, cov


def _pooled_comparison(per: dict[str, Comparison], preds: list, trues: list, parts: dict,
                       fc: Forecaster, block: str) -> Comparison:
    from .transform import decode

    base: dict[str, list] = {}
    for name, d in parts.items():
        w = getattr(d, block) if block else d
        sc, _ = fc.series[name]
        h = fc.spec.horizon
        base.setdefault("persistence", []).append(np.repeat(w.last[:, None, :], h, axis=1))
        if w.seasonal is not None:
            base.setdefault("seasonal naive", []).append(w.seasonal)
        assert sc.y.mean is not None
        base.setdefault("training mean", []).append(np.broadcast_to(sc.y.mean, w.y_true.shape))
        base.setdefault("ridge", []).append(decode(fc.ridge(w.x), w.last, fc.spec.transform,
                                                   sc.z, h))
    pred, true = np.concatenate(preds), np.concatenate(trues)
    full = {k: np.concatenate(v) for k, v in base.items() if len(v) == len(parts)}
    cmp = compare(pred, true, full["persistence"][:, 0, :], np.zeros(true.shape[2]),
                  full.get("seasonal naive"), full["ridge"])
    # The pooled training mean: each series' own mean (compare's is one mean for all).
    from .baselines import scores, step_mae
    from .significance import margin

    tm = full["training mean"]
    cmp.baselines["training mean"] = scores(tm, true)
    cmp.margins["training mean"] = margin(pred, tm, true)
    cmp.steps["training mean"] = step_mae(tm, true)
    return cmp


def per_series_table(per: dict[str, Comparison], indent: str = "  ") -> str:
    """One line per series: the model's MAE, the best baseline's, and the verdict."""
    lines = [f"{'series':<16}{'MAE':>10}  {'best baseline':<28}{'verdict':>9}"]
    for name, c in per.items():
        best = c.best_baseline
        verdict = c.margins[best].verdict if best in c.margins else "?"
        lines.append(f"{name[:16]:<16}{c.model.mae:>10.4g}  "
                     f"{best + ' ' + format(c.baselines[best].mae, '.4g'):<28}{verdict:>9}")
    return "\n".join(indent + line for line in lines)
