"""The sequence-kernel interface: what every implementation of a recurrent layer's time
loop provides, the reference scan included.

A recurrent layer hands a kernel its weights (:class:`ScanWeights`), the call's options
(:class:`ScanCall`), the input ``x`` (batch, timesteps, features), the initial carry and
an optional mask, and gets back a :class:`ScanResult`. For training it also gets the
kernel's *saved values* -- a ``NamedTuple`` of the kernel's own type, opaque to the layer --
which it passes back to the same kernel's :meth:`SequenceKernel.backward`.

Implementations (chosen per call by :mod:`.select`, which says why):

* :data:`.reference.REFERENCE` -- :mod:`unrolled.core.scan`, any cell, dtype, option and
  mask; the test oracle;
* :mod:`.lstm_kernel` -- the LSTM with NumPy or compiled (numba) time loops;
* :mod:`.cells_numba` -- GRU and SimpleRNN with compiled loops.

Axis legend: B batch, T timesteps, F features, H units, G gates per unit.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import numpy as np

from ..scan import SequenceGrads

Array = np.ndarray


class ScanWeights(NamedTuple):
    """A layer's cell and weights, as every kernel takes them."""

    cell: Any                        # the stateless cell (core/lstm.py, core/gru.py, ...)
    kernel: Array                    # (F, G·H)
    input_bias: Array | None         # (G·H,) or None
    params: tuple[Array, ...]        # the cell's own: (recurrent_kernel (H, G·H), ...)
    n_carry: int = 1                 # carry components: 1 (h), 2 for the LSTM (h, c)


class ScanCall(NamedTuple):
    """The options of one call that change what a kernel computes or returns."""

    go_backwards: bool = False
    return_sequences: bool = False
    zero_output_for_mask: bool = False


class ScanResult(NamedTuple):
    """What a kernel's forward returns. ``last`` may be the same array as ``final[0]``
    (the layer copies it when it returns both)."""

    sequence: Array | None           # (B, T, H) outputs in processing order, or None when
                                     # the call did not ask for them
    last: Array                      # (B, H) the last output (the final h unless masked)
    final: tuple[Array, ...]         # the final carry, each (B, H): (h,) or (h, c)


class SequenceKernel(Protocol):
    """One implementation of a recurrent layer's forward and backward over a sequence.

    ``initial`` is None (start from zeros) or a tuple of (B, H) arrays, one per carry
    component; ``mask`` is None or a bool (B, T) array, True = use the step (Keras 3's
    semantics, see :mod:`unrolled.core.scan`). A kernel is only asked to run what the
    selector found it eligible for (:func:`.select.select`).
    """

    name: str

    def infer(self, w: ScanWeights, x: Array, initial: tuple[Array, ...] | None,
              mask: Array | None, call: ScanCall) -> ScanResult:
        """Inference: the result, saving nothing."""
        ...

    def forward(self, w: ScanWeights, x: Array, initial: tuple[Array, ...] | None,
                mask: Array | None, call: ScanCall, training: bool) -> tuple[ScanResult, Any]:
        """The result and the saved values :meth:`backward` needs (with ``training``
        False a kernel may save less and recompute in backward)."""
        ...

    def backward(self, w: ScanWeights, saved: Any, d_sequence: Array | None,
                 d_last: Array | None, d_final: tuple[Array | None, ...]) -> SequenceGrads:
        """Gradients through :meth:`forward`: ``d_sequence`` (B, T, H) for
        ``ScanResult.sequence``, ``d_last`` (B, H) for ``last``, ``d_final`` one (B, H) per
        carry component; each may be None (not used: zero)."""
        ...


def add(a: Array | None, b: Array | None) -> Array | None:
    """``a + b`` where None means zero."""
    if a is None:
        return b
    return a if b is None else a + b


def as_weights_dtype(x: Array, w: ScanWeights) -> Array:
    """``x`` in the weights' dtype (a float32 input to a float64 layer computes in float64,
    as NumPy's promotion does on the reference path); no copy when it already is."""
    dtype = w.kernel.dtype
    return x if x.dtype == dtype else x.astype(dtype)
