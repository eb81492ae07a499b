"""``Dropout``: Keras 3's inverted dropout, with its backward pass.

Training (``training=True`` and ``0 < rate < 1``)::

    keep = 1 - rate
    m    ~ Bernoulli(keep)            # shape noise_shape, broadcast over x
    y    = where(m, x / keep, 0)      # the expected value of y is x
    dx   = where(m, dy / keep, 0)

At inference (``training=False``) or with ``rate=0`` the layer is the identity;
``rate=1`` zeroes everything, as Keras does. The mask is the only thing backward needs,
so it is the cache.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError, InputShapeError
from ..random import make_rng
from .base import Layer


class DropoutCache(NamedTuple):
    mask: np.ndarray | None  # noise_shape, broadcastable to x; None: no mask drawn
    keep: np.floating        # 1 - rate in x's dtype (identity: 1, rate == 1: 0)


class Dropout(Layer):
    """Randomly zero inputs with probability ``rate`` during training and scale the kept
    ones by ``1 / (1 - rate)``. Input and output: any shape, e.g. (batch, timesteps, features).

    ``noise_shape`` (one entry per input axis, ``None`` = the input's size) shares one
    draw along the axes where it is 1: ``noise_shape=(None, 1, None)`` on
    (batch, timesteps, features) drops the same features at every timestep.
    ``seed`` fixes this layer's mask stream; without it the stream comes from
    :func:`unrolled.set_random_seed`. Masks come from NumPy, so they differ from Keras's.
    """

    supports_masking = True

    def __init__(self, rate: float, noise_shape: Any = None, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.number)) or not 0 <= rate <= 1:
            raise ConfigError(
                "Invalid value received for argument `rate`. Expected a float value "
                f"between 0 and 1. Received: rate={rate!r}"
            )
        self.rate = float(rate)
        self.noise_shape = self._validate_noise_shape(noise_shape)
        self.seed = seed
        self._rng = make_rng(seed)

    @staticmethod
    def _validate_noise_shape(noise_shape: Any) -> tuple[int | None, ...] | None:
        if noise_shape is None:
            return None
        if isinstance(noise_shape, str):
            raise ConfigError("Dropout: noise_shape must be a tuple of integers or None, "
                              f"got the string {noise_shape!r}.")
        try:
            dims = tuple(noise_shape)
        except TypeError:
            raise ConfigError(f"Dropout: noise_shape must be a tuple of integers or None, "
                              f"got {noise_shape!r}.") from None
        for i, d in enumerate(dims):
            if d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0):
                raise ConfigError(f"Dropout: noise_shape[{i}] must be a positive integer or "
                                  f"None, got {d!r}.")
        return tuple(None if d is None else int(d) for d in dims)

    def _mask_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.noise_shape is None:
            return shape
        if len(self.noise_shape) != len(shape):
            raise InputShapeError(
                f"Dropout {self.name!r}: noise_shape {self.noise_shape} has "
                f"{len(self.noise_shape)} axes, the input {tuple(shape)} has {len(shape)}."
            )
        out = tuple(s if d is None else d for d, s in zip(self.noise_shape, shape))
        for d, s in zip(out, shape):
            if d not in (1, s):
                raise InputShapeError(
                    f"Dropout {self.name!r}: noise_shape {self.noise_shape} cannot broadcast "
                    f"to the input shape {tuple(shape)}; each axis must be None, 1 or the "
                    "input's size."
                )
        return out

    def forward(self, x: np.ndarray, training: bool = False, **kwargs: Any) -> tuple[np.ndarray, DropoutCache]:
        """``x`` (batch, ...) -> same shape; the cache holds the mask."""
        t = x.dtype.type
        if not training or self.rate == 0:
            return x, DropoutCache(None, t(1))
        if self.rate == 1:
            return np.zeros_like(x), DropoutCache(None, t(0))
        keep = 1.0 - self.rate
        mask = self._rng.random(self._mask_shape(x.shape)) < keep   # noise_shape, P(True) = keep
        return np.where(mask, x / t(keep), t(0)), DropoutCache(mask, t(keep))

    def backward(self, dy: np.ndarray, cache: DropoutCache) -> tuple[np.ndarray, list[np.ndarray]]:
        """dL/dx = dL/dy where kept, scaled like the forward pass; no weights."""
        mask, keep = cache
        if mask is None:
            return (dy if keep == 1 else np.zeros_like(dy)), []
        return np.where(mask, dy / keep, dy.dtype.type(0)), []

    def param_formula(self) -> str:
        return "0 (no weights)"

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape)}
