"""What Dense and Conv1D share: a ``kernel``, an optional ``bias`` on the output features,
then an activation::

    z = <the layer's product of x and kernel> + bias     # (..., out)
    y = activation(z)                                    # (..., out)

The layer computes its own product and its kernel gradient; this mixin owns the bias, the
activation, their backward, and their config entries (Keras's names and order).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core import activations, initializers


class KernelBiasActivation:
    """Mixin for a Layer with weights ``kernel`` and (``use_bias``) ``bias`` (out,)."""

    activation: Any
    use_bias: bool
    kernel_initializer: Any
    bias_initializer: Any
    _weights: dict[str, np.ndarray]

    def _init_kernel_bias(self, activation: Any, use_bias: Any, kernel_initializer: Any,
                          bias_initializer: Any) -> None:
        """Resolve the Keras names of the activation and the two initializers."""
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _add_kernel_and_bias(self, kernel_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        """Create ``kernel`` of ``kernel_shape`` and, with ``use_bias``, ``bias`` of its last
        axis, both drawn from ``rng`` in that order (the kernel first, as Keras)."""
        self.add_weight("kernel", kernel_shape, self.kernel_initializer, rng)  # type: ignore[attr-defined]
        if self.use_bias:
            self.add_weight("bias", kernel_shape[-1:], self.bias_initializer, rng)  # type: ignore[attr-defined]

    @property
    def kernel(self) -> np.ndarray:
        return self._weight("kernel")  # type: ignore[attr-defined]

    @property
    def bias(self) -> np.ndarray | None:
        return self._weights.get("bias")

    def _add_bias_and_activate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``y = activation(z + bias)`` (z updated in place); returns y and the
        pre-activation to save for backward (None when the activation's derivative needs
        only y)."""
        if self.use_bias:
            z += self.bias
        y = self.activation(z)
        return y, (z if self.activation.needs_input else None)

    def _kernel_and_bias_grads(self, d_kernel: np.ndarray, dz: np.ndarray) -> list[np.ndarray]:
        """The weight gradients in ``trainable_weights`` order: kernel, then
        ``dbias = Σ dz`` over every axis but the last."""
        if not self.use_bias:
            return [d_kernel]
        return [d_kernel, dz.reshape(-1, dz.shape[-1]).sum(axis=0)]

    def _kernel_bias_formula(self, kernel_symbols: str, kernel_values: str, kernel_count: int,
                             bias_symbol: str, bias_count: int) -> str:
        """The parameter count as a formula, e.g. ``inputs·units + units = 3·4 + 4 = 16
        [kernel 12, bias 4]``."""
        if self.use_bias:
            total = kernel_count + bias_count
            return (f"{kernel_symbols} + {bias_symbol} = {kernel_values} + {bias_count} = {total}  "
                    f"[kernel {kernel_count}, bias {bias_count}]")
        return f"{kernel_symbols} = {kernel_values} = {kernel_count}  [kernel {kernel_count}]"

    def _kernel_bias_config(self) -> dict[str, Any]:
        """The Keras config entries ``activation``, ``use_bias`` and the two initializers."""
        return {"activation": self.activation.name, "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}
