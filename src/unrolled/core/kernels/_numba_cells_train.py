"""Compiled (numba) gate passes for GRU and SimpleRNN *training* — imported only by
:mod:`.cells_train`, at first use.

Each function is one pass over a step's rows, run between NumPy's multithreaded sgemm
calls (the recurrent products stay in BLAS); forward passes store what backward needs,
backward passes write dL/d(pre-activations) for the weight-gradient GEMMs. Equations in
the code's symbols (Keras gate order z, r, h; σ(x) = ½·tanh(x/2) + ½)::

    GRU, reset_after=True     m = h_prev @ U                  (B, 3H)  sgemm, before the pass
                              z = σ(xp_z + m_z + b_z)   r = σ(xp_r + m_r + b_r)
                              mh = m_h + b_h            hh = tanh(xp_h + r·mh)
                              h = z·h_prev + (1 - z)·hh
      backward                δp = δh·(1-z)·(1-hh²)     δz = δh·(h_prev-hh)·z(1-z)
                              δr = δp·mh·r(1-r)
                              δxp = [δz, δr, δp]        δm = [δz, δr, δp·r]
                              δh_prev = δh·z + δm @ Uᵀ              (sgemm after the pass)
    GRU, reset_after=False    z, r as above with m = h_prev @ U[:, :2H], no b_rec
                              rh = r·h_prev   hh = tanh(xp_h + rh @ U_h)
      backward                δp, δz as above; δrh = δp @ U_hᵀ (sgemm between two passes)
                              δr = δrh·h_prev·r(1-r)
                              δh_prev = δh·z + δrh·r + [δz, δr] @ U_zrᵀ
    SimpleRNN                 h = tanh(xp + h_prev @ U)
      backward                δz = δh·(1 - h²)          δh_prev = δz @ Uᵀ

δh at step t is the carried gradient plus the output sequence's (``dh_seq_t``, or a (0, H)
array when only the last state was used). Derivatives reuse the saved activations.

Backward passes flush subnormal results to zero (:func:`ftz`, what a CPU's FTZ mode and
GPUs do): gradients that vanish through time reach the subnormal range after ~100 steps
from a 1e-5 loss gradient, and one subnormal-laden (128, 1536) @ (1536, 512) sgemm took
198 ms instead of 1.3 ms here. Anything flushed is below 1.2e-38, far below what a float32
weight gradient of ordinary size can resolve.

tanh_ / sigmoid_ come from :mod:`._numba_cells` (float32: the NaN-preserving rational tanh;
float64: libm's).

Loops bind rows and gate blocks to 1-D views and write one array each, so LLVM
vectorises them (see the overlap note in :mod:`._numba_lstm`).
"""
from __future__ import annotations

import numba as nb
import numpy as np

# numba bakes an imported inline="always" helper into *this* file's disk cache and checks
# only this file's source for staleness: after editing tanh32 in _numba_cells, clear
# __pycache__ (or touch this file) so these kernels recompile too.
from ._numba_cells import _FM, rnn_gates, sigmoid_, tanh_
from ._numba_lstm import _ONE

_TINY = np.float32(np.finfo(np.float32).tiny)          # smallest normal float32
_ZERO = np.float32(0.0)


@nb.njit(inline="always", fastmath=_FM, error_model="numpy", cache=True)
def ftz(x):
    """x, or 0 if x is subnormal (|x| < 2⁻¹²⁶); NaN stays NaN."""
    return _ZERO if abs(x) < _TINY else x


# -- GRU, reset_after=True -------------------------------------------------------------------
# Gate blocks are bound to 1-D views (az, ar_, ah = a[:H], a[H:2H], a[2H:]) and each loop
# writes one array: with an offset like a[2H + j] written in the loop that reads a[j],
# LLVM cannot prove the two never overlap and keeps the loop scalar (measured 5x slower).

