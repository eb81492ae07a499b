"""The Layer base class: Keras's lifecycle with an explicit backward pass.

``__init__`` validates and stores arguments, ``build(input_shape)`` creates weights,
``forward(x, training)`` returns ``(y, cache)`` and ``backward(dy, cache)`` returns
``(dx, grads)`` with one gradient per entry of ``trainable_weights``. Layers keep no
per-call state: the cache travels with the caller, so one model can serve two threads.

Called on symbolic tensors (``Input(...)`` or another layer's symbolic output), a layer
computes nothing: it records a :class:`~unrolled.layers.node.Node` and returns symbolic
outputs (see :mod:`unrolled.layers.node`); ``unrolled.Model(inputs, outputs)`` runs them.
This holds for every subclass, including those that override ``__call__``.

Weights are plain NumPy arrays that are only ever updated *in place*, so views handed
out (per-gate slices, ``layer.weights``) always see the current values.
"""
from __future__ import annotations

import itertools
import re
from collections import defaultdict
from typing import Any

import numpy as np

from ..core import initializers
from ..errors import ConfigError, InputShapeError
from ..random import make_rng
from .node import is_symbolic, symbolic_call

_name_counters: dict[str, itertools.count] = defaultdict(itertools.count)

# What a trainer works out once per model (which weights train, which are regularized or
# constrained, which calls have activity penalties) depends on layer state. Every change
# to that state made through the library (``trainable``, ``add_weight``/``build``,
# ``activity_regularizer``, a regularizer or constraint set on a weight, a layer added to
# a Sequential model) moves this counter on, so such caches know when to rebuild.
_state_version = [0]


def state_version() -> int:
    """The current layer-state version (see :func:`state_changed`)."""
    return _state_version[0]


def state_changed() -> None:
    """Note a change of the layer state trainers cache (see ``_state_version``); a layer
    of your own that changes its ``regularizers`` after training started calls this."""
    _state_version[0] += 1


def unique_name(base: str) -> str:
    """Keras-style automatic names: ``lstm``, ``lstm_1``, ``lstm_2``, ..."""
    n = next(_name_counters[base])
    return base if n == 0 else f"{base}_{n}"


def snake_case(name: str) -> str:
    """Keras's ``to_snake_case``: ``SimpleRNN`` -> ``simple_rnn``, ``Conv1D`` -> ``conv1d``,
    ``ReLU`` -> ``re_lu``."""
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def dtype_policy(dtype: np.dtype) -> dict[str, Any]:
    """Keras 3's serialised dtype policy."""
    return {"module": "keras", "class_name": "DTypePolicy",
            "config": {"name": str(dtype)}, "registered_name": None}


def parse_dtype(dtype: Any) -> np.dtype:
    if dtype is None:
        return np.dtype("float32")
    if isinstance(dtype, dict):  # a Keras DTypePolicy config
        dtype = dtype.get("config", {}).get("name", "float32")
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise ConfigError(f"Unknown dtype {dtype!r}; expected 'float32' or 'float64'.") from err
    if dt not in (np.float32, np.float64):
        raise ConfigError(f"dtype must be 'float32' or 'float64', got {dtype!r}.")
    return dt


def as_input_array(x: Any, dtype: np.dtype, who: str) -> np.ndarray:
    """Convert ``x`` to a ``dtype`` array, refusing non-numeric data with a clear message."""
    if type(x) is np.ndarray and x.dtype == dtype:   # already what is asked: nothing to check
        return x
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputShapeError(
            f"{who} expects numeric input, got an array of dtype {arr.dtype} "
            f"(shape {arr.shape}). Convert strings/objects to numbers first."
        )
    if np.iscomplexobj(arr):
        raise InputShapeError(f"{who} expects real numbers, got complex dtype {arr.dtype}.")
    return arr.astype(dtype, copy=False)


_PLAIN_ARGUMENTS = frozenset({np.ndarray, bool, type(None)})


def _symbolic_aware(call: Any) -> Any:
    """Wrap a ``__call__`` so that symbolic inputs record a node instead of computing."""
    if getattr(call, "_symbolic_aware", False):
        return call

    def __call__(self: "Layer", x: Any = None, *args: Any, **kwargs: Any) -> Any:
        # An array whose keyword arguments are all arrays, flags or None (``layer(x)``,
        # ``layer(x, mask=m)``: the common calls) cannot hold a symbolic tensor: skip the
        # walk (~1.5-2.5 µs of a ~15 µs tiny LSTM call).
        plain = type(x) is np.ndarray and (
            not kwargs or all(type(v) in _PLAIN_ARGUMENTS for v in kwargs.values()))
        if not args and not plain and is_symbolic(x, kwargs):
            return symbolic_call(self, x, kwargs)
        return call(self, x, *args, **kwargs)

    __call__._symbolic_aware = True  # type: ignore[attr-defined]
    __call__.__doc__, __call__.__wrapped__ = call.__doc__, call  # type: ignore[attr-defined]
    return __call__


