"""``Input(shape)``: declares a model's input shape (batch axis excluded), as in Keras."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import Layer, parse_dtype, unique_name


class InputLayer(Layer):
    """A placeholder that fixes the input shape ``(batch, *shape)`` of a Sequential model."""

    def __init__(self, shape: tuple[int | None, ...] | None = None, batch_size: int | None = None,
                 dtype: Any = None, name: str | None = None, batch_shape: Any = None,
                 **kwargs: Any) -> None:
        for ignored in ("sparse", "ragged", "optional"):
            if kwargs.pop(ignored, False):
                raise ConfigError(f"InputLayer: {ignored}=True is not supported by unrolled.")
        # Integer inputs (token ids for an Embedding) keep their dtype; others are float.
        int_dtype = isinstance(dtype, str) and dtype.startswith(("int", "uint"))
        super().__init__(name=name or unique_name("input_layer"),
                         dtype=None if int_dtype else dtype, **kwargs)
        if batch_shape is not None:
            batch_shape = tuple(batch_shape)
        elif shape is not None:
            if isinstance(shape, int):
                shape = (shape,)
            batch_shape = (batch_size,) + tuple(shape)
        else:
            raise ConfigError("Input needs a shape, e.g. Input(shape=(timesteps, features)).")
        for d in batch_shape[1:]:
            if d is not None and (not isinstance(d, int) or d <= 0):
                raise ConfigError(f"Input shape dimensions must be positive integers or None, got {batch_shape[1:]}.")
        self.batch_shape = batch_shape
        self.dtype = np.dtype(dtype) if int_dtype else parse_dtype(dtype)
        self.built = True

    @property
    def shape(self) -> tuple[int | None, ...]:
        return self.batch_shape

    def get_config(self) -> dict[str, Any]:
        return {"batch_shape": list(self.batch_shape), "dtype": str(self.dtype), "sparse": False,
                "ragged": False, "name": self.name, "optional": False}


def Input(shape: tuple[int | None, ...], batch_size: int | None = None, dtype: Any = None,
          name: str | None = None) -> InputLayer:
    """Declare a model input of shape ``(batch, *shape)``, e.g. ``Input((timesteps, features))``."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name)
