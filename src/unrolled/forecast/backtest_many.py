"""Rolling-origin backtest of a global model over many series (``--series-column``).

Each series gets its own fold blocks from its own length, exactly as a single series
would (:func:`~.backtest.fold_blocks`), and is cut at the end of its fold-``k`` test
block before anything is prepared, so no fold sees a row after its test block in any
series. Fold ``k`` then prepares every cut series with the shared choices
(:func:`~.many.prepare_loaded`), trains one network on the pooled windows
(:func:`~.many.fit_many`), and scores it per series and pooled (errors in each series'
own units), beside the baselines of each series.

The result is a :class:`~.backtest.BacktestResult` whose folds also carry the MAE of
every method per series (``FoldResult.per_series``), so reports show both the overall
and the per-series picture.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError
from .backtest import BacktestResult, FoldResult, cut, fold_blocks
from .fit import FitConfig, assess
from .significance import window_losses
from .transform import decode


def backtest_many(table: Any, series_column: str, options: dict[str, Any],
                  config: FitConfig = FitConfig(), folds: int = 5, seeds: int | list[int] = 1,
                  test_rows: int | None = None, val_rows: int | None = None,
                  on_fold: Any = None) -> BacktestResult:
    """Backtest the global model ``prepare_many(table, series_column, **options)`` would
    train; ``test_rows`` / ``val_rows`` as in :func:`~.backtest.backtest`, per series."""
    from .many import load_many

    opts = dict(options)
    load = {k: opts.pop(k) for k in ("targets", "features", "time_column") if k in opts}
    loaded = load_many(table, series_column, load["targets"], load.get("features"),
                       time_column=load.get("time_column"), fill=opts.get("fill"),
                       future=opts.get("future"))
    horizon = int(opts.get("horizon", 1))
    blocks = {}
    for name, s in loaded.items():
        n = len(s.X)
        try:
            blocks[name] = fold_blocks(n, folds, test_rows or max(2 * horizon,
                                                                  int(round(0.3 * n / folds))),
                                       val_rows or max(horizon, int(round(0.15 * n))), horizon)
        except DataError as err:
            raise DataError(f"series {name!r}: {err}") from None
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    results = []
    for k in range(folds):
        fold = {name: b[k] for name, b in blocks.items()}
        known = {name: cut(s, fold[name][2].stop) for name, s in loaded.items()}
        for seed in seed_list:
            r = run_many_fold(known, fold, series_column, opts, config, seed, k)
            results.append(r)
            if on_fold is not None:
                on_fold(r)
    return BacktestResult(results, horizon)


def run_many_fold(known: dict[str, Any], blocks: dict[str, tuple[slice, slice, slice]],
                  series_column: str, options: dict[str, Any], config: FitConfig, seed: int,
                  fold: int = 0) -> FoldResult:
    """Prepare, train and score one fold of every series (each cut at its test end)."""
    from .many import _pooled_comparison, fit_many, prepare_loaded

    md = prepare_loaded(known, blocks, series_column, **options)
    fc = fit_many(md, config, seed=seed).forecaster
    per, preds, trues, losses = {}, [], [], {}
    covered, counted, widths = 0.0, 0, []
    for name, d in md.parts.items():
        one = fc.for_series(name)
        w = d.test
        a = assess(one, w)
        per[name] = a.comparison
        preds.append(a.pred)
        trues.append(w.y_true)
        for method, values in _forecasts(a.pred, w, one).items():
            losses.setdefault(method, []).append(window_losses(values, w.y_true))
        if a.coverage is not None:
            covered += a.coverage.coverage * a.coverage.samples
            counted += a.coverage.samples
            widths.append(a.coverage.width)
    pooled = _pooled_comparison(per, preds, trues, md.parts, fc, "test")
    first = next(iter(md.parts.values()))
    steps = dict(pooled.steps)
    mae = {"model": pooled.model.mae, **{k: s.mae for k, s in pooled.baselines.items()}}
    per_series = {name: {"model": c.model.mae, **{k: s.mae for k, s in c.baselines.items()}}
                  for name, c in per.items()}
    return FoldResult(
        fold, seed, first.label(blocks[next(iter(blocks))][2].start), steps, mae,
        {k: np.concatenate(v) for k, v in losses.items() if len(v) == len(md.parts)},
        covered / counted if counted else None,
        float(np.mean(widths)) if widths else None, pooled.samples, md.spec.transform,
        md.spec.season, per_series=per_series)


def _forecasts(pred: np.ndarray, w: Any, fc: Any) -> dict[str, np.ndarray]:
    """The model's and each baseline's forecasts ``(N, H, T)`` of one series' windows."""
    h = w.y_true.shape[1]
    out = {"model": pred, "persistence": np.repeat(w.last[:, None, :], h, axis=1)}
    if w.seasonal is not None:
        out["seasonal naive"] = w.seasonal
    out["training mean"] = np.broadcast_to(fc.train_mean, w.y_true.shape)
    if fc.ridge is not None:
        out["ridge"] = decode(fc.ridge(w.x), w.last, fc.spec.transform, fc.scalers.z, h)
    return out


def per_series_summary(result: BacktestResult) -> dict[str, dict[str, float]]:
    """Series → method → MAE averaged over folds × seeds."""
    out: dict[str, dict[str, list[float]]] = {}
    for f in result.folds:
        for name, maes in (f.per_series or {}).items():
            for method, v in maes.items():
                out.setdefault(name, {}).setdefault(method, []).append(v)
    return {n: {m: float(np.mean(v)) for m, v in ms.items()} for n, ms in out.items()}


def per_series_text(result: BacktestResult, indent: str = "  ") -> str:
    """One line per series: the model's mean MAE, the best baseline's, and the ratio."""
    summary = per_series_summary(result)
    lines = [f"{'series':<16}{'model MAE':>12}  {'best baseline (MAE)':<30}{'model / best':>13}"]
    for name, maes in summary.items():
        best = min((m for m in maes if m != "model"), key=lambda m: maes[m])
        ratio = maes["model"] / maes[best] if maes[best] else float("nan")
        lines.append(f"{name[:16]:<16}{maes['model']:>12.4g}  "
                     f"{best + ' (' + format(maes[best], '.4g') + ')':<30}{ratio:>13.2f}")
    return "\n".join(indent + line for line in lines)


__all__ = ["backtest_many", "per_series_summary", "per_series_text", "run_many_fold"]
