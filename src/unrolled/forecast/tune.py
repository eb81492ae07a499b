"""A grid search as independent tasks: every configuration × every split is one call.

A configuration is a window, a number of units, a learning rate and a number of layers
(:class:`Config`). A split is the default chronological one (70 % train, 15 %
validation, 15 % test) or, with folds, each rolling origin of :mod:`.backtest` (fold
``k`` sees the series cut at the end of its test block). :func:`run_config` prepares,
trains and scores one configuration on one split — a plain function of its arguments,
which a parallel executor maps over the grid — and reports the model's MAE on the
validation windows (what the choice is made on) and on the test windows (reported, never
used to choose).

:func:`summarize` folds the runs into one row per configuration (mean and standard
deviation over the splits) and :func:`best` picks the configuration with the lowest mean
validation MAE (the first in grid order on a tie). Every configuration is trained with the
same seed, so two rows differ only by their settings.

Every split cuts the series by rows, so configurations with different windows are scored
on the same test rows (a longer window has fewer training windows, not other test rows).
"""
from __future__ import annotations

import itertools
import os
import tempfile
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from ..data.split import split_sizes
from ..errors import ConfigError
from .backtest import cut, fold_blocks
from .fit import FitConfig, assess, fit_forecaster
from .pipeline import TEST_FRACTION, VAL_FRACTION, Series, prepare_series


@dataclass(frozen=True, order=True)
class Config:
    """One point of the grid."""

    window: int
    units: int
    lr: float
    layers: int = 1

    @property
    def label(self) -> str:
        return (f"window={self.window} units={self.units} lr={self.lr:g}"
                + (f" layers={self.layers}" if self.layers != 1 else ""))


def grid(windows: list[int], units: list[int], lrs: list[float],
         layers: list[int] | None = None) -> list[Config]:
    """Every combination, window slowest, learning rate (then layers) fastest."""
    for name, values in (("--window", windows), ("--units", units), ("--lr", lrs),
                         ("--layers", layers or [1])):
        if not values:
            raise ConfigError(f"{name} needs at least one value")
        if len(set(values)) != len(values):
            raise ConfigError(f"{name} lists a value twice: {values}")
    return [Config(w, u, lr, k) for w, u, lr, k in
            itertools.product(windows, units, lrs, layers or [1])]


class Split(NamedTuple):
    """The rows of one split: the series is cut at ``blocks[2].stop``."""

    name: str                           # "split" or "fold 2"
    blocks: tuple[slice, slice, slice]


def splits(n: int, horizon: int, folds: int | None = None, test_rows: int | None = None,
           val_rows: int | None = None) -> list[Split]:
    """The default split, or ``folds`` rolling origins (defaults as :func:`.backtest`)."""
    if not folds:
        b = split_sizes(n, VAL_FRACTION, TEST_FRACTION, min_rows=horizon)
        return [Split("split", (b[0], b[1], b[2]))]
    test_rows = test_rows or max(2 * horizon, int(round(0.3 * n / folds)))
    val_rows = val_rows or max(horizon, int(round(0.15 * n)))
    return [Split(f"fold {k + 1}", blocks)
            for k, blocks in enumerate(fold_blocks(n, folds, test_rows, val_rows, horizon))]


class Run(NamedTuple):
    """One configuration trained and scored on one split."""

    config: Config
    split: str
    val_mae: float
    test_mae: float
    epochs: int
    transform: str
    model: bytes | None                 # the forecaster's .keras bytes, when asked for


def run_config(series: Series, split: Split, options: dict[str, Any], base: FitConfig,
               config: Config, seed: int, keep_model: bool = False) -> Run:
    """Prepare, train and score ``config`` on ``split`` (see the module docstring).

    Args:
        series: the whole series (:func:`~.pipeline.load_series`); cut here at the end of
            the split's test block.
        options: :func:`~.pipeline.prepare_series` keyword arguments other than the
            window (horizon, transform, season, calendar, linear, fill).
        base: training settings; ``units``, ``lr`` and ``layers`` come from ``config``.
        keep_model: return the trained forecaster's ``.keras`` bytes.
    """
    known = cut(series, split.blocks[2].stop)
    data = prepare_series(known, split.blocks, window=config.window, **options)
    fit = fit_forecaster(data, replace(base, units=config.units, lr=config.lr,
                                       layers=config.layers), seed=seed)
    val = assess(fit.forecaster, data.val).comparison.model.mae
    test = assess(fit.forecaster, data.test).comparison.model.mae
    blob = _forecaster_bytes(fit.forecaster) if keep_model else None
    return Run(config, split.name, float(val), float(test), fit.epochs,
               data.spec.transform, blob)


def _forecaster_bytes(fc: Any) -> bytes:
    from .model_file import save_forecaster

    with tempfile.TemporaryDirectory(prefix="unrolled-tune-") as tmp:
        path = save_forecaster(fc, os.path.join(tmp, "model.keras"))
        with open(path, "rb") as f:
            return f.read()


class Row(NamedTuple):
    """One configuration over its splits."""

    config: Config
    val_mae: float        # mean over splits
    val_sd: float         # standard deviation over splits (0 for one split)
    test_mae: float
    test_sd: float
    epochs: float         # mean epochs trained
    splits: int
    transforms: str       # the target transform(s) chosen, e.g. "diff" or "level/diff"


def summarize(runs: list[Run], configs: list[Config]) -> list[Row]:
    """One row per configuration that has runs, in grid order."""
    rows = []
    for c in configs:
        mine = [r for r in runs if r.config == c]
        if not mine:
            continue
        val = np.array([r.val_mae for r in mine])
        test = np.array([r.test_mae for r in mine])
        rows.append(Row(c, float(val.mean()), float(val.std()), float(test.mean()),
                        float(test.std()), float(np.mean([r.epochs for r in mine])),
                        len(mine), "/".join(sorted({r.transform for r in mine}))))
    return rows


def best(rows: list[Row]) -> Row:
    """The row with the lowest mean validation MAE (the first one on a tie)."""
    if not rows:
        raise ConfigError("no configuration finished; nothing to choose from")
    return min(rows, key=lambda r: r.val_mae)  # min keeps the first of equal values


def table_csv(rows: list[Row]) -> str:
    """The table as CSV, ranked by validation MAE (rank 1 = chosen)."""
    ranked = sorted(range(len(rows)), key=lambda i: rows[i].val_mae)
    rank = {i: k + 1 for k, i in enumerate(ranked)}
    lines = ["rank,window,units,lr,layers,val_mae,val_mae_sd,test_mae,test_mae_sd,splits,"
             "epochs,transform"]
    for i, r in enumerate(rows):
        c = r.config
        lines.append(f"{rank[i]},{c.window},{c.units},{c.lr:g},{c.layers},{r.val_mae:.6g},"
                     f"{r.val_sd:.6g},{r.test_mae:.6g},{r.test_sd:.6g},{r.splits},"
                     f"{r.epochs:g},{r.transforms}")
    return "\n".join(lines) + "\n"
