"""A forecaster on disk: one ``.keras`` file that ``predict`` needs nothing besides.

The file is the Keras 3 ``.keras`` zip of the model (real Keras loads it as is). What a
forecast needs beyond the weights rides along in the zip's ``unrolled.json`` member,
under the key ``"unrolled_forecast"``::

    {"format": 2,
     "spec":     {"features": [...], "targets": [...], "window": W, "horizon": H,
                  "time_column": "date" | null, "fill": null | "ffill" | ...,
                  "units": {"temp_max": "°C", ...}, "transform": "level" | "diff",
                  "season": m | null, "lags": [[target, L], ...], "calendar": [...],
                  "linear": true | false,
                  "quantiles": [0.1, 0.5, 0.9] (optional: quantile head, see .quantiles),
                  "future": ["price", ...] (optional: known-future inputs, see .future)},
     "scaler_x": {"mean": [F floats], "scale": [F floats], "columns": [...]},
     "scaler_y": {"mean": [T floats], "scale": [T floats], "columns": [...]},
     "scaler_z": {"mean": [H·T floats], "scale": [H·T floats], "columns": [...]},
     "ridge":    {"kernel": [[...]] (W·F, H·T), "bias": [H·T floats], "alpha": a},
     "intervals": {"level": 0.9, "half_width": [[...]] (H, T)} | null,
     "output":   "horizon-major",      # Dense output (batch, H·T): element h·T + t
                                       # (with Q quantiles (batch, H·T·Q): (h·T + t)·Q + q)
     "training": {"source": ..., "rows": ..., "blocks": {"train": [a, b], ...}, ...}}

The scalers hold the *training block's* statistics. A forecast is
``z = network(x) [+ ridge(x) if spec.linear]``, then ``ŷ = base + z·σ_z + μ_z`` with
``base`` the last observed value (transform ``diff``) or 0 (``level``). The ridge model
also serves as a baseline in ``evaluate``. Format 1 files (level, no linear path) load.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data import Standardizer
from ..errors import ConfigError, ModelFileError
from .intervals import Intervals
from .linear import Linear
from .metadata import check_metadata
from . import stored_window
from .pipeline import ForecastData, ForecastSpec, Scalers
from .stored_window import StoredWindow
from .transform import z_columns

KEY = "unrolled_forecast"
FORMAT = 2


@dataclass
class Forecaster:
    """A trained model with everything needed to apply it to a table.

    Attributes:
        model: the Keras-compatible Sequential, input ``(batch, W, F)``, output
            ``(batch, H·T)`` horizon-major.
        spec: columns, window, horizon, time column and fill.
        scalers: training-block statistics of the inputs, targets and network targets.
        ridge: the ridge model on the window (the linear path when ``spec.linear``, and
            the ridge baseline).
        intervals: conformal half-widths calibrated on the validation block, or None.
        training: free-form facts about the training run (source, rows, blocks, epochs).
    """

    model: Any
    spec: ForecastSpec
    scalers: Scalers
    ridge: Linear | None = None
    intervals: Intervals | None = None
    training: dict[str, Any] = field(default_factory=dict)
    series_column: str | None = None
    series: dict[str, tuple[Scalers, Intervals | None]] | None = None
    window: StoredWindow | None = None     # a validation window, for `unrolled inspect`

    def for_series(self, name: str) -> Forecaster:
        """The single-series forecaster of series ``name`` of a global model (same
        network and linear path, that series' scalers and intervals)."""
        if not self.series:
            return self
        if name not in self.series:
            raise ConfigError(f"series {name!r} is not one the model was trained on: "
                              f"{', '.join(list(self.series)[:20])}")
        scalers, iv = self.series[name]
        return Forecaster(self.model, self.spec, scalers, self.ridge, iv, self.training)

    @classmethod
    def from_data(cls, model: Any, data: ForecastData, intervals: Intervals | None = None,
                  **training: Any) -> Forecaster:
        n = sum(b.stop - b.start for b in data.blocks)
        facts = {"source": data.selection.source, "rows": n,
                 "blocks": {name: [b.start, b.stop]
                            for name, b in zip(("train", "val", "test"), data.blocks)},
                 "choices": data.choices}
        return cls(model, data.spec, data.scalers, data.ridge, intervals,
                   {**facts, **training}, window=stored_window.from_data(data))

    @property
    def scaler_x(self) -> Standardizer:
        return self.scalers.x

    @property
    def scaler_y(self) -> Standardizer:
        return self.scalers.y

    @property
    def train_mean(self) -> np.ndarray:
        """``(T,)`` mean of each target over the training block."""
        assert self.scaler_y.mean is not None  # checked when loaded
        return self.scaler_y.mean

    def metadata(self) -> dict[str, Any]:
        """The JSON stored under ``"unrolled_forecast"`` (see the module docstring)."""
        return {"format": FORMAT, "spec": self.spec.get_config(),
                "scaler_x": self.scaler_x.to_config(), "scaler_y": self.scaler_y.to_config(),
                "scaler_z": self.scalers.z.to_config(),
                "ridge": None if self.ridge is None else self.ridge.get_config(),
                "intervals": None if self.intervals is None else self.intervals.get_config(),
                "output": "horizon-major", "training": _jsonable(self.training),
                **({} if self.window is None else {stored_window.KEY: self.window.to_config()}),
                **({} if not self.series else {"series": {
                    "column": self.series_column, "names": list(self.series),
                    "scalers": {n: {"x": sc.x.to_config(), "y": sc.y.to_config(),
                                    "z": sc.z.to_config()} for n, (sc, _) in self.series.items()},
                    "intervals": {n: None if iv is None else iv.get_config()
                                  for n, (_, iv) in self.series.items()}}})}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def check_output_path(path: str | os.PathLike[str]) -> str:
    """Fail before training, not after it, if the model file cannot be written there."""
    # Imported on first use, as in save_forecaster: the io package loads h5py.
    from ..io.atomic import check_writable_path

    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ConfigError(f"the model file name must end in '.keras' (what Keras loads), "
                          f"got {path!r}; e.g. -o model.keras")
    return check_writable_path(path)


def save_forecaster(forecaster: Forecaster, path: str | os.PathLike[str]) -> str:
    """Write the ``.keras`` file (atomically: a failed save leaves no file behind)."""
    from ..models.saving import save_model

    path = check_output_path(path)
    save_model(forecaster.model, path, include_optimizer=True,
               extra={KEY: forecaster.metadata()})
    return path


def load_forecaster(path: str | os.PathLike[str]) -> Forecaster:
    """Read a file written by :func:`save_forecaster` (``unrolled train``).

    Raises:
        ModelFileError: not a model file, or a Keras model without forecasting metadata,
            or metadata that does not fit the model.
    """
    from ..io.guard import check_file
    from ..models.saving import load_model, read_extra

    path = check_file(path)
    model = load_model(path)
    meta = (read_extra(path) or {}).get(KEY)
    if meta is None:
        raise ModelFileError(
            f"{path} is a Keras model but not a forecaster: it carries no scaler statistics "
            "or column names. Make one with `unrolled train DATA.csv --target COL ... -o "
            "model.keras`."
        )
    check_metadata(meta, path, FORMAT)  # formats 1 and 2
    try:
        spec = ForecastSpec.from_config(meta["spec"])
        scaler_x = Standardizer.from_config(meta["scaler_x"])
        scaler_y = Standardizer.from_config(meta["scaler_y"])
        if meta.get("scaler_z"):
            scaler_z = Standardizer.from_config(meta["scaler_z"])
        else:  # format 1: the network predicted standardised levels
            assert scaler_y.mean is not None and scaler_y.scale is not None
            scaler_z = Standardizer(np.tile(scaler_y.mean, spec.horizon),
                                    np.tile(scaler_y.scale, spec.horizon),
                                    z_columns(spec.targets, spec.horizon))
        ridge = Linear.from_config(meta["ridge"]) if meta.get("ridge") else None
        intervals = (Intervals.from_config(meta["intervals"]) if meta.get("intervals")
                     else None)
        column, series = None, None
        if meta.get("series"):
            m = meta["series"]
            column = m["column"]
            series = {n: (Scalers(*(Standardizer.from_config(m["scalers"][n][k])
                                    for k in ("x", "y", "z"))),
                          Intervals.from_config(m["intervals"][n])
                          if m["intervals"].get(n) else None) for n in m["names"]}
    except (KeyError, TypeError, ValueError, ConfigError, AssertionError) as err:
        # the schema should have said why
        raise ModelFileError(f"{path}: the forecasting metadata is damaged ({err})") from None
    forecaster = Forecaster(model, spec, Scalers(scaler_x, scaler_y, scaler_z), ridge,
                            intervals, dict(meta.get("training") or {}), column, series)
    _check_fits(forecaster, path)
    if meta.get(stored_window.KEY) is not None:   # the spec fits the model: now its window
        stored_window.check_window(meta[stored_window.KEY], path, spec.window, len(spec.inputs))
        forecaster.window = StoredWindow.from_config(meta[stored_window.KEY])
    return forecaster


def _output_shape(model: Any, shape: tuple[int, ...]) -> tuple[Any, ...]:
    if hasattr(model, "compute_output_shape"):
        out = model.compute_output_shape(shape)
    else:
        out = shape
        for layer in model.layers:
            out = layer.compute_output_shape(out)
    return tuple(out[0] if isinstance(out, list) else out)


def _check_fits(fc: Forecaster, path: str) -> None:
    """The metadata must describe this model's input and output shapes."""
    W, F, H, T = fc.spec.window, len(fc.spec.inputs), fc.spec.horizon, len(fc.spec.targets)
    Q = max(len(fc.spec.quantiles), 1)
    got_in = tuple(fc.model.input_batch_shape or ())
    out: tuple[Any, ...] = ()
    if got_in[1:] == (W, F):
        out = _output_shape(fc.model, (1, W, F))  # (1, H·T·Q); shapes only, nothing is run
    if got_in[1:] != (W, F) or tuple(out) != (1, H * T * Q):
        quantiles = f", {Q} quantiles" if Q > 1 else ""
        raise ModelFileError(
            f"{path}: the forecasting metadata (window {W}, {F} features, horizon {H}, "
            f"{T} targets{quantiles} → input (None, {W}, {F}), output (None, {H * T * Q})) "
            "does not match "
            f"the model (input {got_in}, output {tuple(out)})"
        )
    if fc.ridge is not None and fc.ridge.kernel.shape != (W * F, H * T):
        raise ModelFileError(f"{path}: the ridge model's kernel has shape "
                             f"{fc.ridge.kernel.shape}, expected {(W * F, H * T)}")
    if fc.spec.linear and fc.ridge is None:
        raise ModelFileError(f"{path}: the model adds a linear path but the file holds none")
    for scaler, names, what in ((fc.scaler_x, fc.spec.inputs, "inputs"),
                                (fc.scaler_y, fc.spec.targets, "targets"),
                                (fc.scalers.z, z_columns(fc.spec.targets, H),
                                 "network targets")):
        if scaler.mean is None or len(scaler.mean) != len(names):
            raise ModelFileError(f"{path}: the scaler of the {what} does not match the "
                                 f"{len(names)} column(s) {names}")
