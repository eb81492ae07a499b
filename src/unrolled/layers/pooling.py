"""1-D pooling over time (Keras 3's layers, channels_last by default):
``MaxPooling1D``, ``AveragePooling1D``, ``GlobalMaxPooling1D``, ``GlobalAveragePooling1D``.

Windowed pooling: output step o covers input steps ``o·s .. o·s + p - 1`` of the padded
input (``p`` pool_size, ``s`` strides, default ``s = p``). ``padding="same"`` pads
``max(0, (ceil(L/s)-1)·s + p - L)`` steps, half on the left, and padded steps never count:
the max ignores them and the average divides by the number of real steps in the window
(TensorFlow's and JAX's rule; Keras on the PyTorch backend instead repeats the edge step
when the two sides differ, which changes averages that overlap such padding).
Backward: a max window's gradient goes to its (first) largest input; an average's is
spread evenly over the window's real steps.

Masks: Keras's windowed pooling and GlobalMaxPooling1D do not support masking (the mask
stops there); GlobalAveragePooling1D averages over the unmasked steps only.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError, InputShapeError
from .base import Layer
from .conv import check_data_format, check_padding, one_int, output_length, pad_amounts


class PoolCache(NamedTuple):
    index: np.ndarray   # (Lo, p) input step of each window slot (clipped into range)
    valid: np.ndarray   # (Lo, p) bool: slot is a real (unpadded) step
    pick: np.ndarray | None  # (B, Lo, C) max: the chosen slot of each window
    length: int


class _Pooling1D(Layer):
    _kind = "max"

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = type(self).__name__
        self.pool_size = one_int(pool_size, "pool_size", who)
        self.strides = self.pool_size if strides is None else one_int(strides, "strides", who)
        self.padding = check_padding(padding, who, allow_causal=False)
        self.data_format = check_data_format(data_format, who)

    def validate_input(self, shape):
        who = type(self).__name__
        if len(shape) != 3:
            raise InputShapeError(f"{who} {self.name!r} expects input of rank 3 (batch, steps, "
                                  f"channels), got shape {tuple(shape)}.")
        steps = shape[1] if self.data_format == "channels_last" else shape[2]
        if steps >= 0 and self.padding == "valid" and steps < self.pool_size:
            raise InputShapeError(f"{who} {self.name!r}: {steps} steps are fewer than pool_size "
                                  f"{self.pool_size} with padding='valid'; use padding='same'.")

    def compute_output_shape(self, input_shape):
        b = input_shape[0]
        if self.data_format == "channels_last":
            return (b, output_length(input_shape[1], self.pool_size, self.strides, self.padding), input_shape[2])
        return (b, input_shape[1], output_length(input_shape[2], self.pool_size, self.strides, self.padding))

    def compute_mask(self, x, mask=None):
        return None

    def _windows(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        left, right = pad_amounts(length, self.pool_size, self.strides, self.padding)
        steps_out = (length + left + right - self.pool_size) // self.strides + 1
        index = (np.arange(steps_out)[:, None] * self.strides + np.arange(self.pool_size)) - left
        valid = (index >= 0) & (index < length)
        return np.clip(index, 0, length - 1), valid

    def forward(self, x, training=False, **kwargs):
        if self.data_format == "channels_first":
            x = x.transpose(0, 2, 1)
        index, valid = self._windows(x.shape[1])
        win = x[:, index]                                             # (B, Lo, p, C)
        v = valid[None, :, :, None]
        if self._kind == "max":
            win = np.where(v, win, -np.inf)
            pick = win.argmax(axis=2)                                 # (B, Lo, C)
            y = np.take_along_axis(win, pick[:, :, None], axis=2)[:, :, 0]
        else:
            pick = None
            y = np.where(v, win, 0).sum(axis=2) / valid.sum(axis=1)[None, :, None].astype(x.dtype)
        y = y.astype(x.dtype, copy=False)
        cache = PoolCache(index, valid, pick, x.shape[1])
        return (y if self.data_format == "channels_last" else y.transpose(0, 2, 1)), cache

    def backward(self, dy, cache):
        if self.data_format == "channels_first":
            dy = dy.transpose(0, 2, 1)
        index, valid, pick, length = cache
        B, Lo, C = dy.shape
        if self._kind == "max":
            slots = np.zeros((B, Lo, self.pool_size, C), dtype=dy.dtype)
            np.put_along_axis(slots, pick[:, :, None], dy[:, :, None], axis=2)
        else:
            share = (valid / valid.sum(axis=1, keepdims=True)).astype(dy.dtype)   # (Lo, p)
            slots = dy[:, :, None, :] * share[None, :, :, None]
        slots = slots * valid[None, :, :, None]
        dx = np.zeros((B, length, C), dtype=dy.dtype)
        for j in range(self.pool_size):                         # scatter each window slot back
            np.add.at(dx, (slice(None), index[:, j]), slots[:, :, j])
        return (dx if self.data_format == "channels_last" else dx.transpose(0, 2, 1)), []

    def param_formula(self) -> str:
        return "0 (no weights)"

    def get_config(self):
        return {**super().get_config(), "pool_size": [self.pool_size], "padding": self.padding,
                "strides": [self.strides], "data_format": self.data_format}


class MaxPooling1D(_Pooling1D):
    """The largest value of each window: (batch, steps, C) -> (batch, steps_out, C)."""
    _kind = "max"


class AveragePooling1D(_Pooling1D):
    """The mean of each window's real steps: (batch, steps, C) -> (batch, steps_out, C)."""
    _kind = "average"

    def __init__(self, pool_size: Any, strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class _GlobalPooling1D(Layer):
    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)

    @property
    def _steps_axis(self) -> int:
        return 1 if self.data_format == "channels_last" else 2

    def validate_input(self, shape):
        if len(shape) != 3:
            raise InputShapeError(f"{type(self).__name__} {self.name!r} expects input of rank 3 "
                                  f"(batch, steps, channels), got shape {tuple(shape)}.")

    def compute_output_shape(self, input_shape):
        a = self._steps_axis
        if self.keepdims:
            return tuple(1 if i == a else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i != a)

    def compute_mask(self, x, mask=None):
        return None

    def param_formula(self) -> str:
        return "0 (no weights)"

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling1D):
    """Mean over steps: (batch, steps, C) -> (batch, C); with a mask (batch, steps) the
    mean of the unmasked steps (a sample with every step masked gives NaN, as in Keras)."""

    def _mask(self, mask: Any, x: np.ndarray) -> np.ndarray | None:
        if mask is None:
            return None
        m = np.asarray(mask).astype(bool)
        want = x.shape[:2] if self.data_format == "channels_last" else (x.shape[0], x.shape[2])
        if m.shape != want:
            raise InputShapeError(f"{type(self).__name__} {self.name!r} expects a mask of shape "
                                  f"(batch, steps) = {want}, got {m.shape}.")
        return np.expand_dims(m, 2 if self.data_format == "channels_last" else 1)

    def forward(self, x, training=False, mask=None, **kwargs):
        a = self._steps_axis
        m = self._mask(mask, x)
        if m is None:
            count = np.asarray(x.shape[a], dtype=x.dtype)
            y = x.mean(axis=a, keepdims=self.keepdims)
        else:
            count = m.sum(axis=a, keepdims=True).astype(x.dtype)          # (B, 1, 1)-like
            with np.errstate(invalid="ignore", divide="ignore"):
                y = np.where(m, x, 0).sum(axis=a, keepdims=True) / count
            if not self.keepdims:
                y = y.squeeze(a)
        return y.astype(x.dtype, copy=False), (x.shape, m, count)

    def backward(self, dy, cache):
        shape, m, count = cache
        a = self._steps_axis
        d = dy if self.keepdims else np.expand_dims(dy, a)
        with np.errstate(invalid="ignore", divide="ignore"):
            dx = np.broadcast_to(d / count, shape)
        if m is not None:
            dx = np.where(m, dx, dx.dtype.type(0))
        return np.ascontiguousarray(dx, dtype=dy.dtype), []


class GlobalMaxPooling1D(_GlobalPooling1D):
    """Max over steps: (batch, steps, C) -> (batch, C); the gradient goes to the (first)
    largest step. Masks are not used (Keras's layer does not support them)."""

    def forward(self, x, training=False, **kwargs):
        a = self._steps_axis
        pick = x.argmax(axis=a)
        y = np.take_along_axis(x, np.expand_dims(pick, a), axis=a)
        return (y if self.keepdims else y.squeeze(a)), (x.shape, pick)

    def backward(self, dy, cache):
        shape, pick = cache
        a = self._steps_axis
        dx = np.zeros(shape, dtype=dy.dtype)
        d = dy if self.keepdims else np.expand_dims(dy, a)
        np.put_along_axis(dx, np.expand_dims(pick, a), d, axis=a)
        return dx, []