@nb.njit(nogil=True, fastmath=_FM, error_model="numpy", cache=True)
def gru_after_forward(m, xpt, br, h_prev, h_new, a, mh):
    """m (B, 3H) = h_prev @ U; xpt (B, 3H) this step's projection; br (3H,) recurrent bias
    (zeros without bias). Writes a (B, 3H) = z, r, hh, mh (B, H) = m_h + b_h, h_new (B, H)."""
    B, G = m.shape
    H = G // 3
    for r in range(B):
        mr = m[r]
        xr = xpt[r]
        ar = a[r]
        for j in range(2 * H):                                # z, r
            ar[j] = sigmoid_(xr[j] + mr[j] + br[j])
        mhr = mh[r]
        m_h = mr[2 * H:]
        b_h = br[2 * H:]
        for j in range(H):
            mhr[j] = m_h[j] + b_h[j]
        g = ar[H:2 * H]
        ah = ar[2 * H:]
        x_h = xr[2 * H:]
        for j in range(H):                                    # hh = tanh(xp_h + r·mh)
            ah[j] = tanh_(x_h[j] + g[j] * mhr[j])
        az = ar[:H]
        hp = h_prev[r]
        hn = h_new[r]
        for j in range(H):                                    # h = z·h_prev + (1-z)·hh
            hn[j] = az[j] * hp[j] + (_ONE - az[j]) * ah[j]


@nb.njit(nogil=True, fastmath=_FM, error_model="numpy", cache=True)
def gru_after_backward(a, mh, h_prev, dh, dh_seq_t, dxp, dm):
    """a (B, 3H) z, r, hh; mh, h_prev (B, H); dh (B, H) dL/dh_t from later steps, replaced
    by δh·z (the direct part of dL/dh_prev); writes dxp, dm (B, 3H)."""
    B, G = a.shape
    H = G // 3
    has_seq = dh_seq_t.shape[0] > 0
    for r in range(B):
        ar = a[r]
        az = ar[:H]
        g = ar[H:2 * H]
        ah = ar[2 * H:]
        dr = dh[r]
        if has_seq:
            sr = dh_seq_t[r]
            for j in range(H):
                dr[j] += sr[j]
        hp = h_prev[r]
        dx = dxp[r]
        dz = dx[:H]
        dg = dx[H:2 * H]
        dp = dx[2 * H:]
        for j in range(H):                                    # δz = δh·(h_prev-hh)·z(1-z)
            dz[j] = ftz(dr[j] * (hp[j] - ah[j]) * az[j] * (_ONE - az[j]))
        for j in range(H):                                    # δp = δh·(1-z)·(1-hh²)
            dp[j] = ftz(dr[j] * (_ONE - az[j]) * (_ONE - ah[j] * ah[j]))
        mhr = mh[r]
        for j in range(H):                                    # δr = δp·mh·r(1-r)
            dg[j] = ftz(dp[j] * mhr[j] * g[j] * (_ONE - g[j]))
        for j in range(H):                                    # δh·z, to dL/dh_prev
            dr[j] = ftz(dr[j] * az[j])
        dmr = dm[r]
        for j in range(2 * H):                                # δm = [δz, δr, δp·r]
            dmr[j] = dx[j]
        dm_h = dmr[2 * H:]
        for j in range(H):
            dm_h[j] = ftz(dp[j] * g[j])


# -- GRU, reset_after=False ------------------------------------------------------------------

@nb.njit(nogil=True, fastmath=_FM, error_model="numpy", cache=True)
def gru_before_forward_zr(m, xpt, h_prev, a, rh):
    """m (B, 2H) = h_prev @ U[:, :2H]; writes z, r into a[:, :2H] (a (B, 3H)) and
    rh (B, H) = r·h_prev."""
    B = m.shape[0]
    H = h_prev.shape[1]
    for r in range(B):
        mr = m[r]
        xr = xpt[r]
        ar = a[r]
        for j in range(2 * H):
            ar[j] = sigmoid_(xr[j] + mr[j])
        g = ar[H:2 * H]
        hp = h_prev[r]
        rr = rh[r]
        for j in range(H):
            rr[j] = g[j] * hp[j]


