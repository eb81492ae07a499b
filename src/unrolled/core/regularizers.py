"""Weight regularizers with Keras 3's names, configs and penalties, and their gradients.

A regularizer maps a weight array ``w`` to a penalty added to the training loss::

    L1(l1)        penalty = l1 · Σ|w|            gradient = l1 · sign(w)   (0 at w = 0)
    L2(l2)        penalty = l2 · Σ w²            gradient = 2 · l2 · w
    L1L2(l1, l2)  the sum of both
    OrthogonalRegularizer(factor, mode)  see the class

Keras's defaults: ``L1()``/``"l1"`` and ``L2()``/``"l2"`` use 0.01; ``L1L2()`` and the
string ``"l1_l2"`` use 0.0 for both (Keras's code, whatever its docstring says).
Configs are Keras's: ``{"module": "keras.regularizers", "class_name": "L2",
"config": {"l2": 0.01}, "registered_name": None}``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from .keras_objects import class_and_config, construct, keras_json


def _factor(value: Any, name: str, who: str) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.number))
            or not math.isfinite(value) or value < 0):
        raise ConfigError(f"{who}: {name} must be a non-negative finite float, got {value!r}.")
    return float(value)


class Regularizer:
    """Base class: ``penalty = reg(w)`` (a float) and ``reg.gradient(w)`` (like ``w``)."""

    def __call__(self, w: np.ndarray) -> float:
        raise NotImplementedError

    def gradient(self, w: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.get_config() == self.get_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """``l1 · Σ|w| + l2 · Σ w²``."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _factor(0.0 if l1 is None else l1, "l1", type(self).__name__)
        self.l2 = _factor(0.0 if l2 is None else l2, "l2", type(self).__name__)

    def __call__(self, w: np.ndarray) -> float:
        w = np.asarray(w)
        penalty = 0.0
        if self.l1:
            penalty += self.l1 * float(np.abs(w).sum())
        if self.l2:
            penalty += self.l2 * float(np.square(w).sum())
        return penalty

    def gradient(self, w: np.ndarray) -> np.ndarray:
        w = np.asarray(w)
        grad = np.zeros_like(w)
        if self.l1:
            grad += w.dtype.type(self.l1) * np.sign(w)
        if self.l2:
            grad += w.dtype.type(2.0 * self.l2) * w
        return grad

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 · Σ|w|`` (default l1 = 0.01)."""

    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=0.01 if l1 is None else l1)
        # Keras keeps l1 as a float32 tensor, so it computes with (and saves) float32(l1):
        # 0.01 is written to files as 0.009999999776482582.
        self.l1 = float(np.float32(self.l1))

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 · Σ w²`` (default l2 = 0.01)."""

    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l2=0.01 if l2 is None else l2)

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Keras's penalty for rows (``mode="rows"``) or columns of a 2-D kernel that are not
    orthogonal: with ``u_i`` the L2-normalised rows (``u = w · min(1/|w|, 1e7)``) and
    ``P = U Uᵀ`` (n × n)::

        penalty = factor · ½ · Σ_{i≠j} |P_ij| / (n·(n-1)/2)
        dU = 2·G·U with G = c·sign(P) off the diagonal, c = factor·½ / pairs
        dw_i = (du_i - u_i·(u_i·du_i)) / |w_i|        (rows whose norm is above 1e-7)
    """

    def __init__(self, factor: float = 0.01, mode: str = "rows") -> None:
        self.factor = float(np.float32(_factor(factor, "factor", "OrthogonalRegularizer")))
        if mode not in ("rows", "columns"):
            raise ConfigError(f"OrthogonalRegularizer: mode must be 'rows' or 'columns', got {mode!r}.")
        self.mode = mode

    def _rows(self, w: np.ndarray) -> np.ndarray:
        w = np.asarray(w)
        if w.ndim != 2:
            raise ConfigError(f"OrthogonalRegularizer needs a 2-D weight, got shape {w.shape}.")
        return w if self.mode == "rows" else w.T

    @staticmethod
    def _normalised(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        norm = np.sqrt(np.square(x).sum(axis=1, keepdims=True))
        clipped = norm <= 1e-7
        inv = np.where(clipped, 1e7, 1.0 / np.where(clipped, 1.0, norm))
        return x * inv, inv, clipped

    def __call__(self, w: np.ndarray) -> float:
        x = self._rows(w)
        n = x.shape[0]
        if n < 2:
            return 0.0
        u, _, _ = self._normalised(x)
        p = u @ u.T
        off = np.abs(p).sum() - np.abs(np.diag(p)).sum()
        return float(self.factor * 0.5 * off / (n * (n - 1) / 2.0))

    def gradient(self, w: np.ndarray) -> np.ndarray:
        x = self._rows(w)
        n = x.shape[0]
        if n < 2:
            return np.zeros_like(np.asarray(w))
        u, inv, clipped = self._normalised(x)
        g = np.sign(u @ u.T) * (self.factor * 0.5 / (n * (n - 1) / 2.0))
        np.fill_diagonal(g, 0.0)
        du = 2.0 * g @ u                                                    # (n, m)
        dx = np.where(clipped, du * inv, (du - u * (u * du).sum(axis=1, keepdims=True)) * inv)
        dx = dx.astype(np.asarray(w).dtype, copy=False)
        return dx if self.mode == "rows" else dx.T

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor, "mode": self.mode}


_CLASSES: dict[str, type[Regularizer]] = {"L1": L1, "L2": L2, "L1L2": L1L2,
                                          "OrthogonalRegularizer": OrthogonalRegularizer}
_NAMES = {"l1": "L1", "l2": "L2", "l1_l2": "L1L2", "l1l2": "L1L2",
          "orthogonal_regularizer": "OrthogonalRegularizer"}


def get(identifier: Any) -> Regularizer | None:
    """``None``, a name (``"l2"``), a Keras config dict or a :class:`Regularizer`."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    cls, config = class_and_config(identifier, _CLASSES, _NAMES)
    if cls is None:
        raise ConfigError(f"Unknown regularizer {identifier!r:.200}. Expected None, 'l1', 'l2', "
                          "'l1_l2', or a Keras config such as {'class_name': 'L2', 'config': "
                          "{'l2': 0.01}}.")
    return construct(cls, config, "Regularizer")


def serialize(regularizer: Regularizer | None) -> dict[str, Any] | None:
    """Keras's JSON form (None stays None)."""
    return None if regularizer is None else keras_json(regularizer, "keras.regularizers")
