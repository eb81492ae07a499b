"""``LSTM``: Keras 3's LSTM layer, weights packed exactly as Keras stores them."""
from __future__ import annotations

from typing import Any

from ..core.gates import LSTM_GATES
from ..core.lstm import LSTMCell
from .recurrent import add_gate_views
from .weighted_recurrent import WeightedRecurrent


class LSTM(WeightedRecurrent):
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
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, seed=seed,
                         return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)
        self._cell = LSTMCell(self.activation, self.recurrent_activation)

    def _build_weights(self, features: int) -> None:
        H, rng = self.units, self._build_kernels(features)
        if self.use_bias:
            bias = self.add_weight("bias", (4 * H,), "zeros")
            if self.unit_forget_bias:
                # Keras: concat([init(H), ones(H), init(2H)]) — the forget gate starts open.
                bias[:H] = self.bias_initializer((H,), self.dtype, rng)
                bias[H:2 * H] = 1.0
                bias[2 * H:] = self.bias_initializer((2 * H,), self.dtype, rng)
            else:
                bias[...] = self.bias_initializer((4 * H,), self.dtype, rng)

    def param_formula(self) -> str:
        F, H = self.features, self.units
        k, r = 4 * F * H, 4 * H * H
        if self.use_bias:
            return (f"4 × (features·units + units·units + units) = 4 × ({F}·{H} + {H}·{H} + {H})"
                    f" = {k + r + 4 * H}  [kernel {k}, recurrent_kernel {r}, bias {4 * H}]")
        return (f"4 × (features·units + units·units) = 4 × ({F}·{H} + {H}·{H}) = {k + r}"
                f"  [kernel {k}, recurrent_kernel {r}]")

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config


add_gate_views(LSTM, LSTM_GATES)
