"""Table → scaled windows → model → forecasts in the data's units.

The steps, each a plain function::

    data = prepare(table, targets=["temp_max"], window=14)   # split, scale, window
    model = build_model(data.spec, units=16)                 # LSTM stack + Dense
    history = train(model, data, epochs=60)                  # fit with early stopping
    pred = forecast_windows(model, data.test, data.spec, data.scalers)  # (N, H, T), data units

Order matters and is fixed here: the raw series is cut into train / validation / test
blocks by row, and a window belongs to the block that holds *all its target rows* (its
inputs may reach back into earlier rows, which were known at forecast time; a window
whose targets straddle two blocks is dropped). Scalers, the ridge model and every choice
(target transform, season) are fitted on the train block and judged on the validation
block only, so nothing from the test period leaks into training.

What the network predicts (:mod:`.transform`): ``z``, the standardised level or change
from the last value of each target at steps ``1..H``; with the linear path on, the
network's output is added to the ridge model's ``z`` (:mod:`.linear`), so the network
learns only what the linear model misses.

Dimension letters: ``N`` samples (windows), ``W`` window length (timesteps per sample),
``F`` input features (CSV columns, then derived ones), ``H`` horizon, ``T`` targets.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from ..data import Selection, Standardizer, select_columns, split_sizes, window_index
from ..data.time_axis import Frequency, frequency
from ..errors import ConfigError, DataError
from . import features as feat
from . import transform as tf
from .linear import Linear, choose_ridge

VAL_FRACTION = 0.15
TEST_FRACTION = 0.15
PATIENCE = 10  # epochs without a better validation loss before early stopping


@dataclass(frozen=True)
class ForecastSpec:
    """What a forecaster reads and predicts; everything ``predict`` needs besides weights.

    Attributes:
        features: CSV input columns, the first ones of the model's feature axis ``F``.
        targets: predicted columns, in the order of the output's target axis ``T``.
        window: rows per input window ``W``.
        horizon: future rows predicted per window ``H`` (rows ``1..H`` after the window).
        time_column: the time axis column, or None (rows in file order).
        fill: how empty cells were handled (None: refused), see ``select_columns``.
        units: column → unit, where known (for reports).
        transform: ``"level"`` or ``"diff"`` (:mod:`.transform`).
        season: seasonal period in rows, or None.
        lags: ``[[target, L], ...]`` seasonal-lag inputs after the features (:mod:`.features`).
        calendar: calendar input names after the lags.
        linear: whether the ridge model's output is added to the network's.
        quantiles: quantile levels the network predicts besides the point forecast
            (the median), sorted, 0.5 included; empty for point forecasts only
            (:mod:`.quantiles`).
        future: known-future input columns (among ``features``), read also at the
            forecast rows ``t+1..t+H`` as lead inputs after the calendar (:mod:`.future`).
    """

    features: list[str]
    targets: list[str]
    window: int
    horizon: int = 1
    time_column: str | None = None
    fill: str | None = None
    units: dict[str, str] = field(default_factory=dict)
    transform: str = "level"
    season: int | None = None
    lags: list[list] = field(default_factory=list)
    calendar: list[str] = field(default_factory=list)
    linear: bool = False
    quantiles: list[float] = field(default_factory=list)
    future: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("window", "horizon"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.transform not in tf.TRANSFORMS:
            raise ConfigError(f"transform must be one of {tf.TRANSFORMS}, got {self.transform!r}")

    @property
    def columns(self) -> list[str]:
        """Every column a CSV must hold to be windowed with targets (features first)."""
        return list(dict.fromkeys(self.features + self.targets))

    @property
    def inputs(self) -> list[str]:
        """Names along the model's feature axis: CSV features, seasonal lags, calendar,
        leads of the known-future columns."""
        from .future import lead_names

        return (feat.input_names(self.features, self.lags, self.calendar)
                + lead_names(list(self.future), self.horizon))

    @property
    def needs_targets(self) -> bool:
        """Whether forecasting needs the targets' history (lags, or diff of a target that
        is not an input)."""
        return bool(self.lags) or (self.transform == "diff"
                                   and any(t not in self.features for t in self.targets))

    @property
    def history(self) -> int:
        """Rows a forecast reads: the window plus how far its seasonal lags reach back."""
        return self.window + feat.first_input_row(self.lags)

    def get_config(self) -> dict[str, Any]:
        return {"features": list(self.features), "targets": list(self.targets),
                "window": int(self.window), "horizon": int(self.horizon),
                "time_column": self.time_column, "fill": self.fill, "units": dict(self.units),
                "transform": self.transform, "season": self.season,
                "lags": [[t, int(L)] for t, L in self.lags], "calendar": list(self.calendar),
                "linear": bool(self.linear),
                **({"quantiles": [float(q) for q in self.quantiles]} if self.quantiles else {}),
                **({"future": list(self.future)} if self.future else {})}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ForecastSpec:
        return cls(**config)


class Windows(NamedTuple):
    """The samples of one block of the series.

    ``x`` and ``z`` are what the model sees (standardised, float32); the rest is in the
    data's units, for baselines and reports.
    """

    x: np.ndarray             # (N, W, F) float32, standardised inputs
    z: np.ndarray             # (N, H·T) float32, standardised transformed targets
    y_true: np.ndarray        # (N, H, T) float64, targets in the data's units
    last: np.ndarray          # (N, T) float64, each target at the window's last row
    target_rows: np.ndarray   # (N, H) int64, position of each target row in the series
    seasonal: np.ndarray | None  # (N, H, T) seasonal-naive forecasts, or None

    def __len__(self) -> int:  # type: ignore[override]
        return len(self.x)


class Scalers(NamedTuple):
    """Training-block statistics: inputs (``F``), targets (``T``), network targets (``H·T``)."""

    x: Standardizer
    y: Standardizer
    z: Standardizer


class Series(NamedTuple):
    """A whole series after column selection (see :func:`load_series`)."""

    X: np.ndarray             # (time, features) float64
    Y: np.ndarray             # (time, targets) float64
    selection: Selection
    freq: Frequency
    units: dict[str, str]
    row_numbers: np.ndarray   # (time,) 1-based source data row of each row


@dataclass(frozen=True)
class ForecastData:
    """A prepared dataset: the spec, the scalers, the ridge model and each block's windows."""

    spec: ForecastSpec
    selection: Selection
    scalers: Scalers
    train: Windows
    val: Windows
    test: Windows
    time: np.ndarray | None  # (time,) time stamps of the rows used, or None
    blocks: tuple[slice, slice, slice]  # row ranges of train / val / test
    row_numbers: np.ndarray  # (time,) 1-based data row in the source of each row used
    ridge: Linear            # the ridge baseline / linear path, in z space
    freq: Frequency = Frequency("rows", None, ())
    choices: dict[str, Any] = field(default_factory=dict)  # what auto chose, and why
    y: np.ndarray | None = None  # (time, T) the target series (for the stats baselines)

    @property
    def scaler_x(self) -> Standardizer:
        return self.scalers.x

    @property
    def scaler_y(self) -> Standardizer:
        return self.scalers.y

    @property
    def train_mean(self) -> np.ndarray:
        """``(T,)`` mean of each target over the train block (the training-mean baseline)."""
        assert self.scaler_y.mean is not None  # fitted in prepare
        return self.scaler_y.mean

    def label(self, row: int) -> str:
        """How to name row position ``row`` to a person: its time, else its data row."""
        return str(self.time[row]) if self.time is not None else str(self.row_numbers[row])


