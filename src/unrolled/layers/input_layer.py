"""``Input(shape)``: a model's input, a symbolic tensor of shape ``(batch, *shape)``, as in
Keras 3. It is the output of an :class:`InputLayer`, which a model lists among its layers."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import Layer, parse_dtype, unique_name
from .node import Node, SymbolicTensor


def _input_dtype(dtype: Any) -> np.dtype:
    """float32 (default) or float64 as for layers; integer dtypes too (ids for Embedding)."""
    if dtype is not None and not isinstance(dtype, dict):
        try:
            dt = np.dtype(dtype)
        except TypeError:
            dt = None
        if dt is not None and dt.kind in "iub":
            return dt
    return parse_dtype(dtype)


class InputLayer(Layer):
    """The layer behind ``Input(...)``: no weights; its only node's output is ``output``,
    the symbolic tensor ``(batch, *shape)`` that models start from."""

    is_input_layer = True
    supports_masking = True

    def __init__(self, shape: tuple[int | None, ...] | None = None, batch_size: int | None = None,
                 dtype: Any = None, name: str | None = None, batch_shape: Any = None,
                 **kwargs: Any) -> None:
        for ignored in ("sparse", "ragged", "optional"):
            if kwargs.pop(ignored, False):
                raise ConfigError(f"InputLayer: {ignored}=True is not supported by unrolled.")
        kwargs.pop("input_tensor", None)
        super().__init__(name=name or unique_name("input_layer"), **kwargs)
        if batch_shape is not None:
            batch_shape = tuple(batch_shape)
        elif shape is not None:
            if isinstance(shape, int):
                shape = (shape,)
            batch_shape = (batch_size,) + tuple(shape)
        else:
            raise ConfigError("Input needs a shape, e.g. Input(shape=(timesteps, features)).")
        for d in batch_shape[1:]:
            if d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0):
                raise ConfigError(f"Input shape dimensions must be positive integers or None, got {batch_shape[1:]}.")
        self.batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        self.dtype = _input_dtype(dtype)
        self.built = True
        self.build_input_shape = self.batch_shape
        self.output = SymbolicTensor(self.batch_shape, self.dtype, name=self.name, history=(self, 0, 0))
        self.inbound_nodes.append(Node(self, None, {}, [self.output], True))

    @property
    def shape(self) -> tuple[int | None, ...]:
        return self.batch_shape

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        return self.batch_shape

    def forward(self, x: Any, training: bool = False, **kwargs: Any) -> tuple[Any, None]:
        return x, None

    def backward(self, dy: Any, cache: Any) -> tuple[Any, list[np.ndarray]]:
        return dy, []

    def param_formula(self) -> str:
        return "0 (no weights)"

    def get_config(self) -> dict[str, Any]:
        return {"batch_shape": list(self.batch_shape), "dtype": str(self.dtype), "sparse": False,
                "ragged": False, "name": self.name, "optional": False}


def Input(shape: tuple[int | None, ...] | None = None, batch_size: int | None = None,
          dtype: Any = None, name: str | None = None, sparse: bool = False,
          batch_shape: Any = None) -> SymbolicTensor:
    """A model input of shape ``(batch, *shape)``, e.g. ``Input((timesteps, features))``.

    Returns a symbolic tensor: call layers on it and pass the results to
    ``unrolled.Model(inputs, outputs)``; ``Sequential([Input(...), ...])`` accepts it too.
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name,
                       sparse=sparse, batch_shape=batch_shape)
    return layer.output
