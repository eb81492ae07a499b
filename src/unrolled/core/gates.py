"""The one place that knows how gates are packed, and how each framework packs them.

unrolled stores weights exactly as Keras does: gate blocks side by side along the last
axis of ``kernel`` (features, G·units), ``recurrent_kernel`` (units, G·units) and ``bias``
(G·units,) — or (2, G·units) for a GRU with ``reset_after=True`` (row 0 input bias, row 1
recurrent bias). Other frameworks pack the same blocks in another order or orientation:

==========  ===============  ================================================  =========
cell        framework        gate order                                        layout
==========  ===============  ================================================  =========
LSTM        Keras/unrolled   i (input), f (forget), c (cell candidate), o      (in, 4H)
LSTM        PyTorch          i, f, g (= c), o — same order                     (4H, in)
LSTM        ONNX             i, o, f, c                                        (4H, in)
GRU         Keras/unrolled   z (update), r (reset), h (candidate)              (in, 3H)
GRU         PyTorch          r, z, n (= h)                                     (3H, in)
GRU         ONNX             z, r, h                                           (3H, in)
SimpleRNN   all three        one block                                         as above
==========  ===============  ================================================  =========

Biases. PyTorch and ONNX keep two per layer: an input bias (``bias_ih`` / ``Wb``) and a
recurrent bias (``bias_hh`` / ``Rb``). How they map onto Keras's:

* LSTM, SimpleRNN, and a GRU with ``reset_after=False`` (ONNX ``linear_before_reset=0``):
  the two are only ever added, so importing sums them and exporting writes Keras's bias as
  the input bias and zeros as the recurrent bias. (For the ``reset_after=False`` GRU the
  candidate's recurrent bias sits outside the reset product in ONNX's equations, so the sum
  is exact there too.)
* GRU with ``reset_after=True`` (PyTorch always; ONNX ``linear_before_reset=1``): the
  recurrent candidate bias is multiplied by the reset gate, so the two stay separate:
  Keras's bias row 0 is the input bias, row 1 the recurrent bias.

What cannot be converted exactly is refused (:class:`~unrolled.errors.ConfigError` with the
reason), never approximated: a GRU with ``reset_after=False`` has no PyTorch equivalent.

:func:`to_framework` and :func:`from_framework` are the converters every format uses
(``io/torch_*``, ``io/onnx_*``), in both directions; nobody else slices gate blocks.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import ConfigError

LSTM_GATES = ("i", "f", "c", "o")
GRU_GATES = ("z", "r", "h")

# Per framework: gate names in packing order, expressed in unrolled's gate names.
LSTM_ORDER = {"keras": ("i", "f", "c", "o"), "torch": ("i", "f", "c", "o"), "onnx": ("i", "o", "f", "c")}
GRU_ORDER = {"keras": ("z", "r", "h"), "torch": ("r", "z", "h"), "onnx": ("z", "r", "h")}
SIMPLE_RNN_ORDER = {"keras": ("h",), "torch": ("h",), "onnx": ("h",)}

# unrolled layer class -> its gate orders per framework.
ORDERS = {"LSTM": LSTM_ORDER, "GRU": GRU_ORDER, "SimpleRNN": SIMPLE_RNN_ORDER}
# unrolled layer class -> the name of the same cell in each framework.
NAMES = {"LSTM": {"torch": "LSTM", "onnx": "LSTM"},
         "GRU": {"torch": "GRU", "onnx": "GRU"},
         "SimpleRNN": {"torch": "RNN", "onnx": "RNN"}}
FRAMEWORKS = ("torch", "onnx")


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


class FrameworkWeights(NamedTuple):
    """One direction of one layer as PyTorch / ONNX store it, gates in that framework's
    order: ``w_in`` (G·H, F), ``w_rec`` (G·H, H), ``b_in`` and ``b_rec`` (G·H,) or None
    (no bias)."""
    w_in: np.ndarray
    w_rec: np.ndarray
    b_in: np.ndarray | None
    b_rec: np.ndarray | None


class KerasWeights(NamedTuple):
    """The same in Keras's layout: ``kernel`` (F, G·H), ``recurrent_kernel`` (H, G·H),
    ``bias`` (G·H,), (2, G·H) for a ``reset_after`` GRU, or None."""
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray | None

    def as_list(self) -> list[np.ndarray]:
        """In the order of the layer's ``weights`` (what ``set_weights`` takes)."""
        return [self.kernel, self.recurrent_kernel] + ([] if self.bias is None else [self.bias])


