"""Optimizers with Keras 3 semantics and float32 numerics: SGD, Adam, AdamW, RMSprop, Adagrad
-- each optimizer's own update rule; ``get`` / ``serialize`` / ``deserialize`` by name.

What every optimizer shares (clipping, weight decay, EMA, accumulation, the order of
``apply`` and the layout of ``variables``) is the :class:`Optimizer` base in
:mod:`unrolled.training.optimizer_base`, re-exported here.

Each optimizer updates a list of NumPy arrays **in place** (layers hand out views that
share memory with packed weights, so rebinding would silently lose the update).

The update formulas follow Keras's PyTorch backend (``keras/src/backend/torch/optimizers``),
e.g. Adam's ``m = m * beta_1 + (1 - beta_1) * g`` rather than the TF form
``m += (g - m) * (1 - beta_1)``; the two differ only in float32 rounding. All arithmetic
runs in the variable's dtype, with Python constants rounded to it, as Keras does.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from . import keras_object_dict, lookup
from .optimizer_base import Optimizer
from .schedules import LearningRateSchedule

Array = np.ndarray


def _axpy(y: Array, alpha: float, x: Array, buf: Array | None = None) -> None:
    """``y += alpha * x`` in place, rounded once, as torch's fused ``add_(x, alpha=)``.

    Keras's torch backend does its ``+ (1 - beta) * g`` and ``- lr * g`` this way, and
    an FMA rounds differently from ``y + (alpha * x)``. For float32 the float64
    product is exact, so computing in float64 and rounding back reproduces the FMA.
    ``buf``: a float64 array of ``y``'s shape to compute in (else one is made).
    """
    a = y.dtype.type(alpha)                               # torch rounds alpha to the dtype first
    if y.dtype == np.float32:
        if buf is None:
            y[...] = y.astype(np.float64) + np.float64(a) * x.astype(np.float64)
        else:                                             # the same float64 operations
            np.multiply(x, np.float64(a), out=buf)
            np.add(y, buf, out=buf)
            y[...] = buf
    else:
        y += a * x


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum.

    ``m = momentum * m - lr * g``; then ``w += m``, or with Nesterov
    ``w += -lr * g; w += momentum * m``. Without momentum, ``w += -lr * g``.
    Slots: one ``momentum`` per variable, only when ``momentum != 0``.
    """

    def __init__(self, learning_rate: float | LearningRateSchedule = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        if isinstance(momentum, bool) or not 0 <= momentum <= 1:
            raise ConfigError(f"`momentum` must be a float between [0, 1]. Received: {momentum=}")
        self.momentum, self.nesterov = float(momentum), nesterov

    def _build_slots(self, variables: Sequence[Array]) -> None:
        self._m = self._add_slots(variables, ["momentum"])[0] if self.momentum != 0 else []

    def _update(self, i: int, g: Array, w: Array, lr: np.floating) -> None:
        if self.momentum == 0:
            _axpy(w, -lr, g)
            return
        m = self._m[i]
        m *= w.dtype.type(self.momentum)
        _axpy(m, -lr, g)
        if self.nesterov:
            _axpy(w, -lr, g)
            _axpy(w, self.momentum, m)
        else:
            w += m

    def _update_all(self, gs: list[Array], ws: list[Array], lr: np.floating) -> bool:
        # With plain momentum, ``_update`` once over all variables on the flat slots
        # (see Adam._update_all); without momentum or with Nesterov's, one at a time.
        if self.nesterov or not self._flat_ready(ws, "momentum", SGD._update):
            return False
        lr = lr.astype(ws[0].dtype)
        g = self._flat_grads(gs)
        m = self._flat["momentum"]
        m *= ws[0].dtype.type(self.momentum)
        _axpy(m, -lr, g, self._float64_buffer(g))
        self._apply_flat(ws, self._m, add=True)          # the slots' views, per variable
        return True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma & Ba) with Keras's epsilon placement (outside the square root,
    added to the *uncorrected* ``sqrt(v)``; the bias correction sits in ``alpha``)::

        t = iterations + 1
        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        v_hat = max(v_hat, v)                     # amsgrad only; used instead of v
        w -= alpha * m / (sqrt(v) + epsilon)

    Slots: ``momentum, velocity`` interleaved per variable, then ``velocity_hat`` (amsgrad).
    """

    def __init__(self, learning_rate: float | LearningRateSchedule = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False,
                 **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def _build_slots(self, variables: Sequence[Array]) -> None:
        self._m, self._v = self._add_slots(variables, ["momentum", "velocity"])
        self._v_hat = self._add_slots(variables, ["velocity_hat"])[0] if self.amsgrad else []

    def _update(self, i: int, g: Array, w: Array, lr: np.floating) -> None:
        t = w.dtype.type
        step = t(self.iterations + 1)
        b1_t, b2_t = np.power(t(self.beta_1), step), np.power(t(self.beta_2), step)
        alpha = lr * np.sqrt(t(1) - b2_t) / (t(1) - b1_t)
        m, v = self._m[i], self._v[i]
        m *= t(self.beta_1)
        _axpy(m, 1 - self.beta_1, g)
        v *= t(self.beta_2)
        _axpy(v, 1 - self.beta_2, g * g)
        if self.amsgrad:
            np.maximum(self._v_hat[i], v, out=self._v_hat[i])
            v = self._v_hat[i]
        w -= (m * alpha) / (np.sqrt(v) + t(self.epsilon))

    def _update_all(self, gs: list[Array], ws: list[Array], lr: np.floating) -> bool:
        # ``_update`` once over all variables: their slots are one flat array each, the
        # gradients are put end to end, and every operation is elementwise, so each
        # number is the one ``_update`` gives (a subclass's own ``_update`` is kept).
        if not self._flat_ready(ws, "momentum", Adam._update):
            return False
        flat, t = self._flat, ws[0].dtype.type
        step = t(self.iterations + 1)
        b1_t, b2_t = np.power(t(self.beta_1), step), np.power(t(self.beta_2), step)
        alpha = lr.astype(ws[0].dtype) * np.sqrt(t(1) - b2_t) / (t(1) - b1_t)
        g = self._flat_grads(gs)
        buf = self._float64_buffer(g)
        m, v = flat["momentum"], flat["velocity"]
        m *= t(self.beta_1)
        _axpy(m, 1 - self.beta_1, g, buf)
        v *= t(self.beta_2)
        _axpy(v, 1 - self.beta_2, g * g, buf)
        if self.amsgrad:
            np.maximum(flat["velocity_hat"], v, out=flat["velocity_hat"])
            v = flat["velocity_hat"]
        # (m * alpha) / (sqrt(v) + epsilon), the same operations into reused arrays
        update, parts = self._flat_buffer("_update", g.dtype)
        denominator = self._flat_buffer("_denominator", g.dtype)[0]
        np.multiply(m, alpha, out=update)
        np.sqrt(v, out=denominator)
        np.add(denominator, t(self.epsilon), out=denominator)
        np.divide(update, denominator, out=update)
        self._apply_flat(ws, parts)
        return True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay ``w *= 1 - weight_decay * lr`` before each update
    (the same mechanism every optimizer has; AdamW only makes it default to 0.004)."""

    def __init__(self, learning_rate: float | LearningRateSchedule = 0.001,
                 weight_decay: float = 0.004, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **kwargs: Any):
        if weight_decay is None:
            raise ConfigError("Argument `weight_decay` must be a float. "
                              "Received: weight_decay=None")
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum::

        v = rho * v + (1 - rho) * g**2
        a = rho * a + (1 - rho) * g               # centered only
        inc = lr * g / sqrt(v - a**2 + epsilon)   # (v + epsilon when not centered)
        mom = momentum * mom + inc; w -= mom      # (w -= inc when momentum == 0)

    Slots, one block per kind: ``velocity``, ``momentum`` (momentum > 0),
    ``average_gradient`` (centered).
    """

    def __init__(self, learning_rate: float | LearningRateSchedule = 0.001, rho: float = 0.9,
                 momentum: float = 0.0, epsilon: float = 1e-7, centered: bool = False,
                 **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def _build_slots(self, variables: Sequence[Array]) -> None:
        self._v = self._add_slots(variables, ["velocity"])[0]
        self._mom = self._add_slots(variables, ["momentum"])[0] if self.momentum > 0 else []
        self._avg = self._add_slots(variables, ["average_gradient"])[0] if self.centered else []

    def _update(self, i: int, g: Array, w: Array, lr: np.floating) -> None:
        t, v = w.dtype.type, self._v[i]
        v *= t(self.rho)
        _axpy(v, 1 - self.rho, g * g)
        denominator = v + t(self.epsilon)
        if self.centered:
            a = self._avg[i]
            a *= t(self.rho)
            _axpy(a, 1 - self.rho, g)
            denominator -= a * a
        increment = (g * lr) / np.sqrt(denominator)
        if self.momentum > 0:
            mom = self._mom[i]
            mom *= t(self.momentum)
            mom += increment
            w -= mom
        else:
            w -= increment

    def _update_all(self, gs: list[Array], ws: list[Array], lr: np.floating) -> bool:
        # ``_update`` once over all variables on the flat slots (see Adam._update_all).
        if not self._flat_ready(ws, "velocity", RMSprop._update):
            return False
        flat, t = self._flat, ws[0].dtype.type
        lr = lr.astype(ws[0].dtype)
        g = self._flat_grads(gs)
        buf = self._float64_buffer(g)
        v = flat["velocity"]
        v *= t(self.rho)
        _axpy(v, 1 - self.rho, g * g, buf)
        denominator = self._flat_buffer("_denominator", g.dtype)[0]
        np.add(v, t(self.epsilon), out=denominator)
        if self.centered:
            a = flat["average_gradient"]
            a *= t(self.rho)
            _axpy(a, 1 - self.rho, g, buf)
            denominator -= a * a
        increment, parts = self._flat_buffer("_update", g.dtype)
        np.multiply(g, lr, out=increment)                 # (g * lr) / sqrt(denominator)
        np.sqrt(denominator, out=denominator)
        np.divide(increment, denominator, out=increment)
        if self.momentum > 0:
            mom = flat["momentum"]
            mom *= t(self.momentum)
            mom += increment
            parts = self._mom                             # the slots' views, per variable
        self._apply_flat(ws, parts)
        return True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad: ``acc += g**2; w -= lr * g / sqrt(acc + epsilon)``.

    Slots: ``accumulator`` per variable, starting at ``initial_accumulator_value``.
    """

    def __init__(self, learning_rate: float | LearningRateSchedule = 0.001,
                 initial_accumulator_value: float = 0.1, epsilon: float = 1e-7, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    def _build_slots(self, variables: Sequence[Array]) -> None:
        init = self.initial_accumulator_value
        self._acc = self._add_slots(variables, ["accumulator"], fill=init)[0]

    def _update(self, i: int, g: Array, w: Array, lr: np.floating) -> None:
        acc = self._acc[i]
        acc += g * g
        w -= (g * lr) / np.sqrt(acc + w.dtype.type(self.epsilon))

    def _update_all(self, gs: list[Array], ws: list[Array], lr: np.floating) -> bool:
        # ``_update`` once over all variables on the flat slots (see Adam._update_all).
        if not self._flat_ready(ws, "accumulator", Adagrad._update):
            return False
        lr = lr.astype(ws[0].dtype)
        g = self._flat_grads(gs)
        acc = self._flat["accumulator"]
        acc += g * g
        update, parts = self._flat_buffer("_update", g.dtype)       # (g * lr) / sqrt(acc + eps)
        denominator = self._flat_buffer("_denominator", g.dtype)[0]
        np.multiply(g, lr, out=update)
        np.add(acc, ws[0].dtype.type(self.epsilon), out=denominator)
        np.sqrt(denominator, out=denominator)
        np.divide(update, denominator, out=update)
        self._apply_flat(ws, parts)
        return True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.__name__.lower(): cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad)}


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """Keras's serialized form, readable by ``keras.optimizers.deserialize``."""
    return keras_object_dict("keras.optimizers", type(optimizer).__name__, optimizer.get_config())


def deserialize(config: dict[str, Any]) -> Optimizer:
    """Inverse of :func:`serialize`; class names are case-insensitive, as in Keras."""
    cls = lookup(str(config.get("class_name", "")).lower(), OPTIMIZERS, "optimizer")
    return cls.from_config(dict(config.get("config", {})))


def get(identifier: str | dict[str, Any] | Optimizer) -> Optimizer:
    """An optimizer from a name (``"adam"``, ``"SGD"`` ...), a serialized dict, or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return lookup(identifier.lower(), OPTIMIZERS, "optimizer")()
    raise ConfigError(f"Could not interpret optimizer identifier: {identifier!r}")
