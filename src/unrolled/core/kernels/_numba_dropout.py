"""Compiled (numba) LSTM and GRU (reset_after) time loops with per-gate recurrent dropout
masks -- imported only by :mod:`.dropout`, at first use. float32, tanh / sigmoid (the activations of
:mod:`._numba_lstm`, whose ``tanh32`` and backward row this module reuses).

One call runs all timesteps for batch rows ``b0:b1`` (rows are independent). Per step,
with masks r (4, B, H) and the recurrent kernel cut per gate, Uk (4, H, H)::

    z_g = (h_prev ⊙ r_g) @ U_g         # four products on packed U_g (runtime._numba_panels)
    z  += xp[t]                        # xp (T, B, 4H) = the masked input projection
    i, f, o = σ(z) = ½·tanh(½z) + ½;  g = tanh(z);  c = f·c_prev + i·g;  h = o·tanh(c)

Backward writes dz (T, B, 4H) for the caller's weight-gradient GEMMs and carries
``dh_prev = Σ_g (dz_g @ U_gᵀ) ⊙ r_g`` (four products per step).

Held rows: every block takes ``lengths`` (B,) int64, or (0,) for none. A row stops at
step ``lengths[b]``: from there on its state is held (h, c copied forward, dz = 0) and in
backward dL/dh and dL/dc pass through those steps unchanged. ``MaskedKernel`` runs a
masked call as one such call, each sample's unmasked steps gathered to the front.

numba's disk cache of this module does not notice edits to the ``_numba_lstm`` functions
it inlines: after changing ``tanh32`` or ``_backward_row`` there, clear the cache
(``__pycache__/_numba_dropout*.nbi|nbc``) -- the tests against the reference would fail.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from ._numba_lstm import _HALF, _ONE, _backward_row, tanh32
from .runtime._numba_panels import panels, panels_each, step_product


@nb.njit(inline="always", fastmath=True, error_model="numpy")
def _dropped_products(h_t, r, Uk, Ukp, b0, n, hm, out):
    """out[g] (n, H) = (h ⊙ r_g) @ U_g for each mask g: h_t (B, H) this step's h, r
    (K, B, H), Uk (K, H, H), Ukp = panels_each(Uk, n * T); hm (n, H) scratch. Rows b0:b0+n."""
    H = hm.shape[1]
    for g in range(Uk.shape[0]):
        for rr in range(n):
            for j in range(H):
                hm[rr, j] = h_t[b0 + rr, j] * r[g, b0 + rr, j]
        step_product(hm, Uk[g], Ukp[g], out[g])


@nb.njit(inline="always", fastmath=True, error_model="numpy")
def _add_dropped_back(d_t, UkT, UkTp, r, b0, n, dg, back, acc):
    """acc (n, H) += Σ_g (d_g @ U_gᵀ) ⊙ r_g: d_t (B, K·H) this step's gradients of the
    per-mask products' outputs, UkT (K, H, H) each U_gᵀ, UkTp = panels_each(UkT, n * T); dg,
    back (n, H) scratch."""
    H = dg.shape[1]
    for g in range(UkT.shape[0]):
        for rr in range(n):
            for j in range(H):
                dg[rr, j] = d_t[b0 + rr, g * H + j]
        step_product(dg, UkT[g], UkTp[g], back)
        for rr in range(n):
            for j in range(H):
                acc[rr, j] += back[rr, j] * r[g, b0 + rr, j]


@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def forward_block(xp, Uk, r, h0, c0, hs, cs, acts, lengths, b0, b1):
    """xp (T, B, 4H); Uk (4, H, H); r (4, B, H); h0, c0 (B, H); lengths (B,) or (0,) (see
    the module docstring). Writes hs, cs (T+1, B, H) (index 0: the initial state) and acts
    (T, B, 4H) the activated gates i, f, g, o (zeros at a held step)."""
    T, G = xp.shape[0], xp.shape[2]
    H = G // 4
    n = b1 - b0
    hm = np.empty((n, H), np.float32)
    zg = np.empty((4, n, H), np.float32)
    for rr in range(n):
        for j in range(H):
            hs[0, b0 + rr, j] = h0[b0 + rr, j]
            cs[0, b0 + rr, j] = c0[b0 + rr, j]
    Ukp = panels_each(Uk, n * T)
    held = lengths.shape[0] > 0
    for t in range(T):
        _dropped_products(hs[t], r, Uk, Ukp, b0, n, hm, zg)
        for rr in range(n):
            b = b0 + rr
            ar = acts[t, b]
            if held and t >= lengths[b]:
                hs[t + 1, b] = hs[t, b]
                cs[t + 1, b] = cs[t, b]
                ar[:] = 0.0
                continue
            xr = xp[t, b]
            for j in range(H):                                   # i
                ar[j] = _HALF * tanh32(_HALF * (zg[0, rr, j] + xr[j])) + _HALF
            for j in range(H):                                   # f
                ar[H + j] = _HALF * tanh32(_HALF * (zg[1, rr, j] + xr[H + j])) + _HALF
            for j in range(H):                                   # g
                ar[2 * H + j] = tanh32(zg[2, rr, j] + xr[2 * H + j])
            for j in range(H):                                   # o
                ar[3 * H + j] = _HALF * tanh32(_HALF * (zg[3, rr, j] + xr[3 * H + j])) + _HALF
            cp = cs[t, b]
            cn = cs[t + 1, b]
            hn = hs[t + 1, b]
            for j in range(H):
                c = ar[H + j] * cp[j] + ar[j] * ar[2 * H + j]
                cn[j] = c
                hn[j] = ar[3 * H + j] * tanh32(c)


@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def backward_block(acts, cs, UkT, r, dh_seq, dh_last, dc_last, dz, dh0, dc0, lengths, b0, b1):
    """acts (T, B, 4H); cs (T+1, B, H); UkT (4, H, H) each gate's U_gᵀ; r (4, B, H);
    dh_seq (T, B, H) or (0, B, H); dh_last, dc_last (B, H); lengths as in forward. Writes
    dz (T, B, 4H) and dh0, dc0 (B, H)."""
    T, G = acts.shape[0], acts.shape[2]
    H = G // 4
    n = b1 - b0
    has_seq = dh_seq.shape[0] > 0
    dh = np.empty((n, H), np.float32)
    dc = np.empty((n, H), np.float32)
    dcc = np.empty(H, np.float32)
    dzg = np.empty((n, H), np.float32)
    back = np.empty((n, H), np.float32)
    for rr in range(n):
        for j in range(H):
            dh[rr, j] = dh_last[b0 + rr, j]
            dc[rr, j] = dc_last[b0 + rr, j]
    UkTp = panels_each(UkT, n * T)
    held = lengths.shape[0] > 0
    for t in range(T - 1, -1, -1):
        for rr in range(n):
            b = b0 + rr
            dhr = dh[rr]
            if has_seq:
                for j in range(H):
                    dhr[j] += dh_seq[t, b, j]
            if held and t >= lengths[b]:
                dz[t, b] = 0.0                                   # dh, dc pass through
            else:
                _backward_row(acts[t, b], cs[t, b], cs[t + 1, b], dhr, dc[rr], dz[t, b], dcc, H)
                for j in range(H):
                    dhr[j] = 0.0
        _add_dropped_back(dz[t], UkT, UkTp, r, b0, n, dzg, back, dh)  # Σ_g (dz_g @ U_gᵀ) ⊙ r_g
    for rr in range(n):
        for j in range(H):
            dh0[b0 + rr, j] = dh[rr, j]
            dc0[b0 + rr, j] = dc[rr, j]


# -- GRU, reset_after (Keras's default), recurrent masks r_z, r_r, r_h ------------------------
@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def gru_forward_block(xp, Uk, b_rec, r, h0, hs, acts, mhs, lengths, b0, b1):
    """xp (T, B, 3H); Uk (3, H, H); b_rec (3H,) or (0,); r (3, B, H); h0 (B, H); lengths
    (B,) or (0,). Writes hs (T+1, B, H), acts (T, B, 3H) = z, r, hh and mhs (T, B, H) =
    m_h (zeros at a held step)::

        m_g = (h ⊙ r_g) @ U_g + b_rec_g;  z, r = σ(xp_z + m_z), σ(xp_r + m_r)
        hh = tanh(xp_h + r ⊙ m_h);         h' = z ⊙ h + (1 - z) ⊙ hh
    """
    T, G = xp.shape[0], xp.shape[2]
    H = G // 3
    n = b1 - b0
    has_b = b_rec.shape[0] > 0
    hm = np.empty((n, H), np.float32)
    mg = np.empty((3, n, H), np.float32)
    for rr in range(n):
        for j in range(H):
            hs[0, b0 + rr, j] = h0[b0 + rr, j]
    Ukp = panels_each(Uk, n * T)
    held = lengths.shape[0] > 0
    for t in range(T):
        _dropped_products(hs[t], r, Uk, Ukp, b0, n, hm, mg)
        if has_b:
            for g in range(3):
                for rr in range(n):
                    for j in range(H):
                        mg[g, rr, j] += b_rec[g * H + j]
        for rr in range(n):
            b = b0 + rr
            ar = acts[t, b]
            if held and t >= lengths[b]:
                hs[t + 1, b] = hs[t, b]
                ar[:] = 0.0
                mhs[t, b] = 0.0
                continue
            xr = xp[t, b]
            for j in range(H):                                   # z
                ar[j] = _HALF * tanh32(_HALF * (mg[0, rr, j] + xr[j])) + _HALF
            for j in range(H):                                   # r
                ar[H + j] = _HALF * tanh32(_HALF * (mg[1, rr, j] + xr[H + j])) + _HALF
            for j in range(H):                                   # hh
                mh = mg[2, rr, j]
                mhs[t, b, j] = mh
                ar[2 * H + j] = tanh32(xr[2 * H + j] + ar[H + j] * mh)
            hp = hs[t, b]
            hn = hs[t + 1, b]
            for j in range(H):
                z = ar[j]
                hn[j] = z * hp[j] + (_ONE - z) * ar[2 * H + j]


@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def gru_backward_block(hs, acts, mhs, UkT, r, dh_seq, dh_last, dxp, dms, dh0, lengths, b0,
                       b1):
    """hs (T+1, B, H); acts (T, B, 3H); mhs (T, B, H); UkT (3, H, H) each U_gᵀ; r (3, B, H);
    dh_seq (T, B, H) or (0, B, H); dh_last (B, H); lengths (B,) or (0,). Writes dxp
    (T, B, 3H) = dL/d xp,
    dms (T, B, 3H) = dL/dm and dh0 (B, H)::

        δz = z(1-z)·δh·(h - hh)   δp = (1 - hh²)·δh·(1 - z)   δr = r(1-r)·δp·m_h
        δm = [δz, δr, δp·r]       δh_prev = δh·z + Σ_g (δm_g @ U_gᵀ) ⊙ r_g
    """
    T, G = acts.shape[0], acts.shape[2]
    H = G // 3
    n = b1 - b0
    has_seq = dh_seq.shape[0] > 0
    dh = np.empty((n, H), np.float32)
    dmg = np.empty((n, H), np.float32)
    back = np.empty((n, H), np.float32)
    nxt = np.empty((n, H), np.float32)
    for rr in range(n):
        for j in range(H):
            dh[rr, j] = dh_last[b0 + rr, j]
    UkTp = panels_each(UkT, n * T)
    held = lengths.shape[0] > 0
    for t in range(T - 1, -1, -1):
        for rr in range(n):
            b = b0 + rr
            a = acts[t, b]
            d = dxp[t, b]
            dm = dms[t, b]
            hp = hs[t, b]
            if held and t >= lengths[b]:                         # dh passes through
                d[:] = 0.0
                dm[:] = 0.0
                for j in range(H):
                    if has_seq:
                        dh[rr, j] += dh_seq[t, b, j]
                    nxt[rr, j] = dh[rr, j]
                continue
            for j in range(H):
                if has_seq:
                    dh[rr, j] += dh_seq[t, b, j]
                z = a[j]
                rg = a[H + j]
                hh = a[2 * H + j]
                dhj = dh[rr, j]
                dz = z * (_ONE - z) * dhj * (hp[j] - hh)
                dp = (_ONE - hh * hh) * dhj * (_ONE - z)
                dr = rg * (_ONE - rg) * dp * mhs[t, b, j]
                d[j] = dz
                d[H + j] = dr
                d[2 * H + j] = dp
                dm[j] = dz
                dm[H + j] = dr
                dm[2 * H + j] = dp * rg
                nxt[rr, j] = dhj * z                              # z ⊙ h: undropped h
        _add_dropped_back(dms[t], UkT, UkTp, r, b0, n, dmg, back, nxt)  # Σ_g (δm_g @ U_gᵀ) ⊙ r_g
        for rr in range(n):
            for j in range(H):
                dh[rr, j] = nxt[rr, j]
    for rr in range(n):
        for j in range(H):
            dh0[b0 + rr, j] = dh[rr, j]


# -- SimpleRNN (tanh), one recurrent mask ------------------------------------------------------
@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def rnn_forward_block(xp, U, r, h0, hs, lengths, b0, b1):
    """xp (T, B, H); U (H, H); r (B, H); h0 (B, H); lengths (B,) or (0,). Writes hs
    (T+1, B, H): h' = tanh(xp + (h ⊙ r) @ U) (h held at a held step)."""
    T, H = xp.shape[0], xp.shape[2]
    n = b1 - b0
    hm = np.empty((n, H), np.float32)
    z = np.empty((n, H), np.float32)
    for rr in range(n):
        for j in range(H):
            hs[0, b0 + rr, j] = h0[b0 + rr, j]
    Up = panels(U, n * T)
    held = lengths.shape[0] > 0
    for t in range(T):
        for rr in range(n):
            for j in range(H):
                hm[rr, j] = hs[t, b0 + rr, j] * r[b0 + rr, j]
        step_product(hm, U, Up, z)
        for rr in range(n):
            if held and t >= lengths[b0 + rr]:
                hs[t + 1, b0 + rr] = hs[t, b0 + rr]
                continue
            xr = xp[t, b0 + rr]
            hn = hs[t + 1, b0 + rr]
            for j in range(H):
                hn[j] = tanh32(z[rr, j] + xr[j])


