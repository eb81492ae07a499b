"""The reference kernel: :mod:`unrolled.core.scan` behind the sequence-kernel interface.

Runs any cell, dtype, activation and option, with or without a mask; every fast kernel is
tested against it. Its saved values are the scan's :class:`~unrolled.core.scan.SequenceCache`.
"""
from __future__ import annotations

import numpy as np

from ..scan import SequenceCache, SequenceGrads, sequence_backward, sequence_forward
from .interface import ScanCall, ScanResult, ScanWeights, add

Array = np.ndarray


class ReferenceKernel:
    """:class:`.interface.SequenceKernel` over :func:`~unrolled.core.scan.sequence_forward`."""

    name = "reference"

    def infer(self, w: ScanWeights, x: Array, initial: tuple[Array, ...] | None,
              mask: Array | None, call: ScanCall) -> ScanResult:
        return self.forward(w, x, initial, mask, call, False)[0]

    def forward(self, w: ScanWeights, x: Array, initial: tuple[Array, ...] | None,
                mask: Array | None, call: ScanCall, training: bool
                ) -> tuple[ScanResult, SequenceCache]:
        if initial is None:
            B, H = x.shape[0], w.params[0].shape[0]
            initial = tuple(np.zeros((B, H), x.dtype) for _ in range(w.n_carry))
        seq, final, cache = sequence_forward(w.cell, x, w.kernel, w.input_bias, w.params,
                                             initial, call.go_backwards, mask,
                                             call.zero_output_for_mask)
        # Copies: the final carry and a masked sequence's last row live in the cache.
        last = seq[:, -1].copy() if mask is not None else final[0].copy()
        result = ScanResult(seq if call.return_sequences else None, last,
                            tuple(f.copy() for f in final))
        return result, cache

    def backward(self, w: ScanWeights, saved: SequenceCache, d_sequence: Array | None,
                 d_last: Array | None, d_final: tuple[Array | None, ...]) -> SequenceGrads:
        d_final = tuple(d_final)
        if saved.mask is None:      # the last output is the final h
            d_final = (add(d_final[0], d_last),) + d_final[1:]
        elif d_last is not None:    # under a mask it is the output sequence's last row
            steps, batch = saved.x.shape[:2]
            d_out = np.zeros((batch, steps, d_last.shape[-1]), saved.x.dtype)
            d_out[:, -1] = d_last
            d_sequence = d_out if d_sequence is None else d_sequence + d_out
        return sequence_backward(w.cell, saved, w.kernel, w.params, d_sequence, d_final,
                                 has_bias=w.input_bias is not None)


REFERENCE = ReferenceKernel()
