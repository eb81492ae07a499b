"""``Embedding``: integer indices -> rows of a trainable table (Keras 3's layer).

For indices ``x`` (batch, ...) with values in ``[0, input_dim)``::

    y[b, ..., :] = embeddings[x[b, ...], :]                # (batch, ..., output_dim)
    d_embeddings = scatter-add of dy rows at their indices  # np.add.at: repeats add up
    dx           = None                                     # indices have no gradient

With ``mask_zero=True`` index 0 is padding: the layer starts the mask ``x != 0``, which
the recurrent layers after it use to skip those timesteps (as Keras's Embedding does),
so ``input_dim`` must count the padding index too.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core import initializers
from ..errors import ConfigError, InputShapeError
from ..random import make_rng
from .base import Layer
from .penalties import Penalized, activity_regularized


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"Embedding: {name} must be a positive integer, got {value!r} "
                          f"(of type {type(value).__name__}).")
    return int(value)


@activity_regularized
class Embedding(Penalized, Layer):
    """Turn integer indices (batch, ...) into vectors (batch, ..., output_dim).

    Weight ``embeddings`` (input_dim, output_dim); parameters ``input_dim·output_dim``.
    Inputs may be any integer dtype, or floats holding whole numbers (as Keras casts
    them); anything else, and indices outside ``[0, input_dim)``, are refused with the
    offending value and its position. ``input_length`` (Keras 2) is accepted and ignored.
    """

    input_dtype_kind = "int"

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: Any = "uniform",
                 embeddings_regularizer: Any = None, embeddings_constraint: Any = None,
                 mask_zero: bool = False, weights: Any = None, lora_rank: int | None = None,
                 **kwargs: Any) -> None:
        kwargs.pop("input_length", None)          # Keras 2's argument; Keras 3 ignores it too
        for key in ("lora_alpha", "quantization_config"):
            if kwargs.pop(key, None) is not None:
                raise ConfigError(f"Embedding: {key} is not supported by unrolled.")
        if lora_rank:
            raise ConfigError("Embedding: lora_rank (LoRA fine-tuning weights) is not supported "
                              f"by unrolled; got lora_rank={lora_rank!r}. Use lora_rank=None.")
        kwargs["embeddings_regularizer"] = embeddings_regularizer
        kwargs["embeddings_constraint"] = embeddings_constraint
        self._take_penalties(kwargs, ("embeddings",))
        super().__init__(**kwargs)
        self.input_dim = _positive_int(input_dim, "input_dim")
        self.output_dim = _positive_int(output_dim, "output_dim")
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.mask_zero = bool(mask_zero)
        if weights is not None:
            self.build(None)
            arrays = weights if isinstance(weights, (list, tuple)) and len(weights) == 1 else [weights]
            self.set_weights(list(arrays))

    @property
    def creates_mask(self) -> bool:  # type: ignore[override]
        """True with ``mask_zero``: this layer starts the mask the next layers receive."""
        return self.mask_zero

    @property
    def embeddings(self) -> np.ndarray:
        return self._weight("embeddings")

    def build(self, input_shape: Any) -> None:
        if not self.built:
            self.add_weight("embeddings", (self.input_dim, self.output_dim),
                            self.embeddings_initializer, make_rng(getattr(self.embeddings_initializer, "seed", None)))
        self.built = True
        if input_shape is not None:
            self.build_input_shape = tuple(input_shape)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return tuple(input_shape) + (self.output_dim,)

    def compute_mask(self, x: Any, mask: Any = None) -> np.ndarray | None:
        """``x != 0`` with ``mask_zero`` (any incoming mask is replaced), else None."""
        if not self.mask_zero:
            return None
        return np.asarray(x) != 0

    def validate_input(self, shape: tuple[int, ...]) -> None:
        if len(shape) < 1:
            raise InputShapeError(f"Embedding {self.name!r} expects integer indices of shape "
                                  f"(batch, ...), got a scalar.")

    def indices(self, x: Any) -> np.ndarray:
        """``x`` as an int64 index array, after checking its values (see the class doc)."""
        arr = np.asarray(x)
        who = f"Embedding {self.name!r}"
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise InputShapeError(f"{who} expects integer indices, got an array of dtype "
                                  f"{arr.dtype}. Map tokens to integers first (e.g. with a "
                                  "vocabulary lookup).")
        if np.issubdtype(arr.dtype, np.complexfloating):
            raise InputShapeError(f"{who} expects integer indices, got complex dtype {arr.dtype}.")
        if np.issubdtype(arr.dtype, np.floating):
            bad = ~np.isfinite(arr) | (arr != np.round(arr))
            if bad.any():
                pos = tuple(int(i) for i in np.argwhere(bad)[0])
                raise InputShapeError(
                    f"{who} expects integer indices, got the non-integer value {arr[pos].item()!r} at "
                    f"position {pos} (dtype {arr.dtype}). Pass token ids as integers; "
                    "rounding them silently would look up the wrong rows.")
        idx = arr.astype(np.int64, copy=False)
        out = (idx < 0) | (idx >= self.input_dim)
        if out.any():
            pos = tuple(int(i) for i in np.argwhere(out)[0])
            raise InputShapeError(
                f"{who} has input_dim={self.input_dim}, so indices must be in [0, "
                f"{self.input_dim - 1}]; got {idx[pos]} at position {pos} ({int(out.sum())} "
                f"index(es) out of range). Increase input_dim to the vocabulary size "
                f"(+1 for the padding index 0 with mask_zero=True).")
        return idx

    def __call__(self, x: Any, training: bool = False, mask: Any = None, **kwargs: Any) -> np.ndarray:
        idx = self.indices(x)
        self.validate_input(idx.shape)
        if not self.built:
            self.build((None,) + idx.shape[1:])
        return self.embeddings[idx]

    def call(self, x: Any, training: bool = False, **kwargs: Any) -> np.ndarray:
        return self.embeddings[self.indices(x)]

    def forward(self, x: Any, training: bool = False, mask: Any = None,
                **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        """``x`` (batch, ...) indices -> (batch, ..., output_dim); the cache is the indices."""
        idx = self.indices(x)
        return self.embeddings[idx], idx

    def backward(self, dy: np.ndarray, cache: np.ndarray) -> tuple[None, list[np.ndarray]]:
        """d embeddings: each row of ``dy`` added at its index (repeated indices add up)."""
        d_table = np.zeros_like(self.embeddings)                      # (input_dim, output_dim)
        np.add.at(d_table, cache.reshape(-1), dy.reshape(-1, self.output_dim))
        return None, [d_table]

    def param_formula(self) -> str:
        n, d = self.input_dim, self.output_dim
        return f"input_dim·output_dim = {n}·{d} = {n * d}  [embeddings {n * d}]"

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                **self.penalty_config(), "mask_zero": self.mask_zero, "quantization_config": None}
