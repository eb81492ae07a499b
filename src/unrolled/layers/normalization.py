"""``BatchNormalization`` and ``LayerNormalization`` (Keras 3's layers).

BatchNormalization, ``axis`` the feature axis (default -1), statistics over every other axis::

    training (training=True and layer.trainable):
        μ = mean(x), σ² = mean((x - μ)²)            # biased; with a mask (batch, steps):
                                                     # Σ m·x / (Σ m + 1e-7), likewise σ²
        moving_mean     = moving_mean·momentum + μ·(1 - momentum)       # in place
        moving_variance = moving_variance·momentum + σ²·(1 - momentum)  # in place
    inference: μ, σ² = moving_mean, moving_variance
    y = (x - μ) / sqrt(σ² + epsilon) · gamma + beta

Weights in Keras's order: gamma (if scale), beta (if center) — trainable — then
moving_mean, moving_variance — non-trainable, saved with the model.
(Keras's PyTorch backend computes σ² as E[x²] - μ²; we use the two-pass form, equal up
to float rounding.)

LayerNormalization normalises each sample over ``axis`` (default -1, or a list of axes)::

    y = (x - mean_axis(x)) / sqrt(var_axis(x) + epsilon) · gamma + beta

Backward of both: with x̂ = (x - μ)·r, r = (σ² + ε)^-½ and g = dy·gamma over the
normalised group of size M, ``dx = r·(g - mean(g) - x̂·mean(g·x̂))`` (weighted by the mask
for masked batch statistics); dgamma = Σ dy·x̂, dbeta = Σ dy.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from ..core import initializers
from ..errors import ConfigError, InputShapeError
from .base import Layer
from .penalties import Penalized

_KERAS_EPSILON = 1e-7   # keras.backend.epsilon(), in the masked moments' denominator


def _number(value: Any, name: str, who: str, low: float | None = None) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.number))
            or not math.isfinite(value) or (low is not None and value < low)):
        raise ConfigError(f"{who}: {name} must be a finite number"
                          f"{'' if low is None else f' >= {low}'}, got {value!r}.")
    return float(value)


class NormCache(NamedTuple):
    xhat: np.ndarray            # normalised input, same shape as x
    r: np.ndarray               # 1/sqrt(var + eps), broadcastable to x
    weights: np.ndarray | None  # (batch statistics only) mask weights broadcast to x, or None
    total: Any                  # the statistics' denominator M (per group), or None: inference


class _Normalization(Penalized, Layer):
    _param_shape_built: tuple[int, ...]   # the gamma/beta shape, set in build
    axis_list: list[int]

    def __init__(self, center: bool, scale: bool, beta_initializer: Any, gamma_initializer: Any,
                 beta_regularizer: Any, gamma_regularizer: Any, beta_constraint: Any,
                 gamma_constraint: Any, **kwargs: Any) -> None:
        """The options of the affine part ``· gamma + beta`` both layers share."""
        kwargs.update(beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
                      beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        self._take_penalties(kwargs, ("gamma", "beta"))
        super().__init__(**kwargs)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self._param_shape_built = ()

    def _add_gamma_beta(self) -> None:
        """Create ``gamma`` (if scale) then ``beta`` (if center), of ``_param_shape_built``."""
        if self.scale:
            self.add_weight("gamma", self._param_shape_built, self.gamma_initializer)
        if self.center:
            self.add_weight("beta", self._param_shape_built, self.beta_initializer)

    def _affine_config(self, **after_scale: Any) -> dict[str, Any]:
        """Config entries of the affine part: center, scale (then ``after_scale``, in
        Keras's key order) and the two initializers."""
        return {"center": self.center, "scale": self.scale, **after_scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer)}

    def _weight_penalty_config(self) -> dict[str, Any]:
        """gamma's and beta's regularizers and constraints (these layers take no
        activity_regularizer argument)."""
        return {k: v for k, v in self.penalty_config().items() if k != "activity_regularizer"}

    @staticmethod
    def _standardize(x: np.ndarray, mean: np.ndarray, var: np.ndarray, epsilon: float
                     ) -> tuple[np.ndarray, np.ndarray]:
        """``x̂ = (x - μ)·r`` with ``r = 1/sqrt(σ² + epsilon)``, in x's dtype; returns (x̂, r)."""
        t = x.dtype.type
        r = (t(1) / np.sqrt(var + t(epsilon))).astype(x.dtype)
        return (x - mean) * r, r

    def _affine_grads(self, dy: np.ndarray, xhat: np.ndarray, reduce: tuple[int, ...]
                      ) -> tuple[np.ndarray, list[np.ndarray]]:
        """``g = dy·gamma`` (the gradient at x̂) and [dgamma, dbeta] (those that exist),
        summed over the ``reduce`` axes."""
        grads = []
        pshape = self._param_shape_built
        g = dy
        if self.scale:
            grads.append((dy * xhat).sum(axis=reduce).reshape(pshape))
            g = dy * self._weights["gamma"].reshape(self._bshape(dy.ndim))
        if self.center:
            grads.append(dy.sum(axis=reduce).reshape(pshape))
        return g, grads

    def _bshape(self, ndim: int) -> list[int]:
        """Shape that broadcasts a (param_shape) array against an ndim input."""
        shape = [1] * ndim
        for a, n in zip(self._axes(ndim), self._param_shape_built):
            shape[a] = n
        return shape

    def _axes(self, ndim: int) -> list[int]:
        return sorted(a % ndim for a in self.axis_list)

    def _affine(self, xhat: np.ndarray) -> np.ndarray:
        y = xhat
        if self.scale:
            y = y * self._weights["gamma"].reshape(self._bshape(xhat.ndim))
        if self.center:
            y = y + self._weights["beta"].reshape(self._bshape(xhat.ndim))
        return y

    def _affine_backward(self, dy: np.ndarray, cache: NormCache, reduce: tuple[int, ...]
                         ) -> tuple[np.ndarray, list[np.ndarray]]:
        xhat, r, w, total = cache
        g, grads = self._affine_grads(dy, xhat, reduce)
        if total is None:                      # fixed statistics: y is affine in x
            return (g * r).astype(dy.dtype, copy=False), grads
        # Every position's output depends on the statistics, masked ones too, so the sums
        # run over all positions; only the statistics' own dependence on x is weighted.
        mean_g = g.sum(axis=reduce, keepdims=True) / total
        mean_gx = (g * xhat).sum(axis=reduce, keepdims=True) / total
        if w is None:
            dx = r * (g - mean_g - xhat * mean_gx)
        else:   # Σ w·(x - μ) = μ·1e-7 is not exactly 0 under the masked mean's epsilon
            off = (w * xhat).sum(axis=reduce, keepdims=True) / total     # Σ w·x̂ / M
            dx = r * (g - w * (mean_g + xhat * mean_gx - off * mean_gx))
        return dx.astype(dy.dtype, copy=False), grads

    def param_formula(self) -> str:
        n = int(np.prod(self._param_shape_built)) if self.built else 0
        parts = [p for p, on in (("gamma", self.scale), ("beta", self.center)) if on]
        k = len(parts)
        if not k:
            return "0 (no weights)"
        return f"{k}·features = {k}·{n} = {k * n}  [{', '.join(f'{p} {n}' for p in parts)}]"


