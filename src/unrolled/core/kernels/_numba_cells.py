"""Compiled (numba) GRU and SimpleRNN *inference* loops — imported only by
:mod:`.cells_numba`, at first use.

Same pattern as :func:`._numba_lstm.infer_block`: one call does, for batch rows ``b0:b1``,
the input projection (+ bias), the initial state (zeros or the caller's) and the whole
time loop, keeping only what inference returns. Per step (Keras gate order z, r, h)::

    GRU, reset_after=True     m  = h @ U + b_rec                     (n, 3H)
                              z  = σ(xp_z + m_z)   r = σ(xp_r + m_r)
                              hh = tanh(xp_h + r·m_h)
    GRU, reset_after=False    z, r as above with m = h @ U[:, :2H]
                              hh = tanh(xp_h + (r·h) @ U[:, 2H:])
    both                      h  = z·h + (1 - z)·hh
    SimpleRNN                 h  = tanh(xp + h @ U)

σ(x) = ½·tanh(x/2) + ½ and tanh is the float32 rational approximation of
:mod:`._numba_lstm` (Eigen's ``ptanh_float``), here with a NaN-preserving clamp and
fastmath flags *without* ``nnan``/``ninf``, so a NaN in the input comes out as NaN.

Each step's recurrent product runs on U packed into panels once per call
(:mod:`.runtime._numba_panels`). The large-step gate passes (``gru_gates_*``,
``rnn_gates``) run after a NumPy sgemm per step (see :mod:`.cells_numba`).
"""
from __future__ import annotations

import numba as nb
import numpy as np
from numba.core import types
from numba.extending import overload

from ._numba_lstm import (
    _A1,
    _A3,
    _A5,
    _A7,
    _A9,
    _A11,
    _A13,
    _B0,
    _B2,
    _B4,
    _B6,
    _CLAMP,
    _HALF,
    _ONE,
)
from ._numba_float64 import tanh64
from .runtime._numba_panels import _row_product, panels, step_product

# fastmath minus nnan/ninf: NaN must survive the clamp and the gate arithmetic.
_FM = {"nsz", "arcp", "contract", "afn", "reassoc"}


@nb.njit(inline="always", fastmath=_FM, error_model="numpy", cache=True)
def tanh32(x):
    """The rational float32 tanh of ``_numba_lstm.tanh32``; NaN in, NaN out."""
    if x > _CLAMP:
        x = _CLAMP
    elif x < -_CLAMP:
        x = -_CLAMP
    x2 = x * x
    p = x2 * _A13 + _A11
    p = x2 * p + _A9
    p = x2 * p + _A7
    p = x2 * p + _A5
    p = x2 * p + _A3
    p = x2 * p + _A1
    q = x2 * _B6 + _B4
    q = x2 * q + _B2
    q = x2 * q + _B0
    return x * p / q


@nb.njit(inline="always", fastmath=_FM, error_model="numpy", cache=True)
def sigmoid32(x):
    return _HALF * tanh32(_HALF * x) + _HALF


def tanh_(x):
    """tanh at x's precision: :func:`tanh32` for float32, ``tanh64`` for float64. (Python
    body: only under ``NUMBA_DISABLE_JIT=1``; compiled code takes the overload.)"""
    return tanh32(x) if isinstance(x, np.float32) else np.tanh(x)


@overload(tanh_, fastmath=_FM)
def _tanh_overload(x):
    if x == types.float32:
        return lambda x: tanh32(x)
    return lambda x: tanh64(x)


@nb.njit(inline="always", fastmath=_FM, error_model="numpy", cache=True)
def sigmoid_(x):
    """σ(x) = ½·tanh(x/2) + ½ at x's precision."""
    return _HALF * tanh_(_HALF * x) + _HALF


@nb.njit(nogil=True, fastmath=_FM, error_model="numpy", cache=True)
def tanh_array(x, out):
    """Elementwise :func:`tanh32` over a flat float32 array (used by tests)."""
    for k in range(x.size):
        out[k] = tanh32(x[k])


@nb.njit(inline="always", fastmath=_FM, error_model="numpy")
def _project(x, W, bias, b0, b1, whole):
    """(n·T, G) = x[b0:b1] (n, T, F) @ W (F, G) + bias (G,) or (0,); row r·T + t."""
    T, F = x.shape[1], x.shape[2]
    G = W.shape[1]
    n = b1 - b0
    xb = x[b0:b1].reshape(n * T, F)
    xp = np.empty((n * T, G), x.dtype)
    _row_product(xb, W, xp, whole)   # a loop for a few rows, else BLAS (see there)
    if bias.shape[0] > 0:
        for r in range(n * T):
            for j in range(G):
                xp[r, j] += bias[j]
    return xp