@nb.njit(nogil=True, fastmath=_FM, error_model="numpy", cache=True)
def gru_before_forward_h(mh, xpt, a, h_prev, h_new):
    """mh (B, H) = rh @ U[:, 2H:]; writes hh into a[:, 2H:] and h_new (B, H)."""
    B, H = mh.shape
    for r in range(B):
        mr = mh[r]
        x_h = xpt[r][2 * H:]
        ar = a[r]
        ah = ar[2 * H:]
        for j in range(H):
            ah[j] = tanh_(x_h[j] + mr[j])
        az = ar[:H]
        hp = h_prev[r]
        hn = h_new[r]
        for j in range(H):
            hn[j] = az[j] * hp[j] + (_ONE - az[j]) * ah[j]


@nb.njit(nogil=True, fastmath=_FM, error_model="numpy", cache=True)
def gru_before_backward_zh(a, h_prev, dh, dh_seq_t, dxp):
    """First half: writes δz, δp into dxp[:, :H], dxp[:, 2H:]; dh (B, H) replaced by δh·z."""
    B, G = a.shape
    H = G // 3
    has_seq = dh_seq_t.shape[0] > 0
    for r in range(B):
        ar = a[r]
        az = ar[:H]
        ah = ar[2 * H:]
        dr = dh[r]
        if has_seq:
            sr = dh_seq_t[r]
            for j in range(H):
                dr[j] += sr[j]
        hp = h_prev[r]
        dx = dxp[r]
        dz = dx[:H]
        dp = dx[2 * H:]
        for j in range(H):
            dz[j] = ftz(dr[j] * (hp[j] - ah[j]) * az[j] * (_ONE - az[j]))
        for j in range(H):
            dp[j] = ftz(dr[j] * (_ONE - az[j]) * (_ONE - ah[j] * ah[j]))
        for j in range(H):
            dr[j] = ftz(dr[j] * az[j])


@nb.njit(nogil=True, fastmath=_FM, error_model="numpy", cache=True)
def gru_before_backward_r(a, h_prev, drh, dh, dxp):
    """Second half, after drh (B, H) = δp @ U_hᵀ: writes δr into dxp[:, H:2H] and adds
    δrh·r to dh."""
    B, G = a.shape
    H = G // 3
    for r in range(B):
        g = a[r][H:2 * H]
        hp = h_prev[r]
        d = drh[r]
        dg = dxp[r][H:2 * H]
        for j in range(H):
            dg[j] = ftz(d[j] * hp[j] * g[j] * (_ONE - g[j]))
        dr = dh[r]
        for j in range(H):
            dr[j] = ftz(dr[j] + d[j] * g[j])


# -- SimpleRNN (tanh) --------------------------------------------------------------------------

# Forward: h_new = tanh(xpt + m) after m = h_prev @ U — the inference step, which already
# keeps all backward needs (h itself).
rnn_forward = rnn_gates


@nb.njit(nogil=True, fastmath=_FM, error_model="numpy", cache=True)
def rnn_backward(h, dh, dh_seq_t, dz):
    """h (B, H) this step's output; dh (B, H) from later steps; writes dz = δh·(1 - h²)."""
    B, H = h.shape
    has_seq = dh_seq_t.shape[0] > 0
    for r in range(B):
        hr = h[r]
        dr = dh[r]
        dzr = dz[r]
        if has_seq:
            sr = dh_seq_t[r]
            for j in range(H):
                dzr[j] = ftz((dr[j] + sr[j]) * (_ONE - hr[j] * hr[j]))
        else:
            for j in range(H):
                dzr[j] = ftz(dr[j] * (_ONE - hr[j] * hr[j]))