def load_table(table: Any, time_column: str | None = None) -> Any:
    """A table with its time axis: ``time_column`` None = found automatically (full dates,
    year-months, quarters, integer years), ``"none"`` = rows in file order."""
    from ..data import as_table, set_time_column
    from ..data.time_axis import detect_time_axis, use_time_column

    if isinstance(time_column, str) and time_column.lower() == "none":
        t = as_table(table, time_column=None) if not hasattr(table, "kinds") else table
        return set_time_column(t, None)
    if time_column is not None:
        # Read without guessing, then set the named column (dates, numbers or periods).
        t = as_table(table, time_column=None) if not hasattr(table, "kinds") else table
        return use_time_column(t, time_column)
    return detect_time_axis(as_table(table))


def load_series(table: Any, targets: str | list[str], features: list[str] | None = None, *,
                time_column: str | None = None, fill: str | None = None) -> Series:
    """Read and check the columns once (then :func:`prepare_series` any number of times)."""
    t = load_table(table, time_column)
    X, Y, selection = select_columns(t, targets, features, fill=fill)
    units = {c: u for c, u in (getattr(t, "units", None) or {}).items()
             if c in selection.features + selection.targets}
    rows = np.setdiff1d(np.arange(1, len(X) + len(selection.dropped_rows) + 1),
                        selection.dropped_rows)
    return Series(X, Y, selection, frequency(selection.time), units, rows)


