"""``Masking``: skip timesteps whose features all equal ``mask_value`` (Keras 3's layer).

For input ``x`` (batch, timesteps, features)::

    mask = any(x != mask_value, axis=-1)        # (B, T) True = a real timestep
    y    = where(mask[..., None], x, 0)          # masked steps become exactly zero
    dx   = where(mask[..., None], dy, 0)         # the mask itself has no gradient

The mask travels with the output to the next layers (``compute_mask``): recurrent layers
skip the masked steps, Dense and Dropout pass it on, and the loss of a model whose output
still carries it averages over unmasked entries only (see ``training/trainer.py``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, InputShapeError
from .base import Layer


class Masking(Layer):
    """Mask the timesteps of (batch, timesteps, features) input whose features are all
    ``mask_value``; the output equals the input with those timesteps set to zero."""

    creates_mask = True
    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(mask_value, dict):  # Keras may serialise a tensor mask_value
            mask_value = (mask_value.get("config") or {}).get("value", mask_value)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float, np.number)):
            raise ConfigError(f"Masking: mask_value must be a number, got {mask_value!r}.")
        self.mask_value = mask_value

    def validate_input(self, shape: tuple[int, ...]) -> None:
        if len(shape) < 2:
            raise InputShapeError(
                f"Masking {self.name!r} expects input of rank >= 2 (batch, timesteps, "
                f"features), got shape {tuple(shape)}.")

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """(batch, timesteps) bool: True where some feature differs from ``mask_value``
        (Keras ignores an incoming mask here, and so do we)."""
        return np.any(x != self.mask_value, axis=-1)

    def forward(self, x: np.ndarray, training: bool = False, mask: Any = None,
                **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        """``x`` (batch, ..., features) -> same shape; the cache is the mask (batch, ...)."""
        keep = self.compute_mask(x)
        return np.where(keep[..., None], x, x.dtype.type(0)), keep

    def backward(self, dy: np.ndarray, cache: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """dL/dx = dL/dy at unmasked timesteps, 0 at masked ones; no weights."""
        return np.where(cache[..., None], dy, dy.dtype.type(0)), []

    def param_formula(self) -> str:
        return "0 (no weights)"

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}
