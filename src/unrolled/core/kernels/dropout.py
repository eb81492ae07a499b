"""Training with ``recurrent_dropout``: a sequence kernel for the LSTM, GRU and SimpleRNN that
takes the call's dropout masks as they are (Keras 3's semantics, see
:mod:`unrolled.core.recurrent_dropout`), instead of the reference scan over a wrapped cell.

What the reference path did per step, and what this kernel does instead:

* recurrent masks: the wrapped cell computed ``Σ_g (h ⊙ r_g) @ U_g`` as K separate
  products and a concatenation, *then* the plain cell's own ``h @ 0`` product with a zero
  kernel (a second full GEMM and a fresh zero array per step). Here one batched product
  ``(K, B, H) @ (K, H, G·H/K)`` written straight into the step's gate buffer;
* input masks: one per gate (Keras's ``implementation=1``) widened the input to
  (B, T, G·F) with a block-diagonal kernel -- G times the projection's work, and G times
  again in its gradients. Here each gate block is ``(x ⊙ m_g) @ W_g``: the work of one
  projection;
* the weight gradients are GEMMs over all T·B rows, one per mask.

The LSTM, the GRU (reset_after) and the SimpleRNN with tanh / sigmoid in float32 run their
time loops
compiled (:mod:`._numba_dropout`, batch rows split over the cores as the plain LSTM's); everything
else -- and the slim install (no numba), and calls while the compiled module builds in
the background -- runs NumPy loops, any float dtype and activation (the cell's own
``Activation`` objects); the GRU's loops are in :mod:`.dropout_gru`. Masked (padded)
calls run through :class:`.masked.MaskedKernel`: one unmasked call per group of samples
with as many unmasked steps, on those samples' masks (:meth:`DropoutKernel.for_rows`).

Equations (LSTM; SimpleRNN is ``h = φ(z)``), masks m (input, K_in of them), r (recurrent,
K of them), gate block g of width H::

    xp_g = (x_t ⊙ m_g) @ W_g + b_g             z_g = xp_g + (h_prev ⊙ r_g) @ U_g
    i, f, o = σ(z_i, z_f, z_o)   g = φ(z_c)     c = f·c_prev + i·g     h = o·φ(c)
    backward:  δh_prev = Σ_g (δz_g @ U_gᵀ) ⊙ r_g      δU_g = Σ_t (h_prev ⊙ r_g)ᵀ δz_g
               δx = Σ_g (δz_g @ W_gᵀ) ⊙ m_g           δW_g = Σ_t (x ⊙ m_g)ᵀ δz_g

Axis legend: B batch, T timesteps, F features, H units, G gates, K masks (1 or G).
"""
from __future__ import annotations

import contextlib
from typing import Any, NamedTuple

import numpy as np

from ..gru import GRUCell
from ..lstm import LSTMCell
from ..recurrent_dropout import DropoutMasks
from ..scan import SequenceGrads
from ..simple_rnn import SimpleRNNCell
from . import dropout_gru, lstm_numba, select
from .interface import ScanCall, ScanResult, ScanWeights, add
from .runtime import blas as blas_threads
from .runtime import loading
from .runtime.threads import run_blocks

Array = np.ndarray

CELLS = (LSTMCell, GRUCell, SimpleRNNCell)

REASON = ("recurrent_dropout in training: the dropout kernel (kernels/dropout.py): the "
          "per-gate recurrent masks in one product's work per step, the per-gate input "
          "masks in one projection's work")
COMPILED_REASON = "time loops compiled (kernels/_numba_dropout.py)"
NUMPY_REASON = "time loops in NumPy"


# "No held rows" for the compiled loops (a read-only placeholder: numba needs an array).
_NO_LENGTHS = np.zeros(0, np.int64)
_NO_LENGTHS.flags.writeable = False


