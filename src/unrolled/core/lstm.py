"""The LSTM cell: one timestep forward and backward, in plain NumPy (the reference path).

Equations, with Keras's gate packing i, f, c, o and the code's symbols::

    z   = xp_t + h_prev @ U                    # (B, 4H); xp_t = x_t @ W + b
    i   = σ(z_i)      f = σ(z_f)               # σ = recurrent_activation (sigmoid)
    g   = φ(z_c)      o = σ(z_o)               # φ = activation (tanh)
    c_t = f * c_prev + i * g                   # (B, H): one number per unit per sample
    h_t = o * φ(c_t)                           # (B, H)

W (features, 4H) mixes *all* features into every gate of every unit; U (H, 4H) mixes
the previous hidden state; b (4H,). Backward (δ = dL/d·)::

    δo   = δh * φ(c_t)
    δc   = δc_next + φ'(c_t) · (δh * o)
    δi   = δc * g      δf = δc * c_prev      δg = δc * i      δc_prev = δc * f
    δz   = [σ'(z_i)δi, σ'(z_f)δf, φ'(z_c)δg, σ'(z_o)δo]      # (B, 4H)
    δh_prev = δz @ Uᵀ                           δU = Σ_t h_prevᵀ δz  (one GEMM, in scan)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import Activation
from .scan import stacked_prev

Array = np.ndarray


@dataclass(frozen=True)
class LSTMCell:
    """Stateless LSTM step; ``params`` is ``(recurrent_kernel,)`` of shape (H, 4H)."""

    activation: Activation
    recurrent_activation: Activation
    n_gates: int = 4

    def step(self, params, xp_t, carry):
        (U,) = params
        h_prev, c_prev = carry
        H = h_prev.shape[-1]
        z = xp_t + h_prev @ U                                   # (B, 4H)
        a = np.empty_like(z)                                    # activated gates
        a[:, : 2 * H] = self.recurrent_activation(z[:, : 2 * H])   # i, f
        a[:, 2 * H : 3 * H] = self.activation(z[:, 2 * H : 3 * H])  # g
        a[:, 3 * H :] = self.recurrent_activation(z[:, 3 * H :])   # o
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        c = f * c_prev + i * g                                  # (B, H)
        phi_c = self.activation(c)                              # (B, H)
        h = o * phi_c
        keep_z = self.activation.needs_input or self.recurrent_activation.needs_input
        saved = (a, phi_c, z) if keep_z else (a, phi_c)
        return (h, c), saved

    def step_backward(self, params, saved_t, carry_prev, carry_t, d_carry):
        (U,) = params
        a, phi_c = saved_t[0], saved_t[1]
        z = saved_t[2] if len(saved_t) > 2 else None
        _, c_prev = carry_prev
        _, c = carry_t
        dh, dc = d_carry
        H = c.shape[-1]
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        do = dh * phi_c                                         # through h = o * φ(c)
        dc = dc + self.activation.backward(c, phi_c, dh * o)    # through φ(c)
        dz = np.empty_like(a)                                   # (B, 4H)
        zs = (None,) * 4 if z is None else (z[:, :H], z[:, H:2*H], z[:, 2*H:3*H], z[:, 3*H:])
        sig, act = self.recurrent_activation, self.activation
        dz[:, :H] = sig.backward(zs[0], i, dc * g)              # through c = f*c_prev + i*g
        dz[:, H : 2 * H] = sig.backward(zs[1], f, dc * c_prev)
        dz[:, 2 * H : 3 * H] = act.backward(zs[2], g, dc * i)
        dz[:, 3 * H :] = sig.backward(zs[3], o, do)
        dh_prev = dz @ U.T                                      # through z = xp + h_prev @ U
        dc_prev = dc * f
        return dz, (dh_prev, dc_prev)

    def recurrent_grads(self, params, saved, carries, dxp):
        # z = xp + h_prev @ U, so dU = Σ_t h_prevᵀ dz_t: one GEMM over (T·B) rows.
        return (stacked_prev(carries[0]).T @ dxp.reshape(-1, dxp.shape[-1]),)