@nb.njit(inline="always", fastmath=_FM, error_model="numpy")
def _active_rows(step_mask, b0, n, idx):
    """Rows r (batch row b0 + r) whose step runs (step_mask (B,) bool): idx[:k], returns k.
    (A copy of ``_numba_lstm._active_rows``: that module's fastmath flags assume no NaN,
    this one keeps NaN, see _FM.)"""
    k = 0
    for r in range(n):
        if step_mask[b0 + r]:
            idx[k] = r
            k += 1
    return k


@nb.njit(inline="always", fastmath=_FM, error_model="numpy")
def _active_product(h, idx, k, n, hg, U, Up, m):
    """m[:k] = h[idx[:k]] @ U (Up = panels(U, ...)): the active rows' recurrent product (all
    rows in place when k == n, else gathered through hg)."""
    src = h
    if k < n:
        W = h.shape[1]
        for q in range(k):
            s = h[idx[q]]
            d = hg[q]
            for j in range(W):
                d[j] = s[j]
        src = hg
    if k > 0:      # (one call site: each inlines the panels' tiles, compile time)
        step_product(src[:k], U, Up, m[:k])


@nb.njit(inline="always", fastmath=_FM, error_model="numpy")
def _start(h0, n, H, b0):
    h = np.zeros((n, H), h0.dtype)
    if h0.shape[0] > 0:
        for r in range(n):
            for j in range(H):
                h[r, j] = h0[b0 + r, j]
    return h


@nb.njit(nogil=True, fastmath=_FM, error_model="numpy", cache=True)
def gru_infer_block(x, W, bias, U, bias_rec, h0, reset_after, backwards, mask, whole, seq,
                    h_last, b0, b1):
    """GRU inference for batch rows ``b0:b1`` straight from the layer's arrays.

    x (B, T, F) C-contiguous; W (F, 3H); bias (3H,) input bias or (0,); U (H, 3H);
    bias_rec (3H,) recurrent bias (reset_after only) or (0,); h0 (B, H) or (0, H) for
    zeros; backwards: timesteps T-1..0; mask (T, B) bool in the input's time order, True =
    run the step (a masked step carries h over; products run over the active rows only),
    or (0, 0); whole: BLAS is single-threaded for the call (the projection in one sgemm,
    see :func:`_product`). Writes
    h_last (B, H) and, when seq is (B, T, H) (not (0, T, H)), every h
    in processing order. float32 or float64 (x's dtype; every array alike).
    """
    T = x.shape[1]
    G = U.shape[1]
    H = G // 3
    n = b1 - b0
    dt = x.dtype
    keep_seq = seq.shape[0] > 0
    has_mask = mask.shape[0] > 0
    xp = _project(x, W, bias, b0, b1, whole)
    h = _start(h0, n, H, b0)
    hg = np.empty((n, H), dt)                                   # active rows, gathered
    idx = np.arange(n)
    br = np.zeros(G, dt)
    if bias_rec.shape[0] > 0:
        for j in range(G):
            br[j] = bias_rec[j]
    if reset_after:
        m = np.empty((n, G), dt)
        Up = panels(U, n * T)
        for t in range(T):
            tx = T - 1 - t if backwards else t
            k = _active_rows(mask[tx], b0, n, idx) if has_mask else n
            _active_product(h, idx, k, n, hg, U, Up, m)              # (k, 3H)
            for q in range(k):
                mr = m[q]
                r = idx[q]
                xr = xp[r * T + tx]
                hr = h[r]
                for j in range(H):
                    z = sigmoid_(xr[j] + mr[j] + br[j])
                    g = sigmoid_(xr[H + j] + mr[H + j] + br[H + j])
                    hh = tanh_(xr[2 * H + j] + g * (mr[2 * H + j] + br[2 * H + j]))
                    hr[j] = z * hr[j] + (_ONE - z) * hh
            if keep_seq:
                for r in range(n):
                    seq[b0 + r, t] = h[r]
    else:
        Uzr = np.ascontiguousarray(U[:, :2 * H])
        Uh = np.ascontiguousarray(U[:, 2 * H:])
        Uzrp = panels(Uzr, n * T)
        Uhp = panels(Uh, n * T)
        m = np.empty((n, 2 * H), dt)
        zs = np.empty((n, H), dt)
        rh = np.empty((n, H), dt)                               # compact: row q of the active
        mh = np.empty((n, H), dt)
        for t in range(T):
            tx = T - 1 - t if backwards else t
            k = _active_rows(mask[tx], b0, n, idx) if has_mask else n
            _active_product(h, idx, k, n, hg, Uzr, Uzrp, m)          # (k, 2H)
            for q in range(k):
                mr = m[q]
                r = idx[q]
                xr = xp[r * T + tx]
                hr = h[r]
                zr = zs[q]
                rhr = rh[q]
                for j in range(H):
                    zr[j] = sigmoid_(xr[j] + mr[j])
                    rhr[j] = sigmoid_(xr[H + j] + mr[H + j]) * hr[j]
            if k > 0:
                step_product(rh[:k], Uh, Uhp, mh[:k])               # (r·h) @ U_h
            for q in range(k):
                r = idx[q]
                xr = xp[r * T + tx]
                hr = h[r]
                zr = zs[q]
                mhr = mh[q]
                for j in range(H):
                    hh = tanh_(xr[2 * H + j] + mhr[j])
                    hr[j] = zr[j] * hr[j] + (_ONE - zr[j]) * hh
            if keep_seq:
                for r in range(n):
                    seq[b0 + r, t] = h[r]
    for r in range(n):
        for j in range(H):
            h_last[b0 + r, j] = h[r, j]