class BatchNormalization(_Normalization):
    """Normalise each feature with batch statistics in training, moving averages at
    inference. Input any rank >= 2; ``axis`` the feature axis."""

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", moving_mean_initializer: Any = "zeros",
                 moving_variance_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, synchronized: bool = False, renorm: bool = False,
                 renorm_clipping: Any = None, renorm_momentum: float = 0.99, **kwargs: Any) -> None:
        if renorm:
            raise ConfigError("BatchNormalization: renorm=True (batch renormalization) is not "
                              "supported by unrolled.")
        super().__init__(center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)
        who = "BatchNormalization"
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]            # Keras 2 files store the built axis as a list, e.g. [2]
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ConfigError(f"{who}: axis must be an integer, got {axis!r}.")
        self.axis = int(axis)
        self.axis_list = [self.axis]
        self.momentum = _number(momentum, "momentum", who)
        self.epsilon = _number(epsilon, "epsilon", who, low=0.0)
        self.synchronized = bool(synchronized)   # one device: nothing to synchronise
        self.renorm_clipping, self.renorm_momentum = renorm_clipping, renorm_momentum
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, input_shape):
        ndim = len(input_shape)
        if ndim < 2 or not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise InputShapeError(f"BatchNormalization: axis={self.axis} is not a feature axis of "
                                  f"input shape {tuple(input_shape)} (axis 0 is the batch).")
        n = input_shape[self.axis]
        if n is None:
            raise InputShapeError(f"BatchNormalization needs a known size on axis {self.axis}, "
                                  f"got input shape {tuple(input_shape)}.")
        self._param_shape_built = (int(n),)
        self._add_gamma_beta()
        self.add_weight("moving_mean", (n,), self.moving_mean_initializer)
        self.add_weight("moving_variance", (n,), self.moving_variance_initializer)
        super().build(input_shape)

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        if not self.trainable:
            return []
        return [self._weights[k] for k in ("gamma", "beta") if k in self._weights]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        if not self.trainable:
            return self.weights
        return [self._weights[k] for k in ("moving_mean", "moving_variance") if k in self._weights]

    @property
    def moving_mean(self) -> np.ndarray:
        return self._weight("moving_mean")

    @property
    def moving_variance(self) -> np.ndarray:
        return self._weight("moving_variance")

    def validate_input(self, shape):
        ndim = len(shape)
        if ndim < 2:
            raise InputShapeError(f"BatchNormalization {self.name!r} expects input of rank >= 2 "
                                  f"(batch, ..., features), got shape {tuple(shape)}.")
        if self.built and (not -ndim <= self.axis < ndim or shape[self.axis] != self._param_shape_built[0]):
            raise InputShapeError(f"BatchNormalization {self.name!r} expects {self._param_shape_built[0]} "
                                  f"features on axis {self.axis}, got shape {tuple(shape)}.")

    def _reduce(self, ndim: int) -> tuple[int, ...]:
        return tuple(a for a in range(ndim) if a != self.axis % ndim)

    def forward(self, x, training=False, mask=None, **kwargs):
        reduce = self._reduce(x.ndim)
        bshape = self._bshape(x.ndim)
        t = x.dtype.type
        if training and self.trainable:
            w = None
            if mask is None:
                total = t(np.prod([x.shape[a] for a in reduce]))
                mean = x.mean(axis=reduce, keepdims=True)
                var = np.square(x - mean).mean(axis=reduce, keepdims=True)
            else:
                m = np.asarray(mask).astype(bool)
                if m.ndim != x.ndim - 1:
                    raise InputShapeError(f"BatchNormalization {self.name!r}: the mask must have one "
                                          f"axis less than the input; got mask {m.shape}, input {x.shape}.")
                w = np.broadcast_to(m[..., None], x.shape).astype(x.dtype)
                total = w.sum(axis=reduce, keepdims=True) + t(_KERAS_EPSILON)
                mean = (w * x).sum(axis=reduce, keepdims=True) / total
                var = (w * np.square(x - mean)).sum(axis=reduce, keepdims=True) / total
            mom = t(self.momentum)
            self.moving_mean[...] = self.moving_mean * mom + mean.reshape(-1) * (t(1) - mom)
            self.moving_variance[...] = self.moving_variance * mom + var.reshape(-1) * (t(1) - mom)
        else:
            w, total = None, None
            mean = self.moving_mean.reshape(bshape)
            var = self.moving_variance.reshape(bshape)
        xhat, r = self._standardize(x, mean, var, self.epsilon)
        return self._affine(xhat).astype(x.dtype, copy=False), NormCache(xhat, r, w, total)

    def backward(self, dy, cache):
        return self._affine_backward(dy, cache, self._reduce(dy.ndim))

    def param_formula(self) -> str:
        n = self._param_shape_built[0] if self.built else 0
        parts = [p for p, on in (("gamma", self.scale), ("beta", self.center)) if on]
        k = len(parts) + 2
        listed = ", ".join([f"{p} {n}" for p in parts] + [f"moving_mean {n}, moving_variance {n} (non-trainable)"])
        return f"{k}·features = {k}·{n} = {k * n}  [{listed}]"

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, **self._affine_config(),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
                **self._weight_penalty_config(),
                "synchronized": self.synchronized, "renorm": False,
                "renorm_clipping": self.renorm_clipping, "renorm_momentum": self.renorm_momentum}


