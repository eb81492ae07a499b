"""Weight constraints with Keras 3's names and configs: projections applied to a weight
after each optimizer update (as Keras's optimizers do after applying the gradients).

    NonNeg()                                   w = max(w, 0)
    MaxNorm(max_value=2, axis=0)               w = w · clip(n, 0, max) / (ε + n)
    UnitNorm(axis=0)                           w = w / (ε + n)
    MinMaxNorm(min_value=0, max_value=1, rate=1, axis=0)
                                               w = w · (rate·clip(n, min, max) + (1-rate)·n) / (ε + n)

where ``n = sqrt(Σ w² over axis)`` (kept as an axis of size 1) and ε = 1e-7 (Keras's
``backend.epsilon()``). ``constraint(w)`` returns the projected array; ``apply(w)`` writes
it into ``w`` in place.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .keras_objects import class_and_config, construct, keras_json

EPSILON = 1e-7


class Constraint:
    _fields: tuple[str, ...] = ()

    def __call__(self, w: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def apply(self, w: np.ndarray) -> None:
        """Project ``w`` in place (views of it stay valid)."""
        w[...] = self(w)

    def get_config(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self._fields}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.get_config() == self.get_config()

    def __hash__(self) -> int:
        return hash(type(self).__name__)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


def _norms(w: np.ndarray, axis: Any) -> np.ndarray:
    axis = tuple(axis) if isinstance(axis, list) else axis
    return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


class NonNeg(Constraint):
    def __call__(self, w):
        return np.maximum(w, 0).astype(w.dtype, copy=False)


class MaxNorm(Constraint):
    _fields = ("max_value", "axis")

    def __init__(self, max_value: float = 2, axis: Any = 0) -> None:
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        n = _norms(w, self.axis)
        return (w * (np.clip(n, 0, self.max_value) / (EPSILON + n))).astype(w.dtype, copy=False)


class UnitNorm(Constraint):
    _fields = ("axis",)

    def __init__(self, axis: Any = 0) -> None:
        self.axis = axis

    def __call__(self, w):
        return (w / (EPSILON + _norms(w, self.axis))).astype(w.dtype, copy=False)


class MinMaxNorm(Constraint):
    _fields = ("min_value", "max_value", "rate", "axis")

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0,
                 axis: Any = 0) -> None:
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        n = _norms(w, self.axis)
        desired = self.rate * np.clip(n, self.min_value, self.max_value) + (1 - self.rate) * n
        return (w * (desired / (EPSILON + n))).astype(w.dtype, copy=False)


_CLASSES: dict[str, type[Constraint]] = {
    c.__name__: c for c in (NonNeg, MaxNorm, UnitNorm, MinMaxNorm)}
_NAMES = {"non_neg": "NonNeg", "max_norm": "MaxNorm", "unit_norm": "UnitNorm",
          "min_max_norm": "MinMaxNorm"}


def get(identifier: Any) -> Constraint | None:
    """``None``, a name (``"non_neg"``), a Keras config dict or a :class:`Constraint`."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    cls, config = class_and_config(identifier, _CLASSES, _NAMES)
    if cls is None:
        raise ConfigError(f"Unknown constraint {identifier!r:.200}. Expected None, one of "
                          f"{', '.join(sorted(_CLASSES))} (or {', '.join(sorted(_NAMES))}), "
                          "or a Keras config dict.")
    return construct(cls, config, "Constraint")


def serialize(constraint: Constraint | None) -> dict[str, Any] | None:
    """Keras's JSON form (None stays None)."""
    return None if constraint is None else keras_json(constraint, "keras.constraints")
