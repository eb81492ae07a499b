"""Fast LSTM forward/backward (float32 or float64, Keras's default activations tanh /
sigmoid, any mask).

Same mathematics as the reference :mod:`unrolled.core.lstm` + :mod:`unrolled.core.scan`
(which stay the test oracle), organised for speed:

* the input projection of all timesteps is one GEMM, ``xp' = x @ W' + b'`` (T, B, 4H);
* sigmoid is computed as ``σ(z) = ½·tanh(z/2) + ½``: in the NumPy loop the ``½`` is
  folded into the i, f, o columns of U and of the projected input once per call, so one
  ``tanh`` over the whole (B, 4H) row activates all four gates — no per-gate slicing,
  no exp; the compiled loop applies it per element;
* the time loop runs in a *loop implementation* chosen by the dispatcher: ``numpy``
  (per-step ``np.matmul(..., out=)`` into preallocated, per-call buffers) or ``numba``
  (:mod:`.lstm_numba`: the whole loop compiled, batch rows split over cores);
* backward writes dL/dz for every step into one (T, B, 4H) array, then gets every
  weight gradient from three large GEMMs over all T·B rows::

      dU = h_prevᵀ · dz    dW = xᵀ · dz    db = Σ dz    dx = dz · Wᵀ

Masks: the loops skip masked steps per sample (carry h and c over; in backward dL/dz = 0
and the carried gradients pass through), see :mod:`.step_mask`.

Big buffers are reused from the thread-local pools of :mod:`.runtime.buffers`:
:func:`scratch` for arrays that die inside one call (the projection ``xp``, ``dz``),
:func:`recycled` for those in the cache or the output (``acts``, ``hs``, ``cs``).

Axis legend: B batch, T timesteps, F features, H units; gate blocks i, f, g(=c), o.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, ContextManager, NamedTuple

import numpy as np

from ..scan import SequenceGrads
from .runtime.buffers import recycled, scratch
from .step_mask import StepMask, keep_carried, skip_backward

Array = np.ndarray
F32 = np.float32


class LSTMKernelCache(NamedTuple):
    """What the fast backward needs, saved by the fast forward (time-major, the input's
    dtype)."""

    x: Array              # (T, B, F+1) input in processing order, then a column of
                          # ones if there is a bias; (T, B, F) if not
    hs: Array | None      # (T+1, B, H) h before/after every step; hs[0] = h0
    cs: Array | None      # (T+1, B, H) c likewise
    acts: Array | None    # (T, B, 4H) activated gates i, f, g, o; None after inference
    h0: Array             # (B, H)
    c0: Array             # (B, H)
    go_backwards: bool
    loop: str             # "numpy" or "numba": which time loop produced it
    mask: Array | None = None   # (T, B) bool, processing order: True = the step ran


class Loops(NamedTuple):
    """A time-loop implementation: ``forward`` / ``backward`` run every step over
    preallocated arrays (contracts in ``_numba_lstm.forward_block`` / ``backward_block``,
    the mask last: (T, B) bool or None); ``infer`` (optional) runs a whole inference call
    from the layer's own arrays (:func:`lstm_infer`'s arguments, the
    :class:`.step_mask.StepMask` or None last)."""

    name: str
    forward: Callable[..., None]
    backward: Callable[..., None]
    infer: Callable[..., Any] | None = None
    # (batch, timesteps, units) -> a context to run a whole forward or backward call in.
    # It yields a Runner for the GEMMs around the loop: the numba loops keep NumPy's BLAS
    # single-threaded around their thread blocks and run those GEMMs' halves on two threads.
    blas_scope: Callable[[int, int, int], ContextManager[Runner]] | None = None


Runner = Callable[[list[Callable[[], None]]], None]


def run_in_turn(jobs: list[Callable[[], None]]) -> None:
    """The default :data:`Runner`: one job after the other (each GEMM multithreaded)."""
    for job in jobs:
        job()


def _scope(loops: Loops, batch: int, timesteps: int, units: int) -> ContextManager[Runner]:
    if loops.blas_scope is None:
        return contextlib.nullcontext(run_in_turn)
    return loops.blas_scope(batch, timesteps, units)


def _parts(n: int, run: Runner) -> list[slice]:
    """Row or column ranges for ``run``'s jobs: two halves when they run on two threads;
    one range when they run in turn (one multithreaded GEMM beats two half-size ones)."""
    if run is run_in_turn:
        return [slice(0, n)]
    return [slice(0, n // 2), slice(n // 2, n)]


@functools.lru_cache(maxsize=64)
def gate_scale(units: int) -> tuple[Array, Array]:
    """Per-column scale s and shift 1-s of the packed gates: ½ for i, f, o and 1 for g.

    With z' = s·z, the activated gates are ``s·tanh(z') + (1 - s)`` (read-only arrays).
    """
    s = np.full(4 * units, 0.5, F32)
    s[2 * units:3 * units] = 1.0
    shift = (1.0 - s).astype(F32)
    s.flags.writeable = False
    shift.flags.writeable = False
    return s, shift


# -- the NumPy time loops ------------------------------------------------------------------

def numpy_forward_loop(xp: Array, U: Array, h0: Array, c0: Array, hs: Array, cs: Array,
                       acts: Array, h_last: Array, c_last: Array,
                       mask: Array | None = None) -> None:
    """Same contract as ``_numba_lstm.forward_block`` over all rows (see there)."""
    T, B, G = xp.shape
    H = G // 4
    dt = xp.dtype
    skip = None if mask is None else ~mask[:, :, None]          # (T, B, 1)
    any_skip = None if mask is None else ~mask.all(axis=1)      # (T,)
    s, shift = gate_scale(H)
    U = U * s                                                 # fold σ's ½ into U and xp
    xp *= s                                                   # (ours: lstm_forward made it)
    keep_h, keep_c, keep_a = hs.shape[0] > 1, cs.shape[0] > 1, acts.shape[0] > 0
    zbuf = None if keep_a else np.empty((B, G), dt)
    ring_h = None if keep_h else np.empty((2, B, H), dt)
    ring_c = None if keep_c else np.empty((2, B, H), dt)
    tmp = np.empty((B, H), dt)
    h, c = h0, c0
    for t in range(T):
        z = acts[t] if keep_a else zbuf                       # (B, 4H)
        np.matmul(h, U, out=z)
        z += xp[t]
        np.tanh(z, out=z)                                     # all four gates at once
        z *= s
        z += shift                                            # i, f, o = ½·tanh + ½; g = tanh
        i, f, g, o = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
        c_new = cs[t + 1] if keep_c else ring_c[t % 2]
        h_new = hs[t + 1] if keep_h else ring_h[t % 2]
        np.multiply(f, c, out=c_new)                          # c = f·c_prev + i·g
        np.multiply(i, g, out=tmp)
        c_new += tmp
        np.tanh(c_new, out=tmp)
        np.multiply(o, tmp, out=h_new)                        # h = o·tanh(c)
        if skip is not None:                                  # masked rows carry h, c over
            keep_carried(any_skip[t], skip[t], c, c_new)
            keep_carried(any_skip[t], skip[t], h, h_new)
        h, c = h_new, c_new
    h_last[...] = h
    c_last[...] = c


def numpy_backward_loop(acts: Array, cs: Array, UT: Array, dh_seq: Array, dh_last: Array,
                        dc_last: Array, dz: Array, dh0: Array, dc0: Array,
                        mask: Array | None = None) -> None:
    """Same contract as ``_numba_lstm.backward_block`` over all rows (see there)."""
    T, B, G = acts.shape
    H = G // 4
    dt = acts.dtype
    skip = None if mask is None else ~mask[:, :, None]          # (T, B, 1)
    any_skip = None if mask is None else ~mask.all(axis=1)      # (T,)
    dh = dh_last.copy()
    dc = dc_last.copy()
    tc = np.empty((B, H), dt)
    u = np.empty((B, H), dt)
    dcc = np.empty((B, H), dt)
    d_in = np.empty((B, H), dt) if mask is not None else None
    for t in range(T - 1, -1, -1):
        a, d = acts[t], dz[t]
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        di, df, dg, do = d[:, :H], d[:, H:2 * H], d[:, 2 * H:3 * H], d[:, 3 * H:]
        if dh_seq.shape[0]:
            dh += dh_seq[t]
        if d_in is not None:
            d_in[...] = dc                                    # a skipping row's dL/dc
        np.tanh(cs[t + 1], out=tc)
        # do = δh·tanh(c)·o(1-o)
        np.multiply(dh, tc, out=do)
        np.subtract(1.0, o, out=u)
        u *= o
        do *= u
        # δc = δc_next + δh·o·(1 - tanh²c)
        np.multiply(tc, tc, out=u)
        np.subtract(1.0, u, out=u)
        u *= o
        u *= dh
        np.add(dc, u, out=dcc)
        # di = δc·g·i(1-i)
        np.subtract(1.0, i, out=u)
        u *= i
        np.multiply(dcc, g, out=di)
        di *= u
        # df = δc·c_prev·f(1-f)
        np.subtract(1.0, f, out=u)
        u *= f
        np.multiply(dcc, cs[t], out=df)
        df *= u
        # dg = δc·i·(1-g²)
        np.multiply(g, g, out=u)
        np.subtract(1.0, u, out=u)
        np.multiply(dcc, i, out=dg)
        dg *= u
        np.multiply(dcc, f, out=dc)                           # δc_prev
        if d_in is not None:
            skip_backward(any_skip[t], skip[t], d_in, dc, d)  # dc passes a skipped step
            d_in[...] = dh
        np.matmul(d, UT, out=dh)                              # δh_prev = dz @ Uᵀ
        if d_in is not None:
            skip_backward(any_skip[t], skip[t], d_in, dh)     # and so does dh
    dh0[...] = dh
    dc0[...] = dc


# -- forward / backward over a sequence ----------------------------------------------------

def project(x: Array, kernel: Array, bias: Array | None, go_backwards: bool,
            buffer: str = "xp", run: Runner = run_in_turn) -> tuple[Array, Array]:
    """The input projection of every timestep, time-major and in processing order:
    ``(xt (T, B, F[+1]), xp (T, B, G))`` for x (B, T, F) and kernel (F, G).

    The bias rides in the GEMM as a column of ones, (x | 1) @ (W ; b): no separate pass
    over the projection, and backward gets db with dW from one GEMM over ``xt``. ``xp`` is
    this thread's scratch buffer ``buffer``: dead once the caller's time loop is done.
    """
    B, T, F = x.shape
    dt = x.dtype
    src = np.swapaxes(x, 0, 1)                                # (T, B, F)
    if go_backwards:
        src = src[::-1]
    ones = bias is not None
    xt = np.empty((T, B, F + ones), dt)                       # (T, B, F[+1])
    xt[:, :, :F] = src
    if ones:
        xt[:, :, F] = 1.0
        kernel = np.concatenate([kernel, bias[None, :]])
    kernel = np.ascontiguousarray(kernel, dt)
    G = kernel.shape[1]
    xp = scratch(buffer, (T, B, G), dt)
    # 2-D GEMMs over all T·B rows (matmul on the (T, B, F) stack would run T of them), in
    # halves of the rows when ``run`` gives its jobs one thread each.
    rows, out = xt.reshape(T * B, F + ones), xp.reshape(T * B, G)
    run([lambda part=part: np.matmul(rows[part], kernel, out=out[part])
         for part in _parts(T * B, run)])
    return xt, xp


def lstm_forward(loops: Loops, x: Array, kernel: Array,
                 bias: Array | None, recurrent: Array, h0: Array, c0: Array,
                 go_backwards: bool, training: bool, return_sequences: bool,
                 mask: StepMask | None = None
                 ) -> tuple[Array | None, Array, Array, LSTMKernelCache]:
    """LSTM over ``x`` (B, T, F) from (h0, c0) (each (B, H)), Keras semantics.

    Returns ``(sequence (B, T, H) in processing order or None, h_T, c_T, cache)``; the
    cache holds what backward needs when ``training`` (otherwise backward recomputes it).
    With ``mask`` masked steps carry the state over: the sequence holds the carried h
    (:meth:`.step_mask.StepMask.outputs` turns it into Keras's outputs).
    """
    B, T = x.shape[:2]
    H = recurrent.shape[0]
    with _scope(loops, B, T, H) as run:
        return _forward(loops, run, x, kernel, bias, recurrent, h0, c0, go_backwards,
                        training, return_sequences, mask)


def _forward(loops: Loops, run: Runner, x: Array, kernel: Array, bias: Array | None,
             recurrent: Array, h0: Array, c0: Array, go_backwards: bool, training: bool,
             return_sequences: bool, mask: StepMask | None
             ) -> tuple[Array | None, Array, Array, LSTMKernelCache]:
    B, T = x.shape[:2]
    H = recurrent.shape[0]
    dt = x.dtype
    xt, xp = project(x, kernel, bias, go_backwards, run=run)    # (T, B, F[+1]), (T, B, 4H)
    U = np.ascontiguousarray(recurrent, dtype=dt)
    h0 = np.zeros((B, H), dt) if h0 is None else np.ascontiguousarray(h0, dtype=dt)
    c0 = np.zeros((B, H), dt) if c0 is None else np.ascontiguousarray(c0, dtype=dt)
    keep_h = training or return_sequences
    hs = recycled("hs", (T + 1 if keep_h else 1, B, H), dt)
    cs = recycled("cs", (T + 1 if training else 1, B, H), dt)
    acts = recycled("acts", (T if training else 0, B, 4 * H), dt)
    hs[0] = h0
    cs[0] = c0
    h_last = np.empty((B, H), dt)
    c_last = np.empty((B, H), dt)
    steps = None if mask is None else mask.steps
    loops.forward(xp, U, h0, c0, hs, cs, acts, h_last, c_last, steps)
    seq = np.swapaxes(hs[1:], 0, 1) if return_sequences else None
    cache = LSTMKernelCache(xt, hs if training else None, cs if training else None,
                            acts if training else None, h0, c0, go_backwards, loops.name,
                            steps)
    return seq, h_last, c_last, cache


def lstm_infer(loops: Loops, x: Array, kernel: Array, bias: Array | None, recurrent: Array,
               h0: Array | None, c0: Array | None, go_backwards: bool, return_sequences: bool,
               mask: StepMask | None = None) -> tuple[Array | None, Array, Array]:
    """Inference only: ``(sequence or None, h_T, c_T)`` as :func:`lstm_forward`, no cache.
    ``h0``/``c0`` None start from zeros without allocating them."""
    if loops.infer is not None:
        return loops.infer(x, kernel, bias, recurrent, h0, c0, go_backwards, return_sequences,
                           mask)
    seq, h_last, c_last, _ = lstm_forward(loops, x, kernel, bias, recurrent, h0, c0,
                                          go_backwards, False, return_sequences, mask)
    return seq, h_last, c_last


def lstm_backward(loops: Loops, cache: LSTMKernelCache,
                  kernel: Array, bias: Array | None, recurrent: Array, d_seq: Array | None,
                  dh_last: Array | None, dc_last: Array | None) -> SequenceGrads:
    """Gradients through :func:`lstm_forward`; ``d_seq`` (B, T, H) or None, ``dh_last`` /
    ``dc_last`` (B, H) or None. Gradients come back in the reference scan's form."""
    T, B = cache.x.shape[:2]
    with _scope(loops, B, T, recurrent.shape[0]) as run:
        return _backward(loops, run, cache, kernel, bias, recurrent, d_seq, dh_last, dc_last)


def _backward(loops: Loops, run: Runner, cache: LSTMKernelCache, kernel: Array,
              bias: Array | None, recurrent: Array, d_seq: Array | None,
              dh_last: Array | None, dc_last: Array | None) -> SequenceGrads:
    F = kernel.shape[0]
    if cache.acts is None:   # forward ran for inference: redo it, keeping what we need
        xs = cache.x[:, :, :F]                                 # without the ones column
        x_bt = np.swapaxes(xs[::-1] if cache.go_backwards else xs, 0, 1)
        mask = None if cache.mask is None else _StepsOnly(cache.mask)
        _, _, _, cache = lstm_forward(loops, x_bt, kernel, bias, recurrent, cache.h0,
                                      cache.c0, cache.go_backwards, True, False, mask)
    xt, hs, cs, acts = cache.x, cache.hs, cache.cs, cache.acts
    T, B = xt.shape[:2]
    H = recurrent.shape[0]
    dt = xt.dtype
    dh_seq = (np.zeros((0, B, H), dt) if d_seq is None
              else np.ascontiguousarray(np.swapaxes(d_seq, 0, 1), dtype=dt))    # (T, B, H)
    dh_last = np.zeros((B, H), dt) if dh_last is None else np.ascontiguousarray(dh_last, dt)
    dc_last = np.zeros((B, H), dt) if dc_last is None else np.ascontiguousarray(dc_last, dt)
    dz = scratch("dz", (T, B, 4 * H), dt)                      # dL/dz, dead after the GEMMs
    dh0 = np.empty((B, H), dt)
    dc0 = np.empty((B, H), dt)
    UT = np.ascontiguousarray(recurrent.T, dtype=dt)           # (4H, H)
    loops.backward(acts, cs, UT, dh_seq, dh_last, dc_last, dz, dh0, dc0, cache.mask)
    flat = dz.reshape(T * B, 4 * H)                            # (T·B, 4H)
    h_prev = hs[:-1].reshape(T * B, H)                         # (T·B, H)
    x_rows = xt.reshape(T * B, xt.shape[2])                    # (T·B, F[+1])
    d_recurrent = np.empty((H, 4 * H), dt)                     # h_prevᵀ · dz
    d_wb = np.empty((x_rows.shape[1], 4 * H), dt)              # (x | 1)ᵀ · dz: dW (and db)
    dx = np.empty((T * B, F), dt)                              # dz · Wᵀ
    WT = np.ascontiguousarray(kernel.T, dt)                    # (4H, F)

    def part(cols: slice, rows: slice) -> Callable[[], None]:  # independent parts
        def job() -> None:
            np.matmul(h_prev.T, flat[:, cols], out=d_recurrent[:, cols])
            np.matmul(x_rows.T, flat[:, cols], out=d_wb[:, cols])
            np.matmul(flat[rows], WT, out=dx[rows])
        return job

    run([part(c, r) for c, r in zip(_parts(4 * H, run), _parts(T * B, run), strict=True)])
    d_kernel, d_bias = (d_wb[:F], d_wb[F]) if bias is not None else (d_wb, None)
    dx = dx.reshape(T, B, F)                                   # (T, B, F)
    if cache.go_backwards:
        dx = dx[::-1]
    dx = np.ascontiguousarray(np.swapaxes(dx, 0, 1))           # (B, T, F)
    return SequenceGrads(dx, d_kernel, d_bias, (d_recurrent,), (dh0, dc0))


class _StepsOnly(NamedTuple):
    """A saved (T, B) step mask, where :func:`lstm_forward` wants a StepMask (only its
    ``steps`` are read there)."""

    steps: Array


NUMPY_LOOPS = Loops("numpy", numpy_forward_loop, numpy_backward_loop)
