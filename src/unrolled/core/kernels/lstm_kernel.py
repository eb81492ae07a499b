"""The fast LSTM behind the sequence-kernel interface: :mod:`.lstm_fast`'s forward and
backward with NumPy time loops (:data:`NUMPY_LSTM`) or compiled ones (:data:`NUMBA_LSTM`,
:mod:`.lstm_numba`). float32, tanh / sigmoid, no mask (see :mod:`.select`).
Saved values: :class:`.lstm_fast.LSTMKernelCache`.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..scan import SequenceGrads
from . import lstm_numba
from .interface import ScanCall, ScanResult, ScanWeights, add
from .lstm_fast import NUMPY_LOOPS, LSTMKernelCache, Loops, lstm_backward, lstm_forward, lstm_infer

Array = np.ndarray


class LSTMRecompute(NamedTuple):
    """Saved values of an inference forward (``training=False``): the inputs, so a backward
    (rarely wanted) can rerun the training forward first."""

    x: Array                                    # (B, T, F) a copy of the input
    initial: tuple[Array, ...] | None           # copies of (h0, c0), or None for zeros
    go_backwards: bool


class LSTMLoopKernel:
    """:class:`.interface.SequenceKernel` for the LSTM over one time-loop implementation."""

    def __init__(self, loops: Loops) -> None:
        self.loops = loops
        self.name = loops.name

    def __repr__(self) -> str:
        return f"LSTMLoopKernel({self.name!r})"

    def infer(self, w: ScanWeights, x: Array, initial: tuple[Array, ...] | None,
              mask: Array | None, call: ScanCall) -> ScanResult:
        h0, c0 = (None, None) if initial is None else initial
        seq, h_last, c_last = lstm_infer(self.loops, x, w.kernel, w.input_bias, w.params[0],
                                         h0, c0, call.go_backwards, call.return_sequences)
        return ScanResult(seq, h_last, (h_last, c_last))

    def forward(self, w: ScanWeights, x: Array, initial: tuple[Array, ...] | None,
                mask: Array | None, call: ScanCall, training: bool
                ) -> tuple[ScanResult, LSTMKernelCache | LSTMRecompute]:
        if not training:   # the inference kernel (one compiled call); backward recomputes
            saved = LSTMRecompute(x.copy(), None if initial is None
                                  else tuple(s.copy() for s in initial), call.go_backwards)
            return self.infer(w, x, initial, mask, call), saved
        h0, c0 = (None, None) if initial is None else initial   # None: start from zeros
        seq, h_last, c_last, cache = lstm_forward(
            self.loops, x, w.kernel, w.input_bias, w.params[0], h0, c0, call.go_backwards,
            training, call.return_sequences)
        return ScanResult(seq, h_last, (h_last, c_last)), cache

    def backward(self, w: ScanWeights, saved: LSTMKernelCache | LSTMRecompute,
                 d_sequence: Array | None, d_last: Array | None,
                 d_final: tuple[Array | None, ...]) -> SequenceGrads:
        if isinstance(saved, LSTMRecompute):
            _, saved = self.forward(w, saved.x, saved.initial, None,
                                    ScanCall(go_backwards=saved.go_backwards), True)
        return lstm_backward(self.loops, saved, w.kernel, w.input_bias, w.params[0],
                             d_sequence, add(d_final[0], d_last), d_final[1])


NUMPY_LSTM = LSTMLoopKernel(NUMPY_LOOPS)
NUMBA_LSTM = LSTMLoopKernel(lstm_numba.NUMBA_LOOPS)
