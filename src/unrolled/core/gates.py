"""The one place that knows how gates are packed, and how each framework packs them.

unrolled stores weights exactly as Keras does: gate blocks side by side along the last
axis of ``kernel`` (features, G·units), ``recurrent_kernel`` (units, G·units) and ``bias``
(G·units,). Other frameworks pack the same blocks in another order or orientation:

==========  ===============  ================================================  =========
cell        framework        gate order                                        layout
==========  ===============  ================================================  =========
LSTM        Keras/unrolled   i (input), f (forget), c (cell candidate), o      (in, 4H)
LSTM        PyTorch          i, f, g (= c), o — same order                     (4H, in)
LSTM        ONNX             i, o, f, c                                        (4H, in)
GRU         Keras/unrolled   z (update), r (reset), h (candidate)              (in, 3H)
GRU         PyTorch          r, z, n (= h)                                     (3H, in)
GRU         ONNX             z, r, h                                           (3H, in)
==========  ===============  ================================================  =========

PyTorch keeps two biases per layer (``bias_ih`` and ``bias_hh``); Keras's LSTM has one,
so importing sums them and exporting puts Keras's bias in ``bias_ih`` and zeros in
``bias_hh``. Converters use :func:`reorder`, never ad-hoc slicing.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError

LSTM_GATES = ("i", "f", "c", "o")
GRU_GATES = ("z", "r", "h")

# Per framework: gate names in packing order, expressed in unrolled's gate names.
LSTM_ORDER = {"keras": ("i", "f", "c", "o"), "torch": ("i", "f", "c", "o"), "onnx": ("i", "o", "f", "c")}
GRU_ORDER = {"keras": ("z", "r", "h"), "torch": ("r", "z", "h"), "onnx": ("z", "r", "h")}


def split_gates(packed: np.ndarray, n_gates: int, axis: int = -1) -> list[np.ndarray]:
    """Views of the ``n_gates`` equal blocks of ``packed`` along ``axis`` (no copy)."""
    size = packed.shape[axis]
    if size % n_gates:
        raise ConfigError(f"Axis {axis} of size {size} cannot hold {n_gates} equal gate blocks.")
    step = size // n_gates
    index = [slice(None)] * packed.ndim
    views = []
    for g in range(n_gates):
        index[axis] = slice(g * step, (g + 1) * step)
        views.append(packed[tuple(index)])
    return views


def reorder(packed: np.ndarray, src: tuple[str, ...], dst: tuple[str, ...], axis: int = -1) -> np.ndarray:
    """Repack gate blocks from order ``src`` to order ``dst`` along ``axis`` (a new array)."""
    if sorted(src) != sorted(dst):
        raise ConfigError(f"Gate orders {src} and {dst} do not name the same gates.")
    blocks = dict(zip(src, split_gates(packed, len(src), axis)))
    return np.concatenate([blocks[name] for name in dst], axis=axis)