def prepare(table: Any, targets: str | list[str], features: list[str] | None = None, *,
            window: int, horizon: int = 1, time_column: str | None = None,
            fill: str | None = None, val_fraction: float = VAL_FRACTION,
            test_fraction: float = TEST_FRACTION, transform: str = "auto",
            season: int | str | None = "auto", calendar: bool = False,
            linear: bool = True, quantiles: Any = None,
            future: list[str] | None = None) -> ForecastData:
    """Select columns, split chronologically, fit scalers and ridge on the train block, window.

    Args:
        table: a :class:`~unrolled.data.TimeSeriesTable`, a CSV path or a DataFrame.
        targets: column(s) to forecast.
        features: input columns; None = every numeric column (targets included).
        window, horizon: ``W`` input rows per sample, ``H`` future rows predicted.
        time_column: the time column; None finds one; ``"none"`` uses file order.
        fill: None, ``"ffill"``, ``"interpolate"`` or ``"drop"`` for empty cells.
        val_fraction, test_fraction: shares of the rows in the validation / test blocks.
        transform: ``"level"``, ``"diff"`` or ``"auto"`` (chosen on validation).
        season: rows per season, ``"auto"`` (from the time axis, checked on the train
            block), or None/0 for none. A season adds seasonal-lag inputs and the
            seasonal-naive baseline.
        calendar: add calendar inputs taken at the forecast time (needs a date axis).
        linear: add the ridge model's output to the network's (the linear path).
        quantiles: quantile levels to forecast besides the point forecast (e.g.
            ``[0.1, 0.9]``; the median is added), or None (:mod:`.quantiles`).
        future: known-future columns, read at the forecast rows too (:mod:`.future`);
            added to ``features`` when those are given.

    Raises:
        DataError: unusable data (see ``select_columns``), or a series too short for
            one window in each block.
    """
    if future and features is not None:
        features = list(dict.fromkeys(list(features) + list(future)))
    series = load_series(table, targets, features, time_column=time_column, fill=fill)
    need = window + horizon
    if len(series.X) < need:
        dropped = (f" left after dropping {len(series.selection.dropped_rows)} with empty "
                   "cells" if series.selection.dropped_rows else "")
        raise DataError(
            f"the series is too short: {series.selection.source} has {len(series.X)} "
            f"rows{dropped}, but one sample needs window {window} + horizon {horizon} = "
            f"{need} rows. Use a shorter window or horizon, or more data."
        )
    blocks = split_sizes(len(series.X), val_fraction, test_fraction, min_rows=horizon)
    return prepare_series(series, tuple(blocks), window=window, horizon=horizon,
                          transform=transform, season=season, calendar=calendar,
                          linear=linear, fill=fill, quantiles=quantiles, future=future)


