"""Activation layers (Keras 3's): ``Activation(name)``, ``ReLU``, ``LeakyReLU``, ``ELU``,
``Softmax``. Each keeps the shape and passes a mask on (Keras's ``supports_masking``);
``Softmax`` also applies the mask it receives.

Definitions (x input, y output):

* ``ReLU(max_value, negative_slope, threshold)``:
  ``y = min(x, max_value)`` if ``x > threshold`` else 0, minus
  ``negative_slope · max(threshold - x, 0)``; ``dy/dx`` = 1 on ``threshold < x <= max_value``,
  ``negative_slope`` below the threshold, 0 elsewhere.
* ``LeakyReLU(negative_slope=0.3)``: ``y = x`` for x > 0, ``negative_slope · x`` otherwise.
  (Keras 3's default 0.3; Keras 2's ``alpha`` is accepted.)
* ``ELU(alpha=1)``: ``y = x`` for x > 0, ``alpha·(e^x - 1)`` otherwise; ``dy/dx = y + alpha`` there.
* ``Softmax(axis=-1)``: ``y = e^x / Σ_axis e^x``; with a mask, masked entries of x count as
  -1e9 and their outputs are 0 (Keras); ``dx = y·(dy - Σ_axis dy·y)``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core import activations as core_activations
from ..errors import ConfigError, InputShapeError
from .base import Layer


def _non_negative(value: Any, name: str, who: str, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.number))
            or not math.isfinite(value) or value < 0):
        raise ConfigError(f"{who}: {name} must be a non-negative number, got {value!r}.")
    return float(value)


class _Elementwise(Layer):
    def param_formula(self) -> str:
        return "0 (no weights)"


class Activation(_Elementwise):
    """Apply a named activation (``"relu"``, ``"tanh"``, ``"softmax"`` ...) to the input."""

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = core_activations.get(activation)

    def forward(self, x, training=False, **kwargs):
        y = self.activation(x)
        return y, (x if self.activation.needs_input else None, y)

    def backward(self, dy, cache):
        x, y = cache
        return self.activation.backward(x, y, dy), []

    def get_config(self):
        return {**super().get_config(), "activation": self.activation.name}


class ReLU(_Elementwise):
    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0,
                 threshold: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_value = _non_negative(max_value, "max_value", "ReLU", allow_none=True)
        self.negative_slope = _non_negative(negative_slope, "negative_slope", "ReLU")
        self.threshold = _non_negative(threshold, "threshold", "ReLU")

    def forward(self, x, training=False, **kwargs):
        t = x.dtype.type
        y = np.where(x > t(self.threshold), x, t(0))
        if self.max_value is not None:
            y = np.minimum(y, t(self.max_value))
        if self.negative_slope:
            y = y - t(self.negative_slope) * np.maximum(t(self.threshold) - x, t(0))
        return y.astype(x.dtype, copy=False), x

    def backward(self, dy, cache):
        x, t = cache, cache.dtype.type
        slope = (x > t(self.threshold))
        if self.max_value is not None:
            slope = slope & (x <= t(self.max_value))
        d = slope.astype(x.dtype)
        if self.negative_slope:
            d = d + t(self.negative_slope) * (x < t(self.threshold))
        return dy * d, []

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(_Elementwise):
    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        if "alpha" in kwargs:              # Keras 2's name for negative_slope
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        self.negative_slope = _non_negative(negative_slope, "negative_slope", "LeakyReLU")

    def forward(self, x, training=False, **kwargs):
        return np.where(x > 0, x, x.dtype.type(self.negative_slope) * x), x

    def backward(self, dy, cache):
        return np.where(cache > 0, dy, dy.dtype.type(self.negative_slope) * dy), []

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_Elementwise):
    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.number)):
            raise ConfigError(f"ELU: alpha must be a number, got {alpha!r}.")
        self.alpha = float(alpha)

    def forward(self, x, training=False, **kwargs):
        a = x.dtype.type(self.alpha)
        y = np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))
        return y, (x > 0, y)

    def backward(self, dy, cache):
        positive, y = cache
        return dy * np.where(positive, 1, y + y.dtype.type(self.alpha)).astype(dy.dtype), []

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(_Elementwise):
    def __init__(self, axis: Any = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis: Any = tuple(int(a) for a in axis)
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            self.axis = int(axis)
        else:
            raise ConfigError(f"Softmax: axis must be an integer or a list of integers, got {axis!r}.")

    def _mask(self, mask: Any, shape: tuple[int, ...]) -> np.ndarray | None:
        if mask is None:
            return None
        m = np.asarray(mask)
        m = m if m.dtype == bool else m > 0.5
        ok = m.ndim <= len(shape) and all(a in (1, b) for a, b in zip(m.shape[::-1], shape[::-1]))
        if not ok:
            raise InputShapeError(
                f"Softmax {self.name!r}: the mask {m.shape} must broadcast to the input "
                f"{tuple(shape)} (aligned on the last axes, as Keras requires).")
        return m

    def forward(self, x, training=False, mask=None, **kwargs):
        m = self._mask(mask, x.shape)
        z = x if m is None else np.where(m, x, x.dtype.type(-1e9))
        e = np.exp(z - z.max(axis=self.axis, keepdims=True))
        y = e / e.sum(axis=self.axis, keepdims=True)
        if m is not None:
            y = np.where(m, y, x.dtype.type(0))
        return y, (y, m)

    def backward(self, dy, cache):
        y, m = cache
        if m is not None:
            dy = np.where(m, dy, dy.dtype.type(0))
        dx = y * (dy - (dy * y).sum(axis=self.axis, keepdims=True))
        if m is not None:
            dx = np.where(m, dx, dx.dtype.type(0))
        return dx, []

    def get_config(self):
        axis = list(self.axis) if isinstance(self.axis, tuple) else self.axis
        return {**super().get_config(), "axis": axis}