@nb.njit(nogil=True, fastmath=_FM, error_model="numpy", cache=True)
def rnn_infer_block(x, W, bias, U, h0, backwards, mask, whole, seq, h_last, b0, b1):
    """SimpleRNN (tanh) inference for batch rows ``b0:b1``; arguments as
    :func:`gru_infer_block` with W (F, H), bias (H,) or (0,), U (H, H)."""
    T = x.shape[1]
    H = U.shape[1]
    n = b1 - b0
    dt = x.dtype
    keep_seq = seq.shape[0] > 0
    has_mask = mask.shape[0] > 0
    xp = _project(x, W, bias, b0, b1, whole)
    h = _start(h0, n, H, b0)
    hg = np.empty((n, H), dt)
    idx = np.arange(n)
    m = np.empty((n, H), dt)
    Up = panels(U, n * T)
    for t in range(T):
        tx = T - 1 - t if backwards else t
        k = _active_rows(mask[tx], b0, n, idx) if has_mask else n
        _active_product(h, idx, k, n, hg, U, Up, m)
        for q in range(k):
            mr = m[q]
            r = idx[q]
            xr = xp[r * T + tx]
            hr = h[r]
            for j in range(H):
                hr[j] = tanh_(xr[j] + mr[j])
        if keep_seq:
            for r in range(n):
                seq[b0 + r, t] = h[r]
    for r in range(n):
        for j in range(H):
            h_last[b0 + r, j] = h[r, j]


# -- large steps: NumPy's multithreaded sgemm per step, then one compiled pass --------------
# Each pass reads h_prev and writes h_new: two distinct arrays (see _numba_lstm on overlap).

@nb.njit(nogil=True, fastmath=_FM, error_model="numpy", cache=True)
def gru_gates_after(m, xpt, br, h_prev, h_new):
    """reset_after=True step after ``m = h_prev @ U``: m, xpt (B, 3H), br (3H,)."""
    B, G = m.shape
    H = G // 3
    for r in range(B):
        mr = m[r]
        xr = xpt[r]
        hp = h_prev[r]
        hn = h_new[r]
        for j in range(H):
            z = sigmoid_(xr[j] + mr[j] + br[j])
            g = sigmoid_(xr[H + j] + mr[H + j] + br[H + j])
            hh = tanh_(xr[2 * H + j] + g * (mr[2 * H + j] + br[2 * H + j]))
            hn[j] = z * hp[j] + (_ONE - z) * hh


@nb.njit(nogil=True, fastmath=_FM, error_model="numpy", cache=True)
def gru_gates_zr(m, xpt, h_prev, zs, rh):
    """reset_after=False, first half: m (B, 2H) = h_prev @ U[:, :2H]; writes z and r·h."""
    B = m.shape[0]
    H = h_prev.shape[1]
    for r in range(B):
        mr = m[r]
        xr = xpt[r]
        hp = h_prev[r]
        zr = zs[r]
        rhr = rh[r]
        for j in range(H):
            zr[j] = sigmoid_(xr[j] + mr[j])
            rhr[j] = sigmoid_(xr[H + j] + mr[H + j]) * hp[j]


@nb.njit(nogil=True, fastmath=_FM, error_model="numpy", cache=True)
def gru_gates_h(mh, xpt, zs, h_prev, h_new):
    """reset_after=False, second half: mh (B, H) = (r·h) @ U[:, 2H:]."""
    B, H = mh.shape
    for r in range(B):
        mr = mh[r]
        xr = xpt[r]
        zr = zs[r]
        hp = h_prev[r]
        hn = h_new[r]
        for j in range(H):
            hh = tanh_(xr[2 * H + j] + mr[j])
            hn[j] = zr[j] * hp[j] + (_ONE - zr[j]) * hh


@nb.njit(nogil=True, fastmath=_FM, error_model="numpy", cache=True)
def rnn_gates(m, xpt, h_new):
    """SimpleRNN step after ``m = h_prev @ U``: h_new = tanh(xpt + m)."""
    B, H = m.shape
    for r in range(B):
        mr = m[r]
        xr = xpt[r]
        hn = h_new[r]
        for j in range(H):
            hn[j] = tanh_(xr[j] + mr[j])
