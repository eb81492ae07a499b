"""What the network predicts: the target's level, or its change from the last value.

For window ``n`` whose last input row is ``t``, target ``j`` at step ``h`` (1..H)::

    level:  d[n, h, j] = y[t + h, j]
    diff:   d[n, h, j] = y[t + h, j] - y[t, j]       (the change from the last value)

and the network's output is ``z = (d - μ) / σ`` with ``μ, σ`` per ``(h, j)`` fitted on the
train windows. A forecast goes back the same way: ``ŷ = base + z·σ + μ`` with
``base = 0`` (level) or ``y[t]`` (diff). Predicting the change keeps forecasts of a series
that trends past its training range inside the range the network has seen; predicting
the level suits a series that keeps returning to the same mean.

``auto`` fits the ridge model (:mod:`.linear`) both ways on the train windows and keeps
the transform whose forecasts have the lower validation MAE in the data's units.
"""
from __future__ import annotations

import numpy as np

from ..data import Standardizer

TRANSFORMS = ("level", "diff")


def raw_target(y: np.ndarray, last: np.ndarray, transform: str) -> np.ndarray:
    """``y (N, H, T)`` in data units → ``d (N, H, T)`` (see module docstring)."""
    return y - last[:, None, :] if transform == "diff" else y


def base(last: np.ndarray, horizon: int, transform: str) -> np.ndarray:
    """What ``d`` is added to: ``(N, H, T)`` zeros (level) or the last values (diff)."""
    b = np.repeat(np.asarray(last, np.float64)[:, None, :], horizon, axis=1)
    return b if transform == "diff" else np.zeros_like(b)


def z_columns(targets: list[str], horizon: int) -> list[str]:
    """Names of the ``H·T`` network outputs, horizon-major: ``temp@1, wind@1, temp@2...``."""
    return [f"{t}@{h + 1}" for h in range(horizon) for t in targets]


def fit_z_scaler(y: np.ndarray, last: np.ndarray, transform: str,
                 targets: list[str]) -> Standardizer:
    """μ and σ of the train windows' ``d``, one per ``(h, j)`` (horizon-major)."""
    d = raw_target(y, last, transform)
    flat = d.reshape(len(d), -1)
    scaler = Standardizer(columns=z_columns(targets, y.shape[1]))
    try:
        return scaler.fit(flat)
    except Exception:  # a constant difference (a perfect line): fall back to unit scale
        mean = flat.mean(axis=0)
        scale = np.where(flat.std(axis=0) > 0, flat.std(axis=0), 1.0)
        return Standardizer(mean, scale, scaler.columns)


def encode(y: np.ndarray, last: np.ndarray, transform: str, scaler: Standardizer) -> np.ndarray:
    """``(N, H, T)`` targets → ``(N, H·T)`` float32 network targets ``z``."""
    d = raw_target(np.asarray(y, np.float64), np.asarray(last, np.float64), transform)
    return scaler.transform(d.reshape(len(d), -1)).astype(np.float32)


def decode(z: np.ndarray, last: np.ndarray, transform: str, scaler: Standardizer,
           horizon: int) -> np.ndarray:
    """``(N, H·T)`` network outputs → ``(N, H, T)`` forecasts in data units (float64)."""
    d = scaler.inverse_transform(np.asarray(z, np.float64)).reshape(len(z), horizon, -1)
    return d + base(last, horizon, transform)
