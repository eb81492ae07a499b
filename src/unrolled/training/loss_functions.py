"""The per-sample loss functions, each beside its backward, with Keras 3's values and
the exact gradients Keras's autodiff produces.

Shapes (named axes): ``y_pred`` is ``(batch, ..., outputs)`` -- e.g. ``(batch, outputs)``
or ``(batch, timesteps, outputs)`` for per-timestep outputs; ``y_true`` has the same
shape, or for the sparse loss ``(batch, ...)`` integer class labels.

Every loss is a pure per-sample function beside its backward:

* ``values = f(y_true, y_pred)`` reduces the last axis: shape ``(batch, ...)``;
* ``d_y_pred = f_backward(y_true, y_pred, d_values)``.

Matching Keras in detail:

* probabilities are clipped to ``[1e-7, 1 - 1e-7]`` (``keras.backend.epsilon()``) before
  the log, so the gradient is **zero** where a probability lies outside that range;
* categorical losses first renormalise ``y_pred`` to sum to 1 over the class axis, and
  the gradient flows through that division;
* ``label_smoothing`` mixes ``y_true`` with 0.5 (binary) or ``1 / classes`` (categorical).

The :class:`~unrolled.training.losses.Loss` objects wrap these functions with Keras's
casting, rank alignment and reduction.
"""
from __future__ import annotations

import numpy as np

Array = np.ndarray
EPSILON = 1e-7                          # keras.backend.epsilon()


# -- per-sample functions and their backward passes --------------------------------------
# Each backward returns dL/dy_pred given d_values = dL/dvalues (shape of values).

def mean_squared_error(y_true: Array, y_pred: Array) -> Array:
    """``mean((y_true - y_pred)**2, axis=-1)``: (batch, ..., n) -> (batch, ...)."""
    # np.mean's numbers (the same pairwise sum, then one correctly rounded division by n)
    # without its Python wrapper, which cost more than the arithmetic on a small batch.
    e = y_true - y_pred
    return np.add.reduce(e * e, axis=-1) / e.dtype.type(e.shape[-1])


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



def _tau(y_pred: Array, quantiles: Array) -> Array:
    """``τ`` of each output: the last axis holds ``K`` groups of ``Q`` quantiles
    (quantile-innermost), so output ``j`` has quantile ``quantiles[j % Q]``."""
    q = np.asarray(quantiles, dtype=y_pred.dtype)
    return np.tile(q, y_pred.shape[-1] // len(q))


def pinball(y_true: Array, y_pred: Array, quantiles: Array = (0.5,)) -> Array:
    """``mean(max(τ e, (τ - 1) e), axis=-1)`` with ``e = y_true - y_pred``.

    The quantile (pinball) loss: under-forecasting the ``τ``-quantile costs ``τ`` per
    unit, over-forecasting it ``1 - τ``; its minimiser over a distribution is that
    distribution's ``τ``-quantile. ``y_true`` already repeated to ``y_pred``'s shape."""
    tau = _tau(y_pred, quantiles)
    e = y_true - y_pred
    return np.mean(np.maximum(tau * e, (tau - 1) * e), axis=-1)


def pinball_backward(y_true: Array, y_pred: Array, d_values: Array,
                     quantiles: Array = (0.5,)) -> Array:
    # d/dp max(τe, (τ-1)e) = -τ where e > 0, 1 - τ where e < 0; at e = 0 the first
    # branch, as TensorFlow's maximum (TF Addons' PinballLoss) differentiates a tie.
    tau = _tau(y_pred, quantiles)
    local = np.where(y_true - y_pred >= 0, -tau, 1 - tau)
    return (d_values[..., None] / y_pred.dtype.type(y_pred.shape[-1])) * local

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