class Layer:
    """Base class of every layer. Subclasses implement ``build``, ``forward``,
    ``backward``, ``compute_output_shape`` and extend ``get_config``.

    Class attributes the models read:

    * ``supports_masking`` (Keras's): True (the default here) if models ask the layer's
      ``compute_mask`` for the mask of its output (the default passes the input mask on,
      as Keras's Dense or Dropout do; a layer that ends masks returns None there); False
      drops the mask after this layer without asking.
    * ``input_dtype_kind``: ``"int"`` for layers whose input is integer ids (Embedding),
      so models do not cast that input to float.
    * ``regularizers``: weight name -> regularizer (``__call__(w) -> float``,
      ``gradient(w) -> array``); the trainer adds the penalties once per step.
    """

    supports_masking = True
    input_dtype_kind = "float"
    keras_call_kwargs: dict[str, Any] = {}  # keyword arguments Keras records for a call
    regularizers: dict[str, Any] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__call__" in cls.__dict__:
            cls.__call__ = _symbolic_aware(cls.__dict__["__call__"])  # type: ignore[method-assign]

    def __init__(self, *, name: str | None = None, trainable: bool = True,
                 dtype: Any = None, input_shape: tuple[int, ...] | None = None,
                 **kwargs: Any) -> None:
        if kwargs:
            raise ConfigError(
                f"{type(self).__name__} got unexpected keyword argument(s) "
                f"{sorted(kwargs)}."
            )
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.trainable = bool(trainable)
        self.dtype = parse_dtype(dtype)
        self.input_shape_arg = None if input_shape is None else tuple(input_shape)
        self.built = False
        self.build_input_shape: tuple[int | None, ...] | None = None
        self._weights: dict[str, np.ndarray] = {}
        self.inbound_nodes: list[Any] = []   # one Node per symbolic call

    @property
    def trainable(self) -> bool:
        """Whether the optimizer updates this layer's weights (Keras's ``trainable``)."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        state_changed()

    # -- weights -------------------------------------------------------------------------
    def add_weight(self, name: str, shape: tuple[int, ...], initializer: Any,
                   rng: np.random.Generator | None = None) -> np.ndarray:
        value = initializers.get(initializer)(shape, self.dtype, rng if rng is not None else make_rng())
        self._weights[name] = np.ascontiguousarray(value, dtype=self.dtype)
        state_changed()
        return self._weights[name]

    def _weight(self, name: str) -> np.ndarray:
        """Weight ``name``; an AttributeError that says what to do before ``build``."""
        try:
            return self._weights[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} {self.name!r} has no {name!r} yet: it is built on its "
                "first call, or call layer.build(input_shape) with input_shape = "
                "(batch, timesteps, features) or (batch, features) (batch may be None)."
            ) from None

    @property
    def weights(self) -> list[np.ndarray]:
        """The layer's weight arrays (the live arrays, not copies), in Keras's order."""
        return list(self._weights.values())

    @property
    def weight_names(self) -> list[str]:
        return list(self._weights)

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        return self.weights if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        return [] if self.trainable else self.weights

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights, in Keras's order and shapes."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights: list[Any]) -> None:
        """Overwrite the weights in place (views stay valid); shapes must match exactly.
        Every shape is checked before anything is written, so a bad list changes nothing."""
        for current, new in zip(self._weights.values(), self.check_weights(weights)):
            current[...] = new

    def check_weights(self, weights: list[Any]) -> list[np.ndarray]:
        """``weights`` as arrays, after checking their count and shapes against ours."""
        mine = self._weights
        if len(weights) != len(mine):
            raise ConfigError(
                f"Layer {self.name!r} expects {len(mine)} weight arrays "
                f"({', '.join(f'{k} {v.shape}' for k, v in mine.items())}), got {len(weights)}."
            )
        arrays = [np.asarray(new) for new in weights]
        for (key, current), new in zip(mine.items(), arrays):
            if new.shape != current.shape:
                raise ConfigError(
                    f"Layer {self.name!r} weight {key!r}: expected shape {current.shape}, "
                    f"got {new.shape}."
                )
        return arrays

    def count_params(self) -> int:
        return int(sum(w.size for w in self.weights))

    def param_formula(self) -> str:
        """How ``count_params()`` arises, in words and numbers (see summary())."""
        return f"{self.count_params()}"

    # -- lifecycle -----------------------------------------------------------------------
    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.build_input_shape = tuple(input_shape)
        self.built = True
        state_changed()

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> Any:
        return tuple(input_shape)

    def _ensure_built(self, input_shape: tuple[int | None, ...]) -> None:
        if not self.built:
            self.build((None,) + tuple(input_shape[1:]))

    def __call__(self, x: Any, **kwargs: Any) -> Any:
        if is_symbolic(x, kwargs):
            return symbolic_call(self, x, kwargs)
        x = as_input_array(x, self.dtype, type(self).__name__)
        self.validate_input(x.shape)
        if not self.built:  # after build, check again against the new weights' shapes
            self._ensure_built(x.shape)
            self.validate_input(x.shape)
        return self.call(x, **kwargs)

    def validate_input(self, shape: tuple[int, ...]) -> None:
        """Raise :class:`InputShapeError` if ``shape`` cannot be this layer's input."""

    def call(self, x: np.ndarray, training: bool = False, **kwargs: Any) -> Any:
        return self.forward(x, training=training, **kwargs)[0]

    def forward(self, x: np.ndarray, training: bool = False, **kwargs: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def backward(self, dy: Any, cache: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        raise NotImplementedError

    # -- masking (Keras's ``compute_mask``; see unrolled.layers.masking) ------------------
    creates_mask = False  # True for a layer that starts a mask from its input (Masking)

    def compute_mask(self, x: Any, mask: np.ndarray | None) -> np.ndarray | None:
        """The (batch, timesteps) mask the next layer receives, given this layer's input
        ``x`` and its input mask. Default: passed on unchanged, as Keras's Dense and
        Dropout do (``supports_masking``); they compute as if there were no mask.
        Models call it only when ``supports_masking`` is True (else the mask ends)."""
        return mask

    # -- regularization ------------------------------------------------------------------
    def activity_penalty(self, cache: Any) -> float:
        """The activity-regularization loss of one call (its ``forward`` cache); the
        layer's own ``backward`` adds its gradient. Default: none."""
        return 0.0

    # -- config --------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-serialisable, in Keras 3's schema."""
        return {"name": self.name, "trainable": self.trainable, "dtype": dtype_policy(self.dtype)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Layer":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"
