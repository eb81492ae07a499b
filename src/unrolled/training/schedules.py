"""Learning-rate schedules: the step -> learning rate functions of Keras 3.

A schedule is called with the optimizer's raw step count ``iterations`` (0 before the
first update) and returns the learning rate for that update as a ``np.float32``.

Keras evaluates every schedule in float32 (``convert_to_tensor(initial_learning_rate)``
gives floatx) with Python-float constants rounded to float32 at each operation; the
functions below do the same arithmetic in the same order, so a schedule matches Keras
to the last bit or within one float32 ulp (``pow`` and ``cos`` may round differently).

Configs are exactly Keras's (``get_config()`` is the constructor arguments), and
:func:`serialize` writes Keras's ``{"module": "keras.optimizers.schedules", ...}`` dict.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from . import keras_object_dict, lookup

f32 = np.float32


class LearningRateSchedule:
    """Base class: ``__call__(step) -> np.float32``, config = constructor arguments."""

    def __call__(self, step: int | float) -> np.float32:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "LearningRateSchedule":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _ConfigFromArguments(LearningRateSchedule):
    """The built-in schedules: ``get_config()`` returns the constructor's arguments, in
    signature order, read back from the attributes each constructor stores them in."""

    def get_config(self) -> dict[str, Any]:
        import inspect

        arguments = list(inspect.signature(type(self).__init__).parameters)[1:]  # minus self
        return {name: getattr(self, name) for name in arguments}


def _check_steps(argument: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"Argument `{argument}` must be > 0. Received: {argument}={value}")


def _decay_progress(step: int | float, decay_steps: int, staircase: bool) -> np.float32:
    """``step / decay_steps`` in float32, floored when ``staircase``."""
    p = f32(step) / f32(decay_steps)
    return np.floor(p) if staircase else p


class ExponentialDecay(_ConfigFromArguments):
    """``lr(step) = initial_learning_rate * decay_rate ** (step / decay_steps)``.

    With ``staircase=True`` the exponent is floored, so the rate drops every
    ``decay_steps`` steps.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False, name: str = "ExponentialDecay"):
        _check_steps("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step: int | float) -> np.float32:
        p = _decay_progress(step, self.decay_steps, self.staircase)
        return f32(self.initial_learning_rate) * np.power(f32(self.decay_rate), p)


class InverseTimeDecay(_ConfigFromArguments):
    """``lr(step) = initial_learning_rate / (1 + decay_rate * step / decay_steps)``.

    With ``staircase=True``, ``step / decay_steps`` is floored.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False, name: str = "InverseTimeDecay"):
        _check_steps("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step: int | float) -> np.float32:
        p = _decay_progress(step, self.decay_steps, self.staircase)
        return f32(self.initial_learning_rate) / (f32(1) + f32(self.decay_rate) * p)


class PiecewiseConstantDecay(_ConfigFromArguments):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after the last boundary.
    """

    def __init__(self, boundaries: list, values: list, name: str = "PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ConfigError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, and "
                f"values={values} of length {len(values)}.")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step: int | float) -> np.float32:
        # Keras casts the boundaries to the step's dtype: an integer step (the
        # optimizer's counter) truncates float boundaries such as 2.5 to 2.
        integer_step = isinstance(step, (int, np.integer))
        bounds = [int(b) if integer_step else f32(b) for b in self.boundaries]
        for i, b in enumerate(bounds):
            if step <= b:
                return f32(self.values[i])
        return f32(self.values[-1])


