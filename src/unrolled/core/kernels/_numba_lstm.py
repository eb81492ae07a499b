"""Compiled (numba) LSTM time loops — imported only by :mod:`.lstm_numba`, at first use.

One call runs *all* timesteps for a block of batch rows ``b0:b1`` (rows of an LSTM are
independent, so two blocks run on two cores with no per-step synchronisation). Per step:

    z   = h_prev @ U'            # (nb, 4H) on U packed once per call (runtime._numba_panels)
    z  += xp[t]                  # xp = x @ W + b, computed for all steps before the loop
    i, f, o = ½·tanh(½z) + ½     # σ(x) = ½·tanh(x/2) + ½: no exp, no libm call
    g       = tanh(z)            # so the four gates need one tanh each, vectorised
    c = f·c_prev + i·g ;  h = o·tanh(c)

``tanh`` is a float32 rational approximation (Eigen's ``ptanh_float``, |error| < 2e-7 in
[-9, 9], exactly ±1 beyond), inlined so the gate loop vectorises — libm's scalar tanh
costs more per step than ONNX Runtime's whole step. The same loops compile for float64
too (``tanh_`` dispatches on the type: :func:`._numba_float64.tanh64` there, which
vectorises as well; allocations follow the inputs' dtype).

Masks: a (T, B) bool step mask; a masked row skips the step (h, c carried over; in
backward dL/dz = 0 and dL/dh, dL/dc pass through), and each step's product runs over the
active rows only, gathered into a contiguous buffer.

Backward runs the same loop in reverse, writing ``dz`` (T, B, 4H) for the caller's big
weight-gradient GEMMs, and ``dh_prev = dz[t] @ Uᵀ`` per step (Uᵀ packed likewise).
"""
from __future__ import annotations

import numba as nb
import numpy as np
from numba.core import types
from numba.extending import overload

from ._numba_float64 import tanh64
from ._numba_sync import load_acquire, store_release
from .runtime._numba_gemm import gemm
from .runtime._numba_panels import (
    BLAS_SINGLE_THREAD_WORK,
    _row_product,
    pack,
    panel_product,
    panels,
    step_product,
)

_f32 = np.float32
_CLAMP = _f32(7.90531110763549805)
_A1, _A3, _A5 = _f32(4.89352455891786e-03), _f32(6.37261928875436e-04), _f32(1.48572235717979e-05)
_A7, _A9 = _f32(5.12229709037114e-08), _f32(-8.60467152213735e-11)
_A11, _A13 = _f32(2.00018790482477e-13), _f32(-2.76076847742355e-16)
_B0, _B2 = _f32(4.89352518554385e-03), _f32(2.26843463243900e-03)
_B4, _B6 = _f32(1.18534705686654e-04), _f32(1.19825839466702e-06)
_HALF, _ONE = _f32(0.5), _f32(1.0)


@nb.njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def tanh32(x):
    """tanh(x) for float32 x as p(x²)·x / q(x²) on the clamped input."""
    x = min(max(x, -_CLAMP), _CLAMP)
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


def tanh_(x):
    """tanh at x's precision: :func:`tanh32` for float32, ``tanh64`` for float64 (the
    float64 kernels are checked against the float64 reference to ~1e-12). This Python
    body runs only under ``NUMBA_DISABLE_JIT=1``; compiled code takes the overload."""
    return tanh32(x) if isinstance(x, np.float32) else np.tanh(x)


@overload(tanh_, inline="always", fastmath=True)
def _tanh_overload(x):
    if x == types.float32:
        return lambda x: tanh32(x)
    return lambda x: tanh64(x)


@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def tanh_array(x, out):
    """Elementwise :func:`tanh32` over a flat float32 array (used by tests)."""
    for k in range(x.size):
        out[k] = tanh32(x[k])


