"""``SimpleRNN``: Keras 3's fully connected recurrent layer (Elman network)."""
from __future__ import annotations

from typing import Any

from ..core.simple_rnn import SimpleRNNCell
from .weighted_recurrent import WeightedRecurrent


class SimpleRNN(WeightedRecurrent):
    """``h_t = activation(x_t @ kernel + h_(t-1) @ recurrent_kernel + bias)``.

    Input (batch, timesteps, features); output (batch, units) or (batch, timesteps, units).
    Weights: ``kernel`` (features, units), ``recurrent_kernel`` (units, units), ``bias``
    (units,). Parameters: ``features·units + units·units + units``.
    """

    def __init__(self, units: int, activation: Any = "tanh", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(units, activation=activation, recurrent_activation="linear",
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, seed=seed,
                         return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, **kwargs)
        self._cell = SimpleRNNCell(self.activation)

    def _build_weights(self, features: int) -> None:
        H, rng = self.units, self._build_kernels(features)
        if self.use_bias:
            self.add_weight("bias", (H,), self.bias_initializer, rng)

    def param_formula(self) -> str:
        F, H = self.features, self.units
        if self.use_bias:
            return (f"features·units + units·units + units = {F}·{H} + {H}·{H} + {H} = "
                    f"{F * H + H * H + H}  [kernel {F * H}, recurrent_kernel {H * H}, bias {H}]")
        return f"features·units + units·units = {F}·{H} + {H}·{H} = {F * H + H * H}"

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["recurrent_activation"]
        del config["seed"]  # Keras 3 accepts seed but does not serialise it
        return config
