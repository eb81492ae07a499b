"""The GRU's time loops for the dropout kernel (:mod:`.dropout`): Keras 3's GRU step with
``implementation=1`` and recurrent masks r_z, r_r, r_h (the equations of
:class:`unrolled.core.recurrent_dropout.GRUDropoutCell`, which the reference scan runs),
with the masked products of one step as one batched product. NumPy, any float dtype and
activation.

reset_after (Keras's default)::

    m  = [(h ⊙ r_g) @ U_g]_g + b_rec        z, r = σ(xp_z + m_z), σ(xp_r + m_r)
    hh = φ(xp_h + r ⊙ m_h)                  h' = z ⊙ h + (1 - z) ⊙ hh

reset_before::

    z, r = σ(xp_z + (h ⊙ r_z) @ U_z), σ(xp_r + (h ⊙ r_r) @ U_r)
    hh = φ(xp_h + (r ⊙ h ⊙ r_h) @ U_h)      h' = z ⊙ h + (1 - z) ⊙ hh

The carry-over term z ⊙ h uses the undropped h. Axis legend: T timesteps, B batch,
H units.
"""
from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray


def _per_gate(U: Array) -> Array:
    """(H, 3H) -> (3, H, H): gate g's columns."""
    H = U.shape[0]
    return np.ascontiguousarray(U.reshape(H, 3, H).transpose(1, 0, 2))


def forward_loop(cell: Any, params: tuple[Array, ...], xp: Array, h0: Array, r: Array
                 ) -> tuple[Array, Array, Array | None, Array | None]:
    """xp (T, B, 3H), h0 (B, H), r (3, B, H) -> hs (T+1, B, H), acts (T, B, 3H) = z, r, hh,
    m_h (T, B, H) (reset_after; else None), pre-activations (T, B, 3H) or None."""
    T, B, GH = xp.shape
    H = GH // 3
    U = params[0]
    b_rec = params[1] if len(params) > 1 else None
    Uk = _per_gate(U)
    sig, act = cell.recurrent_activation, cell.activation
    keep_pre = sig.needs_input or act.needs_input
    hs = np.empty((T + 1, B, H), xp.dtype)
    hs[0] = h0
    acts = np.empty((T, B, GH), xp.dtype)
    mhs = np.empty((T, B, H), xp.dtype) if cell.reset_after else None
    pres = np.empty((T, B, GH), xp.dtype) if keep_pre else None
    m = np.empty((B, GH), xp.dtype)
    mk = m.reshape(B, 3, H).transpose(1, 0, 2)                    # (3, B, H) view
    for t in range(T):
        h, a, x = hs[t], acts[t], xp[t]
        if cell.reset_after:
            np.matmul(h[None] * r, Uk, out=mk)                   # (3, B, H)
            if b_rec is not None:
                m += b_rec
            pzr = x[:, :2 * H] + m[:, :2 * H]
            a[:, :2 * H] = sig(pzr)
            mhs[t] = m[:, 2 * H:]
            ph = x[:, 2 * H:] + a[:, H:2 * H] * m[:, 2 * H:]
        else:
            np.matmul(h[None] * r[:2], Uk[:2], out=mk[:2])       # (2, B, H)
            pzr = x[:, :2 * H] + m[:, :2 * H]
            a[:, :2 * H] = sig(pzr)
            ph = x[:, 2 * H:] + (a[:, H:2 * H] * h * r[2]) @ Uk[2]
        hh = a[:, 2 * H:]
        hh[...] = act(ph)
        z = a[:, :H]
        hs[t + 1] = z * h + (1 - z) * hh
        if keep_pre:
            pres[t, :, :2 * H] = pzr
            pres[t, :, 2 * H:] = ph
    return hs, acts, mhs, pres


def backward_loop(cell: Any, params: tuple[Array, ...], hs: Array, acts: Array,
                  mhs: Array | None, pres: Array | None, r: Array, d_seq: Array | None,
                  dh: Array) -> tuple[Array, Array, tuple[Array, ...]]:
    """dL/d xp (T, B, 3H), dL/d h0 (B, H) and the recurrent params' gradients, given
    d_seq (T, B, H) or None and dh (B, H) = dL/d final h."""
    T, B, GH = acts.shape
    H = GH // 3
    U = params[0]
    UkT = np.ascontiguousarray(_per_gate(U).transpose(0, 2, 1))   # (3, H, H) U_gᵀ
    sig, act = cell.recurrent_activation, cell.activation
    dxp = np.empty((T, B, GH), acts.dtype)
    dms = np.empty((T, B, GH), acts.dtype) if cell.reset_after else None   # dL/dm
    for t in range(T - 1, -1, -1):
        if d_seq is not None:
            dh = dh + d_seq[t]
        h, a, d = hs[t], acts[t], dxp[t]
        z, rr, hh = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
        pz, pr, ph = ((None,) * 3 if pres is None
                      else (pres[t, :, :H], pres[t, :, H:2 * H], pres[t, :, 2 * H:]))
        d[:, :H] = sig.backward(pz, z, dh * (h - hh))                  # through z
        dp = act.backward(ph, hh, dh * (1 - z))                        # through hh
        d[:, 2 * H:] = dp
        dh_prev = dh * z                                               # z ⊙ h: undropped h
        if cell.reset_after:
            d[:, H:2 * H] = sig.backward(pr, rr, dp * mhs[t])          # through r ⊙ m_h
            dm = dms[t]
            dm[...] = d
            dm[:, 2 * H:] *= rr
            back = np.matmul(dm.reshape(B, 3, H).transpose(1, 0, 2), UkT)   # (3, B, H)
            dh = dh_prev + np.einsum("gbh,gbh->bh", back, r)
        else:
            hr_h = h * r[2]
            ds = dp @ UkT[2]                                           # through (r ⊙ h r_h) @ U_h
            d[:, H:2 * H] = sig.backward(pr, rr, ds * hr_h)
            back = np.matmul(d[:, :2 * H].reshape(B, 2, H).transpose(1, 0, 2), UkT[:2])
            dh = dh_prev + np.einsum("gbh,gbh->bh", back, r[:2]) + ds * rr * r[2]
    h_prev = hs[:-1]                                                   # (T, B, H)
    dU = np.empty_like(U)
    rows = T * B
    if cell.reset_after:
        for g in range(3):
            dU[:, g * H:(g + 1) * H] = ((h_prev * r[g][None]).reshape(rows, H).T
                                        @ dms[..., g * H:(g + 1) * H].reshape(rows, H))
        grads: tuple[Array, ...] = (dU,)
        if len(params) > 1:
            grads += (dms.reshape(rows, GH).sum(axis=0),)
        return dxp, dh, grads
    for g in range(2):
        dU[:, g * H:(g + 1) * H] = ((h_prev * r[g][None]).reshape(rows, H).T
                                    @ dxp[..., g * H:(g + 1) * H].reshape(rows, H))
    rh = acts[..., H:2 * H] * h_prev * r[2][None]
    dU[:, 2 * H:] = rh.reshape(rows, H).T @ dxp[..., 2 * H:].reshape(rows, H)
    return dxp, dh, (dU,)