def prepare_series(series: Series, blocks: tuple[slice, slice, slice], *, window: int,
                   horizon: int = 1, transform: str = "level", season: int | str | None = None,
                   calendar: bool = False, linear: bool = False,
                   fill: str | None = None, quantiles: Any = None,
                   future: list[str] | None = None) -> ForecastData:
    """:func:`prepare` on an already-read series and given row blocks (a plain function of
    its arguments: rolling-origin folds call it with their own blocks and never pass rows
    after their test block)."""
    sel = series.selection
    train_rows = blocks[0]
    choices: dict[str, Any] = {"frequency": series.freq.describe()}
    m, why = _season(season, series, train_rows, window, horizon)
    choices["season"] = why
    lags = feat.lag_columns(sel.targets, sel.features, m, horizon)
    cal = feat.calendar_names(sel.time) if calendar else []
    if calendar and not cal:
        raise ConfigError("calendar inputs need a time column of dates with a regular "
                          f"step (found: {series.freq.describe()})")
    from .future import check_future, with_leads

    future = check_future(list(future or []), sel.targets)
    left_out = [c for c in future if c not in sel.features]
    if left_out:
        why = "; ".join(f"{c}: {sel.ignored[c]}" for c in left_out
                        if c in sel.ignored)
        raise ConfigError(f"--future {','.join(left_out)}: not among the model's inputs "
                          f"({', '.join(sel.features)})" + (f" ({why})" if why else "")
                          + ". List it in --features too.")
    spec = ForecastSpec(features=sel.features, targets=sel.targets, window=window,
                        horizon=horizon, time_column=sel.time_column, fill=fill,
                        units=series.units, transform="level", season=m, lags=lags,
                        calendar=cal, linear=bool(linear),
                        quantiles=_quantiles(quantiles), future=future)
    Xa = feat.derived_inputs(series.X, series.Y, sel.time, sel.targets, lags, cal, horizon)
    Xa = with_leads(Xa, series.X, sel.features, future, horizon)
    first = max(feat.first_input_row(lags), (m or 0) - window, 0)
    inputs, targets = window_index(len(Xa), window, horizon, start_index=first) \
        if len(Xa) - first >= window + horizon else (np.empty((0, window), np.int64),
                                                      np.empty((0, horizon), np.int64))
    picks = [(targets[:, 0] >= b.start) & (targets[:, -1] < b.stop) for b in blocks]
    names = ("train", "validation", "test")
    for name, pick, b in zip(names, picks, blocks):
        if not pick.any():
            raise DataError(
                f"the {name} block (rows {b.start}..{b.stop - 1} of {len(Xa)}) gives no "
                f"window: a window needs {window} input rows"
                + (f" (after the first {first} rows, which seasonal lag {m} needs)"
                   if first else "") + f" and {horizon} target rows inside the block. Use "
                "more data, a shorter window or horizon" + (", or --season 0" if m else "")
                + "."
            )
    scaler_x = Standardizer(columns=spec.inputs).fit(Xa[first:train_rows.stop])
    scaler_y = Standardizer(columns=spec.targets).fit(series.Y[train_rows])
    xs = scaler_x.transform(Xa.astype(np.float32))
    parts = [(inputs[p], targets[p]) for p in picks]

    def windows(z_scaler: Standardizer | None, tr: str) -> list[Windows]:
        return [make_windows_at(xs, series.Y, i, t, m, tr, z_scaler) for i, t in parts]

    if transform not in (*tf.TRANSFORMS, "auto"):
        raise ConfigError(f"transform must be 'level', 'diff' or 'auto', got {transform!r}")
    fitted = {}
    for tr in tf.TRANSFORMS if transform == "auto" else (transform,):
        raw = windows(None, tr)
        z_scaler = tf.fit_z_scaler(raw[0].y_true, raw[0].last, tr, spec.targets)
        wins = windows(z_scaler, tr)
        ridge = choose_ridge(wins[0].x, wins[0].z, wins[1].x, wins[1].z)
        val = wins[1]
        pred = tf.decode(ridge(val.x), val.last, tr, z_scaler, horizon)
        fitted[tr] = (pred, Scalers(scaler_x, scaler_y, z_scaler), wins, ridge)
    if transform == "auto":
        tr, choices["transform"] = _choose_transform(
            {k: v[0] for k, v in fitted.items()}, fitted["level"][2][1].y_true,
            series.Y[train_rows])
    else:
        tr, choices["transform"] = transform, f"{transform} (given)"
    _, scalers, wins, ridge = fitted[tr]
    return ForecastData(replace(spec, transform=tr), sel, scalers, *wins, time=sel.time,
                        blocks=blocks, row_numbers=series.row_numbers, ridge=ridge,
                        freq=series.freq, choices=choices, y=series.Y)


