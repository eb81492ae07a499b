"""Arguments, weights and config shared by LSTM, GRU and SimpleRNN.

Each has a ``kernel`` (features, G·units), a ``recurrent_kernel`` (units, G·units) and an
optional ``bias``; activations and initializers are given by Keras name.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core import activations, initializers
from ..core.scan import SequenceGrads
from ..random import make_rng
from .recurrent import Recurrent


class WeightedRecurrent(Recurrent):
    """A :class:`Recurrent` layer with Keras's kernel / recurrent_kernel / bias weights."""

    def __init__(self, units: int, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.seed = seed

    @property
    def cell(self) -> Any:
        """The stateless cell (``core/lstm.py`` etc.) the subclass made in ``__init__``."""
        return self._cell

    def _build_kernels(self, features: int) -> np.random.Generator:
        """Create ``kernel`` (features, G·units) and ``recurrent_kernel`` (units, G·units),
        G = the cell's gate count; returns the generator, for the bias to continue from."""
        G, H, rng = self.cell.n_gates, self.units, make_rng(self.seed)
        self.add_weight("kernel", (features, G * H), self.kernel_initializer, rng)
        self.add_weight("recurrent_kernel", (H, G * H), self.recurrent_initializer, rng)
        return rng

    def keras_cell_group(self) -> str:
        """The name of the cell group Keras stores this layer's weights in (``lstm_cell``)."""
        from .weight_paths import keras_snake_case
        return f"{keras_snake_case(type(self).__name__)}_cell"

    @property
    def kernel(self) -> np.ndarray:
        return self._weight("kernel")

    @property
    def recurrent_kernel(self) -> np.ndarray:
        return self._weight("recurrent_kernel")

    @property
    def bias(self) -> np.ndarray | None:
        return self._weights.get("bias")

    def _scan_weights(self) -> tuple[np.ndarray, np.ndarray | None, tuple[np.ndarray, ...]]:
        # The common case (LSTM, SimpleRNN): one bias on the input side, U is the cell's param.
        return self.kernel, self.bias, (self.recurrent_kernel,)

    def _pack_grads(self, g: SequenceGrads) -> list[np.ndarray]:
        grads = [g.d_kernel, g.d_recurrent[0]]
        return grads + [g.d_input_bias] if self.use_bias else grads

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "activation": self.activation.name,
            "recurrent_activation": self.recurrent_activation.name,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **self.penalty_config(),
            "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
