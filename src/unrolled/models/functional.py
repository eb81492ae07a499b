"""``Model(inputs, outputs)``: Keras's Functional API. Build it from symbolic tensors::

    enc_in = unrolled.Input((T, F)); dec_in = unrolled.Input((T2, F2))
    _, h, c = LSTM(16, return_state=True)(enc_in)
    seq = LSTM(16, return_sequences=True)(dec_in, initial_state=[h, c])
    model = unrolled.Model([enc_in, dec_in], Dense(F2)(seq))

Inputs and outputs may be one tensor, a list or a dict; ``predict``/``fit`` take the same
structures of arrays (a dict of inputs by input name). The model runs on
:class:`unrolled.models.graph.Graph`; its config is Keras 3's Functional schema
(:mod:`unrolled.models.functional_config`).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, InputShapeError
from ..layers.node import SymbolicTensor, iter_tensors
from .graph import Graph
from .model import Model, convert_input


def _structure(obj: Any, what: str) -> tuple[str, Any]:
    if isinstance(obj, SymbolicTensor):
        return "single", None
    if isinstance(obj, dict):
        return "dict", sorted(obj)
    if isinstance(obj, (list, tuple)):
        if all(isinstance(t, SymbolicTensor) for t in obj) and obj:
            return "list", len(obj)
    raise ConfigError(f"Model {what} must be a symbolic tensor (from Input(...) or a layer "
                      f"call), a list or a dict of them; got {type(obj).__name__}: {obj!r:.200}.")


class Functional(Model):
    """A model defined by its input and output tensors (Keras's ``Functional``)."""

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None,
                 trainable: bool | None = None, **kwargs: Any) -> None:
        if kwargs:
            raise ConfigError(f"Model got unexpected keyword argument(s) {sorted(kwargs)}.")
        super().__init__(name=name, trainable=True if trainable is None else trainable)
        self._in_kind, self._in_keys = _structure(inputs, "inputs")
        self._out_kind, self._out_keys = _structure(outputs, "outputs")
        self._inputs_struct = list(inputs) if isinstance(inputs, tuple) else inputs
        self._outputs_struct = list(outputs) if isinstance(outputs, tuple) else outputs
        self.inputs: list[SymbolicTensor] = list(iter_tensors(inputs))
        self.outputs: list[SymbolicTensor] = list(iter_tensors(outputs))
        self._graph = Graph(self.inputs, self.outputs)
        consumers: dict[int, list[Any]] = {id(t): [] for t in self.inputs}
        for node in self._graph.nodes:
            for t in node.input_tensors:
                if id(t) in consumers and node.layer not in consumers[id(t)]:
                    consumers[id(t)].append(node.layer)
        self._consumers = [consumers[id(t)] for t in self.inputs]
        floats = [c.dtype for cs in self._consumers for c in cs if np.dtype(c.dtype).kind == "f"]
        self.dtype = floats[0] if floats else np.dtype("float32")
        self.built = True

    # -- structure -------------------------------------------------------------------------
    def graph(self) -> Graph:
        return self._graph

    @property
    def layers(self) -> list[Any]:
        """Every layer of the graph, InputLayers included, in Keras's order (the mask
        operations of a config written by Keras are not layers, as in Keras)."""
        return [layer for layer in self._graph.layers if not getattr(layer, "is_op", False)]

    @property
    def input(self) -> Any:
        return self._inputs_struct

    @property
    def output(self) -> Any:
        return self._outputs_struct

    @property
    def input_batch_shape(self) -> Any:
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_keys(self) -> list[str]:
        """The names losses, metrics, targets and logs use: the keys of dict outputs,
        else ``output_names`` (as Keras)."""
        if self._out_kind == "dict":
            return list(self._out_keys)
        return self.output_names

    def _pack(self, kind: str, keys: Any, values: list[Any]) -> Any:
        if kind == "single":
            return values[0]
        if kind == "dict":
            return dict(zip(keys, values))
        return list(values)

    def _pack_outputs(self, outs: list[Any]) -> Any:
        return self._pack(self._out_kind, self._out_keys, outs)

    def _pack_inputs(self, xs: list[Any]) -> Any:
        return self._pack(self._in_kind, self._in_keys, xs)

    def _flatten_outputs(self, y: Any) -> list[Any]:
        n = len(self.outputs)
        if isinstance(y, dict):
            keys = self.output_keys
            missing = [k for k in keys if k not in y]
            if missing:
                raise InputShapeError(f"Model {self.name!r}: no value for output(s) {missing}; "
                                      f"the outputs are {keys}.")
            return [y[k] for k in keys]
        if n == 1:
            return [y[0] if isinstance(y, (list, tuple)) and len(y) == 1 else y]
        if not isinstance(y, (list, tuple)) or len(y) != n:
            raise InputShapeError(
                f"Model {self.name!r} has {n} outputs {self.output_keys}: expected a list of "
                f"{n} arrays or a dict keyed by output name, got {type(y).__name__}.")
        return list(y)

    def _flatten_inputs(self, x: Any) -> list[Any]:
        n = len(self.inputs)
        if isinstance(x, dict):
            names = [t.name for t in self.inputs] if self._in_kind != "dict" else self._in_keys
            missing = [k for k in names if k not in x]
            if missing:
                raise InputShapeError(f"Model {self.name!r}: no data for input(s) {missing}; "
                                      f"the inputs are {list(names)}, got keys {sorted(x)}.")
            return [x[k] for k in names]
        if n == 1:
            if isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], np.ndarray):
                return [x[0]]
            return [x]
        if not isinstance(x, (list, tuple)) or len(x) != n:
            got = f"a list of {len(x)}" if isinstance(x, (list, tuple)) else f"one {type(x).__name__}"
            raise InputShapeError(
                f"Model {self.name!r} expects {n} inputs {[t.name for t in self.inputs]}: pass a "
                f"list of {n} arrays or a dict keyed by input name, got {got}.")
        return list(x)

    def prepare_inputs(self, x: Any) -> list[np.ndarray]:
        """The input arrays in the order of ``self.inputs``, converted and checked against
        each Input's shape (the first layer using it explains a wrong features axis)."""
        if x is None:
            raise InputShapeError(f"Model {self.name!r} needs input data, got None.")
        arrays = []
        for data, t, consumers in zip(self._flatten_inputs(x), self.inputs, self._consumers):
            who = f"Model {self.name!r} input {t.name!r}"
            arr = convert_input(data, t, consumers, who)
            expected = t.shape
            if arr.ndim != len(expected) or any(e is not None and e != a for e, a in zip(expected[1:], arr.shape[1:])):
                for c in consumers:
                    if isinstance(c, Model):
                        continue
                    c.validate_input(arr.shape)
                hint = (" If this is a single sample, add a batch axis (x[None])."
                        if arr.ndim == len(expected) - 1 else "")
                raise InputShapeError(
                    f"{who} expects shape {expected} (batch first), got {arr.shape}.{hint}")
            arrays.append(arr)
        if len({len(a) for a in arrays}) > 1:
            raise InputShapeError(f"Model {self.name!r}: all inputs need the same number of samples "
                                  f"(axis 0), got {[a.shape for a in arrays]}.")
        return arrays

    # -- config ----------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Keras 3's Functional config: layers with their ``inbound_nodes``,
        ``input_layers``, ``output_layers``."""
        from .functional_config import functional_config
        return functional_config(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Functional":
        """Rebuild from :meth:`get_config` (or Keras's): layers come only from unrolled's
        registry; nothing in the config is executed."""
        from .functional_config import functional_from_config
        return functional_from_config(config)

    def __repr__(self) -> str:
        return f"<Functional name={self.name!r} inputs={[t.name for t in self.inputs]} outputs={self.output_names}>"
