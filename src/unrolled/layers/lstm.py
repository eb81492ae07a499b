"""``LSTM``: Keras 3's LSTM layer, weights packed exactly as Keras stores them."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core import activations, initializers
from ..core.gates import LSTM_GATES
from ..core.lstm import LSTMCell
from ..core.scan import SequenceGrads
from ..random import make_rng
from .recurrent import Recurrent, add_gate_views


class LSTM(Recurrent):
    """Long short-term memory layer (Hochreiter & Schmidhuber, 1997), Keras 3 semantics.

    Input ``x``: (batch, timesteps, features). Output: (batch, units), or
    (batch, timesteps, units) with ``return_sequences=True``; with ``return_state=True``
    a list ``[output, h, c]`` with h and c of shape (batch, units).

    Weights (Keras's packing, gates side by side in the order i, f, c, o):

    * ``kernel`` (features, 4·units) — ``kernel_i``, ``kernel_f``, ``kernel_c``, ``kernel_o``
      each (features, units): every feature reaches every gate of every unit through one
      column of weights per unit.
    * ``recurrent_kernel`` (units, 4·units) — ``recurrent_kernel_i`` ... each (units, units).
    * ``bias`` (4·units,) — ``bias_i`` ... each (units,). ``unit_forget_bias`` starts
      ``bias_f`` at 1.

    Parameters: ``4 · (features·units + units·units + units)``.
    The per-gate attributes are views: writing into ``lstm.kernel_c`` changes the output.
    Equations: see :mod:`unrolled.core.lstm`.
    """

    n_carry = 2

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 unit_forget_bias: bool = True, return_sequences: bool = False,
                 return_state: bool = False, go_backwards: bool = False, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(units, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, **kwargs)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.seed = seed
        self._cell = LSTMCell(self.activation, self.recurrent_activation)

    @property
    def cell(self) -> LSTMCell:
        return self._cell

    def _build_weights(self, features: int) -> None:
        H, rng = self.units, make_rng(self.seed)
        self.add_weight("kernel", (features, 4 * H), self.kernel_initializer, rng)
        self.add_weight("recurrent_kernel", (H, 4 * H), self.recurrent_initializer, rng)
        if self.use_bias:
            bias = self.add_weight("bias", (4 * H,), "zeros")
            if self.unit_forget_bias:
                # Keras: concat([init(H), ones(H), init(2H)]) — the forget gate starts open.
                bias[:H] = self.bias_initializer((H,), self.dtype, rng)
                bias[H:2 * H] = 1.0
                bias[2 * H:] = self.bias_initializer((2 * H,), self.dtype, rng)
            else:
                bias[...] = self.bias_initializer((4 * H,), self.dtype, rng)

    @property
    def kernel(self) -> np.ndarray:
        return self._weights["kernel"]

    @property
    def recurrent_kernel(self) -> np.ndarray:
        return self._weights["recurrent_kernel"]

    @property
    def bias(self) -> np.ndarray | None:
        return self._weights.get("bias")

    def _scan_weights(self):
        return self.kernel, self.bias, (self.recurrent_kernel,)

    def _pack_grads(self, g: SequenceGrads) -> list[np.ndarray]:
        grads = [g.d_kernel, g.d_recurrent[0]]
        return grads + [g.d_input_bias] if self.use_bias else grads

    def param_formula(self) -> str:
        F, H = self.features, self.units
        k, r = 4 * F * H, 4 * H * H
        if self.use_bias:
            return (f"4 × (features·units + units·units + units) = 4 × ({F}·{H} + {H}·{H} + {H})"
                    f" = {k + r + 4 * H}  [kernel {k}, recurrent_kernel {r}, bias {4 * H}]")
        return (f"4 × (features·units + units·units) = 4 × ({F}·{H} + {H}·{H}) = {k + r}"
                f"  [kernel {k}, recurrent_kernel {r}]")

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "activation": self.activation.name,
            "recurrent_activation": self.recurrent_activation.name,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_regularizer": None, "recurrent_regularizer": None, "bias_regularizer": None,
            "activity_regularizer": None, "kernel_constraint": None,
            "recurrent_constraint": None, "bias_constraint": None,
            "dropout": 0.0, "recurrent_dropout": 0.0,
            "seed": self.seed,
        }


add_gate_views(LSTM, LSTM_GATES)