def _quantiles(quantiles: Any) -> list[float]:
    from .quantiles import normalize

    return normalize(quantiles) if quantiles else []


def _choose_transform(val_pred: dict[str, np.ndarray], val_true: np.ndarray,
                      train_y: np.ndarray) -> tuple[str, str]:
    """``diff`` if the validation targets leave the train block's range (a trend or a
    level shift: a level forecaster would have to extrapolate), or if the ridge model
    predicting changes has a validation MAE lower beyond noise; ``level`` otherwise."""
    from .significance import margin

    lo, hi = train_y.min(axis=0), train_y.max(axis=0)
    outside = float(np.mean((val_true < lo) | (val_true > hi)))
    m = margin(val_pred["diff"], val_pred["level"], val_true)
    rel = m.relative
    maes = (f"validation MAE of the ridge model: level {m.base_mae:.4g}, diff "
            f"{m.base_mae + m.diff:.4g} ({rel[0] * 100:+.1f} %, 95 % {rel[1] * 100:+.1f} .. "
            f"{rel[2] * 100:+.1f} %)")
    if outside > 0.2:
        return "diff", (f"diff ({outside * 100:.0f} % of the validation targets lie outside "
                        f"the training range; {maes})")
    if m.verdict == "better":
        return "diff", f"diff ({maes})"
    return "level", (f"level ({outside * 100:.0f} % of the validation targets outside the "
                     f"training range; {maes})")


def _season(season: int | str | None, series: Series, train: slice, window: int,
            horizon: int) -> tuple[int | None, str]:
    if season is None or season == 0:
        return None, "none"
    if season != "auto":
        m = int(season)
        if m < 2:
            raise ConfigError(f"season must be a whole number of rows >= 2 (or 0 for none), "
                              f"got {season}")
        return m, f"{m} (given)"
    y = series.Y[train]
    d = np.diff(y, axis=0)
    tried = []
    best: tuple[float, int] | None = None
    for m in series.freq.seasons:
        if len(d) < 2 * m + window + horizon:
            tried.append(f"{m}: too few train rows")
            continue
        acf = float(np.mean([_acf(d[:, j], m) for j in range(d.shape[1])]))
        tried.append(f"{m}: {acf:.2f}")
        if acf > max(0.2, 3 / np.sqrt(len(d))) and (best is None or acf > best[0]):
            best = (acf, m)
    detail = (f"autocorrelation of the train block's changes at {', '.join(tried)}"
              if tried else f"no calendar season for {series.freq.name} rows")
    if best is None:
        return None, f"none ({detail})"
    return best[1], f"{best[1]} rows ({series.freq.name}; {detail})"


def _acf(x: np.ndarray, lag: int) -> float:
    x = x - x.mean()
    den = float(x @ x)
    return float(x[lag:] @ x[:-lag]) / den if den > 0 else 0.0


