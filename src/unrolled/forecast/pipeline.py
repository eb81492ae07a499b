"""Table → scaled windows → LSTM → forecasts in the data's units.

The steps, each a plain function::

    data = prepare(table, targets=["temp_max"], window=14)   # split, scale, window
    model = build_model(data.spec, units=16)                 # LSTM stack + Dense
    history = train(model, data, epochs=60)                  # fit with early stopping
    pred = predict(model, data.test.x, data.spec)            # (samples, horizon, targets)
    pred_units = data.scaler_y.inverse_transform(pred)

Order matters and is fixed here: the raw series is cut into train / validation / test
blocks *before* windowing (no window straddles two blocks) and the scalers are fitted on
the train block only, so nothing from the validation or test period leaks into training.

Dimension letters: ``N`` samples (windows), ``W`` window length (timesteps per sample),
``F`` input features, ``H`` horizon (future rows per sample), ``T`` targets.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..data import (Selection, Standardizer, chronological_split, make_windows, select_columns,
                    window_index)
from ..errors import ConfigError, DataError

VAL_FRACTION = 0.15
TEST_FRACTION = 0.15
PATIENCE = 10  # epochs without a better validation loss before early stopping


@dataclass(frozen=True)
class ForecastSpec:
    """What a forecaster reads and predicts; everything ``predict`` needs besides weights.

    Attributes:
        features: input columns, in the order of the model's feature axis ``F``.
        targets: predicted columns, in the order of the output's target axis ``T``.
        window: rows per input window ``W``.
        horizon: future rows predicted per window ``H`` (rows ``1..H`` after the window).
        time_column: the time axis column, or None (rows in file order).
        fill: how empty cells were handled (None: refused), see ``select_columns``.
        units: column → unit, where known (for reports).
    """

    features: list[str]
    targets: list[str]
    window: int
    horizon: int = 1
    time_column: str | None = None
    fill: str | None = None
    units: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("window", "horizon"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")

    @property
    def columns(self) -> list[str]:
        """Every column a CSV must hold to be windowed with targets (features first)."""
        return list(dict.fromkeys(self.features + self.targets))

    def get_config(self) -> dict[str, Any]:
        return {"features": list(self.features), "targets": list(self.targets),
                "window": int(self.window), "horizon": int(self.horizon),
                "time_column": self.time_column, "fill": self.fill, "units": dict(self.units)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ForecastSpec:
        return cls(**config)


class Windows(NamedTuple):
    """The samples of one block of the series.

    ``x`` and ``y`` are what the model sees (standardised, float32); the rest is in the
    data's units, for baselines and reports.
    """

    x: np.ndarray             # (N, W, F) float32, standardised inputs
    y: np.ndarray             # (N, H, T) float32, standardised targets
    y_true: np.ndarray        # (N, H, T) float64, targets in the data's units
    last: np.ndarray          # (N, T) float64, each target at the window's last row
    target_rows: np.ndarray   # (N, H) int64, position of each target row in the series


@dataclass(frozen=True)
class ForecastData:
    """A prepared dataset: the spec, the scalers and the windows of each block."""

    spec: ForecastSpec
    selection: Selection
    scaler_x: Standardizer
    scaler_y: Standardizer
    train: Windows
    val: Windows
    test: Windows
    time: np.ndarray | None  # (time,) time stamps of the rows used, or None
    blocks: tuple[slice, slice, slice]  # row ranges of train / val / test
    row_numbers: np.ndarray  # (time,) 1-based data row in the source of each row used

    @property
    def train_mean(self) -> np.ndarray:
        """``(T,)`` mean of each target over the train block (the training-mean baseline)."""
        assert self.scaler_y.mean is not None  # fitted in prepare
        return self.scaler_y.mean

    def label(self, row: int) -> str:
        """How to name row position ``row`` to a person: its time, else its data row."""
        return str(self.time[row]) if self.time is not None else str(self.row_numbers[row])


def prepare(table: Any, targets: str | list[str], features: list[str] | None = None, *,
            window: int, horizon: int = 1, time_column: str | None = None,
            fill: str | None = None, val_fraction: float = VAL_FRACTION,
            test_fraction: float = TEST_FRACTION) -> ForecastData:
    """Select columns, split chronologically, fit scalers on the train block, window.

    Args:
        table: a :class:`~unrolled.data.TimeSeriesTable`, a CSV path or a DataFrame.
        targets: column(s) to forecast.
        features: input columns; None = every numeric column (targets included).
        window, horizon: ``W`` input rows per sample, ``H`` future rows predicted.
        time_column: override the table's time column (None keeps its own choice).
        fill: None, ``"ffill"``, ``"interpolate"`` or ``"drop"`` for empty cells.
        val_fraction, test_fraction: shares of the rows in the validation / test blocks.

    Raises:
        DataError: unusable data (see ``select_columns``), a series shorter than
            ``window + horizon`` or blocks too short to give one sample each.
    """
    X, Y, selection = select_columns(table, targets, features, time_column=time_column,
                                     fill=fill)
    spec = ForecastSpec(features=selection.features, targets=selection.targets,
                        window=window, horizon=horizon, time_column=selection.time_column,
                        fill=fill, units=_units(table, selection))
    need = window + horizon
    if len(X) < need:
        dropped = (f" left after dropping {len(selection.dropped_rows)} with empty cells"
                   if selection.dropped_rows else "")
        raise DataError(
            f"the series is too short: {selection.source} has {len(X)} rows{dropped}, but "
            f"one sample needs window {window} + horizon {horizon} = {need} rows. Use a "
            "shorter window or horizon, or more data."
        )
    blocks = chronological_split(len(X), val_fraction, test_fraction, min_rows=need)
    scaler_x = Standardizer(columns=spec.features).fit(X[blocks.train])
    scaler_y = Standardizer(columns=spec.targets).fit(Y[blocks.train])
    train, val, test = (_windows(X[b], Y[b], b.start, spec, scaler_x, scaler_y) for b in blocks)
    # Rows removed by fill="drop" keep their numbers out of the sequence.
    rows = np.setdiff1d(np.arange(1, len(X) + len(selection.dropped_rows) + 1),
                        selection.dropped_rows)
    return ForecastData(spec, selection, scaler_x, scaler_y, train, val, test,
                        time=selection.time, blocks=(blocks.train, blocks.val, blocks.test),
                        row_numbers=rows)


def _units(table: Any, selection: Selection) -> dict[str, str]:
    units = getattr(table, "units", None) or {}
    return {c: u for c, u in units.items() if c in selection.features + selection.targets}


def _windows(X: np.ndarray, Y: np.ndarray, offset: int, spec: ForecastSpec,
             scaler_x: Standardizer, scaler_y: Standardizer) -> Windows:
    """Windows of one block; ``offset`` is the block's first row in the whole series."""
    x, y = make_windows(scaler_x.transform(X.astype(np.float32)),
                        scaler_y.transform(Y.astype(np.float32)), spec.window, spec.horizon)
    inputs, future = window_index(len(X), spec.window, spec.horizon)  # (N, W), (N, H)
    assert future is not None  # with_targets=True
    return Windows(x=x, y=y, y_true=Y[future], last=Y[inputs[:, -1]],
                   target_rows=future + offset)


