"""Weight initializers with Keras 3 names, defaults and fan computations.

Each initializer is a small immutable value object; calling it with ``(shape, dtype, rng)``
returns a new array. ``serialize`` / ``get`` use Keras's JSON schema
(``{"module": "keras.initializers", "class_name": "GlorotUniform", "config": {...}}``),
so configs round-trip with real Keras. The random streams are NumPy's, not Keras's:
the *distributions* match Keras, the drawn numbers do not.
"""
from __future__ import annotations

import contextlib
import contextvars
import inspect
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import ConfigError
from .keras_objects import class_and_config, construct, keras_json


def _fans(shape: tuple[int, ...], input_axes: Any = None,
          output_axes: Any = None) -> tuple[float, float]:
    """Keras's fan-in / fan-out: receptive field × channels for >2-D kernels, or the
    product of the sizes on ``input_axes`` / ``output_axes`` when both are given."""
    if input_axes is not None and output_axes is not None:
        return (float(np.prod([shape[a] for a in input_axes])),
                float(np.prod([shape[a] for a in output_axes])))
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = float(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base of the initializers. Their fields are the annotated class attributes (with
    their defaults), in order; instances are immutable and compare, hash and print by their
    fields, as frozen dataclasses do -- written out here because ``@dataclass`` generates
    its methods with ``exec`` at import, about 0.6 ms a class on every ``import unrolled``.
    """

    _fields: tuple[str, ...] = ()  # set for each subclass by __init_subclass__

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = [name for name in inspect.get_annotations(cls) if name not in cls._fields]
        cls._fields = cls._fields + tuple(own)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        name = type(self).__name__
        if len(args) > len(self._fields):
            raise TypeError(f"{name}() takes at most {len(self._fields)} positional arguments "
                            f"{self._fields}, got {len(args)}.")
        values = dict(zip(self._fields, args))
        for key, value in kwargs.items():
            if key not in self._fields:
                raise TypeError(f"{name}() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{name}() got multiple values for argument {key!r}")
            values[key] = value
        for field in self._fields:
            if field not in values and not hasattr(type(self), field):
                raise TypeError(f"{name}() missing required argument {field!r}")
            object.__setattr__(self, field, values.get(field, getattr(type(self), field, None)))

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, field) for field in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        args = ", ".join(f"{field}={getattr(self, field)!r}" for field in self._fields)
        return f"{type(self).__qualname__}({args})"

    def __setattr__(self, name: str, value: Any) -> None:
        from dataclasses import FrozenInstanceError  # what a frozen dataclass raises

        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __call__(self, shape, dtype="float32", rng: np.random.Generator | None = None) -> np.ndarray:
        budget = _PLACEHOLDERS.get()
        if budget is not None:  # loading a file: no random draws, sizes counted first
            return budget.take(tuple(shape), dtype)
        rng = rng if rng is not None else np.random.default_rng(getattr(self, "seed", None))
        return np.asarray(self.sample(tuple(shape), rng), dtype=dtype)

    def sample(self, shape, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {field: getattr(self, field) for field in self._fields}


class PlaceholderBudget:
    """While active (:func:`placeholders`), every initializer returns zeros instead of
    drawing random numbers, after counting the values against ``limit``.

    A model read from a file is built only to receive the file's weights: drawing an
    orthogonal ``(4000, 16000)`` matrix first would cost a minute for nothing, and a size
    the file declares must be checked before anything of that size exists. ``on_exceed``
    makes the error (it gets the values asked for in all and the shape of this request).
    """

    def __init__(self, limit: int, on_exceed: Any) -> None:
        self.limit, self.used, self.on_exceed = int(limit), 0, on_exceed

    def take(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        size = 1
        for d in shape:
            if not isinstance(d, (int, np.integer)) or d < 0:
                raise ConfigError(f"a weight shape must be non-negative integers, got {shape}.")
            size *= int(d)  # Python ints: no overflow
        self.used += size
        if self.used > self.limit:
            raise self.on_exceed(self.used, shape)
        return np.zeros(shape, dtype=dtype)


_PLACEHOLDERS: contextvars.ContextVar[PlaceholderBudget | None] = contextvars.ContextVar(
    "unrolled_placeholder_weights", default=None)


@contextlib.contextmanager
def placeholders(limit: int, on_exceed: Any) -> Iterator[PlaceholderBudget]:
    """``with placeholders(n, make_error): build()`` — zeros instead of random weights,
    and at most ``n`` weight values in all (see :class:`PlaceholderBudget`)."""
    budget = PlaceholderBudget(limit, on_exceed)
    token = _PLACEHOLDERS.set(budget)
    try:
        yield budget
    finally:
        _PLACEHOLDERS.reset(token)


class Zeros(Initializer):
    def sample(self, shape, rng):
        return np.zeros(shape)


class Ones(Initializer):
    def sample(self, shape, rng):
        return np.ones(shape)


class Constant(Initializer):
    value: float = 0.0

    def sample(self, shape, rng):
        return np.full(shape, self.value)


class RandomUniform(Initializer):
    minval: float = -0.05
    maxval: float = 0.05
    seed: int | None = None

    def sample(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, shape)


class RandomNormal(Initializer):
    mean: float = 0.0
    stddev: float = 0.05
    seed: int | None = None

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.stddev, shape)


class VarianceScaling(Initializer):
    """Keras's ``VarianceScaling``: scale / fan (fan_in, fan_out or their mean) is the
    variance of a truncated normal (±2σ, σ divided by .8796 so the variance is right), an
    untruncated normal, or a uniform on ±sqrt(3·variance). ``distribution="normal"`` means
    truncated, as in Keras. ``input_axes`` / ``output_axes`` choose the axes the fans
    multiply; by default Keras's rule (receptive field × channels for >2-D kernels)."""

    scale: float = 1.0
    mode: str = "fan_in"
    distribution: str = "truncated_normal"
    seed: int | None = None
    input_axes: Any = None
    output_axes: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float)) or self.scale <= 0:
            raise ConfigError(f"VarianceScaling: scale must be a positive float, got {self.scale!r}.")
        if self.mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ConfigError(f"VarianceScaling: mode must be 'fan_in', 'fan_out' or 'fan_avg', "
                              f"got {self.mode!r}.")
        dist = str(self.distribution).lower()
        dist = "truncated_normal" if dist == "normal" else dist
        if dist not in ("uniform", "truncated_normal", "untruncated_normal"):
            raise ConfigError("VarianceScaling: distribution must be 'uniform', 'truncated_normal' "
                              f"or 'untruncated_normal', got {self.distribution!r}.")
        object.__setattr__(self, "distribution", dist)
        for key in ("input_axes", "output_axes"):
            axes = getattr(self, key)
            if axes is not None:
                object.__setattr__(self, key, tuple(int(a) for a in axes))

    def sample(self, shape, rng):
        fan_in, fan_out = _fans(shape, self.input_axes, self.output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, fan)
        if self.distribution == "truncated_normal":
            return _truncated_normal(rng, np.sqrt(variance) / 0.87962566103423978, shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, np.sqrt(variance), shape)
        limit = np.sqrt(3.0 * variance)
        return rng.uniform(-limit, limit, shape)

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        for key in ("input_axes", "output_axes"):
            cfg[key] = None if cfg[key] is None else list(cfg[key])
        return cfg