def make_windows_at(xs: np.ndarray, Y: np.ndarray, inputs: np.ndarray, targets: np.ndarray,
                    season: int | None, transform: str,
                    z_scaler: Standardizer | None) -> Windows:
    """Windows with input rows ``inputs (N, W)`` of the scaled inputs ``xs (time, F)`` and
    target rows ``targets (N, H)`` of ``Y (time, T)``."""
    y_true = Y[targets]
    last = Y[inputs[:, -1]]
    z = (tf.encode(y_true, last, transform, z_scaler) if z_scaler is not None
         else np.zeros((len(inputs), y_true[0].size if len(y_true) else 0), np.float32))
    seasonal = feat.seasonal_naive(Y, targets, season) if season else None
    return Windows(x=xs[inputs], z=z, y_true=y_true, last=last, target_rows=targets,
                   seasonal=seasonal)


# -- the model -------------------------------------------------------------------------
def build_model(spec: ForecastSpec, units: int = 16, layers: int = 1,
                linear: Linear | None = None, quantile_gaps: np.ndarray | None = None) -> Any:
    """The network, a Keras-compatible model.

    Without the linear path: ``Input((W, F)) → LSTM(units) × layers → Dense(H·T)``, a
    Sequential. With it (``spec.linear``), a Functional model (LSTNet's highway)::

        window (W, F) ─ LSTM(units) × layers ─ Dense(H·T) "forecast" (starts at 0) ─┐
              └────── Flatten (W·F) ────────── Dense(H·T) "linear" (ridge weights) ─ Add

    so the untrained forecaster *is* the ridge model (``linear``, when given) and
    training moves both paths together only where that lowers the loss. Every LSTM but
    the last returns its whole sequence. The output ``(batch, H·T)`` is horizon-major —
    element ``h·T + t`` is target ``t`` at ``h + 1`` rows ahead. Keras 3 loads either
    from the ``.keras`` file. Initial weights come from the global seed.

    With ``spec.quantiles`` the output is ``(batch, H·T·Q)``: the sum above becomes the
    median of a non-crossing quantile head (:mod:`.quantiles`), whose starting gaps are
    ``quantile_gaps`` (z units) when given.
    """
    from ..layers import LSTM, Add, Dense, Flatten, Input
    from ..models import Model, Sequential

    for name, value in (("units", units), ("layers", layers)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    k = spec.horizon * len(spec.targets)
    lstms = [LSTM(units, return_sequences=i < layers - 1,
                  name=f"lstm_{i + 1}" if layers > 1 else "lstm") for i in range(layers)]
    if not spec.linear and not spec.quantiles:
        return Sequential([Input((spec.window, len(spec.inputs))), *lstms,
                           Dense(k, name="forecast")], name="forecaster")
    window = Input((spec.window, len(spec.inputs)), name="window")
    h = window
    for layer in lstms:
        h = layer(h)
    if not spec.linear:
        out = Dense(k, name="forecast")(h)
    else:
        net = Dense(k, kernel_initializer="zeros", name="forecast")(h)
        lin_layer = Dense(k, name="linear")
        lin = lin_layer(Flatten(name="flatten")(window))
        out = Add(name="forecast_sum")([net, lin])
    if spec.quantiles:
        from .quantiles import head

        out = head(h, out, k, list(spec.quantiles), quantile_gaps)
    model = Model(window, out, name="forecaster")
    if linear is not None and spec.linear:
        set_linear(model, linear)
    return model


def _layer(model: Any, name: str) -> Any:
    return next((layer for layer in model.layers if layer.name == name), None)


def linear_in_graph(model: Any) -> bool:
    """Whether the model holds the linear path itself (a Dense named ``linear``); files
    written before it did add the stored ridge model outside the network."""
    return _layer(model, "linear") is not None


def set_linear(model: Any, linear: Linear) -> None:
    """Put the ridge weights into the model's linear path."""
    layer = _layer(model, "linear")
    layer.set_weights([linear.kernel.astype(np.float32), linear.bias.astype(np.float32)])


def predict(model: Any, x: np.ndarray, spec: ForecastSpec) -> np.ndarray:
    """The model's output ``(N, H, T)`` for windows ``x (N, W, F)``: exactly
    ``model.predict(x, verbose=0)`` reshaped."""
    out = np.asarray(model.predict(x, verbose=0))  # (N, H·T)
    return out.reshape(len(x), spec.horizon, len(spec.targets))


def network_z(model: Any, x: np.ndarray, spec: ForecastSpec, linear: Linear | None) -> np.ndarray:
    """``(N, H·T)`` z forecasts: the model's output (plus the stored ridge model, for
    files whose network does not hold the linear path)."""
    z = np.asarray(model.predict(x, verbose=0), np.float64).reshape(len(x), -1)
    if spec.quantiles:  # (N, K·Q) -> the median's (N, K)
        from .quantiles import centre, split

        z = split(z, z.shape[1] // len(spec.quantiles),
                  len(spec.quantiles))[:, :, centre(list(spec.quantiles))]
    if spec.linear and linear is not None and not linear_in_graph(model):
        z = z + linear(x)
    return z


def forecast_windows(model: Any, w: Windows, spec: ForecastSpec, scalers: Scalers,
                     linear: Linear | None) -> np.ndarray:
    """``(N, H, T)`` forecasts in the data's units for the windows ``w``."""
    return tf.decode(network_z(model, w.x, spec, linear), w.last, spec.transform, scalers.z,
                     spec.horizon)


def keep_linear_promise(model: Any, w: Windows, spec: ForecastSpec,
                        linear: Linear) -> str | None:
    """If the trained model's validation MSE (z units, windows ``w``) is above the ridge
    model's, turn the model back into the ridge model (LSTM output 0, ridge weights) and
    say so; else None."""
    if not spec.linear:
        return None
    z = np.asarray(w.z, np.float64)
    trained = float(np.mean((network_z(model, w.x, spec, linear) - z) ** 2))
    alone = float(np.mean((linear(w.x) - z) ** 2))
    if alone > trained:
        return None
    dense = _layer(model, "forecast")
    dense.set_weights([np.zeros_like(v) for v in dense.get_weights()])
    if linear_in_graph(model):
        set_linear(model, linear)
    return (f"training did not lower the validation loss of the linear path alone "
            f"({trained:.4g} vs {alone:.4g}); the model is reset to the ridge regression "
            "(the LSTM's output weights are 0)")


def residual_target(w: Windows, spec: ForecastSpec, linear: Linear | None,
                    model: Any = None) -> np.ndarray:
    """What the model is fitted to: ``z`` (minus the ridge model's ``z`` when the linear
    path is added outside the network)."""
    if spec.linear and linear is not None and model is not None and not linear_in_graph(model):
        return (w.z - linear(w.x)).astype(np.float32)
    return w.z


def train(model: Any, data: ForecastData, epochs: int = 100, batch_size: int = 32,
          lr: float = 1e-3, patience: int = PATIENCE, verbose: Any = 1) -> Any:
    """Fit on the train windows with Adam and MSE, stopping early on the validation loss.

    The best epoch's weights (lowest validation loss) are restored at the end. Returns
    the History of ``model.fit``.
    """
    from ..training.callbacks import EarlyStopping
    from ..training.optimizers import Adam

    lin = data.ridge
    quantiles = list(data.spec.quantiles)
    if quantiles:
        from ..training.losses import Pinball

        model.compile(optimizer=Adam(lr), loss=Pinball(quantiles))
    else:
        model.compile(optimizer=Adam(lr), loss="mse", metrics=["mae"])
    stop = EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    history = model.fit(data.train.x, residual_target(data.train, data.spec, lin, model),
                        batch_size=batch_size, epochs=epochs,
                        validation_data=(data.val.x,
                                         residual_target(data.val, data.spec, lin, model)),
                        callbacks=[stop], verbose=verbose, shuffle=True)
    if quantiles:
        # Keras 3 has no pinball loss: name one it knows in the file's compile config
        # (the median's loss), so keras.saving.load_model reads the file.
        model.compile(optimizer=Adam(lr), loss="mae")
    return history