def window_targets(X: np.ndarray, Y: np.ndarray, spec: ForecastSpec, scaler_x: Standardizer,
                   scaler_y: Standardizer) -> Windows:
    """Every window of a whole series ``X (time, F)``, ``Y (time, T)`` that has targets."""
    return _windows(X, Y, 0, spec, scaler_x, scaler_y)


# -- the model -------------------------------------------------------------------------
def build_model(spec: ForecastSpec, units: int = 16, layers: int = 1) -> Any:
    """``Input((W, F)) → LSTM(units) × layers → Dense(H·T)``, a Keras-compatible Sequential.

    Every LSTM but the last returns its whole sequence (so the next one has timesteps to
    read); the last returns only its final state ``h_W`` (batch, units), from which one
    linear ``Dense`` layer reads all ``H·T`` outputs at once (no activation: standardised
    targets can be negative). The output ``(batch, H·T)`` is horizon-major — element
    ``h·T + t`` is target ``t`` at ``h + 1`` rows ahead — and :func:`predict` reshapes it
    to ``(batch, H, T)``. A plain Sequential keeps the ``.keras`` file loadable by Keras.
    Initial weights come from the global seed (``unrolled.set_random_seed``).
    """
    from ..layers import LSTM, Dense, Input
    from ..models import Sequential

    for name, value in (("units", units), ("layers", layers)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    stack: list[Any] = [Input((spec.window, len(spec.features)))]
    for k in range(layers):
        stack.append(LSTM(units, return_sequences=k < layers - 1,
                          name=f"lstm_{k + 1}" if layers > 1 else "lstm"))
    stack.append(Dense(spec.horizon * len(spec.targets), name="forecast"))
    return Sequential(stack, name="forecaster")


def predict(model: Any, x: np.ndarray, spec: ForecastSpec) -> np.ndarray:
    """Standardised forecasts ``(N, H, T)`` for windows ``x (N, W, F)``: exactly
    ``model.predict(x, verbose=0)`` (default batch size), reshaped."""
    out = np.asarray(model.predict(x, verbose=0))  # (N, H·T)
    return out.reshape(len(x), spec.horizon, len(spec.targets))


def train(model: Any, data: ForecastData, epochs: int = 100, batch_size: int = 32,
          lr: float = 1e-3, patience: int = PATIENCE, verbose: Any = 1) -> Any:
    """Fit on the train windows with Adam and MSE, stopping early on the validation loss.

    The best epoch's weights (lowest validation loss) are restored at the end. Returns
    the History of ``model.fit``.
    """
    from ..training.callbacks import EarlyStopping
    from ..training.optimizers import Adam

    flat = (lambda w: w.y.reshape(len(w.y), -1))  # (N, H, T) -> (N, H·T), horizon-major
    model.compile(optimizer=Adam(lr), loss="mse", metrics=["mae"])
    stop = EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    return model.fit(data.train.x, flat(data.train), batch_size=batch_size, epochs=epochs,
                     validation_data=(data.val.x, flat(data.val)), callbacks=[stop],
                     verbose=verbose, shuffle=True)
