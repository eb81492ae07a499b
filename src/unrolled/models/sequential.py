"""``Sequential``: a linear stack of layers with Keras's API.

Forward and backward are explicit: ``forward(x, training)`` returns the output and one
cache per layer; ``backward(dy, caches)`` returns dL/dx and the gradients of every
trainable weight, in the order of ``trainable_weights``. Training (``compile`` / ``fit``)
builds on these two methods.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..errors import ConfigError, InputShapeError
from ..layers.base import Layer, as_input_array, dtype_policy, unique_name
from ..layers.input_layer import InputLayer
from ..layers.serialization import deserialize, serialize
from .summary import summary_text

try:  # training is optional at import time so that the core stays importable on its own
    from ..training.trainer import Trainer
except ImportError:  # pragma: no cover - during bootstrap only
    class Trainer:  # type: ignore[no-redef]
        pass


class ForwardCaches(list):
    """The per-layer caches of a masked :meth:`Sequential.forward`, plus ``output_mask``:
    the (batch, timesteps) mask the model's output carries (None: no mask), as Keras's
    ``_keras_mask`` on the output tensor."""

    output_mask: np.ndarray | None = None


class Sequential(Trainer):
    """A stack of layers, each feeding the next: ``Sequential([LSTM(8, input_shape=(T, F)), Dense(1)])``.

    Input (batch, *input_shape); output whatever the last layer returns.
    """

    _masking = False  # True once a layer that starts a mask (Masking) is added

    def __init__(self, layers: Iterable[Layer] | None = None, name: str | None = None,
                 trainable: bool = True) -> None:
        super().__init__()
        self.name = name or unique_name("sequential")
        self.trainable = trainable
        self.input_layer: InputLayer | None = None
        self._layers: list[Layer] = []
        self.built = False
        for layer in layers or []:
            self.add(layer)

    # -- structure -----------------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        """Append a layer (or an ``Input(...)``, which must come first)."""
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
        self._masking = self._masking or layer.creates_mask
        self.built = False
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

    # -- weights -------------------------------------------------------------------------
    @property
    def weights(self) -> list[np.ndarray]:
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        if not self.trainable:
            return []
        return [w for layer in self._layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        if not self.trainable:
            return self.weights
        return [w for layer in self._layers for w in layer.non_trainable_weights]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights, layer by layer, in Keras's order and shapes."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights: list[Any]) -> None:
        """Overwrite all weights in place, in the order of :meth:`get_weights`."""
        expected = sum(len(layer.weights) for layer in self._layers)
        if len(weights) != expected:
            raise ConfigError(
                f"Model {self.name!r} has {expected} weight arrays, got {len(weights)}."
            )
        k, checked = 0, []
        for layer in self._layers:  # check every layer before writing any
            n = len(layer.weights)
            checked.append(layer.check_weights(list(weights[k:k + n])))
            k += n
        for layer, arrays in zip(self._layers, checked):
            layer.set_weights(arrays)

    def reset_states(self) -> None:
        """Zero the carried states of every stateful layer (Keras 2's ``model.reset_states()``;
        Keras 3 keeps only ``layer.reset_state()``, which works too)."""
        for layer in self._layers:
            if getattr(layer, "stateful", False) and hasattr(layer, "reset_state"):
                layer.reset_state()

    def count_params(self) -> int:
        return int(sum(layer.count_params() for layer in self._layers))

    # -- computing -----------------------------------------------------------------------
    def _prepare(self, x: Any) -> np.ndarray:
        if not self._layers:
            raise ConfigError(f"Model {self.name!r} has no layers.")
        first = self._layers[0]
        if getattr(first, "input_dtype_kind", "float") == "int":
            x = first.indices(x)   # integer inputs (Embedding): checked, never cast to float
        else:
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
        if not self.built:
            self.build((None,) + x.shape[1:])
        return x

    def forward(self, x: Any, training: bool = False, mask: Any = None) -> tuple[Any, list[Any]]:
        """Run every layer; returns ``(output, caches)`` for :meth:`backward`.
        With a mask (``mask`` (batch, timesteps) or a Masking layer) see :meth:`_forward_masked`."""
        x = self._prepare(x)
        if mask is not None or self._masking:
            return self._forward_masked(x, training, mask)
        caches = []
        for layer in self._layers:
            layer.validate_input(x.shape)
            x, cache = layer.forward(x, training=training)
            caches.append(cache)
        return x, caches

    def backward(self, dy: Any, caches: list[Any]) -> tuple[np.ndarray, list[np.ndarray]]:
        """dL/d input and dL/d each trainable weight (order of ``trainable_weights``)."""
        grads_per_layer = []
        for layer, cache in zip(reversed(self._layers), reversed(caches)):
            dy, grads = layer.backward(dy, cache)
            grads_per_layer.append(grads if layer.trainable else [])
        flat = [g for grads in reversed(grads_per_layer) for g in grads]
        return dy, flat

    def _forward_masked(self, x: np.ndarray, training: bool, mask: Any) -> tuple[Any, ForwardCaches]:
        """:meth:`forward` with Keras's mask propagation: each layer gets the mask its
        predecessor's ``compute_mask(input, mask)`` returned (Masking starts one, a
        recurrent layer without ``return_sequences`` ends it, Dense and Dropout pass it
        on). The caches carry the model output's mask, which the loss applies."""
        caches = ForwardCaches()
        for layer in self._layers:
            layer.validate_input(x.shape)
            x_in = x
            if mask is None:
                x, cache = layer.forward(x, training=training)
            else:
                x, cache = layer.forward(x, training=training, mask=mask)
            mask = layer.compute_mask(x_in, mask)
            caches.append(cache)
        caches.output_mask = mask
        return x, caches

    def __call__(self, x: Any, training: bool = False, mask: Any = None) -> Any:
        # forward() without the caches: each layer's call() may skip building one.
        x = self._prepare(x)
        if mask is not None or self._masking:
            return self._forward_masked(x, training, mask)[0]
        for layer in self._layers:
            layer.validate_input(x.shape)
            x = layer.call(x, training=training)
        return x

    # -- description ---------------------------------------------------------------------
    def summary(self, print_fn: Any = None, explain: bool = True,
                return_string: bool = False) -> str | None:
        """Print Keras's summary table plus the formula behind every parameter count.

        ``return_string=True`` returns the text instead of printing it; ``print_fn``
        receives it instead of ``print`` (as in Keras).
        """
        if not self.built and self.input_batch_shape is not None:
            self.build()
        text = summary_text(self, explain=explain)
        if return_string:
            return text
        (print_fn or print)(text)
        return None

    def kernel_report(self) -> list[str]:
        """Which compute kernel each recurrent layer used (or would use) and why a faster
        one did not run — the footer of :meth:`summary` (see ``unrolled.core.kernels``)."""
        from ..core.kernels.dispatch import kernel_report

        return kernel_report(self.layers)

    def get_config(self) -> dict[str, Any]:
        """Keras 3's Sequential config (JSON-serialisable)."""
        layers = []
        if self.input_layer is not None:
            layers.append(serialize(self.input_layer))
        layers += [serialize(layer) for layer in self._layers]
        cfg: dict[str, Any] = {"name": self.name, "trainable": self.trainable,
                               "dtype": dtype_policy(self._layers[0].dtype if self._layers else np.dtype("float32")),
                               "layers": layers}
        if self.input_batch_shape is not None:
            cfg["build_input_shape"] = list(self.input_batch_shape)
        return cfg

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Sequential":
        if isinstance(config, str):
            import json

            config = json.loads(config)
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ConfigError("A Sequential config must be a dict with a 'layers' list.")
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for item in config["layers"]:
            model.add(deserialize(item))
        if not model.built and config.get("build_input_shape") is not None:
            model.build(tuple(config["build_input_shape"]))
        return model

    def __repr__(self) -> str:
        return f"<Sequential name={self.name!r} layers={[layer.name for layer in self._layers]}>"
