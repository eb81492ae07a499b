"""Fast GRU and SimpleRNN training: forward that saves what backward needs, and backward
(float32 or float64, tanh / sigmoid, any mask; numba, ``pip install 'unrolled[fast]'``).

Same mathematics as :mod:`unrolled.core.gru` / :mod:`unrolled.core.simple_rnn` driven by
:mod:`unrolled.core.scan` (the test oracle), organised like :mod:`.lstm_fast`:

* the input projection of all timesteps is one GEMM, the input bias riding in it as a
  column of ones: ``xp = (x | 1) @ (W ; b)`` (T, B, G·H), so backward gets dW and db
  from one GEMM too;
* per step, the recurrent product is NumPy's multithreaded sgemm with ``out=`` into a
  preallocated buffer, then one compiled pass over the gates (:mod:`._numba_cells_train`)
  replaces the reference step's ~25 NumPy calls;
* backward runs the same loop reversed, writing dL/dxp for every step into one
  (T, B, G·H) array, then every weight gradient comes from a few GEMMs over all T·B rows::

      dW;db = (x|1)ᵀ·δxp    dU = h_prevᵀ·δm    db_rec = Σ δm    dx = δxp·Wᵀ

  (δm = δxp except GRU reset_after's candidate block δp·r; reset_after=False splits dU into
  h_prevᵀ·δxp_zr and (r·h_prev)ᵀ·δp).

Masks (:mod:`.step_mask`): after a step's pass, rows that skip the step carry h over; in
backward they pass dL/dh through and get dL/dxp = 0.

Buffers come from :mod:`.runtime.buffers`: :func:`~.runtime.buffers.scratch` for
arrays that die inside a call, :func:`~.runtime.buffers.recycled` for those in the cache or
output (reused only once nothing refers to them), so two threads can share a layer and a
returned array is never written again.

Axis legend: B batch, T timesteps, F features, H units; GRU gate blocks z, r, h.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from ..scan import SequenceGrads
from .runtime import loading
from .lstm_fast import project
from .runtime.buffers import recycled, scratch
from .step_mask import StepMask, keep_carried, skip_backward

Array = np.ndarray
F32 = np.float32
# "No output-sequence gradient" for the compiled passes, per dtype.
_NO_SEQS = {np.dtype(f): np.zeros((0, 0), f) for f in (np.float32, np.float64)}


class CellTrainCache(NamedTuple):
    """What the fast backward needs, saved by the fast forward (time-major, float32)."""

    x: Array              # (T, B, F+1) input in processing order, then a column of ones if
                          # there is an input bias; (T, B, F) if not
    hs: Array             # (T+1, B, H) h before/after every step; hs[0] = h0
    acts: Array | None    # (T, B, 3H) GRU's z, r, hh; None for SimpleRNN (h is enough)
    aux: Array | None     # (T, B, H) GRU reset_after: m_h + b_rec_h; reset_after=False:
                          # r·h_prev; None for SimpleRNN
    go_backwards: bool
    mask: Array | None = None   # (T, B) bool, processing order: True = the step ran


def impl() -> ModuleType:
    """The compiled passes, importing numba (and compiling or loading the cache) once."""
    return COMPILED.get()


def _c(a: Array, dt: np.dtype) -> Array:
    return np.ascontiguousarray(a, dt)


def _start(x: Array, h0: Array | None, H: int, gru: bool
           ) -> tuple[Array, Array | None, Array | None]:
    """The cache's arrays: hs (T+1, B, H) with hs[0] = h0 (or zeros); for a GRU also
    acts (T, B, 3H) and aux (T, B, H)."""
    B, T = x.shape[0], x.shape[1]
    dt = x.dtype
    hs = recycled("cell_hs", (T + 1, B, H), dt)
    hs[0] = 0.0 if h0 is None else h0
    if not gru:
        return hs, None, None
    return hs, recycled("cell_acts", (T, B, 3 * H), dt), recycled("cell_aux", (T, B, H), dt)


class _Skips(NamedTuple):
    """A step mask in the per-step form the loops use."""

    skip: Array            # (T, B, 1) True = the row skips the step
    any: Array             # (T,) some row skips step t


def _skips(steps: Array | None) -> _Skips | None:
    return None if steps is None else _Skips(~steps[:, :, None], ~steps.all(axis=1))


def _finish(hs: Array, return_sequences: bool) -> tuple[Array | None, Array]:
    seq = np.swapaxes(hs[1:], 0, 1) if return_sequences else None   # (B, T, H) view
    return seq, hs[-1].copy()


# -- forward -----------------------------------------------------------------------------------

def gru_forward(cell: Any, x: Array, kernel: Array, input_bias: Array | None,
                params: tuple[Array, ...], h0: Array | None, go_backwards: bool,
                return_sequences: bool, mask: StepMask | None = None
                ) -> tuple[Array | None, Array, CellTrainCache]:
    """GRU over ``x`` (batch, timesteps, features) from ``h0`` (batch, units) or zeros.

    Returns ``(sequence (B, T, H) in processing order or None, h_T (B, H), cache)``.
    ``params`` is ``(U,)`` or ``(U, b_rec)`` (reset_after with bias), as the reference cell's.
    With ``mask`` a masked step carries h over (the sequence holds the carried h).
    """
    mod = impl()
    B, T, _ = x.shape
    dt = x.dtype
    U = _c(params[0], dt)                                     # (H, 3H)
    H = U.shape[0]
    xt, xp = project(x, kernel, input_bias, go_backwards, "cell_xp")
    hs, acts, aux = _start(x, h0, H, gru=True)
    steps = None if mask is None else mask.steps
    sk = _skips(steps)
    if cell.reset_after:
        br = _c(params[1], dt) if len(params) > 1 else np.zeros(3 * H, dt)
        m = scratch("cell_m", (B, 3 * H), dt)
        for t in range(T):
            np.matmul(hs[t], U, out=m)                        # (B, 3H)
            mod.gru_after_forward(m, xp[t], br, hs[t], hs[t + 1], acts[t], aux[t])
            if sk is not None:
                keep_carried(sk.any[t], sk.skip[t], hs[t], hs[t + 1])
    else:
        Uzr, Uh = _c(U[:, :2 * H], dt), _c(U[:, 2 * H:], dt)
        m = scratch("cell_m", (B, 2 * H), dt)
        mh = scratch("cell_mh", (B, H), dt)
        for t in range(T):
            np.matmul(hs[t], Uzr, out=m)                      # (B, 2H)
            mod.gru_before_forward_zr(m, xp[t], hs[t], acts[t], aux[t])
            np.matmul(aux[t], Uh, out=mh)                     # (r·h_prev) @ U_h (B, H)
            mod.gru_before_forward_h(mh, xp[t], acts[t], hs[t], hs[t + 1])
            if sk is not None:
                keep_carried(sk.any[t], sk.skip[t], hs[t], hs[t + 1])
    seq, h_last = _finish(hs, return_sequences)
    return seq, h_last, CellTrainCache(xt, hs, acts, aux, go_backwards, steps)


def rnn_forward(cell: Any, x: Array, kernel: Array, input_bias: Array | None,
                params: tuple[Array, ...], h0: Array | None, go_backwards: bool,
                return_sequences: bool, mask: StepMask | None = None
                ) -> tuple[Array | None, Array, CellTrainCache]:
    """SimpleRNN (tanh); arguments and results as :func:`gru_forward`, ``params`` (U,)."""
    mod = impl()
    B, T, _ = x.shape
    dt = x.dtype
    U = _c(params[0], dt)                                     # (H, H)
    H = U.shape[0]
    xt, xp = project(x, kernel, input_bias, go_backwards, "cell_xp")
    hs, _, _ = _start(x, h0, H, gru=False)
    steps = None if mask is None else mask.steps
    sk = _skips(steps)
    m = scratch("cell_m", (B, H), dt)
    for t in range(T):
        np.matmul(hs[t], U, out=m)
        mod.rnn_forward(m, xp[t], hs[t + 1])
        if sk is not None:
            keep_carried(sk.any[t], sk.skip[t], hs[t], hs[t + 1])
    seq, h_last = _finish(hs, return_sequences)
    return seq, h_last, CellTrainCache(xt, hs, None, None, go_backwards, steps)


# -- backward ----------------------------------------------------------------------------------

def _upstream(d_seq: Array | None, dh_last: Array | None, T: int, B: int, H: int,
              dt: np.dtype) -> tuple[Array, Array]:
    """(dh_seq (T, B, H) time-major or an empty (0, 0), dh (B, H) a fresh carry buffer)."""
    dh_seq = _NO_SEQS[np.dtype(dt)] if d_seq is None else _c(np.swapaxes(d_seq, 0, 1), dt)
    dh = np.zeros((B, H), dt) if dh_last is None else np.array(dh_last, dt)
    return dh_seq, dh


def _entering(sk: _Skips | None, t: int, dh: Array, dh_seq: Array, snap: Array) -> None:
    """snap = dL/dh entering step t (the carried gradient plus the sequence's), what a row
    that skips the step passes through."""
    if sk is not None and sk.any[t]:
        if dh_seq.shape[0]:
            np.add(dh, dh_seq[t], out=snap)
        else:
            snap[...] = dh


def _skip(sk: _Skips | None, t: int, snap: Array, dh: Array, *step_grads: Array) -> None:
    if sk is not None:
        skip_backward(sk.any[t], sk.skip[t], snap, dh, *step_grads)


def _tn(a: Array, b: Array) -> Array:
    """aᵀ·b for tall a (N, P), b (N, Q) as (bᵀ·a)ᵀ, C-contiguous: OpenBLAS runs that form
    ~15% faster here at (12800, 512)ᵀ·(12800, 1536) (measured 117-138 vs 146-159 ms)."""
    return np.ascontiguousarray((b.T @ a).T)


def _at(dh_seq: Array, t: int) -> Array:
    """dL/dh_t from the output sequence (B, H), or the empty array the passes skip."""
    return dh_seq[t] if dh_seq.shape[0] else _NO_SEQS[dh_seq.dtype]


def _input_grads(cache: CellTrainCache, kernel: Array, has_bias: bool, dxp: Array
                 ) -> tuple[Array, Array, Array | None]:
    """dx (B, T, F), dW (F, G·H), db (G·H,) or None from δxp (T, B, G·H): two GEMMs."""
    xt = cache.x
    T, B = xt.shape[:2]
    F = kernel.shape[0]
    flat = dxp.reshape(T * B, dxp.shape[2])                   # (T·B, G·H)
    d_wb = _tn(xt.reshape(T * B, xt.shape[2]), flat)          # (F[+1], G·H): dW (and db)
    d_kernel, d_bias = (d_wb[:F], d_wb[F]) if has_bias else (d_wb, None)
    dx = (flat @ _c(kernel, dxp.dtype).T).reshape(T, B, F)   # (T, B, F)
    if cache.go_backwards:
        dx = dx[::-1]
    return np.ascontiguousarray(np.swapaxes(dx, 0, 1)), d_kernel, d_bias


def gru_backward(cell: Any, cache: CellTrainCache, kernel: Array, input_bias: Array | None,
                 params: tuple[Array, ...], d_seq: Array | None, dh_last: Array | None
                 ) -> SequenceGrads:
    """Gradients through :func:`gru_forward`; ``d_seq`` (B, T, H) or None, ``dh_last``
    (B, H) or None. Returned in the reference scan's form (d_recurrent = (dU[, db_rec]))."""
    mod = impl()
    hs, acts, aux = cache.hs, cache.acts, cache.aux
    T, B, G = acts.shape
    H = G // 3
    dt = hs.dtype
    U = _c(params[0], dt)
    dh_seq, dh = _upstream(d_seq, dh_last, T, B, H, dt)
    dxp = scratch("cell_dxp", (T, B, G), dt)                  # dL/dxp, dead after the GEMMs
    mm = scratch("cell_mm", (B, H), dt)
    sk = _skips(cache.mask)
    snap = np.empty((B, H), dt)
    h_prev = hs[:-1].reshape(T * B, H)                        # (T·B, H)
    if cell.reset_after:
        dm = scratch("cell_dm", (T, B, G), dt)                # dL/dm (T, B, 3H)
        UT = _c(U.T, dt)                                      # (3H, H)
        for t in range(T - 1, -1, -1):
            _entering(sk, t, dh, dh_seq, snap)
            mod.gru_after_backward(acts[t], aux[t], hs[t], dh, _at(dh_seq, t), dxp[t], dm[t])
            if sk is not None and sk.any[t]:
                np.copyto(dm[t], 0, where=sk.skip[t])         # before δm @ Uᵀ
            np.matmul(dm[t], UT, out=mm)                      # δm @ Uᵀ
            dh += mm                                          # δh_prev = δh·z + δm @ Uᵀ
            _skip(sk, t, snap, dh, dxp[t])
        d_rec: tuple[Array, ...] = (_tn(h_prev, dm.reshape(T * B, G)),)   # dU (H, 3H)
    else:
        UzrT, UhT = _c(U[:, :2 * H].T, dt), _c(U[:, 2 * H:].T, dt)   # (2H, H), (H, H)
        drh = scratch("cell_drh", (B, H), dt)
        for t in range(T - 1, -1, -1):
            d = dxp[t]
            _entering(sk, t, dh, dh_seq, snap)
            mod.gru_before_backward_zh(acts[t], hs[t], dh, _at(dh_seq, t), d)
            if sk is not None and sk.any[t]:
                np.copyto(d, 0, where=sk.skip[t])             # before the products
            np.matmul(d[:, 2 * H:], UhT, out=drh)             # δrh = δp @ U_hᵀ
            mod.gru_before_backward_r(acts[t], hs[t], drh, dh, d)
            np.matmul(d[:, :2 * H], UzrT, out=mm)             # [δz, δr] @ U_zrᵀ
            dh += mm
            _skip(sk, t, snap, dh, d)
        flat = dxp.reshape(T * B, G)
        d_rec = (np.concatenate([_tn(h_prev, flat[:, :2 * H]),             # dU (H, 3H)
                                 _tn(aux.reshape(T * B, H), flat[:, 2 * H:])], axis=1),)
    dx, d_kernel, d_bias = _input_grads(cache, kernel, input_bias is not None, dxp)
    if cell.reset_after and len(params) > 1:   # db_rec = Σ δm: δm's z, r blocks are δxp's,
        d_rec += (np.concatenate([d_bias[:2 * H],                # whose sums are db_in's
                                  np.add.reduce(dm[:, :, 2 * H:].reshape(T * B, H), axis=0)]),)
    return SequenceGrads(dx, d_kernel, d_bias, d_rec, (dh,))


def rnn_backward(cell: Any, cache: CellTrainCache, kernel: Array, input_bias: Array | None,
                 params: tuple[Array, ...], d_seq: Array | None, dh_last: Array | None
                 ) -> SequenceGrads:
    """Gradients through :func:`rnn_forward` (arguments as :func:`gru_backward`)."""
    mod = impl()
    hs = cache.hs
    T, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    dt = hs.dtype
    UT = _c(params[0].T, dt)                                  # (H, H)
    dh_seq, dh = _upstream(d_seq, dh_last, T, B, H, dt)
    dz = scratch("cell_dxp", (T, B, H), dt)                   # dL/d(xp + h_prev @ U)
    sk = _skips(cache.mask)
    snap = np.empty((B, H), dt)
    for t in range(T - 1, -1, -1):
        _entering(sk, t, dh, dh_seq, snap)
        mod.rnn_backward(hs[t + 1], dh, _at(dh_seq, t), dz[t])
        if sk is not None and sk.any[t]:
            np.copyto(dz[t], 0, where=sk.skip[t])
        np.matmul(dz[t], UT, out=dh)                          # δh_prev = δz @ Uᵀ
        _skip(sk, t, snap, dh)
    dU = _tn(hs[:-1].reshape(T * B, H), dz.reshape(T * B, H))  # (H, H)
    dx, d_kernel, d_bias = _input_grads(cache, kernel, input_bias is not None, dz)
    return SequenceGrads(dx, d_kernel, d_bias, (dU,), (dh,))


def _warm(mod: ModuleType, f: type = F32) -> None:
    """Compile (or load) every signature of dtype ``f``: GRU both ways and SimpleRNN,
    forward and backward."""
    from ..activations import get  # noqa: PLC0415
    from ..gru import GRUCell  # noqa: PLC0415

    x = np.zeros((1, 1, 1), f)
    for reset_after in (True, False):
        cell = GRUCell(get("tanh"), get("sigmoid"), reset_after)
        params = (np.ones((1, 3), f),) + ((np.zeros(3, f),) if reset_after else ())
        kernel = np.ones((1, 3), f)
        _, _, cache = gru_forward(cell, x, kernel, np.zeros(3, f), params, None, False, True)
        gru_backward(cell, cache, kernel, np.zeros(3, f), params, np.ones((1, 1, 1), f),
                     np.ones((1, 1), f))
        gru_backward(cell, cache, kernel, np.zeros(3, f), params, None, np.ones((1, 1), f))
    params = (np.ones((1, 1), f),)
    _, _, cache = rnn_forward(None, x, np.ones((1, 1), f), np.zeros(1, f), params, None,
                              False, True)
    rnn_backward(None, cache, np.ones((1, 1), f), np.zeros(1, f), params,
                 np.ones((1, 1, 1), f), np.ones((1, 1), f))
    rnn_backward(None, cache, np.ones((1, 1), f), np.zeros(1, f), params, None,
                 np.ones((1, 1), f))


COMPILED = loading.CompiledModule("._numba_cells_train",
                                  "the numba GRU/SimpleRNN training kernels need", _warm)
COMPILED64 = loading.CompiledModule("._numba_cells_train",
                                    "the numba GRU/SimpleRNN training kernels need",
                                    lambda mod: _warm(mod, np.float64), "float64")
