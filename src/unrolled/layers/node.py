"""Symbolic tensors and the nodes that record layer calls (Keras 3's ``KerasTensor`` and
``Node``).

``Input((T, F))`` returns a :class:`SymbolicTensor`; calling a layer on symbolic tensors
computes no numbers: it builds the layer if needed, appends a :class:`Node` to
``layer.inbound_nodes`` (the call's inputs, its tensor keyword arguments such as
``initial_state=[h, c]`` or ``mask=``, and its outputs) and returns symbolic outputs with
the shapes ``compute_output_shape`` gives (a list for ``return_state=True``).
:mod:`unrolled.models.graph` walks these nodes to run, differentiate and save a model.
"""
from __future__ import annotations

import itertools
from typing import Any, Iterator

import numpy as np

from ..errors import ConfigError, InputShapeError

_tensor_ids = itertools.count()


class SymbolicTensor:
    """A placeholder for an array: ``shape`` (batch first, None = any), ``dtype``, and
    ``history`` = (layer, node index, output index) of the call that produced it."""

    def __init__(self, shape: tuple[int | None, ...], dtype: Any = "float32",
                 name: str | None = None, history: tuple[Any, int, int] | None = None) -> None:
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = str(np.dtype(dtype))
        self.name = name or f"keras_tensor_{next(_tensor_ids)}"
        self.history = history
        self.mask_tensor: SymbolicTensor | None = None   # a symbolic mask this tensor carries

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def layer(self) -> Any:
        """The layer whose call produced this tensor (an InputLayer for ``Input``)."""
        return None if self.history is None else self.history[0]

    @property
    def node(self) -> "Node":
        layer, index, _ = self.history
        return layer.inbound_nodes[index]

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def _no_arithmetic(self, *args: Any) -> Any:
        raise ConfigError(
            f"unrolled does not do arithmetic on symbolic tensors ({self!r}); use the merge "
            "layers instead: Add()([a, b]), Subtract()([a, b]), Multiply()([a, b]), "
            "Concatenate()([a, b]) (unrolled.layers).")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _no_arithmetic
    __truediv__ = __rtruediv__ = __matmul__ = __rmatmul__ = __neg__ = __pow__ = _no_arithmetic

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise ConfigError(
            f"{self!r} is symbolic (it comes from Input(...) or a layer called on one) and "
            "holds no values. Build a model with unrolled.Model(inputs, outputs) and call "
            "model.predict(data) to compute numbers.")


