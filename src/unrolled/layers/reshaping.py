"""Layers that only move numbers around: ``RepeatVector``, ``Flatten``, ``Reshape``,
``Permute`` (Keras 3's). Their backward passes undo the move on the gradient.

None of them supports masking in Keras, so they drop an incoming mask (Keras warns and
the layers after them see no mask); ``compute_mask`` returns None.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, InputShapeError
from .base import Layer


class _NoMask:
    def compute_mask(self, x: Any, mask: Any = None) -> None:
        return None

    def param_formula(self) -> str:
        return "0 (no weights)"


def _shape(shape: Any) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class RepeatVector(_NoMask, Layer):
    """(batch, features) -> (batch, n, features): the input repeated ``n`` times, e.g.
    to feed an encoder's summary vector to every step of a decoder."""

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ConfigError(f"RepeatVector: n must be a positive integer, got {n!r}.")
        self.n = int(n)

    def validate_input(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 2:
            hint = (" To repeat a sequence's last output, use return_sequences=False in the "
                    "recurrent layer before it." if len(shape) == 3 else "")
            raise InputShapeError(f"RepeatVector {self.name!r} expects input of rank 2 (batch, "
                                  f"features), got shape {tuple(shape)}.{hint}")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def forward(self, x, training=False, **kwargs):
        return np.repeat(x[:, None, :], self.n, axis=1), None           # (B, n, F)

    def backward(self, dy, cache):
        return dy.sum(axis=1), []                                        # (B, F)

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class Flatten(_NoMask, Layer):
    """(batch, d1, d2, ...) -> (batch, d1·d2·...); (batch,) -> (batch, 1)."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ConfigError(f"Flatten: data_format must be 'channels_last' or "
                              f"'channels_first', got {data_format!r}.")
        self.data_format = data_format or "channels_last"

    def _order(self, ndim: int) -> tuple[int, ...] | None:
        """The axis order applied before flattening (channels_first: channels last)."""
        if self.data_format == "channels_first" and ndim > 2:
            return (0, *range(2, ndim), 1)
        return None

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        n = None if any(d is None for d in rest) else int(np.prod(rest)) if rest else 1
        return (input_shape[0], n)

    def forward(self, x, training=False, **kwargs):
        order = self._order(x.ndim)
        moved = x if order is None else x.transpose(order)
        return moved.reshape(x.shape[0], -1), (x.shape, order)

    def backward(self, dy, cache):
        shape, order = cache
        if order is None:
            return dy.reshape(shape), []
        moved = tuple(shape[a] for a in order)
        return dy.reshape(moved).transpose(np.argsort(order)), []

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(_NoMask, Layer):
    """(batch, *in) -> (batch, *target_shape); one entry of ``target_shape`` may be -1
    (inferred so the number of values stays the same)."""

    def __init__(self, target_shape: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            dims = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError):
            raise ConfigError(f"Reshape: target_shape must be a tuple of integers, got "
                              f"{target_shape!r}.") from None
        if sum(d == -1 for d in dims) > 1 or any(d == 0 or d < -1 for d in dims):
            raise ConfigError(f"Reshape: target_shape {dims} may hold positive sizes and at "
                              "most one -1 (the inferred size).")
        self.target_shape = dims

    def _resolved(self, in_shape: tuple[Any, ...]) -> tuple[int | None, ...]:
        """``target_shape`` with -1 resolved for ``in_shape`` (no batch axis)."""
        if -1 not in self.target_shape:
            if None not in in_shape and int(np.prod(in_shape)) != int(np.prod(self.target_shape)):
                self._mismatch(in_shape)
            return self.target_shape
        if None in in_shape:
            return tuple(None if d == -1 else d for d in self.target_shape)
        known = int(np.prod([d for d in self.target_shape if d != -1]))
        total = int(np.prod(in_shape))
        if total % known:
            self._mismatch(in_shape)
        return tuple(total // known if d == -1 else d for d in self.target_shape)

    def _mismatch(self, in_shape: tuple[Any, ...]) -> None:
        raise InputShapeError(
            f"Reshape {self.name!r} cannot reshape input of shape (batch, "
            f"{', '.join(map(str, in_shape))}) ({int(np.prod(in_shape))} values per sample) "
            f"to target_shape {self.target_shape}; the number of values must stay the same.")

    def validate_input(self, shape: tuple[int, ...]) -> None:
        if len(shape) < 1:
            raise InputShapeError(f"Reshape {self.name!r} needs a batch axis, got a scalar.")
        if all(d >= 0 for d in shape[1:]):
            self._resolved(tuple(shape[1:]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolved(tuple(input_shape[1:]))

    def forward(self, x, training=False, **kwargs):
        return x.reshape((x.shape[0],) + self._resolved(x.shape[1:])), x.shape

    def backward(self, dy, cache):
        return dy.reshape(cache), []

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Permute(_NoMask, Layer):
    """Reorder the non-batch axes: ``dims`` is a permutation of 1..rank-1 (1-based, as
    in Keras); ``Permute((2, 1))`` swaps timesteps and features."""

    def __init__(self, dims: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            self.dims = tuple(int(d) for d in dims)
        except (TypeError, ValueError):
            raise ConfigError(f"Permute: dims must be a tuple of integers, got {dims!r}.") from None
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ConfigError(f"Permute: dims must be a permutation of 1..{len(self.dims)} "
                              f"(axis 0, the batch, stays first); got {self.dims}.")

    def validate_input(self, shape: tuple[int, ...]) -> None:
        if len(shape) != len(self.dims) + 1:
            raise InputShapeError(
                f"Permute {self.name!r} with dims={self.dims} expects input of rank "
                f"{len(self.dims) + 1} (batch + {len(self.dims)} axes), got shape {tuple(shape)}.")

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def forward(self, x, training=False, **kwargs):
        return x.transpose((0,) + self.dims), None

    def backward(self, dy, cache):
        return dy.transpose(np.argsort((0,) + self.dims)), []

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}