def _warm(mod: Any) -> None:
    """Compile (or load from the disk cache) the float32 signatures on tiny inputs."""
    f = np.float32
    xp, acts = np.zeros((1, 1, 4), f), np.zeros((1, 1, 4), f)
    Uk, r, s = np.zeros((4, 1, 1), f), np.zeros((4, 1, 1), f), np.zeros((1, 1), f)
    hs = np.zeros((2, 1, 1), f)
    for lengths in (_NO_LENGTHS, np.ones(1, np.int64)):
        mod.forward_block(xp, Uk, r, s, s, hs, hs.copy(), acts, lengths, 0, 1)
        mod.backward_block(acts, hs, Uk, r, np.zeros((1, 1, 1), f), s, s, acts.copy(),
                           s.copy(), s.copy(), lengths, 0, 1)
    g3, Uk3, r3 = np.zeros((1, 1, 3), f), np.zeros((3, 1, 1), f), np.zeros((3, 1, 1), f)
    for b_rec in (np.zeros(3, f), np.zeros(0, f)):
        mod.gru_forward_block(g3, Uk3, b_rec, r3, s, hs.copy(), g3.copy(), s.copy()[None],
                              _NO_LENGTHS, 0, 1)
    mod.rnn_forward_block(np.zeros((1, 1, 1), f), s, s, s, hs.copy(), _NO_LENGTHS, 0, 1)
    mod.rnn_backward_block(hs, s, s, np.zeros((1, 1, 1), f), s, np.zeros((1, 1, 1), f),
                           s.copy(), _NO_LENGTHS, 0, 1)
    mod.gru_backward_block(hs, g3, s[None], Uk3, r3, np.zeros((1, 1, 1), f), s, g3.copy(),
                           g3.copy(), s.copy(), _NO_LENGTHS, 0, 1)


COMPILED = loading.CompiledModule("._numba_dropout", "the numba dropout kernel needs", _warm)


def compilable(cell: Any, dtype: Any) -> bool:
    """Whether calls of this cell and dtype run compiled loops once the module is built."""
    gated = type(cell) is LSTMCell or (type(cell) is GRUCell and cell.reset_after)
    return ((gated or type(cell) is SimpleRNNCell) and np.dtype(dtype) == np.float32
            and cell.activation.name == "tanh"
            and (not gated or cell.recurrent_activation.name == "sigmoid")
            and loading.missing_reason() is None and COMPILED.state != "failed"
            and select.forced()[0] != "numpy")


def compiled_loops(cell: Any, dtype: Any, start: bool = True) -> Any:
    """The compiled module if this call can run on it now (else None: NumPy loops). With
    ``start``, starts the background build (``UNROLLED_COMPILE=wait``: builds now) when
    it is not ready."""
    if not compilable(cell, dtype):
        return None
    if COMPILED.ready:
        return COMPILED.get()
    if not start:
        return None
    if loading.compile_mode() == "wait":
        try:
            return COMPILED.get()
        except Exception:  # noqa: BLE001 - the NumPy loops run instead
            return None
    COMPILED.start()
    return None


def loops_name(cell: Any, dtype: Any) -> str:
    """``numba`` when a call would run compiled loops now, else ``numpy``."""
    return "numba" if compiled_loops(cell, dtype, start=False) is not None else "numpy"


def reasons(compiled: bool, cell: Any) -> tuple[str, ...]:
    """The reasons of a call that ran compiled (or NumPy) loops."""
    if compiled:
        return (REASON, COMPILED_REASON)
    if type(cell) not in CELLS or not getattr(cell, "reset_after", True):
        why = "compiled loops are for the LSTM, the GRU with reset_after and the SimpleRNN"
    elif loading.missing_reason() is not None:
        why = loading.missing_reason()
    elif COMPILED.state == "failed":
        why = f"the numba dropout kernel failed to build ({COMPILED.error})"
    elif COMPILED.state == "building":
        why = "the numba dropout kernel is building in the background"
    elif select.forced()[0] == "numpy":
        why = "forced by force('numpy') or UNROLLED_KERNEL"
    else:
        why = "compiled loops need float32, tanh and sigmoid"
    return (REASON, f"{NUMPY_REASON} ({why})")


def eligible(cell: Any, masked: bool) -> str | None:
    """Why the dropout kernel cannot run this call (None: it can). A masked call runs
    through :class:`.masked.MaskedKernel`: each group of samples with the same number of
    unmasked steps is one unmasked call with those samples' dropout masks."""
    if type(cell) not in CELLS:
        name = type(cell).__name__.removesuffix("Cell")
        return (f"recurrent_dropout in training with a {name} runs on the reference scan "
                "(core/scan.py; the dropout kernel has the LSTM, GRU and SimpleRNN)")
    return None