class LayerNormalization(_Normalization):
    """Normalise each sample over ``axis`` (the features by default), then scale and shift."""

    def __init__(self, axis: Any = -1, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, rms_scaling: bool = False, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, **kwargs: Any) -> None:
        if rms_scaling:
            raise ConfigError("LayerNormalization: rms_scaling=True (deprecated in Keras) is not "
                              "supported by unrolled.")
        super().__init__(center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)
        who = "LayerNormalization"
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
            raise ConfigError(f"{who}: axis must be an integer or a list of integers, got {axis!r}.")
        self.axis = [int(a) for a in axes] if isinstance(axis, (list, tuple)) else int(axis)
        self.axis_list = [int(a) for a in axes]
        self.epsilon = _number(epsilon, "epsilon", who, low=0.0)

    def build(self, input_shape):
        ndim = len(input_shape)
        if any(not -ndim <= a < ndim or a % ndim == 0 for a in self.axis_list):
            raise InputShapeError(f"LayerNormalization: axis={self.axis} does not fit input shape "
                                  f"{tuple(input_shape)} (axis 0 is the batch).")
        shape = tuple(input_shape[a] for a in self._axes(ndim))
        if any(d is None for d in shape):
            raise InputShapeError(f"LayerNormalization needs known sizes on axis {self.axis}, got "
                                  f"input shape {tuple(input_shape)}.")
        self._param_shape_built = tuple(int(d) for d in shape)
        self._add_gamma_beta()
        super().build(input_shape)

    def validate_input(self, shape):
        ndim = len(shape)
        if ndim < 2:
            raise InputShapeError(f"LayerNormalization {self.name!r} expects input of rank >= 2, got "
                                  f"shape {tuple(shape)}.")
        if self.built:
            ok = all(-ndim <= a < ndim for a in self.axis_list)
            if not ok or tuple(shape[a] for a in self._axes(ndim)) != self._param_shape_built:
                raise InputShapeError(f"LayerNormalization {self.name!r} expects sizes "
                                      f"{self._param_shape_built} on axis {self.axis}, got shape {tuple(shape)}.")

    def forward(self, x, training=False, **kwargs):
        axes = tuple(self._axes(x.ndim))
        t = x.dtype.type
        mean = x.mean(axis=axes, keepdims=True)
        var = np.square(x - mean).mean(axis=axes, keepdims=True)
        xhat, r = self._standardize(x, mean, var, self.epsilon)
        total = t(np.prod([x.shape[a] for a in axes]))
        return self._affine(xhat).astype(x.dtype, copy=False), NormCache(xhat, r, None, total)

    def backward(self, dy, cache):
        axes = tuple(self._axes(dy.ndim))
        xhat, r, _, total = cache
        reduce = tuple(a for a in range(dy.ndim) if a not in axes)
        g, grads = self._affine_grads(dy, xhat, reduce)
        mean_g = g.mean(axis=axes, keepdims=True)
        mean_gx = (g * xhat).mean(axis=axes, keepdims=True)
        dx = r * (g - mean_g - xhat * mean_gx)
        return dx.astype(dy.dtype, copy=False), grads

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                **self._affine_config(rms_scaling=False), **self._weight_penalty_config()}
