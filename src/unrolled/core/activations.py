"""Activation functions with Keras 3 definitions, each paired with its derivative.

Every activation is an :class:`Activation` with ``forward(x) -> y`` and
``backward(x, y, dy) -> dx``. Derivatives reuse the saved output where the math allows
(``1 - y*y`` for tanh, ``y*(1-y)`` for sigmoid); ``needs_input`` tells callers whether
the pre-activation ``x`` must be kept for the backward pass.

Definitions follow Keras 3 (which differ from Keras 2 in places):

* ``hard_sigmoid(x) = relu6(x + 3) / 6`` — slope 1/6, *not* Keras 2's ``0.2·x + 0.5``.
* ``legacy_hard_sigmoid(x) = clip(0.2·x + 0.5, 0, 1)`` is Keras 2's (and tf.keras 2's)
  ``hard_sigmoid``; files saved by Keras 2 that name ``hard_sigmoid`` load with it. Keras 3
  has no such activation, so a model using it cannot be saved for Keras 3.
* ``sigmoid`` is computed without overflow for any finite input.
* ``softmax`` normalises over the last axis.
* ``gelu`` is the exact (erf) form, Keras's default ``approximate=False``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import ConfigError

Array = np.ndarray


def sigmoid(x: Array) -> Array:
    """Logistic function, overflow-free: uses exp(-|x|) which is always <= 1."""
    e = np.exp(-np.abs(x))
    r = 1.0 / (1.0 + e)
    return np.where(x >= 0, r, e * r).astype(x.dtype, copy=False)


def hard_sigmoid(x: Array) -> Array:
    """Keras 3: relu6(x + 3) / 6, i.e. clip(x/6 + 1/2, 0, 1)."""
    return np.clip((x + 3.0) / 6.0, 0.0, 1.0).astype(x.dtype, copy=False)


def legacy_hard_sigmoid(x: Array) -> Array:
    """Keras 2: clip(0.2·x + 0.5, 0, 1)."""
    return np.clip(0.2 * x + 0.5, 0.0, 1.0).astype(x.dtype, copy=False)


def softmax(x: Array) -> Array:
    """Softmax over the last axis, shifted by the max for stability."""
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _softmax_backward(x: Array, y: Array, dy: Array) -> Array:
    # Jacobian-vector product of softmax: y * (dy - <dy, y>).
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _erf(x: Array) -> Array:
    return np.vectorize(math.erf, otypes=[x.dtype])(x) if x.size else x.copy()


@dataclass(frozen=True)
class Activation:
    """An elementwise (or last-axis) nonlinearity and its backward pass.

    ``backward(x, y, dy)`` returns dL/dx given dL/dy; ``x`` may be ``None`` when
    ``needs_input`` is False (the derivative is then written in terms of ``y``).
    """

    name: str
    forward: Callable[[Array], Array]
    backward: Callable[[Array | None, Array, Array], Array]
    needs_input: bool = False

    def __call__(self, x: Array) -> Array:
        return self.forward(x)

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"


def _gelu(x: Array) -> Array:
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0).astype(x.dtype)))


def _gelu_backward(x: Array, y: Array, dy: Array) -> Array:
    cdf = 0.5 * (1.0 + _erf(x / np.sqrt(2.0).astype(x.dtype)))
    pdf = np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)
    return dy * (cdf + x * pdf).astype(x.dtype, copy=False)


_ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation("tanh", np.tanh, lambda x, y, dy: dy * (1.0 - y * y)),
        Activation("sigmoid", sigmoid, lambda x, y, dy: dy * y * (1.0 - y)),
        Activation(
            "hard_sigmoid",
            hard_sigmoid,
            # Slope 1/6 strictly inside the linear piece, 0 on the flat parts.
            lambda x, y, dy: dy * (((y > 0) & (y < 1)) / 6.0).astype(y.dtype),
        ),
        Activation(
            "legacy_hard_sigmoid",
            legacy_hard_sigmoid,
            # Slope 0.2 strictly inside the linear piece, 0 on the flat parts.
            lambda x, y, dy: dy * (((y > 0) & (y < 1)) * 0.2).astype(y.dtype),
        ),
        Activation("relu", lambda x: np.maximum(x, 0), lambda x, y, dy: dy * (y > 0)),
        Activation("linear", lambda x: x, lambda x, y, dy: dy),
        Activation("softmax", softmax, _softmax_backward),
        Activation(
            "elu",
            lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False),
            lambda x, y, dy: dy * np.where(y > 0, 1.0, y + 1.0).astype(y.dtype),
        ),
        Activation(
            "selu",
            lambda x: (
                _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0)))
            ).astype(x.dtype, copy=False),
            lambda x, y, dy: dy
            * np.where(y > 0, _SELU_SCALE, y + _SELU_SCALE * _SELU_ALPHA).astype(y.dtype),
        ),
        Activation(
            "softplus",
            lambda x: (np.logaddexp(0, x)).astype(x.dtype, copy=False),
            lambda x, y, dy: dy * sigmoid(x),
            needs_input=True,
        ),
        Activation(
            "softsign",
            lambda x: x / (1.0 + np.abs(x)),
            lambda x, y, dy: dy / (1.0 + np.abs(x)) ** 2,
            needs_input=True,
        ),
        Activation(
            "silu",
            lambda x: x * sigmoid(x),
            lambda x, y, dy: dy * (lambda s: s * (1.0 + x * (1.0 - s)))(sigmoid(x)),
            needs_input=True,
        ),
        Activation("exponential", np.exp, lambda x, y, dy: dy * y),
        Activation("gelu", _gelu, _gelu_backward, needs_input=True),
    ]
}
_ALIASES = {"swish": "silu", None: "linear", "": "linear"}


def get(identifier: str | Activation | None) -> Activation:
    """Look an activation up by Keras name (``"tanh"``, ``"hard_sigmoid"``, ...)."""
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, dict):  # Keras serialises some activations as dicts
        identifier = identifier.get("config", identifier).get("name", identifier.get("class_name"))
    key = _ALIASES.get(identifier, identifier)
    if not isinstance(key, str) or key not in _ACTIVATIONS:
        import difflib  # only for this "did you mean" hint

        close = difflib.get_close_matches(str(identifier), list(_ACTIVATIONS) + ["swish"], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"Unknown activation {identifier!r}.{hint} Expected one of: "
            f"{', '.join(sorted(_ACTIVATIONS))} (or 'swish', None)."
        )
    return _ACTIVATIONS[key]


def names() -> list[str]:
    """All activation names :func:`get` accepts."""
    return sorted(_ACTIVATIONS)
