"""The numba time loops, loaded lazily, with batch rows split across cores.

numba is imported when a kernel is first wanted (:data:`COMPILED`, see
:mod:`.runtime.loading`: built in the background while calls run the NumPy loops), so
``import unrolled`` never pays numba's import. Compiled code is cached on disk.

Two regimes, by the work of one step's recurrent product (B·H·4H multiply-adds):

* up to ``LARGE_STEP_WORK``: batch rows are independent, so the rows are split into
  blocks and each block runs the whole time loop in its own thread (the compiled functions
  release the GIL): no per-step synchronisation. One block runs in the calling thread;
  the others in a small shared pool. Inference is one compiled call per block
  (``infer_block``: projection, zero state and loop together).
* above it, the step is GEMM-bound: each step is NumPy's multithreaded sgemm followed by
  one compiled pass over the gates (``gate_step_infer`` or ``_train``, ``gate_step_backward``).
"""
from __future__ import annotations

import contextlib
import threading
import time
from types import ModuleType
from typing import Any, Callable, Iterator

import numpy as np

from .lstm_fast import Loops, lstm_forward, run_in_turn
from .runtime import blas as blas_threads
from .runtime import loading
from .runtime.buffers import none_array, scratch
from .runtime.panel_sizes import TILE_ROWS, packs
from .runtime.threads import num_threads
from .runtime.threads import run_blocks as _run
from .runtime.threads import run_jobs as _run_jobs
from .step_mask import NO_MASK, StepMask, keep_carried, skip_backward

missing_reason = loading.missing_reason
import_compiled = loading.import_compiled


def available() -> bool:
    """True if numba *and* SciPy (numba's BLAS for ``np.dot``) can be imported."""
    return loading.missing_reason() is None


def impl() -> ModuleType:
    """The compiled module, importing numba (and compiling or loading the cache) once;
    blocks if it is not loaded yet (the selector only picks these kernels once it is,
    unless numba is forced: see :mod:`.runtime.loading`)."""
    return COMPILED.get()


def _warm(mod: ModuleType, f: type = np.float32) -> None:
    """Compile (or load from the disk cache) the signatures of dtype ``f`` on tiny inputs
    (masked and unmasked calls share them: "no mask" is an empty mask)."""
    xp = np.zeros((1, 1, 4), f)
    U = np.zeros((1, 4), f)
    s = np.zeros((1, 1), f)
    hs = np.zeros((2, 1, 1), f)
    acts = np.zeros((1, 1, 4), f)
    m = np.ones((1, 1), bool)
    mod.forward_block(xp, U, s, s, hs, hs.copy(), acts, s.copy(), s.copy(), m, 0, 1)
    mod.backward_block(acts, hs, np.zeros((4, 1), f), np.zeros((1, 1, 1), f), s, s,
                       acts.copy(), s.copy(), s.copy(), m, 0, 1)
    e2, w = np.zeros((0, 1), f), np.zeros((1, 4), f)
    mod.infer_block(np.zeros((1, 1, 1), f), w, _no_bias(f), w, none_array(3, f), e2, e2, False,
                    m, np.zeros((0, 1, 1), f), s.copy(), s.copy(), 0, 1)
    mod.infer_block(np.zeros((1, 1, 1), f), w, np.zeros(4, f), w,
                    mod.pack_weights(np.zeros((2, 4), f)), s, s, True, m,
                    np.zeros((1, 1, 1), f), s.copy(), s.copy(), 0, 1)
    mod.infer_block_inplace(np.zeros((1, 1, 1), f), w, _no_bias(f), w, e2, e2, False, m,
                            False, np.zeros((0, 1, 1), f), s.copy(), s.copy(), 0, 1)
    mod.infer_block_inplace(np.zeros((1, 1, 1), f), w, np.zeros(4, f), w, s, s, True, m,
                            True, np.zeros((1, 1, 1), f), s.copy(), s.copy(), 0, 1)
    mod.gate_step_infer(np.zeros((1, 4), f), np.zeros((1, 4), f), s, s.copy(), s.copy())
    if f is np.float32:   # float32 only: the units-major large inference, the test helper
        mod.tanh_array(np.zeros(1, f), np.zeros(1, f))
        mod.gate_step_infer_t(np.zeros((4, 1), f), np.zeros((4, 1), f), s, s.copy(), s.copy())
        mod.infer_units_major(np.zeros((4, 1), f), np.zeros((1, 4, 1), f), s, s, hs.copy(),
                              hs.copy(), 0, np.zeros(2, np.int64), 0, 1, 0)
    mod.gate_step_train(np.zeros((1, 4), f), np.zeros((1, 4), f), s, s.copy(), s.copy())
    mod.gate_step_backward(np.zeros((1, 4), f), s, s, s, s, s.copy(), np.zeros((1, 4), f))


