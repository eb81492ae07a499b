"""Loss objects with Keras 3's names, arguments, configs and ``__call__`` pipeline, plus
``value_and_grad`` for training; ``get`` / ``serialize`` / ``deserialize`` by Keras name.

A :class:`Loss` turns ``(y_true, y_pred, sample_weight)`` into one number, as Keras does:

* ``y_true`` and ``y_pred`` are first cast to the loss dtype (float32 by default) and,
  when their ranks differ by one, the trailing size-1 axis is squeezed or added
  (``(batch,)`` labels against ``(batch, 1)`` predictions);
* a per-sample function (:mod:`unrolled.training.loss_functions`, each beside its
  backward) gives ``values`` of shape ``(batch, ...)``;
* Keras's reduction (:mod:`unrolled.training.loss_reduction`) applies ``sample_weight``
  and averages: ``sum(values * sample_weight) / values.size`` by default.

The per-sample functions and the reduction helpers are re-exported here, so
``unrolled.training.losses.mean_squared_error`` keeps working.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError, InputShapeError
from . import keras_object_dict, lookup
from .loss_functions import (
    EPSILON,
    binary_crossentropy,
    binary_crossentropy_backward,
    categorical_crossentropy,
    categorical_crossentropy_backward,
    huber,
    huber_backward,
    mean_absolute_error,
    mean_absolute_error_backward,
    mean_squared_error,
    mean_squared_error_backward,
    pinball,
    pinball_backward,
    sparse_categorical_crossentropy,
    sparse_categorical_crossentropy_backward,
)
from .loss_reduction import reduce_weighted_values, squeeze_or_expand_to_same_rank

Array = np.ndarray
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


# -- loss objects -------------------------------------------------------------------------

def _float_dtype(dtype: Any) -> np.dtype:
    if isinstance(dtype, dict):                        # a serialized Keras DTypePolicy
        dtype = dtype.get("config", {}).get("name")
    dt = np.dtype(dtype or "float32")
    if dt.kind != "f":
        raise ConfigError(f"Loss dtype must be a float dtype, received dtype={dtype!r}")
    return dt


class Loss:
    """Base: Keras's ``__call__`` pipeline plus ``value_and_grad``.

    Subclasses implement ``_values(y_true, y_pred) -> (values, mask)`` and
    ``_backward(y_true, y_pred, d_values) -> d_y_pred`` on aligned, cast arrays.
    """

    default_name = "loss"

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = None,
                 dtype: Any = None):
        if reduction not in REDUCTIONS:
            raise ConfigError(f"Invalid value for argument `reduction`. Expected one of "
                              f"{list(REDUCTIONS)}. Received: reduction={reduction!r}")
        self.reduction = reduction
        self.name = name or self.default_name
        self.dtype = _float_dtype(dtype)

    def _prepare(self, y_true: Any, y_pred: Any) -> tuple[Array, Array]:
        y_true, y_pred = squeeze_or_expand_to_same_rank(
            np.asarray(y_true, dtype=self.dtype), np.asarray(y_pred, dtype=self.dtype))
        if y_true.shape != y_pred.shape:
            raise InputShapeError(f"{type(self).__name__}: y_true has shape {y_true.shape} but "
                                  f"y_pred has shape {y_pred.shape}; they must match.")
        return y_true, y_pred

    def _values(self, y_true: Array, y_pred: Array) -> tuple[Array, Array | None]:
        raise NotImplementedError

    def _backward(self, y_true: Array, y_pred: Array, d_values: Array) -> Array:
        raise NotImplementedError

    def _weights(self, sample_weight: Any) -> Array | None:
        return None if sample_weight is None else np.asarray(sample_weight, dtype=self.dtype)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None,
                 mask: Any = None) -> float | Array:
        """The reduced loss (a float; the weighted per-sample array for reduction "none").

        ``mask`` is the mask ``y_pred`` carries (Keras's ``_keras_mask``), e.g. (batch,
        timesteps) after Masking: masked entries weigh 0 and, for "sum_over_batch_size"
        and "mean", the others ``mask.size / mask.sum()``, so the mean runs over the
        unmasked entries only."""
        yt, yp = self._prepare(y_true, y_pred)
        values, mask = _and_masks(mask, *self._values(yt, yp))
        loss, _ = reduce_weighted_values(values, self._weights(sample_weight), mask, self.reduction)
        return loss if self.reduction in (None, "none") else float(loss)

    def value_and_grad(self, y_true: Any, y_pred: Any, sample_weight: Any = None,
                       mask: Any = None) -> tuple[float, Array]:
        """``(loss, dloss/dy_pred)``; the gradient has ``y_pred``'s shape and dtype
        (for ``from_logits``, it is the gradient with respect to the logits).
        ``mask``: the mask ``y_pred`` carries, as in :meth:`__call__`."""
        if self.reduction in (None, "none"):
            raise ConfigError("value_and_grad needs a scalar loss; reduction='none' gives one "
                              "value per sample.")
        if (sample_weight is None and mask is None and self.reduction == "sum_over_batch_size"
                and type(y_true) is np.ndarray and type(y_pred) is np.ndarray
                and y_true.dtype == self.dtype and y_pred.dtype == self.dtype
                and y_true.shape == y_pred.shape and type(self)._prepare is Loss._prepare):
            fast = self._plain_value_and_grad(y_true, y_pred)
            if fast is not None:
                return fast
        y_pred_in = np.asarray(y_pred)
        yt, yp = self._prepare(y_true, y_pred_in)
        values, mask = _and_masks(mask, *self._values(yt, yp))
        loss, d_values = reduce_weighted_values(values, self._weights(sample_weight), mask,
                                                self.reduction)
        grad = self._backward(yt, yp, d_values).reshape(y_pred_in.shape)
        out_dtype = y_pred_in.dtype if y_pred_in.dtype.kind == "f" else self.dtype
        return float(loss), grad.astype(out_dtype, copy=False)

    def _plain_value_and_grad(self, y_true: Array, y_pred: Array) -> tuple[float, Array] | None:
        """:meth:`value_and_grad` without weights or masks, for arrays already of the loss
        dtype and of one shape (a training step's usual call): the same numbers as
        :func:`reduce_weighted_values` gives -- the sum of the values over their count,
        each value's gradient ``1 / count`` -- without its general bookkeeping. None
        where the general path is needed (the loss has a mask of its own, no values)."""
        values, own_mask = self._values(y_true, y_pred)
        if own_mask is not None or values.ndim == 0 or values.size == 0:
            return None
        t = values.dtype.type
        divisor = t(values.size)
        loss = np.add.reduce(values, axis=None) / divisor
        d_values = np.full(values.shape, t(1) / divisor, dtype=values.dtype)
        grad = self._backward(y_true, y_pred, d_values).reshape(y_pred.shape)
        return float(loss), grad.astype(y_pred.dtype, copy=False)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Loss":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _and_masks(in_mask: Any, values: Array, out_mask: Array | None
               ) -> tuple[Array, Array | None]:
    """Keras's ``Loss.__call__``: the mask on ``y_pred`` and the loss's own mask
    (``ignore_class``) combine with ``&``; either alone is used as is."""
    if in_mask is None:
        return values, out_mask
    in_mask = np.asarray(in_mask, dtype=bool)
    return values, in_mask if out_mask is None else in_mask & out_mask


class _Pointwise(Loss):
    """A loss given by a per-sample function and its backward, plus fixed kwargs."""

    forward: Callable[..., Array]
    backward: Callable[..., Array]

    def _kwargs(self) -> dict[str, Any]:
        return {}

    def _values(self, y_true: Array, y_pred: Array) -> tuple[Array, None]:
        return type(self).forward(y_true, y_pred, **self._kwargs()), None

    def _backward(self, y_true: Array, y_pred: Array, d_values: Array) -> Array:
        return type(self).backward(y_true, y_pred, d_values, **self._kwargs())


def _check_axis(axis: int) -> None:
    if axis != -1:
        raise ConfigError(f"Only axis=-1 (the last axis holds the outputs) is supported; "
                          f"received axis={axis}.")


def _check_smoothing(label_smoothing: float) -> None:
    if not 0 <= label_smoothing <= 1:
        raise ConfigError(f"label_smoothing must be in [0, 1]; received {label_smoothing}.")


class MeanSquaredError(_Pointwise):
    """Mean of squared errors over the last axis, averaged over the batch."""

    default_name = "mean_squared_error"
    forward = staticmethod(mean_squared_error)
    backward = staticmethod(mean_squared_error_backward)

    def _plain_value_and_grad(self, y_true: Array, y_pred: Array) -> tuple[float, Array] | None:
        # The general path's bits with half the array passes: its gradient is
        # -(1/size / n) * (2 e), and 2 e and 2 c are exact, so it is e * (-2 c) here.
        if y_pred.ndim == 0 or y_pred.size == 0:
            return None
        e = y_true - y_pred                                           # (batch, ..., n)
        key = (e.shape, e.dtype)
        scalars = self.__dict__.get("_scalars")
        if scalars is None or scalars[0] != key:                      # worked out per shape
            t = e.dtype.type
            n = t(e.shape[-1])
            divisor = t(e.size // e.shape[-1])                        # the values' count
            scalars = self.__dict__["_scalars"] = (key, n, divisor, t(-2) * (t(1) / divisor / n))
        _, n, divisor, factor = scalars
        values = np.add.reduce(e * e, -1) / n
        loss = np.add.reduce(values, None) / divisor
        return float(loss), e * factor


class MeanAbsoluteError(_Pointwise):
    """Mean of absolute errors over the last axis, averaged over the batch."""

    default_name = "mean_absolute_error"
    forward = staticmethod(mean_absolute_error)
    backward = staticmethod(mean_absolute_error_backward)


class Huber(_Pointwise):
    """Quadratic for ``|error| <= delta``, linear beyond (see :func:`huber`).

    Unlike Keras 3.x, ``get_config`` keeps ``delta`` (Keras drops it, so a Keras
    round trip silently resets it to 1.0; Keras still accepts the key when loading).
    """

    default_name = "huber_loss"
    forward, backward = staticmethod(huber), staticmethod(huber_backward)

    def __init__(self, delta: float = 1.0, reduction: str | None = "sum_over_batch_size",
                 name: str | None = None, dtype: Any = None):
        super().__init__(reduction, name, dtype)
        if not delta >= 0:
            raise ConfigError(f"Huber delta must be >= 0; received delta={delta}.")
        self.delta = delta

    def _kwargs(self) -> dict[str, Any]:
        return {"delta": self.delta}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "delta": self.delta}


class Pinball(_Pointwise):
    """The quantile (pinball) loss of one or more quantiles (see :func:`pinball`).

    Keras 3 has no quantile loss; this follows TF Addons' ``PinballLoss(tau)`` (same
    values, same gradient, name ``"pinball_loss"``) and extends it to several quantiles
    at once: ``quantiles=(0.1, 0.5, 0.9)`` reads ``y_pred`` of shape ``(batch, ..., K·Q)``
    as ``K`` outputs times ``Q`` quantiles, quantile-innermost (output ``k·Q + q`` is
    quantile ``q`` of output ``k``), against ``y_true`` of shape ``(batch, ..., K)``
    (repeated ``Q`` times) or already ``(batch, ..., K·Q)``. The config holds
    ``quantiles``; the file of a model compiled with it loads in unrolled, and in Keras
    only with ``compile=False``.
    """

    default_name = "pinball_loss"
    forward, backward = staticmethod(pinball), staticmethod(pinball_backward)

    def __init__(self, quantiles: Any = (0.5,), reduction: str | None = "sum_over_batch_size",
                 name: str | None = None, dtype: Any = None, tau: float | None = None):
        super().__init__(reduction, name, dtype)
        if tau is not None:  # TF Addons' spelling of one quantile
            quantiles = (tau,)
        q = [float(v) for v in np.atleast_1d(np.asarray(quantiles, dtype=np.float64))]
        if not q or not all(0 < v < 1 for v in q):
            raise ConfigError(f"Pinball quantiles must be numbers strictly between 0 and 1; "
                              f"received quantiles={list(q)}.")
        self.quantiles = q

    def _kwargs(self) -> dict[str, Any]:
        return {"quantiles": self.quantiles}

    def _prepare(self, y_true: Any, y_pred: Any) -> tuple[Array, Array]:
        yt = np.asarray(y_true, dtype=self.dtype)
        yp = np.asarray(y_pred, dtype=self.dtype)
        q = len(self.quantiles)
        if yp.ndim == 0 or yp.shape[-1] % q:
            raise InputShapeError(
                f"Pinball with {q} quantiles expects y_pred's last axis to hold K outputs x "
                f"{q} quantiles, got shape {yp.shape}; is the model's output built for "
                f"quantiles={self.quantiles}?")
        if q > 1 and yt.ndim == yp.ndim and yt.shape[-1] * q == yp.shape[-1]:
            yt = np.repeat(yt, q, axis=-1)  # (..., K) -> (..., K·Q), quantile-innermost
        return super()._prepare(yt, yp)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "quantiles": list(self.quantiles)}


class _Crossentropy(_Pointwise):
    """Shared constructor and config of the binary and categorical cross-entropies."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction: str | None = "sum_over_batch_size", name: str | None = None,
                 dtype: Any = None):
        super().__init__(reduction, name, dtype)
        _check_axis(axis)
        _check_smoothing(label_smoothing)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def _kwargs(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class BinaryCrossentropy(_Crossentropy):
    """Binary cross-entropy of independent outputs, mean over the last axis."""

    default_name = "binary_crossentropy"
    forward = staticmethod(binary_crossentropy)
    backward = staticmethod(binary_crossentropy_backward)


class CategoricalCrossentropy(_Crossentropy):
    """Cross-entropy against one-hot (or soft) targets over the last (class) axis."""

    default_name = "categorical_crossentropy"
    forward = staticmethod(categorical_crossentropy)
    backward = staticmethod(categorical_crossentropy_backward)

    def _values(self, y_true: Array, y_pred: Array) -> tuple[Array, None]:
        if y_pred.shape[-1] == 1:
            warnings.warn("In loss categorical_crossentropy, expected y_pred.shape to be "
                          "(batch_size, num_classes) with num_classes > 1. Received: "
                          f"y_pred.shape={y_pred.shape}. Consider using 'binary_crossentropy' "
                          "if you only have 2 classes.", UserWarning, stacklevel=3)
        return super()._values(y_true, y_pred)


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy against integer labels: ``y_true`` (batch, ...) or (batch, ..., 1),
    ``y_pred`` (batch, ..., classes). Labels equal to ``ignore_class`` contribute
    nothing, and the mean runs over the remaining entries."""

    default_name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits: bool = False, ignore_class: int | None = None,
                 reduction: str | None = "sum_over_batch_size", axis: int = -1,
                 name: str | None = None, dtype: Any = None):
        super().__init__(reduction, name, dtype)
        _check_axis(axis)
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis

    def _prepare(self, y_true: Any, y_pred: Any) -> tuple[Array, Array]:
        y_true, y_pred = squeeze_or_expand_to_same_rank(
            np.asarray(y_true, dtype=self.dtype), np.asarray(y_pred, dtype=self.dtype))
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        if y_true.shape != y_pred.shape[:-1]:
            raise InputShapeError(
                f"SparseCategoricalCrossentropy: labels y_true of shape {y_true.shape} must have "
                f"y_pred's shape {y_pred.shape} without its class axis, i.e. {y_pred.shape[:-1]}; "
                "for one-hot targets use CategoricalCrossentropy.")
        return y_true, y_pred

    def _labels(self, y_true: Array, classes: int) -> tuple[Array, Array | None]:
        """Integer labels (0 where ignored) and the validity mask (None: all valid)."""
        valid = None if self.ignore_class is None else y_true != self.dtype.type(self.ignore_class)
        labels = y_true.astype(np.int64)
        if valid is not None:
            labels = np.where(valid, labels, 0)
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise InputShapeError(f"Labels must be integers in [0, {classes}) for y_pred with "
                                  f"{classes} classes; got values in [{labels.min()}, "
                                  f"{labels.max()}].")
        return labels, valid

    def _values(self, y_true: Array, y_pred: Array) -> tuple[Array, Array | None]:
        labels, valid = self._labels(y_true, y_pred.shape[-1])
        if valid is None:
            return sparse_categorical_crossentropy(labels, y_pred, self.from_logits), None
        safe = np.where(valid[..., None], y_pred, 1)  # ignored rows: any finite input
        values = sparse_categorical_crossentropy(labels, safe, self.from_logits)
        return np.where(valid, values, 0).astype(y_pred.dtype, copy=False), valid

    def _backward(self, y_true: Array, y_pred: Array, d_values: Array) -> Array:
        labels, valid = self._labels(y_true, y_pred.shape[-1])
        if valid is None:
            return sparse_categorical_crossentropy_backward(labels, y_pred, d_values,
                                                            self.from_logits)
        safe = np.where(valid[..., None], y_pred, 1)
        grad = sparse_categorical_crossentropy_backward(labels, safe, d_values, self.from_logits)
        return np.where(valid[..., None], grad, 0).astype(y_pred.dtype, copy=False)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits,
                "ignore_class": self.ignore_class}


_CLASSES = (MeanSquaredError, MeanAbsoluteError, Huber, BinaryCrossentropy,
            CategoricalCrossentropy, SparseCategoricalCrossentropy, Pinball)
LOSSES: dict[str, type[Loss]] = {
    **{cls.__name__: cls for cls in _CLASSES},
    **{cls.default_name: cls for cls in _CLASSES},
    "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "huber": Huber, "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
    "PinballLoss": Pinball, "pinball": Pinball, "quantile": Pinball,
}


def serialize(loss: Loss) -> dict[str, Any]:
    """Keras's serialized form, readable by ``keras.losses.deserialize``."""
    return keras_object_dict("keras.losses", type(loss).__name__, loss.get_config())


def deserialize(config: dict[str, Any]) -> Loss:
    """Inverse of :func:`serialize`; also reads Keras's form for a loss *function*
    (``{"class_name": "function", "config": "mean_squared_error", ...}``)."""
    if config.get("class_name") == "function":
        return lookup(config.get("config"), LOSSES, "loss")()
    cls = lookup(config.get("class_name"), LOSSES, "loss")
    return cls.from_config(dict(config.get("config", {})))


def get(identifier: str | dict[str, Any] | Loss) -> Loss:
    """A loss from a Keras name (``"mse"``, ``"binary_crossentropy"``,
    ``"MeanSquaredError"`` ...), a serialized dict, or an instance."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return lookup(identifier, LOSSES, "loss")()
    raise ConfigError(f"Could not interpret loss identifier: {identifier!r}")


__all__ = [
    "EPSILON", "LOSSES", "REDUCTIONS", "BinaryCrossentropy", "CategoricalCrossentropy", "Huber",
    "Loss", "MeanAbsoluteError", "MeanSquaredError", "Pinball", "SparseCategoricalCrossentropy",
    "binary_crossentropy", "binary_crossentropy_backward", "categorical_crossentropy",
    "categorical_crossentropy_backward", "deserialize", "get", "huber", "huber_backward",
    "mean_absolute_error", "mean_absolute_error_backward", "mean_squared_error",
    "mean_squared_error_backward", "pinball", "pinball_backward", "reduce_weighted_values",
    "serialize",
    "sparse_categorical_crossentropy", "sparse_categorical_crossentropy_backward",
    "squeeze_or_expand_to_same_rank",
]