class _PresetScaling(VarianceScaling):
    """A VarianceScaling with fixed (scale, mode, distribution): Glorot, He, Lecun.
    Only ``seed`` and the fan axes are its config, as in Keras."""

    _preset = (1.0, "fan_in", "truncated_normal")   # (scale, mode, distribution)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._fields = ("seed", "input_axes", "output_axes")

    def __init__(self, seed: int | None = None, input_axes: Any = None,
                 output_axes: Any = None) -> None:
        scale, mode, distribution = self._preset
        for key, value in (("seed", seed), ("scale", scale), ("mode", mode),
                           ("distribution", distribution),
                           ("input_axes", None if input_axes is None else tuple(input_axes)),
                           ("output_axes", None if output_axes is None else tuple(output_axes))):
            object.__setattr__(self, key, value)


_PresetScaling._fields = ("seed", "input_axes", "output_axes")


class GlorotUniform(_PresetScaling):
    """Uniform on [-limit, limit], limit = sqrt(6 / (fan_in + fan_out))."""
    _preset = (1.0, "fan_avg", "uniform")


class GlorotNormal(_PresetScaling):
    """Truncated normal (±2σ), σ = sqrt(2 / (fan_in + fan_out)) / .8796 as in Keras."""
    _preset = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_PresetScaling):
    """Uniform on ±sqrt(6 / fan_in)."""
    _preset = (2.0, "fan_in", "uniform")


