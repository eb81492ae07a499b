"""``Dense``: ``activation(x @ kernel + bias)`` on the last axis of any-rank input."""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..core import activations, initializers
from ..errors import ConfigError, InputShapeError
from ..random import make_rng
from .base import Layer
from .penalties import Penalized, activity_regularized


class DenseCache(NamedTuple):
    x: np.ndarray        # (..., in)
    z: np.ndarray | None  # (..., units) pre-activation, kept only if the activation needs it
    y: np.ndarray        # (..., units)


@activity_regularized
class Dense(Penalized, Layer):
    """Fully connected layer on the last axis: (batch, ..., in) -> (batch, ..., units).

    Applied to (batch, timesteps, features) it acts on every timestep with the same
    weights, as Keras's Dense does. Weights: ``kernel`` (in, units), ``bias`` (units,).
    Parameters: ``in·units + units``.
    """

    supports_masking = True

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 seed: int | None = None, **kwargs: Any) -> None:
        for key in ("lora_rank", "lora_alpha", "quantization_config"):
            if kwargs.pop(key, None) is not None:
                raise ConfigError(f"Dense: {key} is not supported by unrolled yet.")
        self._take_penalties(kwargs, ("kernel", "bias"))
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ConfigError(f"Dense: units must be a positive integer, got {units!r}.")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.seed = seed
        self.input_dim: int | None = None

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise InputShapeError(f"Dense needs a known last axis, got input shape {tuple(input_shape)}.")
        self.input_dim = int(input_shape[-1])
        rng = make_rng(self.seed)
        self.add_weight("kernel", (self.input_dim, self.units), self.kernel_initializer, rng)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer, rng)
        super().build(input_shape)

    @property
    def kernel(self) -> np.ndarray:
        return self._weight("kernel")

    @property
    def bias(self) -> np.ndarray | None:
        return self._weights.get("bias")

    def validate_input(self, shape: tuple[int, ...]) -> None:
        if len(shape) < 2:
            raise InputShapeError(f"Dense {self.name!r} expects input of rank >= 2 (batch, ..., features), got shape {tuple(shape)}.")
        if self.input_dim is not None and shape[-1] != self.input_dim:
            raise InputShapeError(
                f"Dense {self.name!r} expects the last axis to have {self.input_dim} "
                f"features, got shape {tuple(shape)} (last axis {shape[-1]})."
            )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x: np.ndarray, training: bool = False, **kwargs: Any) -> tuple[np.ndarray, DenseCache]:
        z = x @ self.kernel                      # (..., units)
        if self.use_bias:
            z += self.bias
        y = self.activation(z)
        return y, DenseCache(x, z if self.activation.needs_input else None, y)

    def backward(self, dy: np.ndarray, cache: DenseCache) -> tuple[np.ndarray, list[np.ndarray]]:
        x, z, y = cache
        dz = self.activation.backward(z, y, dy)                  # (..., units)
        flat_dz = dz.reshape(-1, self.units)
        d_kernel = x.reshape(-1, self.input_dim).T @ flat_dz       # (in, units)
        grads = [d_kernel] + ([flat_dz.sum(axis=0)] if self.use_bias else [])
        return dz @ self.kernel.T, grads

    def param_formula(self) -> str:
        n, u = self.input_dim, self.units
        if self.use_bias:
            return f"inputs·units + units = {n}·{u} + {u} = {n * u + u}  [kernel {n * u}, bias {u}]"
        return f"inputs·units = {n}·{u} = {n * u}  [kernel {n * u}]"

    def get_config(self) -> dict[str, Any]:
        pen = self.penalty_config()
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation.name,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": pen["kernel_regularizer"], "bias_regularizer": pen["bias_regularizer"],
            "kernel_constraint": pen["kernel_constraint"], "bias_constraint": pen["bias_constraint"],
            "quantization_config": None,
            # Keras's Layer adds activity_regularizer to the config only when it is set
            **({"activity_regularizer": pen["activity_regularizer"]} if self.activity_regularizer else {}),
        }
