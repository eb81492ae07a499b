"""The two Keras operations that appear in Functional configs of masked models.

When Keras builds a graph through a ``Masking`` layer it computes the mask with
``keras.ops.not_equal(x, mask_value)`` and ``keras.ops.any(..., axis=-1)`` on symbolic
tensors, so its config lists ``NotEqual`` and ``Any`` operations (module
``keras.src.ops.numpy``) and hands their output to the next layer as ``mask=``. These
small layers replay them: boolean outputs, no weights, no gradient. They are operations,
not layers, in Keras: ``model.layers`` leaves them out, the summary lists them.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import Layer


class KerasOp(Layer):
    """Base: a weightless boolean operation on one tensor (no gradient flows through)."""

    is_op = True
    supports_masking = False
    keras_module = "keras.src.ops.numpy"
    output_dtype = "bool"
    positional: tuple[str, ...] = ()   # arguments Keras passes positionally after x

    def __init__(self, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.built = True

    def backward(self, dy: Any, cache: Any) -> tuple[None, list]:
        return None, []

    def param_formula(self) -> str:
        return "0 (an operation)"


class NotEqual(KerasOp):
    """``x != value`` elementwise."""

    positional = ("value",)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape)

    def forward(self, x: Any, training: bool = False, value: Any = 0.0,
                **kwargs: Any) -> tuple[np.ndarray, None]:
        return np.asarray(x) != value, None

    def call(self, x: Any, training: bool = False, **kwargs: Any) -> Any:
        return self.forward(x, **kwargs)[0]

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}


class Any_(KerasOp):
    """``any(x, axis, keepdims)``."""

    def __init__(self, axis: int | None = None, keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis, self.keepdims = axis, bool(keepdims)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shape = list(input_shape)
        axes = range(len(shape)) if self.axis is None else [self.axis % len(shape)]
        for a in sorted(axes, reverse=True):
            if self.keepdims:
                shape[a] = 1
            else:
                shape.pop(a)
        return tuple(shape)

    def forward(self, x: Any, training: bool = False, **kwargs: Any) -> tuple[np.ndarray, None]:
        return np.any(np.asarray(x), axis=self.axis, keepdims=self.keepdims), None

    def call(self, x: Any, training: bool = False, **kwargs: Any) -> Any:
        return self.forward(x)[0]

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "axis": self.axis, "keepdims": self.keepdims}


OPS: dict[str, type[KerasOp]] = {"NotEqual": NotEqual, "Any": Any_}


def op_from_config(data: dict[str, Any]) -> KerasOp:
    """An operation from its config entry (only the ones above; others are refused)."""
    name = data.get("class_name")
    if name not in OPS:
        raise ConfigError(f"Unknown Keras operation {name!r} in the model config: unrolled "
                          f"replays only {sorted(OPS)} (the ones Keras records for masks).")
    return OPS[name](**dict(data.get("config") or {}))


def op_config(op: KerasOp) -> dict[str, Any]:
    name = next(k for k, v in OPS.items() if type(op) is v)
    return {"module": op.keras_module, "class_name": name, "config": op.get_config(),
            "registered_name": name}