class DropoutSavedValues(NamedTuple):
    """What :meth:`DropoutKernel.backward` needs (time-major, processing order)."""

    xt: Array                     # (T, B, F) the input
    hs: Array                     # (T+1, B, H) h before and after every step
    cs: Array | None              # (T+1, B, H) c (LSTM), else None
    acts: Array                   # (T, B, G·H) activated gates (LSTM) / h (SimpleRNN)
    phis: Array | None            # (T, B, H) φ(c) (LSTM)
    zs: Array | None              # (T, B, G·H) pre-activations, if an activation needs them
    masks: DropoutMasks
    go_backwards: bool
    compiled: Any = None          # the numba module that ran the loops (None: NumPy)
    gru: bool = False             # GRU: phis holds m_h (reset_after), zs the pre-activations
    lengths: Array = None         # (B,) int64 steps each row runs (then held), or (0,)


def _blas_scope(ranges: list[tuple[int, int]]) -> Any:
    """NumPy's BLAS single-threaded while batch blocks run on several threads (see
    :mod:`.runtime.blas`)."""
    return blas_threads.single_threaded() if len(ranges) > 1 else contextlib.nullcontext()


def _blocks(a: Array, count: int) -> list[Array]:
    """``a``'s last axis cut into ``count`` equal blocks (views)."""
    w = a.shape[-1] // count
    return [a[..., k * w:(k + 1) * w] for k in range(count)]


