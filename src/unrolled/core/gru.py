"""The GRU cell (Cho et al., 2014) as Keras 3 computes it: forward and backward of one step.

Gate packing z (update), r (reset), h (candidate). With ``reset_after=True`` (Keras's
default, the cuDNN convention) the reset gate multiplies the *projected* state::

    m   = h_prev @ U + b_rec                        # (B, 3H)   "matrix_inner"
    z   = σ(xp_z + m_z)       r = σ(xp_r + m_r)     # xp = x_t @ W + b_in
    hh  = φ(xp_h + r * m_h)
    h_t = z * h_prev + (1 - z) * hh

With ``reset_after=False`` it multiplies the state before the product::

    z = σ(xp_z + h_prev @ U_z)    r = σ(xp_r + h_prev @ U_r)
    hh = φ(xp_h + (r * h_prev) @ U_h)

Backward (δ = dL/d·), reset_after=True::

    δhh = δh (1 - z)        δz = σ'·δh (h_prev - hh)      δp = φ'·δhh   (p = xp_h + r m_h)
    δr  = σ'·δp m_h         δm = [δz, δr, δp r]           δh_prev = δh z + δm Uᵀ
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import Activation
from .scan import stacked_prev


@dataclass(frozen=True)
class GRUCell:
    """Stateless GRU step. ``params`` is ``(U,)`` or ``(U, b_rec)`` for reset_after."""

    activation: Activation
    recurrent_activation: Activation
    reset_after: bool = True
    n_gates: int = 3

    def step(self, params, xp_t, carry):
        U = params[0]
        (h_prev,) = carry
        H = h_prev.shape[-1]
        sig, act = self.recurrent_activation, self.activation
        a = np.empty_like(xp_t)                                   # z, r, hh  (B, 3H)
        if self.reset_after:
            m = h_prev @ U                                        # (B, 3H)
            if len(params) > 1:
                m += params[1]
            a[:, :2 * H] = sig(xp_t[:, :2 * H] + m[:, :2 * H])
            pre_h = xp_t[:, 2 * H:] + a[:, H:2 * H] * m[:, 2 * H:]
            m_h = m[:, 2 * H:]
        else:
            a[:, :2 * H] = sig(xp_t[:, :2 * H] + h_prev @ U[:, :2 * H])
            pre_h = xp_t[:, 2 * H:] + (a[:, H:2 * H] * h_prev) @ U[:, 2 * H:]
            m_h = None
        a[:, 2 * H:] = act(pre_h)
        z, hh = a[:, :H], a[:, 2 * H:]
        h = z * h_prev + (1.0 - z) * hh
        saved = (a,) if m_h is None else (a, np.ascontiguousarray(m_h))
        if sig.needs_input or act.needs_input:
            pre = np.concatenate([xp_t[:, :2 * H] + (m[:, :2 * H] if self.reset_after
                                                     else h_prev @ U[:, :2 * H]), pre_h], axis=1)
            saved = saved + (pre,)
        return (h,), saved

    def _pre(self, saved_t, H):
        if not (self.recurrent_activation.needs_input or self.activation.needs_input):
            return None, None, None
        pre = saved_t[-1]
        return pre[:, :H], pre[:, H:2 * H], pre[:, 2 * H:]

    def step_backward(self, params, saved_t, carry_prev, carry_t, d_carry):
        U = params[0]
        a = saved_t[0]
        (h_prev,) = carry_prev
        (dh,) = d_carry
        H = h_prev.shape[-1]
        z, r, hh = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
        pz, pr, ph = self._pre(saved_t, H)
        sig, act = self.recurrent_activation, self.activation
        dxp = np.empty_like(a)                                    # (B, 3H)
        dp = act.backward(ph, hh, dh * (1.0 - z))                 # through h = ... + (1-z) hh
        dxp[:, :H] = sig.backward(pz, z, dh * (h_prev - hh))      # through z
        dxp[:, 2 * H:] = dp
        if self.reset_after:
            m_h = saved_t[1]
            dxp[:, H:2 * H] = sig.backward(pr, r, dp * m_h)       # through r * m_h
            dm = dxp.copy()
            dm[:, 2 * H:] *= r                                    # m_h enters as r * m_h
            dh_prev = dh * z + dm @ U.T
        else:
            d_rh = dp @ U[:, 2 * H:].T                            # through (r*h_prev) @ U_h
            dxp[:, H:2 * H] = sig.backward(pr, r, d_rh * h_prev)
            dh_prev = dh * z + dxp[:, :2 * H] @ U[:, :2 * H].T + d_rh * r
        return dxp, (dh_prev,)

    def recurrent_grads(self, params, saved, carries, dxp):
        H = carries[0].shape[-1]
        h_prev = stacked_prev(carries[0])                         # (T·B, H)
        d = dxp.reshape(-1, 3 * H)                                # (T·B, 3H)
        r = saved[0][..., H:2 * H].reshape(-1, H)
        if self.reset_after:
            dm = d.copy()
            dm[:, 2 * H:] *= r
            grads = (h_prev.T @ dm,)
            return grads + ((dm.sum(axis=0),) if len(params) > 1 else ())
        dU = np.empty_like(params[0])
        dU[:, :2 * H] = h_prev.T @ d[:, :2 * H]
        dU[:, 2 * H:] = (r * h_prev).T @ d[:, 2 * H:]
        return (dU,)