@nb.njit(inline="always", fastmath=True, error_model="numpy")
def _gates_in_place(zr, xr, cr, hr, H):
    """One batch row's step when the gates need not be kept: zr, xr (4H,) the recurrent
    product and the projection; cr, hr (H,) c and h, updated in place."""
    for j in range(H):
        i = _HALF * tanh_(_HALF * (zr[j] + xr[j])) + _HALF
        f = _HALF * tanh_(_HALF * (zr[H + j] + xr[H + j])) + _HALF
        g = tanh_(zr[2 * H + j] + xr[2 * H + j])
        o = _HALF * tanh_(_HALF * (zr[3 * H + j] + xr[3 * H + j])) + _HALF
        cn = f * cr[j] + i * g
        cr[j] = cn
        hr[j] = o * tanh_(cn)


@nb.njit(inline="always", fastmath=True, error_model="numpy")
def _active_rows(step_mask, b0, n, idx):
    """The block's rows whose step runs: writes their indices r (row b0 + r of the batch)
    to idx[:k] and returns k. step_mask (B,) bool, True = run the step."""
    k = 0
    for r in range(n):
        if step_mask[b0 + r]:
            idx[k] = r
            k += 1
    return k


@nb.njit(inline="always", fastmath=True, error_model="numpy")
def _gather_rows(src, idx, k, dst):
    """dst[q] = src[idx[q]] for q < k (a masked step's active rows, made contiguous for
    one product over them alone)."""
    W = src.shape[1]
    for q in range(k):
        s = src[idx[q]]
        d = dst[q]
        for j in range(W):
            d[j] = s[j]


@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def forward_block(xp, U, h0, c0, hs, cs, acts, h_last, c_last, mask, b0, b1):
    """LSTM forward for batch rows ``b0:b1``, every timestep.

    xp (T, B, 4H) input projection x @ W + b; U (H, 4H) recurrent kernel;
    h0, c0 (B, H). Outputs: hs (T+1, B, H) every h (hs[0] = h0) or shape (1, B, H) to skip;
    cs likewise for c; acts (T, B, 4H) activated gates i, f, g, o or (0, B, 4H) to skip;
    h_last, c_last (B, H) the final state. mask (T, B) bool in processing order, True =
    run the step (a masked step carries h and c over; its acts are left unwritten), or
    (0, 0) for none. Each step's product runs over the active rows only.
    float32 or float64 (the dtype of xp; every array alike).
    """
    T, G = xp.shape[0], xp.shape[2]
    H = G // 4
    n = b1 - b0
    dt = xp.dtype
    keep_h = hs.shape[0] > 1
    keep_c = cs.shape[0] > 1
    keep_a = acts.shape[0] > 0
    has_mask = mask.shape[0] > 0
    h = np.empty((n, H), dt)
    c = np.empty((n, H), dt)
    z = np.empty((n, G), dt)
    hg = np.empty((n, H), dt)                                # active rows' h, gathered
    idx = np.arange(n)
    Up = panels(U, n * T)
    for r in range(n):
        for j in range(H):
            h[r, j] = h0[b0 + r, j]
            c[r, j] = c0[b0 + r, j]
    for t in range(T):
        k = _active_rows(mask[t], b0, n, idx) if has_mask else n
        src = h
        if k < n:
            _gather_rows(h, idx, k, hg)
            src = hg
        if k > 0:      # (one call site: each inlines the panels' tiles, compile time)
            step_product(src[:k], U, Up, z[:k])              # (k, 4H) recurrent product
        for q in range(k):
            r = idx[q]
            b = b0 + r
            zr = z[q]
            xr = xp[t, b]
            hr = h[r]
            cr = c[r]
            if keep_a:
                # Activate into acts first, then c and h: a loop that also stored four
                # gates into one row (a[j], a[H+j], ...) stayed scalar (2× slower).
                ar = acts[t, b]
                for j in range(2 * H):                        # i, f
                    ar[j] = _HALF * tanh_(_HALF * (zr[j] + xr[j])) + _HALF
                for j in range(2 * H, 3 * H):                 # g
                    ar[j] = tanh_(zr[j] + xr[j])
                for j in range(3 * H, G):                     # o
                    ar[j] = _HALF * tanh_(_HALF * (zr[j] + xr[j])) + _HALF
                for j in range(H):
                    cn = ar[H + j] * cr[j] + ar[j] * ar[2 * H + j]
                    cr[j] = cn
                    hr[j] = ar[3 * H + j] * tanh_(cn)
            else:
                _gates_in_place(zr, xr, cr, hr, H)
        if keep_h:
            for r in range(n):
                hs[t + 1, b0 + r] = h[r]
        if keep_c:
            for r in range(n):
                cs[t + 1, b0 + r] = c[r]
    for r in range(n):
        for j in range(H):
            h_last[b0 + r, j] = h[r, j]
            c_last[b0 + r, j] = c[r, j]