def _orders(kind: str, framework: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if kind not in ORDERS:
        raise ConfigError(f"No gate layout for {kind!r}: expected one of {', '.join(ORDERS)}.")
    if framework not in FRAMEWORKS:
        raise ConfigError(f"Unknown framework {framework!r}: expected one of {FRAMEWORKS}.")
    return ORDERS[kind]["keras"], ORDERS[kind][framework]


def separate_biases(kind: str, framework: str, reset_after: bool) -> bool:
    """True when the framework's two biases map onto Keras's two GRU bias rows (and so are
    not summed): a ``reset_after`` GRU. Refuses what has no exact equivalent."""
    if kind != "GRU":
        return False
    if framework == "torch" and not reset_after:
        raise ConfigError(
            "A GRU with reset_after=False cannot be converted to PyTorch exactly: it applies "
            "the reset gate before the recurrent product, (r * h) @ U, while torch.nn.GRU "
            "always applies it after, r * (h @ U + b); no weights make one compute the other. "
            "Export it to ONNX (linear_before_reset=0), or train a GRU with reset_after=True.")
    return reset_after


def to_framework(kind: str, framework: str, kernel: np.ndarray, recurrent_kernel: np.ndarray,
                 bias: np.ndarray | None, reset_after: bool = False) -> FrameworkWeights:
    """Keras-layout weights of an unrolled ``kind`` layer ("LSTM", "GRU", "SimpleRNN") ->
    ``framework`` ("torch" or "onnx"); see the module docstring for the biases."""
    keras, theirs = _orders(kind, framework)
    separate = separate_biases(kind, framework, reset_after)

    def pack(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(reorder(a, keras, theirs, axis=-1))

    w_in = np.ascontiguousarray(pack(kernel).T)              # (G·H, F)
    w_rec = np.ascontiguousarray(pack(recurrent_kernel).T)   # (G·H, H)
    if bias is None:
        return FrameworkWeights(w_in, w_rec, None, None)
    if separate:
        return FrameworkWeights(w_in, w_rec, pack(bias[0]), pack(bias[1]))
    b_in = pack(bias)
    return FrameworkWeights(w_in, w_rec, b_in, np.zeros_like(b_in))


def from_framework(kind: str, framework: str, weights: FrameworkWeights,
                   reset_after: bool = False) -> KerasWeights:
    """The inverse of :func:`to_framework`: ``weights`` in ``framework``'s layout -> Keras's.

    ``reset_after`` says which GRU the result is for (PyTorch's GRU is always
    ``reset_after=True``). A missing bias of the pair counts as zeros; both missing gives
    ``bias=None``.
    """
    keras, theirs = _orders(kind, framework)
    separate = separate_biases(kind, framework, reset_after)

    def unpack(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(reorder(a, theirs, keras, axis=-1))

    kernel = unpack(np.asarray(weights.w_in).T)              # (F, G·H)
    recurrent = unpack(np.asarray(weights.w_rec).T)          # (H, G·H)
    b_in, b_rec = weights.b_in, weights.b_rec
    if b_in is None and b_rec is None:
        return KerasWeights(kernel, recurrent, None)
    zeros = np.zeros(kernel.shape[1], kernel.dtype)
    b_in = zeros if b_in is None else unpack(np.asarray(b_in))
    b_rec = zeros if b_rec is None else unpack(np.asarray(b_rec))
    if separate:
        return KerasWeights(kernel, recurrent, np.stack([b_in, b_rec]))
    return KerasWeights(kernel, recurrent, b_in + b_rec)