def iter_tensors(obj: Any) -> Iterator[SymbolicTensor]:
    """The symbolic tensors in ``obj`` (a tensor, or nested lists/tuples/dicts), in
    Keras's flattening order (dicts by sorted key)."""
    if isinstance(obj, SymbolicTensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from iter_tensors(item)
    elif isinstance(obj, dict):
        for key in sorted(obj):
            yield from iter_tensors(obj[key])


def is_symbolic(*objs: Any) -> bool:
    return any(True for obj in objs for _ in iter_tensors(obj))


def map_tensors(obj: Any, fn: Any) -> Any:
    """``obj`` with every symbolic tensor replaced by ``fn(tensor)`` (structure kept)."""
    if isinstance(obj, SymbolicTensor):
        return fn(obj)
    if isinstance(obj, list):
        return [map_tensors(v, fn) for v in obj]
    if isinstance(obj, tuple):
        return tuple(map_tensors(v, fn) for v in obj)
    if isinstance(obj, dict):
        return {k: map_tensors(v, fn) for k, v in obj.items()}
    return obj


class Node:
    """One call of ``layer``: ``x`` (a tensor or a list of tensors), keyword arguments
    (``initial_state=[h, c]``, ``mask=m``, plain values such as ``training``), and the
    output tensors (``outputs``, always a list; ``single`` says the call returned one)."""

    def __init__(self, layer: Any, x: Any, kwargs: dict[str, Any],
                 outputs: list[SymbolicTensor], single: bool, auto_mask: bool = False) -> None:
        self.layer, self.x, self.kwargs = layer, x, dict(kwargs)
        self.outputs, self.single = outputs, single
        self.auto_mask = auto_mask   # kwargs["mask"] was filled in from x's mask, as Keras does

    @property
    def is_input(self) -> bool:
        return getattr(self.layer, "is_input_layer", False)

    @property
    def input_tensors(self) -> list[SymbolicTensor]:
        """Every symbolic input: those of ``x``, then those of the keyword arguments
        (sorted by name, as Keras flattens them)."""
        return list(iter_tensors(self.x)) + list(iter_tensors(self.kwargs))

    @property
    def parent_nodes(self) -> list["Node"]:
        return [t.node for t in self.input_tensors if t.history is not None]

    @property
    def tensor_kwargs(self) -> dict[str, Any]:
        """Keyword arguments holding symbolic tensors (``initial_state``, ``mask``)."""
        return {k: v for k, v in self.kwargs.items() if is_symbolic(v)}

    def __repr__(self) -> str:
        return f"<Node {self.layer.name} -> {len(self.outputs)} output(s)>"


def shape_of(x: Any) -> Any:
    """The batch shape of ``x``'s tensors: a tuple, or a list of tuples."""
    if isinstance(x, SymbolicTensor):
        return x.shape
    if isinstance(x, (list, tuple)):
        return [shape_of(v) for v in x]
    raise ConfigError(f"Expected a symbolic tensor or a list of them, got {type(x).__name__}.")


def _validation_shape(shape: tuple[int | None, ...]) -> tuple[int, ...]:
    return tuple(-1 if d is None else d for d in shape)


def _check_and_build(layer: Any, shape: Any, kwargs: dict[str, Any]) -> None:
    if isinstance(shape, tuple):
        layer.validate_input(_validation_shape(shape))
    if not layer.built:
        extra = {k: v for k, v in kwargs.items() if k != "mask" and is_symbolic(v)}
        if extra:  # Keras's build config then names every tensor argument's shape
            layer.build_shapes_dict = {f"{getattr(layer, 'first_arg_name', 'inputs')}_shape": list(shape),
                                       **{f"{k}_shape": shape_of(v) for k, v in extra.items()}}
        layer.build(shape)
        if isinstance(shape, tuple):
            layer.validate_input(_validation_shape(shape))


def symbolic_call(layer: Any, x: Any, kwargs: dict[str, Any]) -> Any:
    """Record ``layer(x, **kwargs)`` on symbolic tensors and return symbolic outputs."""
    if isinstance(x, tuple):
        x = list(x)
    if not isinstance(x, (SymbolicTensor, list)) or not all(
            isinstance(t, SymbolicTensor) for t in (x if isinstance(x, list) else [x])):
        raise ConfigError(
            f"{type(layer).__name__} {layer.name!r} was called on a mix of symbolic tensors "
            f"and other values ({type(x).__name__}); a layer's input must be the output of "
            "Input(...) or of another layer (or a list of those).")
    shape = shape_of(x)
    try:
        _check_and_build(layer, shape, kwargs)
    except InputShapeError as err:   # say None (any size) where the checks saw -1
        raise type(err)(str(err).replace("(-1, ", "(None, ")) from None
    out_shape = layer.compute_output_shape(shape)
    single = not isinstance(out_shape, list)
    shapes = [out_shape] if single else list(out_shape)
    nodes = layer.inbound_nodes
    dtype = getattr(layer, "output_dtype", None) or layer.dtype
    outputs = [SymbolicTensor(s, dtype, history=(layer, len(nodes), k)) for k, s in enumerate(shapes)]
    kwargs, auto = _symbolic_mask(layer, x, kwargs, outputs)
    nodes.append(Node(layer, x, kwargs, outputs, single, auto))
    return outputs[0] if single else list(outputs)


def _symbolic_mask(layer: Any, x: Any, kwargs: dict[str, Any],
                   outputs: list[SymbolicTensor]) -> tuple[dict[str, Any], bool]:
    """Keras's symbolic mask bookkeeping for masks that are tensors (a mask given as a
    model input): a layer whose call takes ``mask`` and gets no other tensor argument
    records x's mask as ``mask=``; outputs of a layer that passes its mask on carry it.
    (Masks computed from values -- Masking, Embedding -- exist only when the model runs.)"""
    explicit = kwargs.get("mask")
    auto = False
    previous = explicit if isinstance(explicit, SymbolicTensor) else None
    if previous is None and isinstance(x, SymbolicTensor) and x.mask_tensor is not None:
        previous = x.mask_tensor
        takes_mask = "mask" in getattr(layer, "keras_call_kwargs", {})
        if takes_mask and explicit is None and not any(is_symbolic(v) for v in kwargs.values()):
            kwargs, auto = {**kwargs, "mask": previous}, True
    if previous is not None and layer.supports_masking:
        try:
            out_mask = layer.compute_mask(x, previous)
        except Exception:  # a mask rule that needs values: no symbolic mask
            out_mask = None
        if isinstance(out_mask, list):
            out_mask = out_mask[0] if out_mask else None
        if isinstance(out_mask, SymbolicTensor):
            outputs[0].mask_tensor = out_mask
    return kwargs, auto
