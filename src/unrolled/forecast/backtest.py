"""Rolling-origin evaluation: train and test again at K origins, with S seeds each.

The last ``K·L`` rows are cut into ``K`` consecutive test blocks of ``L`` rows. Fold
``k`` trains on every row before its validation block (an expanding window), stops early
and calibrates on the ``V`` rows before its test block, and is scored on its test block::

    fold k:   train [0, s_k - V)   validation [s_k - V, s_k)   test [s_k, s_k + L)
              s_k = n - (K - k)·L

A fold is given the series *cut at the end of its test block*: rows after it do not
exist for it, so no fold can see the future (the tests poison those rows to check).
Every choice (target transform, season, ridge penalty, scalers) is made again inside
each fold from its own train and validation rows.

:func:`run_fold` is a plain function of ``(series, blocks, options, config, seed)``; the
work of a backtest is the list of its ``(fold, seed)`` calls, which a parallel layer
can map over.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from ..data.time_axis import frequency
from ..errors import ConfigError, DataError
from .fit import FitConfig, assess, fit_forecaster
from .pipeline import Series, load_series, prepare_series
from .significance import Margin, margin_of_losses, window_losses


class FoldResult(NamedTuple):
    """One fold with one seed: errors per step for the model and every baseline."""

    fold: int
    seed: int
    origin: str                         # label of the first test row
    steps: dict[str, np.ndarray]        # name → (H,) MAE per step ("model" first)
    mae: dict[str, float]               # name → MAE over every step
    losses: dict[str, np.ndarray]       # name → (N,) per-window MAE, in time order
    coverage: float | None
    width: float | None
    windows: int
    transform: str
    season: int | None
    quantiles: Any = None               # QuantileScores of the model's quantiles, or None
    per_series: Any = None              # series → method → MAE (many series), or None


def fold_blocks(n: int, folds: int, test_rows: int, val_rows: int,
                horizon: int) -> list[tuple[slice, slice, slice]]:
    """Row blocks of each fold (see the module docstring)."""
    if test_rows < horizon:
        raise ConfigError(f"each fold's test block needs at least the horizon ({horizon}) "
                          f"rows, got {test_rows}")
    out = []
    for k in range(folds):
        s = n - (folds - k) * test_rows
        if s - val_rows <= 0:
            raise DataError(f"{folds} folds of {test_rows} test rows and {val_rows} "
                            f"validation rows leave no training rows in fold {k + 1} of a "
                            f"{n}-row series: use fewer folds or shorter test blocks")
        out.append((slice(0, s - val_rows), slice(s - val_rows, s), slice(s, s + test_rows)))
    return out


def cut(series: Series, end: int) -> Series:
    """The series as it was known at row ``end`` (rows ``>= end`` removed)."""
    sel = series.selection
    time = None if sel.time is None else sel.time[:end]
    return Series(series.X[:end], series.Y[:end], replace(sel, time=time), frequency(time),
                  series.units, series.row_numbers[:end])


def run_fold(series: Series, blocks: tuple[slice, slice, slice], options: dict[str, Any],
             config: FitConfig, seed: int, fold: int = 0, stats: bool = False) -> FoldResult:
    """Prepare, train and score one fold; ``series`` must end with the test block.
    ``stats``: add the AutoETS / AutoARIMA baselines (:mod:`.stats`), fitted on the
    fold's train and validation rows."""
    if len(series.X) != blocks[2].stop:
        raise ConfigError("run_fold: pass the series cut at the end of the test block "
                          f"({blocks[2].stop} rows), got {len(series.X)} rows")
    data = prepare_series(series, blocks, **options)
    fit = fit_forecaster(data, config, seed=seed)
    from .stats import for_test

    extra = for_test(data, stats).forecasts
    a = assess(fit.forecaster, data.test, extra)
    cmp = a.comparison
    w = data.test
    forecasts = {"model": a.pred}
    n, h, _ = w.y_true.shape
    forecasts["persistence"] = np.repeat(w.last[:, None, :], h, axis=1)
    if w.seasonal is not None:
        forecasts["seasonal naive"] = w.seasonal
    forecasts["training mean"] = np.broadcast_to(data.train_mean, w.y_true.shape)
    losses = {k: window_losses(v, w.y_true) for k, v in forecasts.items()}
    if "ridge" in cmp.steps:
        from .transform import decode
        ridge = decode(data.ridge(w.x), w.last, data.spec.transform, data.scalers.z, h)
        losses["ridge"] = window_losses(ridge, w.y_true)
    for name, values in extra.items():
        losses[name] = window_losses(values, w.y_true)
    mae = {"model": cmp.model.mae, **{k: s.mae for k, s in cmp.baselines.items()}}
    return FoldResult(fold, seed, data.label(blocks[2].start), dict(cmp.steps), mae, losses,
                      None if a.coverage is None else a.coverage.coverage,
                      None if a.coverage is None else a.coverage.width, n,
                      data.spec.transform, data.spec.season, a.quantile_scores)


