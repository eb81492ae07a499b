"""The SimpleRNN (Elman) cell: ``h_t = φ(x_t @ W + b + h_prev @ U)``.

Backward: ``δz = φ'(z)·δh``; ``δh_prev = δz Uᵀ``; ``δU = Σ_t h_prevᵀ δz`` (one GEMM).
"""
from __future__ import annotations

from dataclasses import dataclass

from .activations import Activation
from .scan import stacked_prev


@dataclass(frozen=True)
class SimpleRNNCell:
    """Stateless Elman step; ``params`` is ``(recurrent_kernel,)`` of shape (H, H)."""

    activation: Activation
    n_gates: int = 1

    def step(self, params, xp_t, carry):
        (U,) = params
        (h_prev,) = carry
        z = xp_t + h_prev @ U                                   # (B, H)
        h = self.activation(z)
        return (h,), ((z,) if self.activation.needs_input else ())

    def step_backward(self, params, saved_t, carry_prev, carry_t, d_carry):
        (U,) = params
        z = saved_t[0] if saved_t else None
        dz = self.activation.backward(z, carry_t[0], d_carry[0])   # (B, H)
        return dz, (dz @ U.T,)

    def recurrent_grads(self, params, saved, carries, dxp):
        return (stacked_prev(carries[0]).T @ dxp.reshape(-1, dxp.shape[-1]),)