class PolynomialDecay(_ConfigFromArguments):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``, ``step`` capped at
    ``decay_steps``; with ``cycle=True`` ``decay_steps`` grows to the next multiple
    above ``step`` instead.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int,
                 end_learning_rate: float = 0.0001, power: float = 1.0, cycle: bool = False,
                 name: str = "PolynomialDecay"):
        _check_steps("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def __call__(self, step: int | float) -> np.float32:
        end = f32(self.end_learning_rate)
        s, ds = f32(step), f32(self.decay_steps)
        if self.cycle:
            ds = ds * (f32(1) if s == 0 else np.ceil(s / f32(self.decay_steps)))
        else:
            s = min(s, ds)
        p = s / ds
        return (f32(self.initial_learning_rate) - end) * np.power(f32(1) - p, f32(self.power)) + end


class CosineDecay(_ConfigFromArguments):
    """Optional linear warmup, then cosine decay to ``alpha * peak``.

    Without warmup (``warmup_target=None``)::

        s = min(step, decay_steps)
        lr = initial_learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)

    With warmup, ``lr`` rises linearly from ``initial_learning_rate`` to
    ``warmup_target`` over ``warmup_steps``, then decays from ``warmup_target`` as
    above with ``s = min(step, warmup_steps + decay_steps) - warmup_steps``.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0,
                 name: str = "CosineDecay", warmup_target: float | None = None,
                 warmup_steps: int = 0):
        _check_steps("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _decay(self, s: np.float32, decay_steps: np.float32, peak: np.float32) -> np.float32:
        cosine = f32(0.5) * (f32(1) + np.cos(f32(math.pi) * (s / decay_steps)))
        return peak * (f32(1 - self.alpha) * cosine + f32(self.alpha))

    def __call__(self, step: int | float) -> np.float32:
        lr0, ds, s = f32(self.initial_learning_rate), f32(self.decay_steps), f32(step)
        if self.warmup_target is None:
            return self._decay(min(s, ds), ds, lr0)
        target, ws = f32(self.warmup_target), f32(self.warmup_steps)
        s = min(s, ds + ws)
        if s < ws:
            return (target - lr0) * (s / ws) + lr0
        return self._decay(s - ws, ds, target)


class CosineDecayRestarts(_ConfigFromArguments):
    """SGDR: cosine decay restarted after ``first_decay_steps``, then after periods
    ``t_mul`` times longer, each restart's peak ``m_mul`` times the previous one.
    """

    def __init__(self, initial_learning_rate: float, first_decay_steps: int,
                 t_mul: float = 2.0, m_mul: float = 1.0, alpha: float = 0.0,
                 name: str = "SGDRDecay"):
        _check_steps("first_decay_steps", first_decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self.t_mul = t_mul
        self.m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def __call__(self, step: int | float) -> np.float32:
        alpha, t_mul, m_mul = f32(self.alpha), f32(self.t_mul), f32(self.m_mul)
        frac = f32(step) / f32(self.first_decay_steps)
        if t_mul == 1:
            restart = np.floor(frac)
            frac = frac - restart
        else:  # periods grow geometrically: restart i starts at (1 - t^i) / (1 - t)
            restart = np.floor(np.log(f32(1) - frac * (f32(1) - t_mul)) / np.log(t_mul))
            done = (f32(1) - np.power(t_mul, restart)) / (f32(1) - t_mul)
            frac = (frac - done) / np.power(t_mul, restart)
        cosine = f32(0.5) * np.power(m_mul, restart) * (f32(1) + np.cos(f32(math.pi) * frac))
        return f32(self.initial_learning_rate) * ((f32(1) - alpha) * cosine + alpha)


SCHEDULES: dict[str, type[LearningRateSchedule]] = {
    cls.__name__: cls for cls in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay,
                                  PolynomialDecay, CosineDecay, CosineDecayRestarts)}


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    """Keras's serialized form, readable by ``keras.optimizers.schedules.deserialize``."""
    return keras_object_dict("keras.optimizers.schedules", type(schedule).__name__,
                             schedule.get_config())


def deserialize(config: dict[str, Any]) -> LearningRateSchedule:
    """Inverse of :func:`serialize` (also accepts a bare ``{"class_name", "config"}``)."""
    cls = lookup(config.get("class_name"), SCHEDULES, "learning-rate schedule")
    return cls.from_config(dict(config.get("config", {})))


def get(identifier: LearningRateSchedule | dict[str, Any]) -> LearningRateSchedule:
    """A schedule from an instance or a serialized dict."""
    if isinstance(identifier, LearningRateSchedule):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ConfigError(
        f"Could not interpret learning-rate schedule identifier: {identifier!r}; "
        "expected a LearningRateSchedule or a dict from `serialize`.")
