"""``Sequential``: a linear stack of layers with Keras's API -- the special case of a graph
model where each layer feeds the next. Once the input shape is known it calls its layers
on an ``Input`` and runs on the same :class:`~unrolled.models.graph.Graph` as
``Model(inputs, outputs)``: one forward/backward implementation for both.

``forward(x, training)`` returns the output and a cache; ``backward(dy, cache)`` returns
dL/dx and the gradients of every trainable weight, in the order of ``trainable_weights``.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..errors import ConfigError, InputShapeError
from ..layers.base import Layer, as_input_array, dtype_policy, state_changed
from ..layers.input_layer import InputLayer
from ..layers.node import SymbolicTensor
from .graph import Graph
from .model import Model


class Sequential(Model):
    """A stack of layers, each feeding the next: ``Sequential([Input((T, F)), LSTM(8), Dense(1)])``.

    Input (batch, *input_shape); output whatever the last layer returns.
    """

    def __init__(self, layers: Iterable[Any] | None = None, name: str | None = None,
                 trainable: bool = True) -> None:
        super().__init__(name=name, trainable=trainable)
        self.input_layer: InputLayer | None = None
        self._layers: list[Layer] = []
        self._graph: Graph | None = None
        self.built = False
        for layer in layers or []:
            self.add(layer)

    # -- structure -----------------------------------------------------------------------
    def add(self, layer: Any) -> None:
        """Append a layer (or an ``Input(...)``, which must come first)."""
        if isinstance(layer, SymbolicTensor) and isinstance(layer.layer, InputLayer):
            layer = layer.layer
        if isinstance(layer, InputLayer):
            if self._layers or self.input_layer is not None:
                raise ConfigError("Input(...) must be the first thing added to a Sequential model.")
            self.input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise ConfigError(f"Sequential.add expects a Layer, got {type(layer).__name__}.")
        if not self._layers and self.input_layer is None and layer.input_shape_arg is not None:
            self.input_layer = InputLayer(shape=layer.input_shape_arg, dtype=layer.dtype)
        if any(layer is other for other in self._layers):
            raise ConfigError(f"Layer {layer.name!r} is already in this model.")
        self._layers.append(layer)
        self.built = False
        self._graph = None
        state_changed()          # the model's layers changed: trainers' step plans rebuild
        if self.input_layer is not None:
            self.build()

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    @property
    def input_batch_shape(self) -> tuple[int | None, ...] | None:
        if self.input_layer is not None:
            return self.input_layer.batch_shape
        if self._layers and self._layers[0].build_input_shape is not None:
            return self._layers[0].build_input_shape
        return None

    def build(self, input_shape: tuple[int | None, ...] | None = None) -> None:
        """Create every layer's weights for inputs of ``input_shape`` (batch axis included)."""
        if input_shape is None:
            input_shape = self.input_batch_shape
            if input_shape is None:
                raise ConfigError(
                    "Cannot build a Sequential model without an input shape: start it with "
                    "Input(shape=(timesteps, features)), pass input_shape= to the first "
                    "layer, call build((None, timesteps, features)) or call it on data."
                )
        elif self.input_layer is None:
            self.input_layer = InputLayer(batch_shape=tuple(input_shape))
        shape: Any = tuple(input_shape)
        for layer in self._layers:
            if not layer.built:
                layer.validate_input(tuple(-1 if d is None else d for d in shape))
                layer.build(shape)
            shape = layer.compute_output_shape(shape)
            if isinstance(shape, list):
                self._only_last_returns_several(layer)
                shape = shape[0]
        self.built = True
        self._graph = None

    def graph(self) -> Graph:
        """The layers called one after the other on the input (built on first use)."""
        if self._graph is None:
            if not self.built:
                self.build()
            if not self._layers:
                raise ConfigError(f"Model {self.name!r} has no layers.")
            x: Any = self.input_layer.output
            for layer in self._layers:
                x = layer(x)
            self._graph = Graph([self.input_layer.output], x if isinstance(x, list) else [x])
            self._several_outputs = isinstance(x, list)
        return self._graph

    def _pack_outputs(self, outs: list[Any]) -> Any:
        return outs[0] if not self._returns_list() else list(outs)

    def _flatten_outputs(self, y: Any) -> list[Any]:
        return list(y) if self._returns_list() else [y]

    def _returns_list(self) -> bool:
        if self._graph is None:
            self.graph()
        return self._several_outputs

    def _pack_inputs(self, xs: list[Any]) -> Any:
        return xs[0]

    def prepare_inputs(self, x: Any) -> list[np.ndarray]:
        return [self._prepare(x)]

    @property
    def inputs(self) -> list[SymbolicTensor]:
        return list(self.graph().inputs)

    @property
    def outputs(self) -> list[SymbolicTensor]:
        return list(self.graph().outputs)

    def _only_last_returns_several(self, layer: Layer) -> None:
        """A layer that returns several arrays (``return_state=True``) can only end the
        model: the next layer would get a list. (Keras 3 fails on the next layer's call.)"""
        if layer is self._layers[-1]:
            return
        after = self._layers[self._layers.index(layer) + 1]
        raise ConfigError(
            f"{type(layer).__name__} {layer.name!r} returns several arrays (return_state=True: "
            f"[output, *states]), so it can only be the last layer of a Sequential model; "
            f"the next layer, {type(after).__name__} {after.name!r}, takes one array. Set "
            f"return_state=False, or make it the last layer and pass the part you need on "
            f"yourself.")

    def _weight_layers(self) -> list[Layer]:
        return self._layers

    # -- computing -----------------------------------------------------------------------
    def _prepare(self, x: Any) -> np.ndarray:
        if not self._layers:
            raise ConfigError(f"Model {self.name!r} has no layers.")
        first = self._layers[0]
        if getattr(first, "input_dtype_kind", "float") == "int":
            x = first.indices(x)   # integer inputs (Embedding): checked, never cast to float
        elif type(x) is not np.ndarray or x.dtype != first.dtype:   # else: nothing to convert
            x = as_input_array(x, first.dtype, f"Model {self.name!r}")
        expected = self.input_batch_shape
        if expected is not None:
            if x.ndim != len(expected):
                # The first layer's message names its own axes and a hint, if it objects.
                self._layers[0].validate_input(x.shape)
                hint = (" If this is a single sample, add a batch axis (x[None])."
                        if x.ndim == len(expected) - 1 else
                        f" Reshape it to {len(expected)} axes, batch first.")
                raise InputShapeError(
                    f"Model {self.name!r} expects input of shape {tuple(expected)} "
                    f"(batch first), got {x.shape} (rank {x.ndim} instead of {len(expected)}).{hint}"
                )
            # The first layer knows best which axis is wrong (features vs timesteps).
            self._layers[0].validate_input(x.shape)
        if not self.built:  # first call on data fixes the input shape
            self.build((None,) + x.shape[1:])
        return x

    # -- description ---------------------------------------------------------------------
    def summary(self, print_fn: Any = None, explain: bool = True,
                return_string: bool = False) -> str | None:
        if not self.built and self.input_batch_shape is not None:
            self.build()
        return super().summary(print_fn=print_fn, explain=explain, return_string=return_string)

    def get_config(self) -> dict[str, Any]:
        """Keras 3's Sequential config (JSON-serialisable)."""
        from .config import serialize_layer

        layers = []
        if self.input_layer is not None:
            layers.append(serialize_layer(self.input_layer))
        layers += [serialize_layer(layer) for layer in self._layers]
        cfg: dict[str, Any] = {"name": self.name, "trainable": self.trainable,
                               "dtype": dtype_policy(self._layers[0].dtype if self._layers else np.dtype("float32")),
                               "layers": layers}
        if self.input_batch_shape is not None:
            cfg["build_input_shape"] = list(self.input_batch_shape)
        return cfg

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Sequential":
        from .config import deserialize_layer

        if isinstance(config, str):
            import json

            config = json.loads(config)
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ConfigError("A Sequential config must be a dict with a 'layers' list.")
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for item in config["layers"]:
            model.add(deserialize_layer(item))
        if not model.built and config.get("build_input_shape") is not None:
            model.build(tuple(config["build_input_shape"]))
        return model

    def __repr__(self) -> str:
        return f"<Sequential name={self.name!r} layers={[layer.name for layer in self._layers]}>"
