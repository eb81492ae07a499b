"""The fast LSTM behind the sequence-kernel interface: :mod:`.lstm_fast`'s forward and
backward with NumPy time loops (:data:`NUMPY_LSTM`) or compiled ones (:data:`NUMBA_LSTM`,
:mod:`.lstm_numba`). float32 or float64, tanh / sigmoid, any mask (see :mod:`.select`).
Saved values: :class:`.lstm_fast.LSTMKernelCache`.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..scan import SequenceGrads
from . import lstm_numba
from .interface import ScanCall, ScanResult, ScanWeights, add, as_weights_dtype
from .step_mask import StepMask
from .lstm_fast import NUMPY_LOOPS, LSTMKernelCache, Loops, lstm_backward, lstm_forward, lstm_infer

Array = np.ndarray


class LSTMRecompute(NamedTuple):
    """Saved values of an inference forward (``training=False``): the inputs, so a backward
    (rarely wanted) can rerun the training forward first."""

    x: Array                                    # (B, T, F) a copy of the input
    initial: tuple[Array, ...] | None           # copies of (h0, c0), or None for zeros
    call: ScanCall
    mask: Array | None                          # (B, T) the call's mask, or None


class LSTMMaskedSaved(NamedTuple):
    """Saved values of a masked training forward: the loops' cache (which holds the step
    mask) and the mask's output rules for backward."""

    cache: LSTMKernelCache
    mask: StepMask


class LSTMLoopKernel:
    """:class:`.interface.SequenceKernel` for the LSTM over one time-loop implementation.
    Masks of any pattern run inside the loops (:mod:`.step_mask`)."""

    takes_masks = True

    def __init__(self, loops: Loops) -> None:
        self.loops = loops
        self.name = loops.name

    def __repr__(self) -> str:
        return f"LSTMLoopKernel({self.name!r})"

    def infer(self, w: ScanWeights, x: Array, initial: tuple[Array, ...] | None,
              mask: Array | None, call: ScanCall) -> ScanResult:
        x = as_weights_dtype(x, w)
        h0, c0 = (None, None) if initial is None else initial
        steps = None if mask is None else StepMask.prepare(mask, call.go_backwards,
                                                           call.zero_output_for_mask)
        seq, h_last, c_last = lstm_infer(self.loops, x, w.kernel, w.input_bias, w.params[0],
                                         h0, c0, call.go_backwards, call.return_sequences,
                                         steps)
        if steps is None:
            return ScanResult(seq, h_last, (h_last, c_last))
        seq, last = steps.outputs(seq, h_last)
        return ScanResult(seq, last, (h_last, c_last))

    def forward(self, w: ScanWeights, x: Array, initial: tuple[Array, ...] | None,
                mask: Array | None, call: ScanCall, training: bool
                ) -> tuple[ScanResult, LSTMKernelCache | LSTMMaskedSaved | LSTMRecompute]:
        if not training:   # the inference kernel (one compiled call); backward recomputes
            saved = LSTMRecompute(x.copy(), None if initial is None
                                  else tuple(s.copy() for s in initial), call,
                                  None if mask is None else np.array(mask, bool))
            return self.infer(w, x, initial, mask, call), saved
        x = as_weights_dtype(x, w)
        h0, c0 = (None, None) if initial is None else initial   # None: start from zeros
        steps = None if mask is None else StepMask.prepare(mask, call.go_backwards,
                                                           call.zero_output_for_mask)
        seq, h_last, c_last, cache = lstm_forward(
            self.loops, x, w.kernel, w.input_bias, w.params[0], h0, c0, call.go_backwards,
            training, call.return_sequences, steps)
        if steps is None:
            return ScanResult(seq, h_last, (h_last, c_last)), cache
        seq, last = steps.outputs(seq, h_last)
        return ScanResult(seq, last, (h_last, c_last)), LSTMMaskedSaved(cache, steps)

    def backward(self, w: ScanWeights, saved: LSTMKernelCache | LSTMMaskedSaved | LSTMRecompute,
                 d_sequence: Array | None, d_last: Array | None,
                 d_final: tuple[Array | None, ...]) -> SequenceGrads:
        if isinstance(saved, LSTMRecompute):
            _, saved = self.forward(w, saved.x, saved.initial, saved.mask, saved.call, True)
        if isinstance(saved, LSTMMaskedSaved):
            d_sequence, dh = saved.mask.upstream(d_sequence, d_last, d_final[0])
            return lstm_backward(self.loops, saved.cache, w.kernel, w.input_bias, w.params[0],
                                 d_sequence, dh, d_final[1])
        return lstm_backward(self.loops, saved, w.kernel, w.input_bias, w.params[0],
                             d_sequence, add(d_final[0], d_last), d_final[1])


NUMPY_LSTM = LSTMLoopKernel(NUMPY_LOOPS)
NUMBA_LSTM = LSTMLoopKernel(lstm_numba.NUMBA_LOOPS)