def _per_mask(U: Array, K: int) -> Array:
    """(H, G·H) -> (K, H, G·H/K): the columns that mask k multiplies."""
    H, GH = U.shape
    return np.ascontiguousarray(U.reshape(H, K, GH // K).transpose(1, 0, 2))


def _project(xt: Array, kernel: Array, bias: Array | None, m: Array | None) -> Array:
    """(T, B, G·H): block g is (x ⊙ m_g) @ W_g + b_g (m None: no input dropout)."""
    T, B, F = xt.shape
    if m is None or m.shape[0] == 1:
        xm = xt if m is None else xt * m[0][None]
        xp = (xm.reshape(T * B, F) @ kernel).reshape(T, B, -1)
    else:
        xp = np.empty((T, B, kernel.shape[1]), np.result_type(xt, kernel))
        for out, Wg, mg in zip(_blocks(xp, m.shape[0]), _blocks(kernel, m.shape[0]), m):
            out[...] = ((xt * mg[None]).reshape(T * B, F) @ Wg).reshape(T, B, -1)
    if bias is not None:
        xp += bias
    return xp


class DropoutKernel:
    """:class:`.interface.SequenceKernel` for one training call with these masks."""

    name = "dropout"

    def __init__(self, masks: DropoutMasks) -> None:
        self.masks = masks

    def __repr__(self) -> str:
        return "DropoutKernel()"

    def for_rows(self, rows: Array) -> "DropoutKernel":
        """The kernel for the samples ``rows`` of the batch (their masks): what
        :class:`.masked.MaskedKernel` runs on each group of samples of a masked call."""
        def take(m: Array | None) -> Array | None:
            return None if m is None else np.ascontiguousarray(m[:, rows])
        return DropoutKernel(DropoutMasks(take(self.masks.inputs), take(self.masks.recurrent)))

    def infer(self, w: ScanWeights, x: Array, initial: tuple[Array, ...] | None,
              mask: Array | None, call: ScanCall) -> ScanResult:
        return self.forward(w, x, initial, mask, call, False)[0]

    def _compiled_for(self, w: ScanWeights, x: Array) -> Any:
        """The compiled loops' module for this call, or None (NumPy loops): float32 (x and
        weights alike), tanh/sigmoid, one recurrent mask per gate."""
        r = self.masks.recurrent
        if r is None or r.shape[0] != w.cell.n_gates:
            return None
        dtype = np.result_type(x, w.params[0])
        return compiled_loops(w.cell, dtype) if x.dtype == dtype else None

    def takes_lengths(self, w: ScanWeights, x: Array) -> bool:
        """Whether this call runs on the compiled loops, which can hold rows after their
        own number of steps (``forward(..., lengths=)``): then :class:`.masked.MaskedKernel`
        runs a masked call as one call instead of one per group of samples."""
        return self._compiled_for(w, x) is not None

    def forward(self, w: ScanWeights, x: Array, initial: tuple[Array, ...] | None,
                mask: Array | None, call: ScanCall, training: bool,
                lengths: Array | None = None) -> tuple[ScanResult, DropoutSavedValues]:
        """``lengths`` (B,): row b runs its first lengths[b] steps, then holds its state
        (compiled loops only, see :meth:`takes_lengths`)."""
        if mask is not None:
            raise ValueError("the dropout kernel takes no mask (see eligible())")
        lstm = isinstance(w.cell, LSTMCell)
        U = w.params[0]
        B, T, _ = x.shape
        H, GH = U.shape
        dtype = np.result_type(x, U)
        xt = np.swapaxes(x, 0, 1)
        xt = np.ascontiguousarray(xt[::-1] if call.go_backwards else xt)      # (T, B, F)
        xp = _project(xt, w.kernel, w.input_bias, self.masks.inputs)          # (T, B, GH)
        r = self.masks.recurrent
        K = 1 if r is None else r.shape[0]
        Uk = _per_mask(U, K) if K > 1 else U                                  # (K, H, GH/K)
        act = w.cell.activation
        sig = getattr(w.cell, "recurrent_activation", None)
        keep_z = act.needs_input or (sig is not None and sig.needs_input)
        mod = self._compiled_for(w, x)
        if lengths is not None and mod is None:
            raise ValueError("held rows (lengths=) need the compiled loops (see takes_lengths)")
        held = _NO_LENGTHS if lengths is None else np.ascontiguousarray(lengths, np.int64)
        if mod is not None and isinstance(w.cell, GRUCell):
            return self._forward_gru_compiled(mod, w, xt, xp, initial, call, held)
        if mod is not None and not lstm:
            return self._forward_rnn_compiled(mod, xt, xp, U, initial, call, held)
        if mod is not None:
            return self._forward_compiled(mod, xt, xp, U, initial, call, held)
        if isinstance(w.cell, GRUCell):
            h0 = np.zeros((B, H), dtype) if initial is None else np.asarray(initial[0], dtype)
            hs, acts, mhs, pres = dropout_gru.forward_loop(w.cell, w.params, xp, h0, r)
            seq = np.ascontiguousarray(np.swapaxes(hs[1:], 0, 1)) if call.return_sequences else None
            final = (hs[T].copy(),)
            return ScanResult(seq, final[0], final), DropoutSavedValues(
                xt, hs, None, acts, mhs, pres, self.masks, call.go_backwards, None, True)
        hs = np.empty((T + 1, B, H), dtype)
        cs = np.empty((T + 1, B, H), dtype) if lstm else None
        acts = np.empty((T, B, GH), dtype)
        phis = np.empty((T, B, H), dtype) if lstm else None
        zs = np.empty((T, B, GH), dtype) if keep_z else None
        if initial is None:
            hs[0] = 0
            if lstm:
                cs[0] = 0
        else:
            hs[0] = initial[0]
            if lstm:
                cs[0] = initial[1]
        z = np.empty((B, GH), dtype)
        zk = z.reshape(B, K, GH // K).transpose(1, 0, 2)                      # (K, B, GH/K) view
        for t in range(T):
            h = hs[t]
            if r is None:
                np.matmul(h, U, out=z)
            elif K == 1:
                np.matmul(h * r[0], U, out=z)
            else:
                np.matmul(h[None] * r, Uk, out=zk)                            # (K, B, GH/K)
            z += xp[t]
            if keep_z:
                zs[t] = z
            a = acts[t]
            if lstm:
                a[:, :2 * H] = sig(z[:, :2 * H])                              # i, f
                a[:, 2 * H:3 * H] = act(z[:, 2 * H:3 * H])                    # g
                a[:, 3 * H:] = sig(z[:, 3 * H:])                              # o
                c = cs[t + 1]
                np.multiply(a[:, H:2 * H], cs[t], out=c)
                c += a[:, :H] * a[:, 2 * H:3 * H]
                phis[t] = act(c)
                np.multiply(a[:, 3 * H:], phis[t], out=hs[t + 1])
            else:
                a[...] = act(z)
                hs[t + 1] = a
        seq = np.ascontiguousarray(np.swapaxes(hs[1:], 0, 1)) if call.return_sequences else None
        final = (hs[T].copy(), cs[T].copy()) if lstm else (hs[T].copy(),)
        result = ScanResult(seq, final[0], final)
        return result, DropoutSavedValues(xt, hs, cs, acts, phis, zs, self.masks,
                                          call.go_backwards)

    def _forward_compiled(self, mod: Any, xt: Array, xp: Array, U: Array,
                          initial: tuple[Array, ...] | None, call: ScanCall, held: Array
                          ) -> tuple[ScanResult, DropoutSavedValues]:
        T, B, _ = xt.shape
        H = U.shape[0]
        r = np.ascontiguousarray(self.masks.recurrent, np.float32)
        if initial is None:
            h0 = c0 = np.zeros((B, H), np.float32)
        else:
            h0, c0 = (np.ascontiguousarray(s, np.float32) for s in initial)
        hs = np.empty((T + 1, B, H), np.float32)
        cs = np.empty((T + 1, B, H), np.float32)
        acts = np.empty((T, B, 4 * H), np.float32)
        ranges = lstm_numba.blocks(B, H, T)
        with _blas_scope(ranges):
            run_blocks(mod.forward_block, (xp, _per_mask(U, 4), r, h0, c0, hs, cs, acts, held),
                       ranges)
        seq = np.ascontiguousarray(np.swapaxes(hs[1:], 0, 1)) if call.return_sequences else None
        final = (hs[T].copy(), cs[T].copy())
        return ScanResult(seq, final[0], final), DropoutSavedValues(
            xt, hs, cs, acts, None, None, self.masks, call.go_backwards, mod, False, held)

    def _forward_gru_compiled(self, mod: Any, w: ScanWeights, xt: Array, xp: Array,
                              initial: tuple[Array, ...] | None, call: ScanCall, held: Array
                              ) -> tuple[ScanResult, DropoutSavedValues]:
        T, B, _ = xt.shape
        U = w.params[0]
        H = U.shape[0]
        b_rec = w.params[1] if len(w.params) > 1 else np.zeros(0, np.float32)
        r = np.ascontiguousarray(self.masks.recurrent, np.float32)
        h0 = (np.zeros((B, H), np.float32) if initial is None
              else np.ascontiguousarray(initial[0], np.float32))
        hs = np.empty((T + 1, B, H), np.float32)
        acts = np.empty((T, B, 3 * H), np.float32)
        mhs = np.empty((T, B, H), np.float32)
        ranges = lstm_numba.blocks(B, H, T)
        with _blas_scope(ranges):
            run_blocks(mod.gru_forward_block,
                       (xp, _per_mask(U, 3), np.ascontiguousarray(b_rec, np.float32), r, h0, hs,
                        acts, mhs, held), ranges)
        seq = np.ascontiguousarray(np.swapaxes(hs[1:], 0, 1)) if call.return_sequences else None
        final = (hs[T].copy(),)
        return ScanResult(seq, final[0], final), DropoutSavedValues(
            xt, hs, None, acts, mhs, None, self.masks, call.go_backwards, mod, True, held)

    def _forward_rnn_compiled(self, mod: Any, xt: Array, xp: Array, U: Array,
                              initial: tuple[Array, ...] | None, call: ScanCall, held: Array
                              ) -> tuple[ScanResult, DropoutSavedValues]:
        T, B, _ = xt.shape
        H = U.shape[0]
        r = np.ascontiguousarray(self.masks.recurrent[0], np.float32)
        h0 = (np.zeros((B, H), np.float32) if initial is None
              else np.ascontiguousarray(initial[0], np.float32))
        hs = np.empty((T + 1, B, H), np.float32)
        ranges = lstm_numba.blocks(B, H, T)
        with _blas_scope(ranges):
            run_blocks(mod.rnn_forward_block, (xp, U, r, h0, hs, held), ranges)
        seq = np.ascontiguousarray(np.swapaxes(hs[1:], 0, 1)) if call.return_sequences else None
        final = (hs[T].copy(),)
        return ScanResult(seq, final[0], final), DropoutSavedValues(
            xt, hs, None, hs[1:], None, None, self.masks, call.go_backwards, mod, False, held)

    def _backward_gru_compiled(self, w: ScanWeights, s: DropoutSavedValues,
                               d_seq: Array | None, dh: Array) -> SequenceGrads:
        T, B, GH = s.acts.shape
        H = GH // 3
        U = w.params[0]
        r = np.ascontiguousarray(s.masks.recurrent, np.float32)
        UkT = np.ascontiguousarray(_per_mask(U, 3).transpose(0, 2, 1))
        seq = (np.zeros((0, B, H), np.float32) if d_seq is None
               else np.ascontiguousarray(d_seq, np.float32))
        dxp = np.empty((T, B, GH), np.float32)
        dms = np.empty((T, B, GH), np.float32)
        dh0 = np.empty((B, H), np.float32)
        ranges = lstm_numba.blocks(B, H, T)
        with _blas_scope(ranges):
            run_blocks(s.compiled.gru_backward_block,
                       (s.hs, s.acts, s.phis, UkT, r, seq, np.ascontiguousarray(dh, np.float32),
                        dxp, dms, dh0, s.lengths), ranges)
        rows = T * B
        dU = np.empty_like(U)
        for out, dmg, rg in zip(_blocks(dU, 3), _blocks(dms, 3), r):
            out[...] = (s.hs[:-1] * rg[None]).reshape(rows, H).T @ dmg.reshape(rows, H)
        d_recurrent: tuple[Array, ...] = (dU,)
        if len(w.params) > 1:
            d_recurrent += (dms.reshape(rows, GH).sum(axis=0),)
        return self._input_side(w, s, dxp, d_recurrent, (dh0,))

    def backward(self, w: ScanWeights, saved: DropoutSavedValues, d_sequence: Array | None,
                 d_last: Array | None, d_final: tuple[Array | None, ...]) -> SequenceGrads:
        s = saved
        lstm = s.cs is not None
        U, W = w.params[0], w.kernel
        T, B, F = s.xt.shape
        H, GH = U.shape
        dtype = s.hs.dtype
        act = w.cell.activation
        sig = getattr(w.cell, "recurrent_activation", None)
        r, m = s.masks.recurrent, s.masks.inputs
        K = 1 if r is None else r.shape[0]
        UkT = np.ascontiguousarray(_per_mask(U, K).transpose(0, 2, 1)) if K > 1 else U.T
        dh = add(d_final[0], d_last)
        dh = np.zeros((B, H), dtype) if dh is None else np.array(dh, dtype)
        dc = None
        if lstm:
            dc = d_final[1] if len(d_final) > 1 else None
            dc = np.zeros((B, H), dtype) if dc is None else np.array(dc, dtype)
        d_seq = None if d_sequence is None else np.swapaxes(d_sequence, 0, 1)  # (T, B, H)
        if s.gru and s.compiled is not None:
            return self._backward_gru_compiled(w, s, d_seq, dh)
        if s.gru:
            dz, dh, d_recurrent = dropout_gru.backward_loop(w.cell, w.params, s.hs, s.acts,
                                                            s.phis, s.zs, r, d_seq, dh)
            return self._input_side(w, s, dz, d_recurrent, (dh,))
        dz = np.empty((T, B, GH), dtype)
        if s.compiled is not None and not lstm:                               # SimpleRNN
            dh0 = np.empty_like(dh)
            seq = (np.zeros((0, B, H), dtype) if d_seq is None
                   else np.ascontiguousarray(d_seq, dtype))
            ranges = lstm_numba.blocks(B, H, T)
            with _blas_scope(ranges):
                run_blocks(s.compiled.rnn_backward_block,
                           (s.hs, np.ascontiguousarray(U.T), np.ascontiguousarray(r[0], dtype),
                            seq, dh, dz, dh0, s.lengths), ranges)
            dh = dh0
        elif s.compiled is not None:
            dh0, dc0 = np.empty_like(dh), np.empty_like(dc)
            seq = (np.zeros((0, B, H), dtype) if d_seq is None
                   else np.ascontiguousarray(d_seq, dtype))
            ranges = lstm_numba.blocks(B, H, T)
            with _blas_scope(ranges):
                run_blocks(s.compiled.backward_block,
                           (s.acts, s.cs, UkT, np.ascontiguousarray(r, dtype), seq, dh, dc, dz,
                            dh0, dc0, s.lengths), ranges)
            dh, dc = dh0, dc0
        for t in range(T - 1 if s.compiled is None else -1, -1, -1):
            if d_seq is not None:
                dh = dh + d_seq[t]
            a, d = s.acts[t], dz[t]
            zt = None if s.zs is None else s.zs[t]
            zb = (None,) * 4 if zt is None else _blocks(zt, 4 if lstm else 1)
            if lstm:
                i, f, g, o = _blocks(a, 4)
                phi = s.phis[t]
                dc = dc + act.backward(s.cs[t + 1], phi, dh * o)              # through φ(c)
                d[:, :H] = sig.backward(zb[0], i, dc * g)
                d[:, H:2 * H] = sig.backward(zb[1], f, dc * s.cs[t])
                d[:, 2 * H:3 * H] = act.backward(zb[2], g, dc * i)
                d[:, 3 * H:] = sig.backward(zb[3], o, dh * phi)
                dc = dc * f
            else:
                d[...] = act.backward(zb[0], a, dh)
            if r is None:
                dh = d @ U.T
            elif K == 1:
                dh = (d @ U.T) * r[0]
            else:                                                             # Σ_g (δz_g @ U_gᵀ) ⊙ r_g
                dk = d.reshape(B, K, GH // K).transpose(1, 0, 2)
                dh = np.einsum("kbh,kbh->bh", np.matmul(dk, UkT), r)
        rows = dz.reshape(T * B, GH)
        h_prev = s.hs[:-1]
        if r is None or K == 1:
            hp = h_prev if r is None else h_prev * r[0][None]
            d_rec = hp.reshape(T * B, H).T @ rows
        else:
            d_rec = np.empty_like(U)
            for out, dzg, rg in zip(_blocks(d_rec, K), _blocks(dz, K), r):
                out[...] = (h_prev * rg[None]).reshape(T * B, H).T @ dzg.reshape(T * B, -1)
        d_initial = (dh, dc) if lstm else (dh,)
        return self._input_side(w, s, dz, (d_rec,), d_initial)

    @staticmethod
    def _input_side(w: ScanWeights, s: DropoutSavedValues, dz: Array,
                    d_recurrent: tuple[Array, ...], d_initial: tuple[Array, ...]
                    ) -> SequenceGrads:
        """dx, d_kernel, d_bias from dL/d xp ``dz`` (T, B, G·H), through the input masks."""
        W, m = w.kernel, s.masks.inputs
        T, B, F = s.xt.shape
        GH = dz.shape[-1]
        dtype = dz.dtype
        rows = dz.reshape(T * B, GH)
        if m is None or m.shape[0] == 1:
            xm = s.xt if m is None else s.xt * m[0][None]
            d_kernel = xm.reshape(T * B, F).T @ rows
            dxt = (rows @ W.T).reshape(T, B, F)
            if m is not None:
                dxt *= m[0][None]
        else:
            d_kernel = np.empty_like(W)
            dxt = np.zeros((T, B, F), dtype)
            for out, Wg, dzg, mg in zip(_blocks(d_kernel, m.shape[0]), _blocks(W, m.shape[0]),
                                        _blocks(dz, m.shape[0]), m):
                dzr = dzg.reshape(T * B, -1)
                out[...] = (s.xt * mg[None]).reshape(T * B, F).T @ dzr
                dxt += (dzr @ Wg.T).reshape(T, B, F) * mg[None]
        if s.go_backwards:
            dxt = dxt[::-1]
        dx = np.ascontiguousarray(np.swapaxes(dxt, 0, 1))
        d_bias = rows.sum(axis=0) if w.input_bias is not None else None
        return SequenceGrads(dx, d_kernel, d_bias, d_recurrent, d_initial)