class HeNormal(_PresetScaling):
    """Truncated normal, σ = sqrt(2 / fan_in) / .8796."""
    _preset = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_PresetScaling):
    """Uniform on ±sqrt(3 / fan_in)."""
    _preset = (1.0, "fan_in", "uniform")


class LecunNormal(_PresetScaling):
    """Truncated normal, σ = sqrt(1 / fan_in) / .8796."""
    _preset = (1.0, "fan_in", "truncated_normal")


class TruncatedNormal(Initializer):
    """Normal(mean, stddev) with values beyond 2·stddev redrawn (Keras's rule)."""

    mean: float = 0.0
    stddev: float = 0.05
    seed: int | None = None

    def sample(self, shape, rng):
        return self.mean + _truncated_normal(rng, self.stddev, shape)


class Identity(Initializer):
    """``gain`` times the identity matrix (``np.eye(rows, cols)``); 2-D shapes only.
    Keras serialises it as ``Identity`` (older files: ``IdentityInitializer``)."""

    gain: float = 1.0

    def get_config(self) -> dict[str, Any]:
        # Keras 3 writes Identity's config as {} (its gain is not saved); we write the
        # gain only when it is not 1, so files stay the same as Keras's and no gain is lost.
        return {} if self.gain == 1.0 else {"gain": self.gain}

    def sample(self, shape, rng):
        if len(shape) != 2:
            raise ConfigError(f"The Identity initializer makes 2-D matrices only, got shape "
                              f"{tuple(shape)} (rank {len(shape)}). Use it for a "
                              "recurrent_kernel or a Dense kernel.")
        return self.gain * np.eye(*shape)


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix from the QR decomposition of a normal matrix.

    Shapes with more than two axes are flattened to (prod(shape[:-1]), shape[-1]).
    For the LSTM's recurrent kernel (units, 4·units) the rows are orthonormal.
    """

    gain: float = 1.0
    seed: int | None = None

    def sample(self, shape, rng):
        if len(shape) < 2:
            raise ConfigError(f"The Orthogonal initializer needs a shape of rank >= 2, got "
                              f"{tuple(shape)}.")
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
    for c in [Zeros, Ones, Constant, RandomUniform, RandomNormal, TruncatedNormal,
              VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal,
              LecunUniform, LecunNormal, Orthogonal, Identity]
}
_NAMES = {
    **{re.sub(r"(?<=[a-z])([A-Z])", r"_\1", name).lower(): name for name in _CLASSES},
    # Keras's aliases
    "uniform": "RandomUniform", "normal": "RandomNormal", "one": "Ones", "zero": "Zeros",
    "IdentityInitializer": "Identity", "OrthogonalInitializer": "Orthogonal",
}


def get(identifier: Any) -> Initializer:
    """Resolve a Keras name (``"glorot_uniform"``), class name, config dict or instance."""
    if isinstance(identifier, Initializer):
        return identifier
    cls, config = class_and_config(identifier, _CLASSES, _NAMES)
    if cls is None:
        raise ConfigError(
            f"Unknown initializer {identifier!r:.200}. Expected one of: {', '.join(sorted(_NAMES))}, "
            "a class name such as 'GlorotUniform', or a Keras config dict."
        )
    unknown = set(config) - set(cls._fields)
    if unknown:
        raise ConfigError(f"Initializer {cls.__name__} got unknown config keys "
                          f"{sorted(unknown)}; it takes {list(cls._fields)}.")
    return construct(cls, config, "Initializer")


def serialize(init: Initializer) -> dict[str, Any]:
    """Keras's JSON form of an initializer."""
    return keras_json(init, "keras.initializers")
