"""Losses with Keras 3 values and the exact gradients Keras's autodiff produces.

Shapes (named axes): ``y_pred`` is ``(batch, ..., outputs)`` -- e.g. ``(batch, outputs)``
or ``(batch, timesteps, outputs)`` for per-timestep outputs; ``y_true`` has the same
shape, or for the sparse loss ``(batch, ...)`` integer class labels.

Every loss is a pure per-sample function beside its backward:

* ``values = f(y_true, y_pred)`` reduces the last axis: shape ``(batch, ...)``;
* ``d_y_pred = f_backward(y_true, y_pred, d_values)``.

and the :class:`Loss` object applies Keras's reduction: ``values * sample_weight``,
summed, divided by the number of entries of ``values`` (``"sum_over_batch_size"``,
the default -- *not* by the sum of the weights). Matching Keras in detail:

* ``y_true`` and ``y_pred`` are first cast to the loss dtype (float32 by default) and,
  when their ranks differ by one, the trailing size-1 axis is squeezed or added
  (``(batch,)`` labels against ``(batch, 1)`` predictions);
* probabilities are clipped to ``[1e-7, 1 - 1e-7]`` (``keras.backend.epsilon()``) before
  the log, so the gradient is **zero** where a probability lies outside that range;
* categorical losses first renormalise ``y_pred`` to sum to 1 over the class axis, and
  the gradient flows through that division;
* ``label_smoothing`` mixes ``y_true`` with 0.5 (binary) or ``1 / classes`` (categorical).
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError, InputShapeError
from . import keras_object_dict, lookup

Array = np.ndarray
EPSILON = 1e-7                          # keras.backend.epsilon()
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


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


# -- per-sample functions and their backward passes --------------------------------------
# Each backward returns dL/dy_pred given d_values = dL/dvalues (shape of values).

def mean_squared_error(y_true: Array, y_pred: Array) -> Array:
    """``mean((y_true - y_pred)**2, axis=-1)``: (batch, ..., n) -> (batch, ...)."""
    return np.mean(np.square(y_true - y_pred), axis=-1)


def mean_squared_error_backward(y_true: Array, y_pred: Array, d_values: Array) -> Array:
    # d/dp (t - p)^2 = -2 (t - p); the mean over n outputs divides by n.
    return -(d_values[..., None] / y_pred.dtype.type(y_pred.shape[-1])) * (2 * (y_true - y_pred))


def mean_absolute_error(y_true: Array, y_pred: Array) -> Array:
    """``mean(|y_true - y_pred|, axis=-1)``."""
    return np.mean(np.abs(y_true - y_pred), axis=-1)


def mean_absolute_error_backward(y_true: Array, y_pred: Array, d_values: Array) -> Array:
    # sign(0) = 0: a perfect prediction gets zero gradient, as in autodiff of abs.
    return -(d_values[..., None] / y_pred.dtype.type(y_pred.shape[-1])) * np.sign(y_true - y_pred)


def huber(y_true: Array, y_pred: Array, delta: float = 1.0) -> Array:
    """``mean(0.5 e**2 if |e| <= delta else delta |e| - 0.5 delta**2)``, ``e = y_pred - y_true``."""
    t = y_pred.dtype.type
    e = y_pred - y_true
    a = np.abs(e)
    return np.mean(np.where(a <= t(delta), t(0.5) * np.square(e),
                            t(delta) * a - t(0.5) * np.square(t(delta))), axis=-1)


def huber_backward(y_true: Array, y_pred: Array, d_values: Array, delta: float = 1.0) -> Array:
    t = y_pred.dtype.type
    e = y_pred - y_true
    local = np.where(np.abs(e) <= t(delta), e, t(delta) * np.sign(e))
    return (d_values[..., None] / t(y_pred.shape[-1])) * local


def _clip_probabilities(p: Array) -> tuple[Array, Array]:
    """Clip to [eps, 1-eps] (bounds rounded to p's dtype); also the mask where the clip
    passes gradient through (the bounds are inclusive, as in autodiff of clip)."""
    lo, hi = p.dtype.type(EPSILON), p.dtype.type(1.0 - EPSILON)
    return np.clip(p, lo, hi), (p >= lo) & (p <= hi)


def _smooth_binary(y_true: Array, label_smoothing: float) -> Array:
    t = y_true.dtype.type
    if not label_smoothing:
        return y_true
    return y_true * t(1.0 - label_smoothing) + t(0.5 * label_smoothing)


def _log_sigmoid(x: Array) -> Array:
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def _sigmoid(x: Array) -> Array:
    # exp(-|x|) <= 1 never overflows; equals torch's 1 / (1 + exp(-x)) for x >= 0.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def binary_crossentropy(y_true: Array, y_pred: Array, from_logits: bool = False,
                        label_smoothing: float = 0.0) -> Array:
    """``mean(-(y log p + (1-y) log(1-p)), axis=-1)`` with ``p`` clipped to [eps, 1-eps]
    (``from_logits``: ``p = sigmoid(y_pred)``, computed stably, no clipping)."""
    y = _smooth_binary(y_true, label_smoothing)
    t = y_pred.dtype.type
    if from_logits:          # (1 - y) x - log(sigmoid(x)), as torch's BCE-with-logits
        return np.mean((t(1) - y) * y_pred - _log_sigmoid(y_pred), axis=-1)
    p, _ = _clip_probabilities(y_pred)
    return np.mean((y - t(1)) * np.log1p(-p) - y * np.log(p), axis=-1)


def binary_crossentropy_backward(y_true: Array, y_pred: Array, d_values: Array,
                                 from_logits: bool = False, label_smoothing: float = 0.0) -> Array:
    y = _smooth_binary(y_true, label_smoothing)
    t = y_pred.dtype.type
    g = d_values[..., None] / t(y_pred.shape[-1])
    if from_logits:
        return (_sigmoid(y_pred) - y) * g
    p, passes = _clip_probabilities(y_pred)
    return np.where(passes, g * (p - y) / ((t(1) - p) * p), t(0))


def _smooth_categorical(y_true: Array, label_smoothing: float) -> Array:
    if not label_smoothing:
        return y_true
    t = y_true.dtype.type
    return y_true * t(1.0 - label_smoothing) + t(label_smoothing) / t(y_true.shape[-1])


def _log_softmax(x: Array) -> Array:
    z = x - np.max(x, axis=-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


def _log_probabilities(y_pred: Array) -> Array:
    """log of y_pred renormalised over the class axis, then clipped (Keras's CCE path)."""
    p, _ = _clip_probabilities(y_pred / np.sum(y_pred, axis=-1, keepdims=True))
    return np.log(p)


def _log_probabilities_backward(y_pred: Array, d_log_p: Array) -> Array:
    # Through log, the clip (zero where clipped) and q = y_pred / s, s = sum(y_pred):
    # dq/dy_pred gives d_q / s - sum(d_q * y_pred) / s^2 for every class of the row.
    s = np.sum(y_pred, axis=-1, keepdims=True)
    p, passes = _clip_probabilities(y_pred / s)
    d_q = np.where(passes, d_log_p / p, 0).astype(y_pred.dtype, copy=False)
    return d_q / s - np.sum(d_q * y_pred / (s * s), axis=-1, keepdims=True)


def _log_softmax_backward(y_pred: Array, d_log_p: Array) -> Array:
    log_p = _log_softmax(y_pred)
    return d_log_p - np.exp(log_p) * np.sum(d_log_p, axis=-1, keepdims=True)


def categorical_crossentropy(y_true: Array, y_pred: Array, from_logits: bool = False,
                             label_smoothing: float = 0.0) -> Array:
    """``-sum(y_true * log p, axis=-1)``, ``p`` = renormalised, clipped ``y_pred`` (or
    ``softmax(y_pred)`` from logits). Note: a sum over classes, not a mean."""
    y = _smooth_categorical(y_true, label_smoothing)
    log_p = _log_softmax(y_pred) if from_logits else _log_probabilities(y_pred)
    return -np.sum(y * log_p, axis=-1)


def categorical_crossentropy_backward(y_true: Array, y_pred: Array, d_values: Array,
                                      from_logits: bool = False,
                                      label_smoothing: float = 0.0) -> Array:
    d_log_p = -d_values[..., None] * _smooth_categorical(y_true, label_smoothing)
    backward = _log_softmax_backward if from_logits else _log_probabilities_backward
    return backward(y_pred, d_log_p)


def _one_hot(labels: Array, classes: int, dtype: np.dtype) -> Array:
    return (labels[..., None] == np.arange(classes)).astype(dtype)


def sparse_categorical_crossentropy(y_true: Array, y_pred: Array,
                                    from_logits: bool = False) -> Array:
    """``-log p[y_true]``: labels (batch, ...) against (batch, ..., classes)."""
    log_p = _log_softmax(y_pred) if from_logits else _log_probabilities(y_pred)
    return -np.take_along_axis(log_p, y_true[..., None], axis=-1)[..., 0]


def sparse_categorical_crossentropy_backward(y_true: Array, y_pred: Array, d_values: Array,
                                             from_logits: bool = False) -> Array:
    d_log_p = -d_values[..., None] * _one_hot(y_true, y_pred.shape[-1], y_pred.dtype)
    backward = _log_softmax_backward if from_logits else _log_probabilities_backward
    return backward(y_pred, d_log_p)


# -- reduction ---------------------------------------------------------------------------

def _unbroadcast(g: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``g`` over the axes numpy broadcasting added or stretched to reach ``shape``."""
    g = np.sum(g, axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return np.sum(g, axis=axes, keepdims=True) if axes else g


def reduce_weighted_values(values: Array, sample_weight: Array | None, mask: Array | None,
                           reduction: str | None) -> tuple[Array, Array]:
    """Keras's ``reduce_weighted_values``; returns ``(loss, d_loss/d_values)``.

    ``mask`` (from ``ignore_class``) turns into weights ``total / valid`` on valid entries
    so that the mean runs over valid entries only.
    """
    t = values.dtype.type
    if mask is not None:
        if reduction in ("mean", "sum_over_batch_size"):
            valid = np.sum(mask)
            weights = np.where(mask, t(mask.size) / t(valid) if valid else t(0), t(0))
        else:
            weights = mask.astype(values.dtype)
        if sample_weight is not None:
            weights, sample_weight = squeeze_or_expand_to_same_rank(weights, sample_weight)
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

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> float | Array:
        """The reduced loss (a float; the weighted per-sample array for reduction "none")."""
        yt, yp = self._prepare(y_true, y_pred)
        values, mask = self._values(yt, yp)
        loss, _ = reduce_weighted_values(values, self._weights(sample_weight), mask, self.reduction)
        return loss if self.reduction in (None, "none") else float(loss)

    def value_and_grad(self, y_true: Any, y_pred: Any, sample_weight: Any = None
                       ) -> tuple[float, Array]:
        """``(loss, dloss/dy_pred)``; the gradient has ``y_pred``'s shape and dtype
        (for ``from_logits``, it is the gradient with respect to the logits)."""
        if self.reduction in (None, "none"):
            raise ConfigError("value_and_grad needs a scalar loss; reduction='none' gives one "
                              "value per sample.")
        y_pred_in = np.asarray(y_pred)
        yt, yp = self._prepare(y_true, y_pred_in)
        values, mask = self._values(yt, yp)
        loss, d_values = reduce_weighted_values(values, self._weights(sample_weight), mask,
                                                self.reduction)
        grad = self._backward(yt, yp, d_values).reshape(y_pred_in.shape)
        out_dtype = y_pred_in.dtype if y_pred_in.dtype.kind == "f" else self.dtype
        return float(loss), grad.astype(out_dtype, copy=False)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Loss":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


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
            CategoricalCrossentropy, SparseCategoricalCrossentropy)
LOSSES: dict[str, type[Loss]] = {
    **{cls.__name__: cls for cls in _CLASSES},
    **{cls.default_name: cls for cls in _CLASSES},
    "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "huber": Huber, "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
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
