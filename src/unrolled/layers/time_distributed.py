"""``TimeDistributed``: apply one layer (one set of weights) to every timestep.

Input (batch, timesteps, *inner): the wrapped layer sees (batch, *inner) per timestep
and its outputs are stacked back on axis 1: output (batch, timesteps, *inner_out).
Keras loops over the timesteps; a layer that treats samples independently computes the
same when the time axis is folded into the batch axis -- one call on
(batch·timesteps, *inner) forward and backward -- which is what runs here. A layer with
batch statistics (non-trainable weights updated in training, e.g. BatchNormalization)
runs once per timestep instead, as in Keras, and its weight gradients are summed.

Masks: the (batch, timesteps) mask is passed on unchanged to the next layer (Keras's
``supports_masking``); the wrapped layer itself computes without it.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError, InputShapeError
from .base import Layer
from .sublayers import SubLayerPenalties


class TimeDistributedCache(NamedTuple):
    inner: Any                 # the wrapped layer's cache (a list of them per timestep)
    batch: int
    steps: int
    per_step: bool


class TimeDistributed(SubLayerPenalties, Layer):
    """Apply ``layer`` to every timestep of a (batch, timesteps, ...) input."""

    def __init__(self, layer: Layer, **kwargs: Any) -> None:
        if not hasattr(layer, "forward") or not hasattr(layer, "backward"):
            raise ConfigError(f"TimeDistributed expects a layer (e.g. TimeDistributed(Dense(1))), "
                              f"got {layer!r}.")
        super().__init__(**kwargs)
        self.layer = layer

    # -- weights: the wrapped layer's -----------------------------------------------------
    @property
    def _weights(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        inner = self.layer
        if isinstance(getattr(inner, "layers", None), list):   # a nested model
            pairs = [(f"{la.name}/{n}", w) for la in inner.layers
                     for n, w in zip(getattr(la, "weight_names", ()), la.weights)]
        else:
            pairs = list(zip(inner.weight_names, inner.weights))
        return {f"{inner.name}/{n}": w for n, w in pairs}

    @_weights.setter
    def _weights(self, value: dict[str, np.ndarray]) -> None:
        pass  # the wrapped layer holds the arrays

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        return self.layer.trainable_weights if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        return self.layer.non_trainable_weights if self.trainable else self.weights

    def sublayers(self) -> list[Any]:
        return [self.layer]

    def _sub_caches(self, cache: Any) -> list[tuple[Any, Any]]:
        caches = cache.inner if cache.per_step else [cache.inner]
        return [(self.layer, c) for c in caches]

    def kernel_layers(self) -> list[Any]:
        inner = self.layer
        return inner.kernel_layers() if hasattr(inner, "kernel_layers") else [inner]

    def keras_children(self) -> list[tuple[str, Any]]:
        return [("layer", self.layer)]

    def param_formula(self) -> str:
        inner = self.layer
        formula = inner.param_formula() if hasattr(inner, "param_formula") else str(inner.count_params())
        return f"{formula}  (one {type(inner).__name__} shared by every timestep)"

    # -- shapes ------------------------------------------------------------------------------
    def _child_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        if len(input_shape) < 3:
            raise InputShapeError(
                f"TimeDistributed {self.name!r} expects input of rank 3 or more (batch, timesteps, "
                f"...), got shape {tuple(input_shape)}. Hint: the layer is applied to each "
                "timestep, so the input needs a timesteps axis.")
        return (input_shape[0],) + tuple(input_shape[2:])

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        child = self._child_shape(tuple(input_shape))
        if not self.layer.built:
            self.layer.build(child)
        super().build(input_shape)

    def validate_input(self, shape: tuple[int, ...]) -> None:
        child = self._child_shape(tuple(shape))
        if hasattr(self.layer, "validate_input"):
            self.layer.validate_input(child)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> Any:
        out = self.layer.compute_output_shape(self._child_shape(tuple(input_shape)))
        if isinstance(out, list):
            raise ConfigError(f"TimeDistributed {self.name!r}: the wrapped layer returns several "
                              "outputs; TimeDistributed needs a layer with one output.")
        return (out[0], input_shape[1]) + tuple(out[1:])

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return mask

    # -- forward / backward ------------------------------------------------------------------
    def _per_step(self, training: bool) -> bool:
        return bool(training and self.layer.non_trainable_weights)

    def forward(self, x: np.ndarray, training: bool = False, mask: Any = None
                ) -> tuple[np.ndarray, TimeDistributedCache]:
        """``x`` (batch, timesteps, *inner) -> (batch, timesteps, *inner_out)."""
        if not self.built:
            self.build((None,) + tuple(x.shape[1:]))
        B, T = x.shape[0], x.shape[1]
        if self._per_step(training):
            outs, caches = [], []
            for t in range(T):
                y, c = self.layer.forward(np.ascontiguousarray(x[:, t]), training=training)
                outs.append(self._single(y))
                caches.append(c)
            return np.stack(outs, axis=1), TimeDistributedCache(caches, B, T, True)
        flat = np.ascontiguousarray(x).reshape((B * T,) + x.shape[2:])
        y, cache = self.layer.forward(flat, training=training)
        y = self._single(y)
        return y.reshape((B, T) + y.shape[1:]), TimeDistributedCache(cache, B, T, False)

    def _single(self, y: Any) -> np.ndarray:
        if isinstance(y, list):
            raise ConfigError(f"TimeDistributed {self.name!r}: the wrapped layer "
                              f"{self.layer.name!r} returned {len(y)} outputs; it must return one.")
        return y

    def backward(self, dy: np.ndarray, cache: TimeDistributedCache
                 ) -> tuple[np.ndarray | None, list[np.ndarray]]:
        B, T = cache.batch, cache.steps
        if cache.per_step:
            dxs, total = [], None
            for t in range(T):
                dx, grads = self.layer.backward(np.ascontiguousarray(dy[:, t]), cache.inner[t])
                dxs.append(dx)
                total = grads if total is None else [a + g for a, g in zip(total, grads)]
            dx_all = None if dxs[0] is None else np.stack(dxs, axis=1)
            return dx_all, (total or []) if self.trainable else []
        flat = np.ascontiguousarray(dy).reshape((B * T,) + dy.shape[2:])
        dx, grads = self.layer.backward(flat, cache.inner)
        dx = None if dx is None else dx.reshape((B, T) + dx.shape[1:])
        return dx, (grads if self.trainable else [])

    # -- config ------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        from .serialization import serialize
        return {**super().get_config(), "layer": serialize(self.layer)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TimeDistributed":
        from .serialization import deserialize
        config = dict(config)
        return cls(deserialize(config.pop("layer")), **config)