# Below MIN_TOTAL_WORK multiply-adds in all, handing a block to another thread is not
# worth it: ~20 µs on an idle machine with a warm worker, 0.1-0.2 ms on the 2-vCPU
# benchmark VM (two blocks at the demo shape, 1.8 M, took 285 µs per call against
# 120-190 µs for one; benchmarks/README.md, session 10). Each block's per-step products
# run on this thread's own packed panels (runtime._numba_panels), so blocks never
# oversubscribe the cores.
MIN_TOTAL_WORK = 2_000_000


def blocks(batch: int, units: int, timesteps: int, gates: int = 4) -> list[tuple[int, int]]:
    """Row ranges ``[(b0, b1), ...]`` covering the batch, one per thread (one range when
    the work is too small to share); ``gates``: 4 for the LSTM, 3 GRU, 1 SimpleRNN."""
    per_row = units * gates * units                # multiply-adds per row per step
    if timesteps * batch * per_row < MIN_TOTAL_WORK:
        return [(0, batch)]
    n = min(num_threads(), batch)
    edges = [batch * k // n for k in range(n + 1)]
    return [(edges[k], edges[k + 1]) for k in range(n)]


# Above this many multiply-adds per step (B·H·4H) a step is GEMM-bound: packed panels and
# OpenBLAS run even on one thread at (64, 512)·(512, 2048), while NumPy's 2-thread sgemm
# reaches ~170 GFLOP/s on (128, 512)·(512, 2048) here.
LARGE_STEP_WORK = 64 * 256 * 1024


def is_large(batch: int, units: int) -> bool:
    return batch * units * 4 * units > LARGE_STEP_WORK


# Large inference still runs in batch blocks (``infer_block``, packed panels: 85-88 GFLOP/s
# per thread at (64, 576)·(576, 2048) against OpenBLAS's 68-77) when every thread gets at
# least a full panel tile of rows and a block's panels of [U; W] fit in half the L3 cache
# (each thread streams them every step). Otherwise (a few rows, or huge layers) the units
# are split between the threads (``_large_infer``).
MAX_PANEL_BYTES = 16 << 20


def infers_in_blocks(batch: int, units: int, features: int, itemsize: int = 4) -> bool:
    """Whether inference runs batch blocks on packed panels (see above)."""
    if not is_large(batch, units):
        return True
    return (batch >= TILE_ROWS * max(1, num_threads())
            and (units + features) * 4 * units * itemsize <= MAX_PANEL_BYTES)


def numba_forward_loop(xp, U, h0, c0, hs, cs, acts, h_last, c_last, mask=None) -> None:
    T, B, G = xp.shape
    if is_large(B, G // 4):
        _large_forward(xp, U, h0, c0, hs, cs, acts, h_last, c_last, mask)
        return
    _run(impl().forward_block, (xp, U, h0, c0, hs, cs, acts, h_last, c_last,
                                NO_MASK if mask is None else mask),
         blocks(B, G // 4, T))


def numba_backward_loop(acts, cs, UT, dh_seq, dh_last, dc_last, dz, dh0, dc0, mask=None) -> None:
    T, B, G = acts.shape
    if is_large(B, G // 4):
        _large_backward(acts, cs, UT, dh_seq, dh_last, dc_last, dz, dh0, dc0, mask)
        return
    _run(impl().backward_block, (acts, cs, UT, dh_seq, dh_last, dc_last, dz, dh0, dc0,
                                 NO_MASK if mask is None else mask),
         blocks(B, G // 4, T))


_F32 = np.float32
# Read-only placeholders: numba needs arrays, not None.
_NO_BIASES = {np.dtype(f): np.zeros(0, f) for f in (np.float32, np.float64)}
for _a in _NO_BIASES.values():
    _a.flags.writeable = False


def _no_bias(dtype: Any) -> np.ndarray:
    return _NO_BIASES[np.dtype(dtype)]


def numba_infer(x, kernel, bias, recurrent, h0, c0, go_backwards, return_sequences,
                mask: StepMask | None = None):
    """Inference (``lstm_fast.lstm_infer``'s contract): one compiled call per batch block."""
    B, T, F = x.shape
    H = recurrent.shape[0]
    dt = x.dtype
    if not infers_in_blocks(B, H, F, dt.itemsize):
        if mask is not None or dt != _F32:   # per-step sgemm + compiled gate pass
            seq, h_last, c_last, _ = lstm_forward(NUMBA_LOOPS, x, kernel, bias, recurrent,
                                                  h0, c0, go_backwards, False,
                                                  return_sequences, mask)
            return seq, h_last, c_last
        return _large_infer(x, kernel, bias, recurrent, h0, c0, go_backwards,
                            return_sequences)
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    if h0 is None:
        h0 = c0 = none_array(2, dt)
    else:
        h0 = np.ascontiguousarray(h0, dt)
        c0 = np.ascontiguousarray(c0, dt)
    h_last = np.empty((B, H), dt)
    c_last = np.empty((B, H), dt)
    seq = np.empty((B, T, H), dt) if return_sequences else none_array(3, dt)
    mod = impl()
    if T * B * H * 4 * H < MIN_TOTAL_WORK:   # blocks()'s own test, inline: ~1 µs of a tiny call
        ranges, block = [(0, B)], B
    else:
        ranges = blocks(B, H, T)
        block = max(b1 - b0 for b0, b1 in ranges)
    steps = NO_MASK if mask is None else mask.raw
    b = _no_bias(dt) if bias is None else bias
    if packs(block * T, (H + F) * 4 * H):   # no BLAS inside (the projection rides in the products)
        if len(ranges) == 1:    # called directly, as most small calls are; packs its panels
            mod.infer_block(x, kernel, b, recurrent, none_array(3, dt), h0, c0, go_backwards,
                            steps, seq, h_last, c_last, 0, B)
        else:                   # the blocks share one packed copy
            panels = mod.pack_weights(np.concatenate([recurrent, kernel]).astype(dt, copy=False))
            _run(mod.infer_block, (x, kernel, b, recurrent, panels, h0, c0, go_backwards, steps,
                                   seq, h_last, c_last), ranges)
    else:                       # too short to repay packing: products on U in place
        args = (x, kernel, b, recurrent, h0, c0, go_backwards, steps)
        # In one sgemm each under a one-thread BLAS limit once a block's step product
        # exceeds OpenBLAS's single-thread size (row chunks would repack U every call).
        whole = ((block * H * 4 * H > BLAS_SINGLE_THREAD_WORK and blas_threads.available())
                 or whole_projection(block * T, F, 4 * H))
        with blas_threads.single_threaded() if whole else contextlib.nullcontext():
            _run(mod.infer_block_inplace, args + (whole, seq, h_last, c_last), ranges)
    return (seq if return_sequences else None), h_last, c_last


# OpenBLAS runs an sgemm on the calling thread up to this many multiply-adds (m·n·k).
BLAS_SINGLE_THREAD_WORK = blas_threads.SINGLE_THREAD_WORK
# Below this many rows per chunk, a GRU/SimpleRNN block's input projection (LSTM inference
# has none: it rides in the step products) in chunks that OpenBLAS runs
# on the calling thread would spend as much on repacking W for every chunk as on the
# product: the call then limits BLAS to one thread instead (~13 µs) and runs it whole.
MIN_CHUNK_ROWS = 16


def whole_projection(rows: int, features: int, columns: int) -> bool:
    """Whether a compiled inference call projects a block's (rows, features) inputs in
    one sgemm under a one-thread BLAS limit (else in row chunks; see MIN_CHUNK_ROWS)."""
    work = features * columns
    return (rows * work > BLAS_SINGLE_THREAD_WORK
            and BLAS_SINGLE_THREAD_WORK // work < MIN_CHUNK_ROWS
            and blas_threads.available())


def splits_units(units: int) -> bool:
    """Whether large inference splits the units over two threads (else one thread runs
    the gates after NumPy's multithreaded sgemm): needs two CPUs and threadpoolctl."""
    return units >= 2 and num_threads() >= 2 and blas_threads.available()


def _large_infer(x, kernel, bias, recurrent, h0, c0, go_backwards, return_sequences):
    """``numba_infer``'s contract for GEMM-bound steps, with the state kept units-major
    and the units split between two threads.

    Each step computes zᵀ (4H, B) = Uᵀ (4H, H) @ hᵀ (H, B) instead of h @ U: the same
    product, but OpenBLAS runs this orientation ~20 % faster at (128, 512)·(512, 2048)
    here (benchmarks/README.md), and the gate pass then runs along the batch. With two
    cores (and threadpoolctl), each thread owns half the units: its rows of Uᵀ and of the
    projection, a single-threaded sgemm and its gate pass, then both meet (on flags, in
    the compiled loop: ``_numba_sync``) before the next step reads the whole hᵀ. That
    runs the gate pass on both cores, where a 2-thread sgemm would leave it to one (and
    OpenBLAS's spinning worker would take the other core from any second thread).
    """
    B, T, F = x.shape
    H = recurrent.shape[0]
    # The bias rides in the projection GEMM as a row of ones under xᵀ (see lstm_forward).
    ones = bias is not None
    xt = np.empty((T, F + ones, B), _F32)                    # (T, F[+1], B)
    src = x.transpose(1, 2, 0)                               # (T, F, B)
    xt[:, :F] = src[::-1] if go_backwards else src
    if ones:
        xt[:, F] = 1.0
        kernel = np.concatenate([kernel, bias[None, :]])     # (F+1, 4H)
    if h0 is None:
        h = np.zeros((H, B), _F32)
        c = np.zeros((H, B), _F32)
    else:
        h = np.ascontiguousarray(h0.T, _F32)                 # (H, B)
        c = np.ascontiguousarray(c0.T, _F32)
    # Two alternating h buffers (or the output sequence): a step never writes the hᵀ
    # that another thread's product may still be reading.
    hs = np.empty((T, H, B) if return_sequences else (2, H, B), _F32)
    c_last = np.empty((H, B), _F32)
    split = splits_units(H)
    edges = [0, H // 2, H] if split else [0, H]
    parties = len(edges) - 1
    flags = np.zeros(parties + 1, np.int64)   # steps done per thread, then "a thread failed"
    loop = impl().infer_units_major

    def part(k: int) -> Callable[[], None]:
        u0, u1 = edges[k], edges[k + 1]
        n = u1 - u0
        cols = np.concatenate([np.arange(g * H + u0, g * H + u1) for g in range(4)])
        UT = np.ascontiguousarray(recurrent[:, cols].T, _F32)    # (4n, H) its gate rows
        WT = np.ascontiguousarray(kernel[:, cols].T, _F32)       # (4n, F[+1])
        xp = scratch(f"xp_units_major{k}", (T, 4 * n, B))       # dead after the loop
        ring_c = np.empty((2, n, B), _F32)

        def run() -> None:
            try:
                np.matmul(WT, xt, out=xp)                        # (T, 4n, B)
                t = 0
                while t < T:
                    t = loop(UT, xp, h, c[u0:u1], hs, ring_c, u0, flags, k, parties, t)
                    if t < 0:
                        raise threading.BrokenBarrierError("the other half failed")
                    if t < T:
                        time.sleep(0)                            # its partner is not running
                c_last[u0:u1] = ring_c[(T - 1) % 2] if T else c[u0:u1]
            except BaseException:
                flags[parties] = 1                               # never leave the other waiting
                raise
        return run

    jobs = [part(k) for k in range(parties)]
    if split:
        with blas_threads.single_threaded():
            _run_jobs(jobs)
    else:
        jobs[0]()
    h_last = hs[(T - 1) % hs.shape[0]] if T else h
    out = np.ascontiguousarray(hs.transpose(2, 0, 1)) if return_sequences else None  # (B, T, H)
    return out, np.ascontiguousarray(h_last.T), np.ascontiguousarray(c_last.T)


def _large_forward(xp, U, h0, c0, hs, cs, acts, h_last, c_last, mask=None) -> None:
    """``forward_block``'s contract for GEMM-bound steps: NumPy sgemm + compiled gates;
    a masked step's rows carry their state over after the pass."""
    T, B, G = xp.shape
    mod = impl()
    dt = xp.dtype
    keep_h, keep_c, keep_a = hs.shape[0] > 1, cs.shape[0] > 1, acts.shape[0] > 0
    z = None if keep_a else np.empty((B, G), dt)
    # Inference keeps two h and two c buffers and alternates: the gate pass must never
    # read and write the same array (see _numba_lstm), and h_prev feeds the product.
    ring_h = None if keep_h else np.empty((2, B, G // 4), dt)
    ring_c = None if keep_c else np.empty((2, B, G // 4), dt)
    skip = None if mask is None else ~mask[:, :, None]          # (T, B, 1)
    any_skip = None if mask is None else ~mask.all(axis=1)
    step = mod.gate_step_train if keep_a else mod.gate_step_infer
    h, c = h0, c0
    for t in range(T):
        zt = acts[t] if keep_a else z                       # (B, 4H)
        np.matmul(h, U, out=zt)
        h_new = hs[t + 1] if keep_h else ring_h[t % 2]
        c_new = cs[t + 1] if keep_c else ring_c[t % 2]
        step(zt, xp[t], c, c_new, h_new)
        if skip is not None:
            keep_carried(any_skip[t], skip[t], c, c_new)
            keep_carried(any_skip[t], skip[t], h, h_new)
        h, c = h_new, c_new
    h_last[...] = h
    c_last[...] = c


def _large_backward(acts, cs, UT, dh_seq, dh_last, dc_last, dz, dh0, dc0, mask=None) -> None:
    """``backward_block``'s contract for GEMM-bound steps."""
    T, B, G = acts.shape
    step = impl().gate_step_backward
    dh = dh_last.copy()
    dc = dc_last.copy()
    no_seq = np.zeros((0, G // 4), acts.dtype)
    skip = None if mask is None else ~mask[:, :, None]          # (T, B, 1)
    any_skip = None if mask is None else ~mask.all(axis=1)
    dc_in = None if mask is None else np.empty_like(dc)
    dh_in = None if mask is None else np.empty_like(dh)
    for t in range(T - 1, -1, -1):
        if dc_in is not None:
            dc_in[...] = dc
        step(acts[t], cs[t], cs[t + 1], dh, dh_seq[t] if dh_seq.shape[0] else no_seq, dc, dz[t])
        if dh_in is not None:   # a skipping row: dz = 0, dL/dh and dL/dc pass through
            skip_backward(any_skip[t], skip[t], dc_in, dc, dz[t])
            dh_in[...] = dh                                   # the step added dh_seq[t]
        np.matmul(dz[t], UT, out=dh)                          # dL/dh_prev (B, H)
        if dh_in is not None:
            skip_backward(any_skip[t], skip[t], dh_in, dh)
    dh0[...] = dh
    dc0[...] = dc


def blas_scope(batch: int, timesteps: int, units: int) -> Any:
    """For a small-step forward or backward whose batch blocks use several threads:
    NumPy's BLAS single-threaded (see :mod:`.runtime.blas`), yielding a runner that gives
    the GEMMs' halves around the loop one thread each. With one block, BLAS single-threaded
    too once OpenBLAS would thread the GEMMs (:data:`OPENBLAS_THREADED_WORK`), the GEMMs run
    in turn. Large steps: nothing changes."""
    n = len(blocks(batch, units, timesteps))
    if is_large(batch, units) or not blas_threads.available():
        return contextlib.nullcontext(run_in_turn)
    if n < 2:
        if timesteps * batch * units * 4 * units < OPENBLAS_THREADED_WORK:
            return contextlib.nullcontext(run_in_turn)    # OpenBLAS runs these on one thread
        impl()
        return _single_threaded_blas(run_in_turn)
    impl()              # numba and SciPy first, so the BLAS controller sees SciPy's copy too
    return _single_threaded_blas(_run_jobs)


# Below MIN_TOTAL_WORK one block runs the loop, but the GEMMs around it (projection, weight
# gradients: ~T·B·4H·(H+F) multiply-adds) are big enough for OpenBLAS to use all its
# threads. Not worth it at these sizes, and on a busy machine a 2-thread sgemm waits for its
# worker to be scheduled: at the demo's shape (32, 14, 4, 32) the backward GEMMs took 2-20 ms
# multithreaded against 0.55 ms single-threaded with 8-10 other processes on the 2 cores.
# So they run single-threaded from this size on (below it OpenBLAS uses one thread itself;
# the limit costs ~13 µs to set and restore).
OPENBLAS_THREADED_WORK = 1 << 16


@contextlib.contextmanager
def _single_threaded_blas(runner: Callable[[list[Callable[[], None]]], None]
                          ) -> Iterator[Callable[[list[Callable[[], None]]], None]]:
    with blas_threads.single_threaded():
        yield runner


NUMBA_LOOPS = Loops("numba", numba_forward_loop, numba_backward_loop, numba_infer, blas_scope)
COMPILED = loading.CompiledModule("._numba_lstm", "the numba LSTM kernel needs", _warm)
COMPILED64 = loading.CompiledModule("._numba_lstm", "the numba LSTM kernel needs",
                                    lambda mod: _warm(mod, np.float64), "float64")