@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def rnn_backward_block(hs, UT, r, dh_seq, dh_last, dz, dh0, lengths, b0, b1):
    """hs (T+1, B, H); UT (H, H) = Uᵀ; r (B, H); dh_seq (T, B, H) or (0, B, H); dh_last
    (B, H); lengths (B,) or (0,). Writes dz (T, B, H) = (1 - h²)·δh and dh0; δh_prev =
    (δz @ Uᵀ) ⊙ r (δh itself at a held step)."""
    T, H = dz.shape[0], dz.shape[2]
    n = b1 - b0
    has_seq = dh_seq.shape[0] > 0
    dh = np.empty((n, H), np.float32)
    d = np.empty((n, H), np.float32)
    for rr in range(n):
        for j in range(H):
            dh[rr, j] = dh_last[b0 + rr, j]
    UTp = panels(UT, n * T)
    held = lengths.shape[0] > 0
    keep = np.empty((n, H), np.float32)                      # held rows' dh
    for t in range(T - 1, -1, -1):
        for rr in range(n):
            b = b0 + rr
            hn = hs[t + 1, b]
            hold = held and t >= lengths[b]
            for j in range(H):
                g = dh[rr, j]
                if has_seq:
                    g += dh_seq[t, b, j]
                v = (_ONE - hn[j] * hn[j]) * g
                if hold:
                    keep[rr, j] = g
                    v = 0.0
                d[rr, j] = v
                dz[t, b, j] = v
        step_product(d, UT, UTp, dh)
        for rr in range(n):
            if held and t >= lengths[b0 + rr]:
                for j in range(H):
                    dh[rr, j] = keep[rr, j]
            else:
                for j in range(H):
                    dh[rr, j] *= r[b0 + rr, j]
    for rr in range(n):
        for j in range(H):
            dh0[b0 + rr, j] = dh[rr, j]
