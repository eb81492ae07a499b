"""Public loss API, named as ``keras.losses``: ``unrolled.losses.MeanSquaredError()``.

The implementations live in :mod:`unrolled.training.losses` (the per-sample functions
with their gradients in :mod:`unrolled.training.loss_functions`).
"""
from .training.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Huber,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    Pinball,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    deserialize,
    get,
    huber,
    mean_absolute_error,
    mean_squared_error,
    pinball,
    serialize,
    sparse_categorical_crossentropy,
)

__all__ = [
    "BinaryCrossentropy", "CategoricalCrossentropy", "Huber", "Loss", "MeanAbsoluteError",
    "MeanSquaredError", "Pinball", "SparseCategoricalCrossentropy", "binary_crossentropy",
    "categorical_crossentropy", "deserialize", "get", "huber", "mean_absolute_error",
    "mean_squared_error", "pinball", "serialize", "sparse_categorical_crossentropy",
]
