"""Forecasting a multivariate time series with an LSTM, end to end.

The pipeline behind ``unrolled demo``, ``train``, ``predict`` and ``evaluate``, as plain
functions::

    from unrolled import forecast, datasets, set_random_seed
    set_random_seed(0)
    data = forecast.prepare(datasets.load_seattle_weather(), targets=["temp_max"], window=14)
    model = forecast.build_model(data.spec, units=16)
    forecast.train(model, data, epochs=60)
    fc = forecast.Forecaster.from_data(model, data)
    forecast.save_forecaster(fc, "weather.keras")          # a real Keras 3 file
    print(forecast.forecast("weather.keras", "new.csv").csv_text())

Modules: :mod:`.pipeline` (split, scale, window, model, fit), :mod:`.baselines`
(persistence, training mean, MAE/RMSE), :mod:`.model_file` (the ``.keras`` file with
scaler statistics and column names), :mod:`.inputs` (reading a new CSV for a trained
model), :mod:`.apply` (forecast / evaluate), :mod:`.report`, :mod:`.plot`, :mod:`.demo`.
"""
from .apply import Evaluation, ForecastResult, evaluate, forecast
from .baselines import Comparison, Scores, compare, persistence, scores, training_mean
from .model_file import Forecaster, load_forecaster, save_forecaster
from .pipeline import ForecastData, ForecastSpec, Windows, build_model, predict, prepare, train

__all__ = [
    "Comparison", "Evaluation", "ForecastData", "ForecastResult", "ForecastSpec", "Forecaster",
    "Scores", "Windows", "build_model", "compare", "evaluate", "forecast", "load_forecaster",
    "persistence", "predict", "prepare", "save_forecaster", "scores", "train", "training_mean",
]
