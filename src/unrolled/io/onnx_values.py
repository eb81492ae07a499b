"""What the ONNX importer knows about each value of a graph while it reads it.

The importer (:mod:`unrolled.io.onnx_import`) does not run the graph; it interprets it.
Every ONNX value becomes one of:

* a NumPy array — an initializer, a ``Constant``, or anything computed from constants
  only (folded with ONNX's reference evaluator);
* :class:`Shaped` — a 1-D integer vector some of whose entries are symbolic sizes
  (``Shape(x)`` of a tensor with a dynamic batch or time axis, and what ``Gather``,
  ``Concat``, ``Unsqueeze``, ``Slice`` make of it);
* :class:`Fill` — a tensor of one repeated value with a (partly symbolic) shape
  (``ConstantOfShape``): PyTorch's exporter builds zero initial states this way;
* :class:`Tensor` — data flowing from the model input through layers: the *chain* of
  layers applied so far and the meaning of each axis (``axes`` labels, below);
* :class:`Stack` — final states of several recurrent layers concatenated along the
  direction axis (PyTorch's ``h_n``), so that ``h_n[-1]`` can be picked back out.

Axis labels of a :class:`Tensor`: ``B`` batch, ``T`` time, ``F`` features, ``D``
direction (size 1 or 2), ``1`` an axis of size one, and ``?0``, ``?1``, ... for the
graph input's axes until a recurrent operator says which is batch and which is time.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Sym:
    """A size only known at run time: the size of the axis labelled ``label``."""
    label: str

    def __repr__(self) -> str:
        return f"<{self.label}>"


@dataclass(frozen=True)
class Shaped:
    """A 1-D int64 vector with symbolic entries (an object array of int / :class:`Sym`)."""
    values: np.ndarray


@dataclass(frozen=True)
class Fill:
    """``ConstantOfShape``: every element ``value``; the shape does not matter here."""
    value: float


@dataclass(frozen=True)
class Tensor:
    """Data derived from the graph input: ``chain`` = the layer specs applied so far (each a
    ``Use`` of a recurrent spec or a Dense/Activation spec), ``axes`` = one label per axis,
    ``dims`` = the known size of each axis (None when symbolic). ``flipped``: the unrolled
    layers produce this value reversed in time (a ``go_backwards`` sequence that the graph
    keeps in input order)."""
    chain: tuple[Any, ...]
    axes: tuple[str, ...]
    dims: tuple[int | None, ...]
    flipped: bool = False

    def with_(self, **changes: Any) -> "Tensor":
        return replace(self, **changes)


@dataclass(frozen=True)
class Stack:
    """Final states of recurrent layers stacked on axis 0: one entry per row, a :class:`Tensor`
    (batch, units) of a single-direction layer, or ``(tensor, d)`` for row d of a
    bidirectional layer's (2, batch, units); ``rest_axes`` label axes 1..."""
    entries: tuple[Any, ...]
    rest_axes: tuple[str, ...] = field(default=("B", "F"))


@dataclass(frozen=True)
class GraphInput:
    """A graph input other than the data input (e.g. ``initial_h``, ``sequence_lens``);
    ``row``: the first row (axis 0) this value starts at, after a ``Slice`` (PyTorch slices
    its ``h0`` per layer)."""
    name: str
    row: int = 0


def as_shaped(value: Any) -> Shaped | None:
    """``value`` as a :class:`Shaped` vector if it is an integer vector/scalar, else None."""
    if isinstance(value, Shaped):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.ndim <= 1:
        return Shaped(np.array([int(v) for v in value.reshape(-1)], dtype=object)
                      if value.ndim else np.array(int(value), dtype=object))
    return None


def is_zero_fill(value: Any) -> bool:
    """True for an all-zeros constant or ``Fill`` (a default initial state)."""
    if isinstance(value, Fill):
        return value.value == 0
    return isinstance(value, np.ndarray) and not np.any(value)
