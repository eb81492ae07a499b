"""Keras's reduction of per-sample loss values to one loss, with its gradient.

``values * sample_weight`` is summed and divided by the number of entries of ``values``
(``"sum_over_batch_size"``, the default -- *not* by the sum of the weights); the other
reductions are ``"sum"``, ``"mean"``, ``"mean_with_sample_weight"`` and ``"none"``.
Before that, arrays whose ranks differ by one are aligned as Keras aligns them
(:func:`squeeze_or_expand_to_same_rank`).
"""
from __future__ import annotations

import numpy as np

from ..errors import InputShapeError

Array = np.ndarray


def squeeze_or_expand_to_same_rank(x1: Array, x2: Array, expand_rank_1: bool = True
                                   ) -> tuple[Array, Array]:
    """Keras's rank alignment: if the ranks differ by one and the longer array ends in a
    size-1 axis, squeeze it -- or, when the shorter array is 1-D, expand that instead."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


# -- reduction ---------------------------------------------------------------------------

def _unbroadcast(g: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``g`` over the axes numpy broadcasting added or stretched to reach ``shape``."""
    g = np.sum(g, axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return np.sum(g, axis=axes, keepdims=True) if axes else g


def mask_weights(mask: Array, reduction: str | None, dtype: np.dtype) -> Array:
    """Keras's ``apply_mask``: the weights a mask stands for. For "sum_over_batch_size"
    and "mean", ``mask.size / mask.sum()`` on unmasked entries (0 if none), so that the
    mean over all entries becomes the mean over unmasked ones; else the 0/1 mask."""
    t = np.dtype(dtype).type
    if reduction in ("mean", "sum_over_batch_size"):
        valid = np.sum(mask)
        return np.where(mask, t(mask.size) / t(valid) if valid else t(0), t(0))
    return np.asarray(mask, dtype=dtype)


def _broadcastable(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(m == n or 1 in (m, n) for m, n in zip(a[::-1], b[::-1]))


def reduce_weighted_values(values: Array, sample_weight: Array | None, mask: Array | None,
                           reduction: str | None) -> tuple[Array, Array]:
    """Keras's ``reduce_weighted_values``; returns ``(loss, d_loss/d_values)``.

    ``mask`` (from ``ignore_class``) turns into weights ``total / valid`` on valid entries
    so that the mean runs over valid entries only.
    """
    t = values.dtype.type
    if mask is not None:
        weights = mask_weights(mask, reduction, values.dtype)
        if sample_weight is not None:
            weights, sample_weight = squeeze_or_expand_to_same_rank(weights, sample_weight)
            # Keras multiplies in place (``sample_weight *= mask``), so it accepts only
            # weights of the mask's shape; (batch,) weights against a (batch, T) mask fail
            # there and here. (batch, 1) also fails in Keras; here it broadcasts over T.
            if sample_weight.ndim < weights.ndim or not _broadcastable(sample_weight.shape,
                                                                        weights.shape):
                raise InputShapeError(
                    f"sample_weight of shape {sample_weight.shape} does not match the output "
                    f"mask of shape {weights.shape} (from Masking); pass per-timestep weights "
                    "of shape (batch, timesteps), or per-sample weights as (batch, 1).")
            sample_weight = sample_weight * weights
        else:
            sample_weight = weights
    v = values
    if sample_weight is not None:
        v, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        try:
            weighted = v * sample_weight
        except ValueError:
            raise InputShapeError(
                f"sample_weight of shape {sample_weight.shape} does not broadcast against the "
                f"per-sample losses of shape {v.shape}; for per-timestep outputs pass weights "
                "of shape (batch, 1) or (batch, timesteps).") from None
    else:
        weighted = v
    d_weighted = np.ones_like(weighted)
    if reduction in (None, "none") or weighted.shape in ((), (0,)):
        loss = weighted                                  # Keras returns these unreduced
    else:
        loss = np.sum(weighted)
        if reduction != "sum":
            if reduction == "mean_with_sample_weight" and sample_weight is not None:
                divisor = t(np.sum(sample_weight))
            else:
                divisor = t(weighted.size)
            loss = loss / divisor if divisor != 0 else t(0)            # divide_no_nan
            d_weighted *= t(1) / divisor if divisor != 0 else t(0)
    d_v = d_weighted * sample_weight if sample_weight is not None else d_weighted
    return loss, _unbroadcast(d_v, v.shape).reshape(values.shape).astype(values.dtype, copy=False)