@nb.njit(inline="always", fastmath=True, error_model="numpy")
def _backward_row(a, cp, cn, dhr, dcr, d, dcc, H):
    """One batch row of a backward step: a (4H,) activated gates i, f, g, o; cp, cn (H,)
    c before and after the step; dhr (H,) dL/dh_t (the output sequence's share included);
    dcr (H,) dL/dc_t, updated in place to dL/dc_prev; writes d (4H,) = dL/dz; dcc (H,)
    scratch. One output block per loop: a loop storing d[j], d[H+j], ... of one row at
    once stays scalar."""
    for j in range(H):                                       # through h = o·tanh(c)
        o = a[3 * H + j]
        tc = tanh_(cn[j])
        dcc[j] = dcr[j] + dhr[j] * o * (_ONE - tc * tc)
        d[3 * H + j] = dhr[j] * tc * o * (_ONE - o)
    for j in range(H):                                       # through c = f·c_prev + i·g
        d[j] = dcc[j] * a[2 * H + j] * a[j] * (_ONE - a[j])
    for j in range(H):
        d[H + j] = dcc[j] * cp[j] * a[H + j] * (_ONE - a[H + j])
    for j in range(H):
        d[2 * H + j] = dcc[j] * a[j] * (_ONE - a[2 * H + j] * a[2 * H + j])
    for j in range(H):
        dcr[j] = dcc[j] * a[H + j]                           # dL/dc_prev


@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def backward_block(acts, cs, UT, dh_seq, dh_last, dc_last, dz, dh0, dc0, mask, b0, b1):
    """LSTM backward for batch rows ``b0:b1``.

    acts (T, B, 4H) activated gates; cs (T+1, B, H) cell states (cs[0] = c0);
    UT (4H, H) the *unscaled* recurrent kernel transposed; dh_seq (T, B, H) dL/dh_t from
    the output sequence or (0, B, H) when only the last state was used; dh_last,
    dc_last (B, H) dL/d final state. Writes dz (T, B, 4H) = dL/d pre-activations and
    dh0, dc0 (B, H) = dL/d initial state. mask (T, B) as in :func:`forward_block` (or
    (0, 0)): at a masked step dz is zero and dL/dh, dL/dc pass through unchanged.
    """
    T, G = acts.shape[0], acts.shape[2]
    H = G // 4
    n = b1 - b0
    dt = acts.dtype
    has_seq = dh_seq.shape[0] > 0
    has_mask = mask.shape[0] > 0
    dh = np.empty((n, H), dt)
    dc = np.empty((n, H), dt)
    dcc = np.empty(H, dt)                                    # dL/dc_t of one row
    dg = np.empty((n, G), dt)                                # active rows' dz, gathered
    dhg = np.empty((n, H), dt)
    idx = np.arange(n)
    UTp = panels(UT, n * T)
    for r in range(n):
        for j in range(H):
            dh[r, j] = dh_last[b0 + r, j]
            dc[r, j] = dc_last[b0 + r, j]
    for t in range(T - 1, -1, -1):
        k = _active_rows(mask[t], b0, n, idx) if has_mask else n
        if has_seq:
            for r in range(n):
                dhr = dh[r]
                sr = dh_seq[t, b0 + r]
                for j in range(H):
                    dhr[j] += sr[j]
        for q in range(k):
            r = idx[q]
            b = b0 + r
            _backward_row(acts[t, b], cs[t, b], cs[t + 1, b], dh[r], dc[r], dz[t, b], dcc, H)
        src = dz[t, b0:b1]
        dst = dh
        if k < n:
            for r in range(n):                               # masked rows: dz = 0
                if not mask[t, b0 + r]:
                    dz[t, b0 + r] = 0.0
            _gather_rows(dz[t, b0:b1], idx, k, dg)
            src = dg
            dst = dhg
        if k > 0:
            step_product(src[:k], UT, UTp, dst[:k])           # dL/dh_prev = dz @ Uᵀ
        if k < n:                                            # the active rows' dL/dh_prev
            for q in range(k):
                dh[idx[q]] = dhg[q]
    for r in range(n):
        for j in range(H):
            dh0[b0 + r, j] = dh[r, j]
            dc0[b0 + r, j] = dc[r, j]


