"""Weight initializers with Keras 3 names, defaults and fan computations.

Each initializer is a small frozen dataclass; calling it with ``(shape, dtype, rng)``
returns a new array. ``serialize`` / ``get`` use Keras's JSON schema
(``{"module": "keras.initializers", "class_name": "GlorotUniform", "config": {...}}``),
so configs round-trip with real Keras. The random streams are NumPy's, not Keras's:
the *distributions* match Keras, the drawn numbers do not.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ..errors import ConfigError


def _fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """Keras's fan-in / fan-out: receptive field × channels for >2-D kernels."""
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = float(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


@dataclass(frozen=True)
class Initializer:
    def __call__(self, shape, dtype="float32", rng: np.random.Generator | None = None) -> np.ndarray:
        rng = rng if rng is not None else np.random.default_rng(getattr(self, "seed", None))
        return np.asarray(self.sample(tuple(shape), rng), dtype=dtype)

    def sample(self, shape, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Zeros(Initializer):
    def sample(self, shape, rng):
        return np.zeros(shape)


@dataclass(frozen=True)
class Ones(Initializer):
    def sample(self, shape, rng):
        return np.ones(shape)


@dataclass(frozen=True)
class Constant(Initializer):
    value: float = 0.0

    def sample(self, shape, rng):
        return np.full(shape, self.value)


@dataclass(frozen=True)
class RandomUniform(Initializer):
    minval: float = -0.05
    maxval: float = 0.05
    seed: int | None = None

    def sample(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, shape)


@dataclass(frozen=True)
class RandomNormal(Initializer):
    mean: float = 0.0
    stddev: float = 0.05
    seed: int | None = None

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.stddev, shape)


@dataclass(frozen=True)
class GlorotUniform(Initializer):
    """Uniform on [-limit, limit], limit = sqrt(6 / (fan_in + fan_out))."""

    seed: int | None = None

    def sample(self, shape, rng):
        fan_in, fan_out = _fans(shape)
        limit = np.sqrt(6.0 / max(1.0, fan_in + fan_out))
        return rng.uniform(-limit, limit, shape)


@dataclass(frozen=True)
class GlorotNormal(Initializer):
    """Truncated normal (±2σ), σ = sqrt(2 / (fan_in + fan_out)) / .8796 as in Keras."""

    seed: int | None = None

    def sample(self, shape, rng):
        fan_in, fan_out = _fans(shape)
        stddev = np.sqrt(2.0 / max(1.0, fan_in + fan_out)) / 0.87962566103423978
        return _truncated_normal(rng, stddev, shape)


@dataclass(frozen=True)
class HeUniform(Initializer):
    seed: int | None = None

    def sample(self, shape, rng):
        limit = np.sqrt(6.0 / max(1.0, _fans(shape)[0]))
        return rng.uniform(-limit, limit, shape)


@dataclass(frozen=True)
class HeNormal(Initializer):
    seed: int | None = None

    def sample(self, shape, rng):
        stddev = np.sqrt(2.0 / max(1.0, _fans(shape)[0])) / 0.87962566103423978
        return _truncated_normal(rng, stddev, shape)


@dataclass(frozen=True)
class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix from the QR decomposition of a normal matrix.

    Shapes with more than two axes are flattened to (prod(shape[:-1]), shape[-1]).
    For the LSTM's recurrent kernel (units, 4·units) the rows are orthonormal.
    """

    gain: float = 1.0
    seed: int | None = None

    def sample(self, shape, rng):
        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        cols = shape[-1] if shape else 1
        a = rng.normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))  # make the decomposition unique (uniform distribution)
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)


def _truncated_normal(rng, stddev, shape):
    out = rng.normal(0.0, 1.0, shape)
    bad = np.abs(out) > 2.0
    while bad.any():  # resample outside ±2σ, like Keras's truncated_normal
        out[bad] = rng.normal(0.0, 1.0, int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * stddev


_CLASSES = {
    c.__name__: c
    for c in [Zeros, Ones, Constant, RandomUniform, RandomNormal, GlorotUniform,
              GlorotNormal, HeUniform, HeNormal, Orthogonal]
}
_NAMES = {
    "zeros": "Zeros", "ones": "Ones", "constant": "Constant",
    "random_uniform": "RandomUniform", "random_normal": "RandomNormal",
    "glorot_uniform": "GlorotUniform", "glorot_normal": "GlorotNormal",
    "he_uniform": "HeUniform", "he_normal": "HeNormal", "orthogonal": "Orthogonal",
}
# Keras config keys we accept and ignore because they do not change the distribution
# for the shapes recurrent/dense layers use.
_IGNORED_KEYS = {"input_axes", "output_axes"}


def get(identifier: Any) -> Initializer:
    """Resolve a Keras name (``"glorot_uniform"``), class name, config dict or instance."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        cls_name = _NAMES.get(identifier, identifier)
        if cls_name in _CLASSES:
            return _CLASSES[cls_name]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _CLASSES:
        cls = _CLASSES[identifier["class_name"]]
        allowed = {f.name for f in fields(cls)}
        cfg = {k: v for k, v in (identifier.get("config") or {}).items() if k not in _IGNORED_KEYS}
        unknown = set(cfg) - allowed
        if unknown:
            raise ConfigError(f"Initializer {cls.__name__} got unknown config keys {sorted(unknown)}.")
        return cls(**cfg)
    raise ConfigError(
        f"Unknown initializer {identifier!r}. Expected one of: {', '.join(sorted(_NAMES))}."
    )


def serialize(init: Initializer) -> dict[str, Any]:
    """Keras's JSON form of an initializer."""
    cfg = init.get_config()
    if isinstance(init, GlorotUniform | GlorotNormal | HeUniform | HeNormal):
        cfg = {"seed": cfg["seed"], "input_axes": None, "output_axes": None}
    return {"module": "keras.initializers", "class_name": type(init).__name__,
            "config": cfg, "registered_name": None}