@dataclass(frozen=True)
class BacktestResult:
    """Every fold × seed, and the summaries a report needs."""

    folds: list[FoldResult]
    horizon: int

    @property
    def names(self) -> list[str]:
        return list(self.folds[0].steps)

    def step_mean(self) -> dict[str, np.ndarray]:
        """name → ``(H,)`` mean MAE per step over folds × seeds."""
        return {k: np.mean([f.steps[k] for f in self.folds if k in f.steps], axis=0)
                for k in self.names}

    def step_spread(self) -> dict[str, np.ndarray]:
        """name → ``(H,)`` standard deviation of the per-step MAE over folds × seeds."""
        return {k: np.std([f.steps[k] for f in self.folds if k in f.steps], axis=0)
                for k in self.names}

    def mae(self) -> dict[str, tuple[float, float]]:
        """name → (mean, sd) of the overall MAE over folds × seeds."""
        return {k: (float(np.mean(v)), float(np.std(v)))
                for k in self.names for v in [[f.mae[k] for f in self.folds if k in f.mae]]}

    def quantile_summary(self) -> Any:
        """Per-quantile coverage and pinball loss, and the interval's coverage and width,
        each averaged over folds × seeds (a :class:`~.quantiles.QuantileScores`), or None."""
        from .quantiles import QuantileScores

        runs = [f.quantiles for f in self.folds if f.quantiles is not None]
        if not runs:
            return None
        mean = lambda xs: [float(v) for v in np.mean(xs, axis=0)]  # noqa: E731
        return QuantileScores(runs[0].quantiles, mean([r.coverage for r in runs]),
                              mean([r.pinball for r in runs]), runs[0].interval,
                              float(np.mean([r.inside for r in runs])),
                              float(np.mean([r.width for r in runs])),
                              int(sum(r.samples for r in runs)))

    def margins(self) -> dict[str, Margin]:
        """Model vs each baseline over every test window of every fold (the model's loss
        averaged over seeds), with the Diebold-Mariano 95 % interval."""
        by_fold: dict[int, list[FoldResult]] = {}
        for f in self.folds:
            by_fold.setdefault(f.fold, []).append(f)
        out = {}
        for name in self.names[1:]:
            a, b = [], []
            for runs in by_fold.values():
                if name not in runs[0].losses:
                    continue
                a.append(np.mean([r.losses["model"] for r in runs], axis=0))
                b.append(runs[0].losses[name])
            if a and sum(map(len, a)) > 1:
                out[name] = margin_of_losses(np.concatenate(a), np.concatenate(b), self.horizon)
        return out


def backtest(table: Any, options: dict[str, Any], config: FitConfig = FitConfig(),
             folds: int = 5, seeds: int | list[int] = 1, test_rows: int | None = None,
             val_rows: int | None = None, on_fold: Any = None,
             stats: bool = False) -> BacktestResult:
    """Rolling-origin backtest of the forecaster ``prepare(table, **options)`` would train.

    Args:
        table: CSV path, DataFrame or table.
        options: ``prepare`` keyword arguments (targets, features, window, horizon,
            time_column, fill, transform, season, calendar, linear).
        config: training settings.
        folds: origins ``K``. seeds: how many seeds (0..S-1), or the list of seeds.
        test_rows: ``L`` rows per test block (default: the last 30 % of the rows shared
            by the folds, at least ``2H``). val_rows: ``V`` (default 15 % of the rows).
        on_fold: called with each :class:`FoldResult` as it finishes (progress).
        stats: add the AutoETS / AutoARIMA baselines (statsforecast), computed with each
            fold's first seed (they do not depend on the seed).
    """
    opts = dict(options)
    load = {k: opts.pop(k) for k in ("targets", "features", "time_column") if k in opts}
    if opts.get("future") and load.get("features") is not None:
        load["features"] = list(dict.fromkeys(list(load["features"]) + list(opts["future"])))
    series = load_series(table, load["targets"], load.get("features"),
                         time_column=load.get("time_column"), fill=opts.get("fill"))
    n = len(series.X)
    horizon = int(opts.get("horizon", 1))
    test_rows = test_rows or max(2 * horizon, int(round(0.3 * n / folds)))
    val_rows = val_rows or max(horizon, int(round(0.15 * n)))
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    results = []
    for k, blocks in enumerate(fold_blocks(n, folds, test_rows, val_rows, horizon)):
        known = cut(series, blocks[2].stop)
        for i, seed in enumerate(seed_list):
            r = run_fold(known, blocks, opts, config, seed, fold=k, stats=stats and i == 0)
            results.append(r)
            if on_fold is not None:
                on_fold(r)
    return BacktestResult(results, horizon)
