"""numba kernels for GRU and SimpleRNN (float32 or float64, tanh/sigmoid, any mask):
inference here, training
in :mod:`.cells_train`; :data:`GRU_KERNEL` and :data:`SIMPLE_RNN_KERNEL` put both
behind the sequence-kernel interface (:mod:`.interface`).

The compiled loops live in :mod:`._numba_cells`, imported (and compiled, or loaded from
numba's disk cache) at first use, like :mod:`.lstm_numba`, whose cache-folder choice,
thread pool and batch-block threshold this module shares. Masks run inside the loops
(:mod:`.step_mask`: a masked step carries the state over).

Two regimes, by one step's recurrent product (B·H·gates·H multiply-adds):

* up to ``lstm_numba.LARGE_STEP_WORK``: one compiled call per batch block does the
  projection, the initial state and the whole time loop (``gru_infer_block`` /
  ``rnn_infer_block``); blocks run on several cores once the work is worth a thread.
* above it: the projection is one NumPy GEMM, each step is NumPy's multithreaded sgemm
  into a preallocated buffer, then one compiled pass over the gates.
"""
from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from ..scan import SequenceGrads
from . import cells_train, lstm_numba
from .interface import ScanCall, ScanResult, ScanWeights, add, as_weights_dtype
from .lstm_fast import project
from .reference import REFERENCE
from .runtime import blas as blas_threads
from .runtime import loading
from .runtime.buffers import none_array
from .step_mask import NO_MASK, StepMask, keep_carried

_F32 = np.float32
class CellRecompute(NamedTuple):
    """Saved values of an inference forward (``training=False``): what backward needs to
    rerun the reference forward first."""

    x: np.ndarray                                 # (B, T, F) a copy of the input
    initial: tuple[np.ndarray, ...] | None        # copies of the initial carry, or None
    call: ScanCall
    mask: np.ndarray | None                       # (B, T) the call's mask, or None


class CellMaskedSaved(NamedTuple):
    """Saved values of a masked training forward: the training cache (its ``mask`` holds
    the step mask) and the mask's output rules."""

    cache: Any
    mask: StepMask


class CellKernel:
    """:class:`.interface.SequenceKernel` for a GRU or SimpleRNN with compiled loops.

    ``infer_fn(cell, x, kernel, input_bias, params, h0, go_backwards, return_sequences)
    -> (sequence or None, h_last)`` runs inference; for training, ``forward_fn`` (same
    arguments) ``-> (sequence or None, h_last, CellTrainCache)`` and ``backward_fn(cell,
    cache, kernel, input_bias, params, d_seq, dh_last) -> SequenceGrads``
    (:mod:`.cells_train`). A forward with ``training=False`` runs inference and saves a
    :class:`CellRecompute`; its backward reruns the reference scan.
    """

    name = "numba"
    takes_masks = True

    def __init__(self, what: str, infer_fn: Callable[..., Any], forward_fn: Callable[..., Any],
                 backward_fn: Callable[..., Any]) -> None:
        self.what = what
        self.infer_fn, self.forward_fn, self.backward_fn = infer_fn, forward_fn, backward_fn

    def __repr__(self) -> str:
        return f"CellKernel({self.what!r})"

    def infer(self, w: ScanWeights, x: np.ndarray, initial: tuple[np.ndarray, ...] | None,
              mask: np.ndarray | None, call: ScanCall) -> ScanResult:
        x = as_weights_dtype(x, w)
        steps = None if mask is None else StepMask.prepare(mask, call.go_backwards,
                                                           call.zero_output_for_mask)
        seq, h_last = self.infer_fn(w.cell, x, w.kernel, w.input_bias, w.params,
                                    None if initial is None else initial[0],
                                    call.go_backwards, call.return_sequences, steps)
        if steps is None:
            return ScanResult(seq, h_last, (h_last,))
        seq, last = steps.outputs(seq, h_last)
        return ScanResult(seq, last, (h_last,))

    def forward(self, w: ScanWeights, x: np.ndarray, initial: tuple[np.ndarray, ...] | None,
                mask: np.ndarray | None, call: ScanCall, training: bool) -> tuple[ScanResult, Any]:
        if not training:   # inference kernel; backward (rarely wanted) reruns the reference
            saved = CellRecompute(x.copy(), None if initial is None
                                  else tuple(s.copy() for s in initial), call,
                                  None if mask is None else np.array(mask, bool))
            return self.infer(w, x, initial, mask, call), saved
        x = as_weights_dtype(x, w)
        steps = None if mask is None else StepMask.prepare(mask, call.go_backwards,
                                                           call.zero_output_for_mask)
        seq, h_last, cache = self.forward_fn(w.cell, x, w.kernel, w.input_bias, w.params,
                                             None if initial is None else initial[0],
                                             call.go_backwards, call.return_sequences, steps)
        if steps is None:
            return ScanResult(seq, h_last, (h_last,)), cache
        seq, last = steps.outputs(seq, h_last)
        return ScanResult(seq, last, (h_last,)), CellMaskedSaved(cache, steps)

    def backward(self, w: ScanWeights, saved: Any, d_sequence: np.ndarray | None,
                 d_last: np.ndarray | None, d_final: tuple[np.ndarray | None, ...]
                 ) -> SequenceGrads:
        if isinstance(saved, CellRecompute):
            _, cache = REFERENCE.forward(w, saved.x, saved.initial, saved.mask, saved.call, True)
            return REFERENCE.backward(w, cache, d_sequence, d_last, d_final)
        if isinstance(saved, CellMaskedSaved):
            d_sequence, dh = saved.mask.upstream(d_sequence, d_last, d_final[0])
            return self.backward_fn(w.cell, saved.cache, w.kernel, w.input_bias, w.params,
                                    d_sequence, dh)
        return self.backward_fn(w.cell, saved, w.kernel, w.input_bias, w.params, d_sequence,
                                add(d_final[0], d_last))


