"""``GRU``: Keras 3's gated recurrent unit layer, weights packed as Keras stores them."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core.gates import GRU_GATES
from ..core.gru import GRUCell
from ..core.scan import SequenceGrads
from .recurrent import add_gate_views
from .weighted_recurrent import WeightedRecurrent


class GRU(WeightedRecurrent):
    """Gated recurrent unit (Cho et al., 2014), Keras 3 semantics.

    Input (batch, timesteps, features); output (batch, units) or (batch, timesteps, units);
    ``return_state`` adds the final h (batch, units).

    Weights (gates z, r, h side by side): ``kernel`` (features, 3·units),
    ``recurrent_kernel`` (units, 3·units), ``bias`` (2, 3·units) with ``reset_after=True``
    (row 0 input bias, row 1 recurrent bias — Keras's default) or (3·units,) without.
    Per-gate views ``kernel_z/r/h``, ``recurrent_kernel_*``, ``bias_*``.
    Parameters: ``3 · (features·units + units·units + 2·units)`` with reset_after.
    Equations: :mod:`unrolled.core.gru`.
    """

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, reset_after: bool = True, seed: int | None = None,
                 use_cudnn: Any = "auto", **kwargs: Any) -> None:
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, seed=seed,
                         return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, **kwargs)
        self.reset_after = bool(reset_after)
        self._cell = GRUCell(self.activation, self.recurrent_activation, self.reset_after)

    def _build_weights(self, features: int) -> None:
        H, rng = self.units, self._build_kernels(features)
        if self.use_bias:
            shape = (2, 3 * H) if self.reset_after else (3 * H,)
            self.add_weight("bias", shape, self.bias_initializer, rng)

    def _scan_weights(self):
        U, b = self.recurrent_kernel, self.bias
        if b is None:
            return self.kernel, None, (U,)
        if self.reset_after:
            return self.kernel, b[0], (U, b[1])
        return self.kernel, b, (U,)

    def _pack_grads(self, g: SequenceGrads) -> list[np.ndarray]:
        grads = [g.d_kernel, g.d_recurrent[0]]
        if not self.use_bias:
            return grads
        if self.reset_after:
            return grads + [np.stack([g.d_input_bias, g.d_recurrent[1]])]
        return grads + [g.d_input_bias]

    def param_formula(self) -> str:
        F, H = self.features, self.units
        k, r = 3 * F * H, 3 * H * H
        if not self.use_bias:
            return f"3 × (features·units + units·units) = 3 × ({F}·{H} + {H}·{H}) = {k + r}  [kernel {k}, recurrent_kernel {r}]"
        nb = 2 if self.reset_after else 1
        b = 3 * nb * H
        term = "2·units" if nb == 2 else "units"
        bias_numbers = f"{nb}·{H}" if nb == 2 else f"{H}"
        return (f"3 × (features·units + units·units + {term}) = 3 × ({F}·{H} + {H}·{H} + {bias_numbers})"
                f" = {k + r + b}  [kernel {k}, recurrent_kernel {r}, bias {b}]"
                + ("  (reset_after: separate input and recurrent biases)" if nb == 2 else ""))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["reset_after"] = self.reset_after
        return config


add_gate_views(GRU, GRU_GATES)
