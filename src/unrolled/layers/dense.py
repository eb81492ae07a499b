"""``Dense``: ``activation(x @ kernel + bias)`` on the last axis of any-rank input."""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError, InputShapeError
from ..random import make_rng
from .base import Layer
from .kernel_bias import KernelBiasActivation
from .penalties import Penalized, activity_regularized


class DenseCache(NamedTuple):
    x: np.ndarray        # (..., in)
    z: np.ndarray | None  # (..., units) pre-activation, kept only if the activation needs it
    y: np.ndarray        # (..., units)


@activity_regularized
class Dense(KernelBiasActivation, Penalized, Layer):
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
        self._init_kernel_bias(activation, use_bias, kernel_initializer, bias_initializer)
        self.seed = seed
        self.input_dim: int | None = None

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise InputShapeError(f"Dense needs a known last axis, got input shape {tuple(input_shape)}.")
        self.input_dim = int(input_shape[-1])
        self._add_kernel_and_bias((self.input_dim, self.units), make_rng(self.seed))
        super().build(input_shape)

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
        y, z = self._add_bias_and_activate(x @ self.kernel)    # (..., units)
        return y, DenseCache(x, z, y)

    def backward(self, dy: np.ndarray, cache: DenseCache) -> tuple[np.ndarray, list[np.ndarray]]:
        x, z, y = cache
        dz = self.activation.backward(z, y, dy)                  # (..., units)
        flat_dz = dz.reshape(-1, self.units)
        d_kernel = x.reshape(-1, self.input_dim).T @ flat_dz       # (in, units)
        return dz @ self.kernel.T, self._kernel_and_bias_grads(d_kernel, flat_dz)

    def param_formula(self) -> str:
        n, u = self.input_dim, self.units
        return self._kernel_bias_formula("inputs·units", f"{n}·{u}", n * u, "units", u)

    def get_config(self) -> dict[str, Any]:
        pen = self.penalty_config()
        return {
            **super().get_config(),
            "units": self.units,
            **self._kernel_bias_config(),
            "kernel_regularizer": pen["kernel_regularizer"], "bias_regularizer": pen["bias_regularizer"],
            "kernel_constraint": pen["kernel_constraint"], "bias_constraint": pen["bias_constraint"],
            "quantization_config": None,
            # Keras's Layer adds activity_regularizer to the config only when it is set
            **({"activity_regularizer": pen["activity_regularizer"]} if self.activity_regularizer else {}),
        }