def missing_reason() -> str | None:
    return loading.missing_reason()


def impl() -> ModuleType:
    """The compiled module, importing numba (and compiling or loading the cache) once."""
    return COMPILED.get()


def is_large(batch: int, units: int, gates: int) -> bool:
    return batch * units * gates * units > lstm_numba.LARGE_STEP_WORK


def _c(a: np.ndarray, dt: Any) -> np.ndarray:
    # The usual case (a layer's own weight) needs no call into NumPy (~0.25 µs each).
    if type(a) is np.ndarray and a.dtype == dt and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(a, dt)


def _prepare(x: np.ndarray, h0: np.ndarray | None, H: int) -> tuple[np.ndarray, np.ndarray]:
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    h0 = none_array(2, x.dtype) if h0 is None else _c(h0, x.dtype)
    return x, h0


def _infer_blocks(fn: Callable[..., None], args: tuple[Any, ...], outs: tuple[Any, ...],
                  B: int, H: int, gates: int, T: int, F: int) -> None:
    """``fn(*args, whole, *outs, b0, b1)`` over the batch blocks, ``whole`` saying whether
    BLAS is limited to one thread for the call and each block projects its inputs in one
    sgemm (see lstm_numba.whole_projection)."""
    # blocks()'s own test, inline for the common small call (~1 µs of a tiny call)
    if T * B * H * gates * H < lstm_numba.MIN_TOTAL_WORK:
        ranges = [(0, B)]
        if not lstm_numba.whole_projection(B * T, F, gates * H):   # called directly
            fn(*args, False, *outs, 0, B)
            return
    else:
        ranges = lstm_numba.blocks(B, H, T, gates)
    rows = max(b1 - b0 for b0, b1 in ranges)
    whole = lstm_numba.whole_projection(rows * T, F, gates * H)
    if not whole:
        lstm_numba._run(fn, args + (False,) + outs, ranges)
        return
    with blas_threads.single_threaded():
        lstm_numba._run(fn, args + (True,) + outs, ranges)


def gru_infer(cell: Any, x: np.ndarray, kernel: np.ndarray, input_bias: np.ndarray | None,
              params: tuple[np.ndarray, ...], h0: np.ndarray | None, go_backwards: bool,
              return_sequences: bool, mask: StepMask | None = None
              ) -> tuple[np.ndarray | None, np.ndarray]:
    B, T, _ = x.shape
    dt = x.dtype
    U = _c(params[0], dt)
    H = U.shape[0]
    reset_after = bool(cell.reset_after)
    bias_rec = _c(params[1], dt) if len(params) > 1 else none_array(1, dt)
    bias = none_array(1, dt) if input_bias is None else _c(input_bias, dt)
    if is_large(B, H, 3):
        return _gru_large(x, _c(kernel, dt), bias, U, bias_rec, h0, reset_after, go_backwards,
                          return_sequences, mask)
    x, h0 = _prepare(x, h0, H)
    h_last = np.empty((B, H), dt)
    seq = np.empty((B, T, H), dt) if return_sequences else none_array(3, dt)
    _infer_blocks(impl().gru_infer_block,
                  (x, _c(kernel, dt), bias, U, bias_rec, h0, reset_after, bool(go_backwards),
                   NO_MASK if mask is None else mask.raw), (seq, h_last), B, H, 3, T, x.shape[2])
    return (seq if return_sequences else None), h_last


def rnn_infer(cell: Any, x: np.ndarray, kernel: np.ndarray, input_bias: np.ndarray | None,
              params: tuple[np.ndarray, ...], h0: np.ndarray | None, go_backwards: bool,
              return_sequences: bool, mask: StepMask | None = None
              ) -> tuple[np.ndarray | None, np.ndarray]:
    B, T, _ = x.shape
    dt = x.dtype
    U = _c(params[0], dt)
    H = U.shape[0]
    bias = none_array(1, dt) if input_bias is None else _c(input_bias, dt)
    if is_large(B, H, 1):
        return _rnn_large(x, _c(kernel, dt), bias, U, h0, go_backwards, return_sequences, mask)
    x, h0 = _prepare(x, h0, H)
    h_last = np.empty((B, H), dt)
    seq = np.empty((B, T, H), dt) if return_sequences else none_array(3, dt)
    _infer_blocks(impl().rnn_infer_block,
                  (x, _c(kernel, dt), bias, U, h0, bool(go_backwards),
                   NO_MASK if mask is None else mask.raw), (seq, h_last), B, H, 1, T, x.shape[2])
    return (seq if return_sequences else None), h_last


