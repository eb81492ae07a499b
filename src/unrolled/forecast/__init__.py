"""Forecasting a multivariate time series with an LSTM, end to end.

The pipeline behind ``unrolled demo``, ``train``, ``predict`` and ``evaluate``, as plain
functions::

    from unrolled import forecast, datasets, set_random_seed
    set_random_seed(0)
    data = forecast.prepare(datasets.load_seattle_weather(), targets=["temp_max"], window=14)
    fit = forecast.fit_forecaster(data, forecast.FitConfig(units=16, epochs=60), seed=0)
    print(forecast.assess(fit.forecaster, data.test).comparison)   # beside every baseline
    forecast.save_forecaster(fit.forecaster, "weather.keras")       # a real Keras 3 file
    print(forecast.forecast("weather.keras", "new.csv").csv_text())

Modules: :mod:`.pipeline` (split, scale, window, model, fit), :mod:`.transform` (level or
change), :mod:`.features` (seasonal lags, calendar), :mod:`.linear` (ridge: the linear
path and a baseline), :mod:`.fit` (one run as a function of data, config and seed),
:mod:`.baselines` (persistence, seasonal naive, training mean, ridge, MAE/RMSE),
:mod:`.significance` (margins with their uncertainty), :mod:`.intervals` (conformal),
:mod:`.backtest` (rolling origin), :mod:`.model_file` (the ``.keras`` file with
scaler statistics and column names), :mod:`.inputs` (reading a new CSV for a trained
model), :mod:`.apply` (forecast / evaluate), :mod:`.report`, :mod:`.plot`, :mod:`.demo`.
"""
from .apply import Evaluation, ForecastResult, evaluate, forecast
from .baselines import Comparison, Scores, compare, persistence, scores, training_mean
from .fit import Assessment, FitConfig, FitResult, assess, fit_forecaster
from .model_file import Forecaster, load_forecaster, save_forecaster
from .pipeline import (ForecastData, ForecastSpec, Windows, build_model, forecast_windows,
                       load_series, predict, prepare, prepare_series, train)

__all__ = [
    "Assessment", "Comparison", "Evaluation", "FitConfig", "FitResult", "ForecastData",
    "ForecastResult", "ForecastSpec", "Forecaster", "Scores", "Windows", "assess",
    "build_model", "compare", "evaluate", "fit_forecaster", "forecast", "forecast_windows",
    "load_forecaster", "load_series", "persistence", "predict", "prepare", "prepare_series",
    "save_forecaster", "scores", "train", "training_mean",
]
