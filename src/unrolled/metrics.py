"""Public metric API, named as ``keras.metrics``: ``unrolled.metrics.RootMeanSquaredError()``.

The implementations live in :mod:`unrolled.training.metrics`.
"""
from .training.metrics import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    Mean,
    MeanAbsoluteError,
    MeanSquaredError,
    Metric,
    RootMeanSquaredError,
    SparseCategoricalAccuracy,
    deserialize,
    get,
    serialize,
)

__all__ = [
    "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "Mean", "MeanAbsoluteError",
    "MeanSquaredError", "Metric", "RootMeanSquaredError", "SparseCategoricalAccuracy",
    "deserialize", "get", "serialize",
]