# -- inference in one compiled call -----------------------------------------------------------
# At tiny and small sizes the Python around the loop (transposes, the projection GEMM, a
# dozen buffers, numba unboxing 11 arrays) cost more than the loop. ``infer_block`` takes
# the layer's own arrays and does everything for its rows: projection, bias, zero state,
# the loop; it keeps only what inference returns.

@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def infer_block_inplace(x, W, bias, U, h0, c0, backwards, mask, whole, seq, h_last, c_last,
                        b0, b1):
    """:func:`infer_block` for calls of fewer than PACK_MIN_ROWS row-steps (rows ×
    timesteps, e.g. one timestep of a stateful stream), where copying [U; W] into panels
    would cost more than the products: the projection up front, and each step's product
    on U in place (a loop for a few rows, else BLAS).

    x (B, T, F) C-contiguous input, batch-major as the caller gave it; W (F, 4H); bias
    (4H,) or (0,) for none; U (H, 4H); UWp the panels of [U; W] (``pack_weights``) when
    the caller packed them once for all its blocks (every block then reads one copy:
    4-9 % faster at (128, 100, 64, 512) on two threads than a copy each), or an empty
    (0, ·, ·) array: this call packs them; h0, c0 (B, H), or (0, H) to start from zeros;
    backwards: process timesteps T-1..0; mask (T, B) bool in the input's time order, True
    = run the step (a masked step carries h and c over), or (0, 0) for none; whole: BLAS
    is single-threaded during the call (the projection and each step's product in one
    sgemm, else in row chunks OpenBLAS runs on this thread). Writes h_last, c_last
    (B, H) and, when seq has shape (B, T, H) (not (0, T, H)), every h (carried over at a
    masked step) in processing order. float32 or float64 (x's dtype).
    """
    T, F = x.shape[1], x.shape[2]
    G = U.shape[1]
    H = G // 4
    n = b1 - b0
    dt = x.dtype
    keep_seq = seq.shape[0] > 0
    has_mask = mask.shape[0] > 0
    # Projection of all this block's timesteps: (n·T, F) @ (F, 4H), row r·T + t.
    xb = x[b0:b1].reshape(n * T, F)
    xp = np.empty((n * T, G), dt)
    rows = n * T if whole else max(1, BLAS_SINGLE_THREAD_WORK // (F * G))
    for r0 in range(0, n * T, rows):
        r1 = min(n * T, r0 + rows)
        gemm(xb[r0:r1], W, xp[r0:r1])
    if bias.shape[0] > 0:
        for r in range(n * T):
            for j in range(G):
                xp[r, j] += bias[j]
    h = np.zeros((n, H), dt)
    c = np.zeros((n, H), dt)
    if h0.shape[0] > 0:
        for r in range(n):
            for j in range(H):
                h[r, j] = h0[b0 + r, j]
                c[r, j] = c0[b0 + r, j]
    z = np.empty((n, G), dt)
    hg = np.empty((n, H), dt)                                # active rows' h, gathered
    idx = np.arange(n)
    for t in range(T):
        tx = T - 1 - t if backwards else t
        k = _active_rows(mask[tx], b0, n, idx) if has_mask else n
        if k == n:
            _row_product(h, U, z, whole)                      # (n, 4H)
        elif k > 0:
            _gather_rows(h, idx, k, hg)
            _row_product(hg[:k], U, z[:k], whole)             # (k, 4H)
        for q in range(k):
            r = idx[q]
            _gates_in_place(z[q], xp[r * T + tx], c[r], h[r], H)
        if keep_seq:
            for r in range(n):
                seq[b0 + r, t] = h[r]
    for r in range(n):
        for j in range(H):
            h_last[b0 + r, j] = h[r, j]
            c_last[b0 + r, j] = c[r, j]


@nb.njit(nogil=True, cache=True)
def pack_weights(UW):
    """``UW`` packed into column panels (see ``runtime._numba_panels``), for
    :func:`infer_block`."""
    return pack(UW)


@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def infer_block(x, W, bias, U, UWp, h0, c0, backwards, mask, seq, h_last, c_last, b0, b1):
    """LSTM inference for batch rows ``b0:b1`` straight from the layer's arrays.

    x (B, T, F) C-contiguous input, batch-major as the caller gave it; W (F, 4H); bias
    (4H,) or (0,) for none; U (H, 4H); UWp the panels of [U; W] (``pack_weights``) when
    the caller packed them once for all its blocks (every block then reads one copy:
    4-9 % faster at (128, 100, 64, 512) on two threads than a copy each), or an empty
    (0, ·, ·) array: this call packs them; h0, c0 (B, H), or (0, H) to start from zeros;
    backwards: process timesteps T-1..0; mask (T, B) bool in the input's time order, True
    = run the step (a masked step carries h and c over), or (0, 0) for none. Writes
    h_last, c_last (B, H) and, when seq has shape (B, T, H) (not (0, T, H)), every h
    (carried over at a masked step) in processing order. float32 or float64 (x's dtype).

    The input projection rides in each step's product: z = [h_prev | x_t] @ [U; W], on
    the panels of [U; W] (H + F, 4H). That is the same work as one projection GEMM up
    front, minus writing and re-reading its (n·T, 4H) result (3.2 MB per 16-row block at
    (32, 100, 16, 128), beyond L2), and leaves no BLAS call in the loop: 6-9 % faster at
    medium, long and demo sizes on one thread (benchmarks/README.md, session 7).
    """
    T, F = x.shape[1], x.shape[2]
    G = U.shape[1]
    H = G // 4
    n = b1 - b0
    dt = x.dtype
    keep_seq = seq.shape[0] > 0
    has_mask = mask.shape[0] > 0
    UW = np.empty((H + F, G), dt)     # read for columns past the last full panel only
    UW[:H] = U
    UW[H:] = W
    if UWp.shape[0] == 0:
        UWp = pack(UW)
    b = np.zeros(G, dt)
    if bias.shape[0] > 0:
        b[:] = bias
    hx = np.zeros((n, H + F), dt)                            # [h | x_t] of every row
    c = np.zeros((n, H), dt)
    if h0.shape[0] > 0:
        for r in range(n):
            for j in range(H):
                hx[r, j] = h0[b0 + r, j]
                c[r, j] = c0[b0 + r, j]
    z = np.empty((n, G), dt)
    hxg = np.empty((n, H + F), dt)                           # active rows, gathered
    idx = np.arange(n)
    for t in range(T):
        tx = T - 1 - t if backwards else t
        for r in range(n):
            xr = x[b0 + r, tx]
            hr = hx[r]
            for j in range(F):
                hr[H + j] = xr[j]
        k = _active_rows(mask[tx], b0, n, idx) if has_mask else n
        src = hx
        if k < n:
            _gather_rows(hx, idx, k, hxg)
            src = hxg
        if k > 0:
            panel_product(src[:k], UW, UWp, z[:k])            # (k, 4H)
        for q in range(k):
            r = idx[q]
            _gates_in_place(z[q], b, c[r], hx[r, :H], H)
        if keep_seq:
            for r in range(n):
                seq[b0 + r, t] = hx[r, :H]
    for r in range(n):
        for j in range(H):
            h_last[b0 + r, j] = hx[r, j]
            c_last[b0 + r, j] = c[r, j]


# -- large steps: NumPy's multithreaded sgemm, then one compiled pass over the gates ----------
# At B·4H² above ~16 M multiply-adds the step is GEMM-bound and NumPy's 2-thread sgemm is
# the fastest product here; what NumPy cannot do is the ~20 elementwise passes after it
# (each a trip through 1 MB of gates). These two run that work in one pass, per step.

# numba cannot tell LLVM that arrays do not overlap, so a loop vectorises only if its
# runtime overlap checks stay few: bind rows to 1-D views, write to few arrays, and never
# pass the same array twice (measured on (128, 2048): 0.2 ms vectorised, 1.2-1.7 ms not).

@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def gate_step_infer(z, xpt, c_prev, c_new, h_new):
    """One inference step after ``z = h_prev @ U``: z, xpt (B, 4H) the product and this
    step's projection; reads c_prev, writes c_new and h_new (B, H) — three distinct arrays."""
    B, G = z.shape
    H = G // 4
    for r in range(B):
        zr = z[r]
        xr = xpt[r]
        cp = c_prev[r]
        cn = c_new[r]
        hn = h_new[r]
        for j in range(H):
            i = _HALF * tanh_(_HALF * (zr[j] + xr[j])) + _HALF
            f = _HALF * tanh_(_HALF * (zr[H + j] + xr[H + j])) + _HALF
            g = tanh_(zr[2 * H + j] + xr[2 * H + j])
            o = _HALF * tanh_(_HALF * (zr[3 * H + j] + xr[3 * H + j])) + _HALF
            c = f * cp[j] + i * g
            cn[j] = c
            hn[j] = o * tanh_(c)


@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def gate_step_infer_t(z, xpt, c_prev, c_new, h_new):
    """:func:`gate_step_infer` in the units-major layout of large inference: z, xpt
    (4H, B) the product ``Uᵀ @ h_prev`` and this step's projection; reads c_prev, writes
    c_new and h_new (H, B). The inner loop runs along the batch, contiguous."""
    G, B = z.shape
    H = G // 4
    for j in range(H):
        zi, zf, zg, zo = z[j], z[H + j], z[2 * H + j], z[3 * H + j]
        xi, xf, xg, xo = xpt[j], xpt[H + j], xpt[2 * H + j], xpt[3 * H + j]
        cp = c_prev[j]
        cn = c_new[j]
        hn = h_new[j]
        for b in range(B):
            i = _HALF * tanh_(_HALF * (zi[b] + xi[b])) + _HALF
            f = _HALF * tanh_(_HALF * (zf[b] + xf[b])) + _HALF
            g = tanh_(zg[b] + xg[b])
            o = _HALF * tanh_(_HALF * (zo[b] + xo[b])) + _HALF
            c = f * cp[b] + i * g
            cn[b] = c
            hn[b] = o * tanh_(c)


# How many times a thread polls the other's flag before handing control back to Python,
# which yields the CPU and calls again: ~0.1 ms of spinning, a small fraction of a large
# step, so an imbalance costs nothing, while a thread whose partner is not running (more
# callers than cores, or a failed partner) stops burning a core.
SPINS_BEFORE_YIELD = 100_000


@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def infer_units_major(UT, xp, h0, c0, hs, cs, u0, flags, me, parties, t0):
    """Steps ``t0..T-1`` of one thread's share of large inference (units ``u0:u0+n``).

    UT (4n, H): this thread's rows of Uᵀ; xp (T, 4n, B): its projection rows, bias
    included; h0 (H, B), c0 (n, B): the initial state (units-major); hs (S, H, B): hidden
    states, step t written to ``hs[t % S]`` (S = T for a sequence, 2 for a ring that is
    safe because a thread runs step t+1 only after every thread finished step t — that
    is, read ``hs[(t-1) % 2]``); cs (2, n, B): this thread's cell-state ring.

    Before step t > 0 each thread waits until all ``parties`` threads have published
    ``flags[p] >= t`` (p finished step t-1); ``flags[parties]`` non-zero means another
    thread failed. Returns T when done, -1 if aborted, or the step it stopped waiting at
    after SPINS_BEFORE_YIELD polls (the caller yields and calls again from there).
    """
    T = xp.shape[0]
    n = c0.shape[0]
    S = hs.shape[0]
    z = np.empty((UT.shape[0], h0.shape[1]), h0.dtype)
    for t in range(t0, T):
        if t > 0:
            spins = 0
            for p in range(parties):
                while p != me and load_acquire(flags, p) < t:
                    if load_acquire(flags, parties) != 0:
                        return -1
                    spins += 1
                    if spins > SPINS_BEFORE_YIELD:
                        return t
        hp = h0 if t == 0 else hs[(t - 1) % S]
        cp = c0 if t == 0 else cs[(t - 1) % 2]
        gemm(UT, hp, z)                                    # (4n, B) = Uᵀ rows @ hᵀ
        gate_step_infer_t(z, xp[t], cp, cs[t % 2], hs[t % S][u0:u0 + n])
        store_release(flags, me, t + 1)                      # my half of h_t is written
    return T


@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def gate_step_train(z, xpt, c_prev, c_new, h_new):
    """Like :func:`gate_step_infer`, but z (B, 4H) is overwritten with the activated gates
    i, f, g, o that backward needs: first activate in place, then c and h (two loops that
    each vectorise, where one fused loop writing four arrays does not)."""
    B, G = z.shape
    H = G // 4
    for r in range(B):
        zr = z[r]
        xr = xpt[r]
        for j in range(2 * H):                                # i, f: σ(x) = ½·tanh(x/2) + ½
            zr[j] = _HALF * tanh_(_HALF * (zr[j] + xr[j])) + _HALF
        for j in range(2 * H, 3 * H):                         # g
            zr[j] = tanh_(zr[j] + xr[j])
        for j in range(3 * H, G):                             # o
            zr[j] = _HALF * tanh_(_HALF * (zr[j] + xr[j])) + _HALF
        cp = c_prev[r]
        cn = c_new[r]
        hn = h_new[r]
        for j in range(H):
            c = zr[H + j] * cp[j] + zr[j] * zr[2 * H + j]     # c = f·c_prev + i·g
            cn[j] = c
            hn[j] = zr[3 * H + j] * tanh_(c)                 # h = o·tanh(c)


@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def gate_step_backward(a, c_prev, c_new, dh, dh_seq_t, dc, d):
    """One backward step before ``dh_prev = d @ Uᵀ``: a (B, 4H) activated gates;
    c_prev, c_new (B, H); dh (B, H) dL/dh_t from later steps (the output sequence's
    dh_seq_t (B, H) is added to it in place, unless it is (0, H)); dc (B, H) is updated in
    place to dL/dc_prev; writes d (B, 4H) = dL/dz. Same formulas as ``backward_block``."""
    B, G = a.shape
    H = G // 4
    has_seq = dh_seq_t.shape[0] > 0
    dcc = np.empty(H, a.dtype)
    for r in range(B):
        dhr = dh[r]
        if has_seq:
            sr = dh_seq_t[r]
            for j in range(H):
                dhr[j] += sr[j]
        _backward_row(a[r], c_prev[r], c_new[r], dhr, dc[r], d[r], dcc, H)