# -- large steps ---------------------------------------------------------------------------

def _projection(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(T, B, G) = x (B, T, F) @ kernel + bias, time-major for contiguous per-step rows:
    one 2-D GEMM with the bias as a column of ones (half the time of a (T, B, F) stacked
    matmul plus a bias pass at B=128, T=100, F=64, 3H=1536). A thread-local scratch array."""
    return project(x, kernel, bias if bias.shape[0] else None, False, "cell_xp")[1]


def _large_loop(x, h0, return_sequences, go_backwards, H, step, mask=None):
    B, T, _ = x.shape
    dt = x.dtype
    seq = np.empty((B, T, H), dt) if return_sequences else None
    ring = np.empty((2, B, H), dt)
    h = np.zeros((B, H), dt) if h0 is None else _c(h0, dt)
    skip = None if mask is None else ~mask.steps[:, :, None]      # (T, B, 1)
    for t in range(T):
        tx = T - 1 - t if go_backwards else t
        h_new = ring[t % 2]
        step(tx, h, h_new)
        if skip is not None:                    # rows that skip the step carry h over
            keep_carried(mask.any_skipped[t], skip[t], h, h_new)
        if seq is not None:
            seq[:, t] = h_new
        h = h_new
    return seq, h.copy()


def _gru_large(x, kernel, bias, U, bias_rec, h0, reset_after, go_backwards, return_sequences,
               mask=None):
    B = x.shape[0]
    H = U.shape[0]
    dt = x.dtype
    mod = impl()
    xp = _projection(x, kernel, bias)
    if reset_after:
        m = np.empty((B, 3 * H), dt)
        br = bias_rec if bias_rec.shape[0] else np.zeros(3 * H, dt)

        def step(tx, h, h_new):
            np.matmul(h, U, out=m)
            mod.gru_gates_after(m, xp[tx], br, h, h_new)
    else:
        Uzr, Uh = np.ascontiguousarray(U[:, :2 * H]), np.ascontiguousarray(U[:, 2 * H:])
        m = np.empty((B, 2 * H), dt)
        zs, rh, mh = (np.empty((B, H), dt) for _ in range(3))

        def step(tx, h, h_new):
            np.matmul(h, Uzr, out=m)
            mod.gru_gates_zr(m, xp[tx], h, zs, rh)
            np.matmul(rh, Uh, out=mh)
            mod.gru_gates_h(mh, xp[tx], zs, h, h_new)
    return _large_loop(x, h0, return_sequences, go_backwards, H, step, mask)


def _rnn_large(x, kernel, bias, U, h0, go_backwards, return_sequences, mask=None):
    B = x.shape[0]
    H = U.shape[0]
    mod = impl()
    xp = _projection(x, kernel, bias)
    m = np.empty((B, H), x.dtype)

    def step(tx, h, h_new):
        np.matmul(h, U, out=m)
        mod.rnn_gates(m, xp[tx], h_new)
    return _large_loop(x, h0, return_sequences, go_backwards, H, step, mask)


GRU_KERNEL = CellKernel("gru", gru_infer, cells_train.gru_forward, cells_train.gru_backward)
SIMPLE_RNN_KERNEL = CellKernel("simple_rnn", rnn_infer, cells_train.rnn_forward,
                               cells_train.rnn_backward)


def _warm(mod: ModuleType, f: type = _F32) -> None:
    """Compile (or load) every signature of dtype ``f``: both regimes, GRU both ways,
    SimpleRNN (a masked call shares the unmasked signature)."""
    from ..activations import get  # noqa: PLC0415
    from ..gru import GRUCell  # noqa: PLC0415

    x = np.zeros((1, 1, 1), f)
    for reset_after in (True, False):
        cell = GRUCell(get("tanh"), get("sigmoid"), reset_after)
        params = (np.zeros((1, 3), f),) + ((np.zeros(3, f),) if reset_after else ())
        gru_infer(cell, x, np.zeros((1, 3), f), np.zeros(3, f), params, None, False, True)
        _gru_large(x, np.zeros((1, 3), f), np.zeros(3, f), params[0],
                   params[1] if reset_after else none_array(1, f), None, reset_after, False, True)
    rnn_infer(None, x, np.zeros((1, 1), f), np.zeros(1, f), (np.zeros((1, 1), f),),
              None, False, True)
    _rnn_large(x, np.zeros((1, 1), f), np.zeros(1, f), np.zeros((1, 1), f), None,
               False, True)


COMPILED = loading.CompiledModule("._numba_cells", "the numba GRU/SimpleRNN kernels need",
                                  _warm)
COMPILED64 = loading.CompiledModule("._numba_cells", "the numba GRU/SimpleRNN kernels need",
                                    lambda mod: _warm(mod, np.float64), "float64")
